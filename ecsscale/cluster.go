// Package ecsscale is the live autoscale.Cluster: an ECS cluster on EC2 whose capacity comes
// from EC2 Auto Scaling groups, one group per autoscale.Pool. Snapshot observes the groups
// (DescribeAutoScalingGroups), the container instances (ListContainerInstances,
// DescribeContainerInstances), the tasks waiting in PROVISIONING (ListTasks, DescribeTasks)
// and, through the Queue port, the demand only hashike sees; Apply raises a group's desired
// capacity, drains instances (UpdateContainerInstancesState DRAINING) and terminates idle
// ones (TerminateInstanceInAutoScalingGroup). The groups' failed launches of the last 10
// minutes come from their scaling activities (DescribeScalingActivities). Snapshot also
// keeps instance scale-in protection on every instance that runs a task and off on idle
// ones (SetInstanceProtection), so the group's own scale-in (a lowered desired capacity, a
// rebalance) never picks a busy instance; a task placed since the last snapshot is
// unprotected until the next one.
//
// Mixed instances groups: each instance's type and zone come from Auto Scaling, whether it
// is spot from EC2 (DescribeInstances, with Config.EC2; asked once per instance and cached).
// In a weighted group (overrides with WeightedCapacity) desired, min and max are capacity
// units: a Launch of Count instances of Type raises desired capacity by Count times Type's
// weight (its first type's when Type is ""), capped at the group's max (ErrAtMax), and the
// Pool's Min and Max are given in instances (see weighPool). Type is a preference: the
// group's allocation strategy picks the types and zones it launches. A failed launch of a
// group with several overrides is reported with no Type (Auto Scaling tried them all).
//
// Spot or on-demand is the group's split (its on-demand base and percentage above it).
// A Launch with Spot false on a pool whose next instances would be spot by that split is
// launched in the pool's OnDemandPool when one is configured (Cookpad runs a spot group
// and an on-demand group side by side), and logged so; without one it is launched in the
// pool anyway, spot, and logged as a warning: capacity the tasks need now beats the
// purchase option asked for, and changing the group's policy is not the adapter's to do.
//
// A launch that fails (a Failed "Launching" scaling activity since the adapter last raised
// the group) makes the next Snapshot lower the group's desired capacity back to the units
// its instances hold (never below its min): otherwise the group would launch that capacity
// whenever EC2 has some again, long after the policy, which skips the pool for a while,
// has placed the tasks elsewhere.
//
// It never stops a running task: Terminate refuses an instance that runs one (ErrBusy), a
// drained instance is terminated only once its tasks have ended, and an idle instance is set
// DRAINING before it is terminated, so no task can be placed on it in between.
//
// API calls: a Snapshot of G groups, N container instances and T tasks not stopped makes
// 1 DescribeAutoScalingGroups, ceil(N/100) ListContainerInstances and as many
// DescribeContainerInstances, ceil(T/100) ListTasks, ceil(T'/100) DescribeTasks where T'
// are the tasks no earlier snapshot saw on a container instance (the new ones, those still
// waiting in PROVISIONING and warm-up tasks still pulling), G DescribeScalingActivities, one
// SetInstanceProtection per group and direction (50 instances a call) when protection
// changed, ceil(new/1000) DescribeInstances for the instances not seen before (none at
// steady state) and one SetDesiredCapacity per group whose launch failed
// (docs/autoscaler.md has the figures for 200 instances); a Drain or Terminate 1 + 2*ceil(N/100) reads,
// then at most UpdateContainerInstancesState and TerminateInstanceInAutoScalingGroup; a
// Launch 1 DescribeAutoScalingGroups and at most 1 SetDesiredCapacity.
//
// The events loop (Cluster.Events, events.go) reads lifecycle actions, spot interruption
// warnings and rebalance recommendations from an SQS queue: it drains a terminating
// instance and keeps its lifecycle action alive until its tasks ended, and stops the tasks
// of a spot instance before EC2 reclaims it. Per message it makes 1 ReceiveMessage (shared
// by up to 10), at most 1 DescribeAutoScalingGroups (EC2 events), 1
// DescribeLifecycleHooks per hook (cached), ListContainerInstances and
// DescribeContainerInstances once per instance (its ARN is cached), 1
// UpdateContainerInstancesState, for a spot instance 1 ListTasks and 1 StopTask per task
// the Interrupter does not stop, and 1 DeleteMessage; per Poll (10 s) and held action 1
// DescribeContainerInstances and a RecordLifecycleActionHeartbeat every half heartbeat
// timeout, then 1 CompleteLifecycleAction; per Poll and spot instance with tasks left, until
// its deadline, 1 DescribeContainerInstances and 1 ListTasks.
//
// Image warm-up (Config.Warmup, warmup.go): a new instance pulls the images used most
// recently before the policy counts it as ready. The adapter starts one no-op warm-up task
// per image on it with StartTask and reports it launching until their pulls are done (or a
// timeout); warm-up tasks are never demand, running jobs or a reason to keep an instance.
// ECS may place jobs on a warming instance meanwhile (their pull is shared). The
// alternatives, documented there: an instance attribute with a placement constraint to keep
// jobs off warming instances, or a launch lifecycle hook held until a user-data script has
// pulled the images.
//
// It reaches AWS only through the narrow interfaces ECSAPI, AutoScalingAPI, EC2API and
// SQSAPI, which the SDK's clients satisfy; tests put the stateful fake of package
// internal/awsfake behind them.
package ecsscale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
)

// ErrBusy: a Terminate named an instance that runs (or is starting) a task. Nothing was
// terminated; drain it instead. The instance may have been set DRAINING (when a task
// reached it while it was being drained for the terminate): it then ends once idle.
var ErrBusy = errors.New("instance runs tasks")

// Queue is demand that ECS does not show: tasks waiting in hashike's queue or for a
// RunTask retry after RESOURCE:* failures, which never reached PROVISIONING.
type Queue interface {
	// Pending returns the waiting tasks, in any order (Snapshot sorts them).
	Pending(ctx context.Context) ([]autoscale.Task, error)
}

// Pool is a capacity pool: an Auto Scaling group whose instances join the cluster.
type Pool struct {
	// Name is the autoscale.Pool's name; Group the Auto Scaling group's ("" is Name).
	Name  string
	Group string
	// InstanceTypes the group launches, in preference order; nil takes the overrides of
	// the group's mixed instances policy.
	InstanceTypes []string
	// OnDemandPool names another configured pool (an on-demand group) that takes a Launch
	// with Spot false when this pool's next instances would be spot (see launchOnDemand).
	OnDemandPool string
}

// Config names the cluster, its pools and the instance types with their prices.
type Config struct {
	Cluster string
	Types   []autoscale.InstanceType
	Pools   []Pool
	// Queue, when set, adds hashike's own waiting tasks to the snapshot's Pending.
	Queue Queue
	// Clock gives Snapshot.Now (default the system clock).
	Clock hashike.Clock
	// LeaveProtection: do not change instances' scale-in protection (a capacity provider's
	// managed termination protection owns it).
	LeaveProtection bool
	// Interrupter, when set, stops the tasks of an instance the events loop (events.go)
	// learns is being taken away; without one the loop stops them with StopTask.
	Interrupter Interrupter
	// EC2, when set, tells spot from on-demand instances (DescribeInstances, once per
	// instance; IAM ec2:DescribeInstances, whose refusal fails the Snapshot like any other
	// read's); without it every instance is reported on-demand, so the hashike policy's
	// spot avoidance after an interruption never starts.
	EC2 EC2API
	// Log, when set, is told what Apply did other than asked (a launch moved to the
	// on-demand pool, an on-demand launch the group's split makes spot).
	Log *slog.Logger
	// Warmup, when Images > 0, warms new instances' image caches before they count as
	// ready (warmup.go).
	Warmup Warmup
}

// Cluster is the live autoscale.Cluster. Its methods are safe for concurrent use.
type Cluster struct {
	ecs   ECSAPI
	as    AutoScalingAPI
	cfg   Config
	clock hashike.Clock
	types map[string]autoscale.InstanceType
	pools map[string]Pool

	mu sync.Mutex
	// seen is when each instance was first observed (Auto Scaling does not say when it
	// launched one); busy and idle track when an instance's last task ended.
	seen map[string]time.Time
	busy map[string]bool
	idle map[string]time.Time
	// interruptions: when EC2 reclaims an instance, from its spot interruption warning
	// (events.go); Snapshot reports it as Instance.InterruptionAt.
	interruptions map[string]time.Time
	// spot caches DescribeInstances' answer per instance (true: spot); raised is when
	// Launch last raised a group's desired capacity (see cancelUnfulfilled).
	spot   map[string]bool
	raised map[string]time.Time
	// warm is the image warm-up's state (nil: no warm-up).
	warm *warmer
	// placed holds the tasks seen on a container instance: a placed task never waits for
	// capacity again, so a snapshot describes only the tasks it has not seen placed.
	placed map[string]bool
}

var _ autoscale.Cluster = (*Cluster)(nil)

// New returns the adapter, or the configuration's errors, every one.
func New(ecsAPI ECSAPI, asAPI AutoScalingAPI, cfg Config) (*Cluster, error) {
	var errs []error
	if cfg.Cluster == "" {
		errs = append(errs, errors.New("cluster: empty"))
	}
	c := &Cluster{ecs: ecsAPI, as: asAPI, cfg: cfg, clock: cfg.Clock,
		types: map[string]autoscale.InstanceType{}, pools: map[string]Pool{},
		seen: map[string]time.Time{}, busy: map[string]bool{}, idle: map[string]time.Time{}, placed: map[string]bool{},
		interruptions: map[string]time.Time{}, spot: map[string]bool{}, raised: map[string]time.Time{}}
	if c.clock == nil {
		c.clock = hashike.SystemClock{}
	}
	for i, t := range cfg.Types {
		if t.Name == "" || t.CPU <= 0 || t.MemoryMiB <= 0 {
			errs = append(errs, fmt.Errorf("types[%d]: name, cpu and memoryMiB are required", i))
		}
		c.types[t.Name] = t
	}
	groups := map[string]bool{}
	for i, p := range cfg.Pools {
		if p.Group == "" {
			p.Group = p.Name
		}
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("pools[%d]: name: empty", i))
		case c.pools[p.Name].Name != "":
			errs = append(errs, fmt.Errorf("pools[%d]: name %q: used twice", i, p.Name))
		case groups[p.Group]:
			errs = append(errs, fmt.Errorf("pools[%d]: group %q: in two pools", i, p.Group))
		}
		for _, t := range p.InstanceTypes {
			if _, ok := c.types[t]; !ok {
				errs = append(errs, fmt.Errorf("pools[%d]: instance type %q: not in types", i, t))
			}
		}
		groups[p.Group] = true
		c.pools[p.Name] = p
	}
	if len(cfg.Pools) == 0 {
		errs = append(errs, errors.New("pools: none"))
	}
	for i, p := range cfg.Pools {
		if od := p.OnDemandPool; od != "" && (od == p.Name || c.pools[od].Name == "") {
			errs = append(errs, fmt.Errorf("pools[%d]: onDemandPool %q: not another configured pool", i, od))
		}
	}
	var err error
	if c.warm, err = newWarmer(cfg.Warmup); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// wrap names the operation and marks AWS's rate limiting as autoscale.ErrThrottled.
func wrap(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled":
			return fmt.Errorf("%s: %w: %w", op, autoscale.ErrThrottled, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// live reports whether an Auto Scaling lifecycle state is one of an instance that is, or
// will be, capacity: pending or in service (standby, detaching and terminating ones are not).
func live(s astypes.LifecycleState) bool {
	return s == astypes.LifecycleStateInService || strings.HasPrefix(string(s), "Pending")
}

// groups describes the configured groups, by group name.
func (c *Cluster) groups(ctx context.Context) (map[string]astypes.AutoScalingGroup, error) {
	names := make([]string, 0, len(c.cfg.Pools))
	for _, p := range c.cfg.Pools {
		names = append(names, c.pools[p.Name].Group)
	}
	out := map[string]astypes.AutoScalingGroup{}
	in := &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names}
	for {
		page, err := c.as.DescribeAutoScalingGroups(ctx, in)
		if err != nil {
			return nil, wrap("describe auto scaling groups", err)
		}
		for _, g := range page.AutoScalingGroups {
			out[aws.ToString(g.AutoScalingGroupName)] = g
		}
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("auto scaling group %s: not found", n)
		}
	}
	return out, nil
}

// containerInstances describes the cluster's container instances (every status but
// INACTIVE), by EC2 instance ID.
func (c *Cluster) containerInstances(ctx context.Context) (map[string]ecstypes.ContainerInstance, error) {
	var arns []string
	in := &ecs.ListContainerInstancesInput{Cluster: aws.String(c.cfg.Cluster)}
	for {
		page, err := c.ecs.ListContainerInstances(ctx, in)
		if err != nil {
			return nil, wrap("list container instances "+c.cfg.Cluster, err)
		}
		arns = append(arns, page.ContainerInstanceArns...)
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	out := map[string]ecstypes.ContainerInstance{}
	for batch := range slices.Chunk(arns, 100) {
		d, err := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(c.cfg.Cluster), ContainerInstances: batch})
		if err != nil {
			return nil, wrap("describe container instances "+c.cfg.Cluster, err)
		}
		for _, ci := range d.ContainerInstances {
			out[aws.ToString(ci.Ec2InstanceId)] = ci
		}
	}
	return out, nil
}

// provisioning returns the cluster's tasks waiting in PROVISIONING for capacity (a
// capacity provider's tasks that fit no instance). It describes only the tasks not seen
// placed before: at steady state a snapshot's DescribeTasks calls are for the tasks
// started since the last one.
func (c *Cluster) provisioning(ctx context.Context) ([]autoscale.Task, error) {
	var listed []string
	c.warm.beginListing()
	in := &ecs.ListTasksInput{Cluster: aws.String(c.cfg.Cluster), DesiredStatus: ecstypes.DesiredStatusRunning}
	for {
		page, err := c.ecs.ListTasks(ctx, in)
		if err != nil {
			return nil, wrap("list tasks "+c.cfg.Cluster, err)
		}
		listed = append(listed, page.TaskArns...)
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	var arns []string
	c.mu.Lock()
	placed := make(map[string]bool, len(listed))
	for _, arn := range listed {
		if c.placed[arn] {
			placed[arn] = true
		} else {
			arns = append(arns, arn)
		}
	}
	c.placed = placed // the tasks no longer listed are forgotten
	c.mu.Unlock()
	var out []autoscale.Task
	for batch := range slices.Chunk(arns, 100) {
		d, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(c.cfg.Cluster), Tasks: batch})
		if err != nil {
			return nil, wrap("describe tasks "+c.cfg.Cluster, err)
		}
		for _, t := range d.Tasks {
			warm := c.warm.observe(t, c.clock.Now())
			// A placed job task never waits for capacity again; a warm-up task is described
			// until its pull is done (what the warm-up waits for).
			if aws.ToString(t.ContainerInstanceArn) != "" && (!warm || t.PullStoppedAt != nil || aws.ToString(t.LastStatus) == "STOPPED") {
				c.mu.Lock()
				c.placed[aws.ToString(t.TaskArn)] = true
				c.mu.Unlock()
			}
			if warm {
				continue // a warm-up task: no job
			}
			// A placed task can be PROVISIONING too (its ENI being attached): only one
			// without a container instance waits for capacity.
			if aws.ToString(t.LastStatus) != "PROVISIONING" || aws.ToString(t.ContainerInstanceArn) != "" {
				continue
			}
			task := autoscale.Task{ID: aws.ToString(t.TaskArn), Provisioning: true,
				SubmittedAt: aws.ToTime(t.CreatedAt)}
			task.CPU, _ = strconv.Atoi(aws.ToString(t.Cpu))
			task.MemoryMiB, _ = strconv.Atoi(aws.ToString(t.Memory))
			if len(t.Containers) > 0 {
				task.Image = aws.ToString(t.Containers[0].Image)
			}
			out = append(out, task)
		}
	}
	return out, nil
}

func resource(rs []ecstypes.Resource, name string) int {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return int(r.IntegerValue)
		}
	}
	return 0
}

func attribute(ci ecstypes.ContainerInstance, name string) string {
	for _, a := range ci.Attributes {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

// tasks is what an instance runs or is starting.
func tasks(ci ecstypes.ContainerInstance) int {
	return int(ci.RunningTasksCount + ci.PendingTasksCount)
}

// poolOf maps a group to its autoscale.Pool: the group's size limits and, from its mixed
// instances policy, the instance types (unless configured) and the on-demand split. A
// group without one launches on-demand instances only.
func (c *Cluster) poolOf(p Pool, g astypes.AutoScalingGroup) autoscale.Pool {
	out := autoscale.Pool{Name: p.Name, InstanceTypes: slices.Clone(p.InstanceTypes),
		Min: int(aws.ToInt32(g.MinSize)), Max: int(aws.ToInt32(g.MaxSize)),
		OnDemandPercentAboveBase: 100, AvailabilityZones: slices.Clone(g.AvailabilityZones)}
	if m := g.MixedInstancesPolicy; m != nil {
		if d := m.InstancesDistribution; d != nil {
			out.OnDemandBase = int(aws.ToInt32(d.OnDemandBaseCapacity))
			if d.OnDemandPercentageAboveBaseCapacity != nil {
				out.OnDemandPercentAboveBase = int(*d.OnDemandPercentageAboveBaseCapacity)
			}
		}
		if lt := m.LaunchTemplate; lt != nil && len(out.InstanceTypes) == 0 {
			for _, o := range lt.Overrides {
				if t := aws.ToString(o.InstanceType); t != "" {
					out.InstanceTypes = append(out.InstanceTypes, t)
				}
			}
		}
	}
	weighPool(&out, g)
	return out
}

// launchErrorWindow is how far back Snapshot.LaunchErrors go.
const launchErrorWindow = 10 * time.Minute

// activityRecords is how many of a group's latest scaling activities a snapshot reads.
const activityRecords = 20

var insufficientType = regexp.MustCompile(`do not have sufficient (\S+) capacity`)

// launchErrors reads the failed launches of a group's latest scaling activities since
// now-launchErrorWindow, oldest first. Auto Scaling words them "Could not launch Spot
// Instances. InsufficientInstanceCapacity - ..." (mixed instances groups) or with EC2's
// message alone ("We currently do not have sufficient m5.large capacity in the
// Availability Zone you requested (us-east-1a)..."); the code is the EC2 error code in the
// message, LaunchErrorInsufficientCapacity for the latter.
func (c *Cluster) launchErrors(ctx context.Context, pool, group string, now time.Time) ([]autoscale.LaunchError, error) {
	out, err := c.as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{
		AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(activityRecords)})
	if err != nil {
		return nil, wrap("describe scaling activities of "+group, err)
	}
	var errs []autoscale.LaunchError
	for _, a := range out.Activities {
		at := aws.ToTime(a.StartTime)
		if a.StatusCode != astypes.ScalingActivityStatusCodeFailed || !strings.HasPrefix(aws.ToString(a.Description), "Launching") || now.Sub(at) > launchErrorWindow {
			continue
		}
		msg := aws.ToString(a.StatusMessage)
		le := autoscale.LaunchError{At: at, Pool: pool, Spot: strings.Contains(msg, "Spot Instance")}
		if _, rest, ok := strings.Cut(msg, "Instances. "); ok {
			le.Code, _, _ = strings.Cut(rest, " ")
		} else if strings.Contains(msg, "do not have sufficient") {
			le.Code = autoscale.LaunchErrorInsufficientCapacity
		}
		if m := insufficientType.FindStringSubmatch(msg); m != nil {
			le.Type = m[1]
		}
		errs = append(errs, le)
	}
	slices.SortStableFunc(errs, func(a, b autoscale.LaunchError) int { return a.At.Compare(b.At) })
	return errs, nil
}

// Snapshot observes the cluster. It also finishes drains: a DRAINING instance that runs no
// task any more is terminated (its group's desired capacity decremented unless that would
// go below the group's minimum) and is not in the snapshot.
func (c *Cluster) Snapshot(ctx context.Context) (*autoscale.Snapshot, error) {
	groups, err := c.groups(ctx)
	if err != nil {
		return nil, err
	}
	cis, err := c.containerInstances(ctx)
	if err != nil {
		return nil, err
	}
	pending, err := c.provisioning(ctx)
	if err != nil {
		return nil, err
	}
	if c.cfg.Queue != nil {
		q, err := c.cfg.Queue.Pending(ctx)
		if err != nil {
			return nil, fmt.Errorf("hashike's queue: %w", err)
		}
		pending = append(pending, q...)
	}
	slices.SortStableFunc(pending, func(a, b autoscale.Task) int { return a.SubmittedAt.Compare(b.SubmittedAt) })

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	s := &autoscale.Snapshot{Now: now, Types: map[string]autoscale.InstanceType{}, Pending: pending}
	c.warm.pending(pending, now)
	for n, t := range c.types {
		s.Types[n] = t
	}
	if err := c.observeSpot(ctx, groups); err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, p := range c.cfg.Pools {
		p = c.pools[p.Name]
		g := groups[p.Group]
		pool := c.poolOf(p, g)
		s.Pools = append(s.Pools, pool)
		les, err := c.launchErrors(ctx, p.Name, p.Group, now)
		if err != nil {
			return nil, err
		}
		if mixedTypes(g) > 1 {
			// Auto Scaling tried every override before it failed: the group, not a type,
			// could not launch.
			for i := range les {
				les[i].Type = ""
			}
		}
		s.LaunchErrors = append(s.LaunchErrors, les...)
		desired, err := c.cancelUnfulfilled(ctx, g, les, int(aws.ToInt32(g.DesiredCapacity)))
		if err != nil {
			return nil, err
		}
		var protect, unprotect []string
		for _, m := range g.Instances {
			id := aws.ToString(m.InstanceId)
			if !live(m.LifecycleState) {
				continue
			}
			in := autoscale.Instance{ID: id, Pool: p.Name, Type: aws.ToString(m.InstanceType), State: autoscale.InstanceLaunching}
			ci, registered := cis[id]
			if registered {
				switch ecstypes.ContainerInstanceStatus(aws.ToString(ci.Status)) {
				case ecstypes.ContainerInstanceStatusActive:
					in.State = autoscale.InstanceActive
				case ecstypes.ContainerInstanceStatusDraining:
					in.State = autoscale.InstanceDraining
				case ecstypes.ContainerInstanceStatusRegistering:
					registered = false
				default: // deregistering: on its way out
					continue
				}
			}
			if in.State == autoscale.InstanceDraining && c.jobTasks(ci) == 0 {
				if err := c.terminateInstance(ctx, g, id, desired); err != nil {
					return nil, fmt.Errorf("finish draining %s: %w", id, err)
				}
				desired = max(desired-memberUnits(g, m), int(aws.ToInt32(g.MinSize)))
				continue
			}
			present[id] = true
			if t := attribute(ci, "ecs.instance-type"); t != "" {
				in.Type = t
			}
			if in.Type == "" && len(pool.InstanceTypes) > 0 {
				in.Type = pool.InstanceTypes[0]
			}
			if !registered {
				// What it will register, so a policy packs pending tasks onto it rather
				// than launching again for them while it boots.
				in.CPU, in.MemoryMiB = c.types[in.Type].CPU, c.types[in.Type].MemoryMiB
			}
			if _, ok := c.seen[id]; !ok {
				c.seen[id] = now
			}
			in.LaunchedAt = c.seen[id]
			in.InterruptionAt = c.interruptions[id]
			in.Spot = c.spot[id]
			if t, ok := c.types[in.Type]; ok && !registered {
				// What it will register: the policy packs onto launching capacity.
				in.CPU, in.MemoryMiB = t.CPU, t.MemoryMiB
			}
			if registered {
				in.ActiveAt = aws.ToTime(ci.RegisteredAt)
				if in.ActiveAt.Before(in.LaunchedAt) {
					in.LaunchedAt = in.ActiveAt
				}
				in.CPU = resource(ci.RegisteredResources, "CPU")
				in.MemoryMiB = resource(ci.RegisteredResources, "MEMORY")
				in.CPUUsed = in.CPU - resource(ci.RemainingResources, "CPU")
				in.MemoryUsed = in.MemoryMiB - resource(ci.RemainingResources, "MEMORY")
				if !ci.AgentConnected {
					// ECS places nothing on an instance whose agent is disconnected.
					in.CPUUsed, in.MemoryUsed = in.CPU, in.MemoryMiB
				}
				in.Tasks = tasks(ci)
				if err := c.warmUp(ctx, &in, ci, now); err != nil {
					return nil, err
				}
				s.Running += in.Tasks
				switch {
				case in.Tasks > 0:
					c.busy[id] = true
					delete(c.idle, id)
				case c.busy[id]:
					c.busy[id] = false
					c.idle[id] = now
				}
				in.IdleSince = c.idle[id]
				protected := aws.ToBool(m.ProtectedFromScaleIn)
				switch {
				case in.Tasks > 0 && !protected:
					protect = append(protect, id)
				case in.Tasks == 0 && protected:
					unprotect = append(unprotect, id)
				}
			}
			s.Instances = append(s.Instances, in)
		}
		if !c.cfg.LeaveProtection {
			if err := c.protect(ctx, p.Group, protect, true); err != nil {
				return nil, err
			}
			if err := c.protect(ctx, p.Group, unprotect, false); err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(s.LaunchErrors, func(a, b autoscale.LaunchError) int { return a.At.Compare(b.At) })
	for id := range c.seen {
		if !present[id] {
			delete(c.seen, id)
			delete(c.busy, id)
			delete(c.idle, id)
			delete(c.interruptions, id)
		}
	}
	c.warm.forget(present)
	return s, nil
}

// protect sets (or clears) the scale-in protection of a group's instances, 50 a call.
func (c *Cluster) protect(ctx context.Context, group string, ids []string, on bool) error {
	for batch := range slices.Chunk(ids, 50) {
		_, err := c.as.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
			AutoScalingGroupName: aws.String(group), InstanceIds: batch, ProtectedFromScaleIn: aws.Bool(on)})
		if err != nil {
			return wrap(fmt.Sprintf("set scale-in protection %v on %s in %s", on, strings.Join(batch, ","), group), err)
		}
	}
	return nil
}

// terminateInstance terminates one instance of group g, decrementing the desired capacity
// (by the instance's weight) unless that would go below the group's minimum (the group
// then launches a replacement).
func (c *Cluster) terminateInstance(ctx context.Context, g astypes.AutoScalingGroup, id string, desired int) error {
	w := 1
	for _, m := range g.Instances {
		if aws.ToString(m.InstanceId) == id {
			w = memberUnits(g, m)
		}
	}
	decrement := desired-w >= int(aws.ToInt32(g.MinSize))
	_, err := c.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(decrement)})
	if err != nil {
		return wrap("terminate instance "+id+" in auto scaling group "+aws.ToString(g.AutoScalingGroupName), err)
	}
	return nil
}

// Apply carries out one action. Launch raises the pool's group's desired capacity (in
// units for a weighted group; a Type is a preference the group's launch template or mixed
// instances policy decides on; Spot false goes to the OnDemandPool when the pool's next
// instances would be spot, see the package comment). Drain sets the instance DRAINING, or terminates it when
// it is launching or idle. Terminate refuses an instance that runs a task (ErrBusy).
func (c *Cluster) Apply(ctx context.Context, a autoscale.Action) error {
	switch {
	case a.Launch != nil:
		return c.launch(ctx, *a.Launch)
	case a.Drain != nil:
		return c.drain(ctx, a.Drain.Instance, false)
	case a.Terminate != nil:
		return c.drain(ctx, a.Terminate.Instance, true)
	}
	return errors.New("empty action")
}

// drain drains an instance, or with terminate ends an idle one (refusing a busy one).
// An idle registered instance is set DRAINING first, so nothing is placed on it before it
// is terminated; the answer of UpdateContainerInstancesState says whether it is still idle.
func (c *Cluster) drain(ctx context.Context, id string, terminate bool) error {
	op := "drain " + id
	if terminate {
		op = "terminate " + id
	}
	groups, err := c.groups(ctx)
	if err != nil {
		return err
	}
	var group astypes.AutoScalingGroup
	found := false
	for _, g := range groups {
		for _, m := range g.Instances {
			if aws.ToString(m.InstanceId) == id && live(m.LifecycleState) {
				group, found = g, true
			}
		}
	}
	if !found {
		return fmt.Errorf("%s: %w", op, autoscale.ErrUnknown)
	}
	desired := int(aws.ToInt32(group.DesiredCapacity))
	cis, err := c.containerInstances(ctx)
	if err != nil {
		return err
	}
	ci, registered := cis[id]
	if !registered || aws.ToString(ci.Status) == string(ecstypes.ContainerInstanceStatusRegistering) {
		return c.terminateInstance(ctx, group, id, desired)
	}
	jobs, err := c.jobTasksNow(ctx, ci)
	if err != nil {
		return err
	}
	if terminate && jobs > 0 {
		return fmt.Errorf("%s: %d tasks run there (drain it instead): %w", op, jobs, ErrBusy)
	}
	if aws.ToString(ci.Status) != string(ecstypes.ContainerInstanceStatusDraining) {
		out, err := c.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
			Cluster: aws.String(c.cfg.Cluster), ContainerInstances: []string{aws.ToString(ci.ContainerInstanceArn)}, Status: ecstypes.ContainerInstanceStatusDraining})
		if err != nil {
			return wrap(op+": update container instance state", err)
		}
		if len(out.Failures) > 0 || len(out.ContainerInstances) != 1 {
			f := ecstypes.Failure{}
			if len(out.Failures) > 0 {
				f = out.Failures[0]
			}
			return fmt.Errorf("%s: update container instance state: %s %s", op, aws.ToString(f.Reason), aws.ToString(f.Detail))
		}
		ci = out.ContainerInstances[0]
		if jobs, err = c.jobTasksNow(ctx, ci); err != nil {
			return err
		}
	}
	if jobs > 0 {
		if terminate {
			return fmt.Errorf("%s: a task reached it while it was drained for the terminate; it is DRAINING and ends once idle: %w", op, ErrBusy)
		}
		return nil
	}
	return c.terminateInstance(ctx, group, id, desired)
}
