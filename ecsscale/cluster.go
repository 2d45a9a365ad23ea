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
// It never stops a running task: Terminate refuses an instance that runs one (ErrBusy), a
// drained instance is terminated only once its tasks have ended, and an idle instance is set
// DRAINING before it is terminated, so no task can be placed on it in between.
//
// API calls: a Snapshot of G groups, N container instances and T tasks not stopped makes
// 1 DescribeAutoScalingGroups, ceil(N/100) ListContainerInstances and as many
// DescribeContainerInstances, ceil(T/100) ListTasks, ceil(T'/100) DescribeTasks where T'
// are the tasks no earlier snapshot saw on a container instance (the new ones and those
// still waiting in PROVISIONING), G DescribeScalingActivities, and one
// SetInstanceProtection per group and direction (50 instances a call) when protection
// changed (docs/autoscaler.md has the figures for 200 instances); a Drain or Terminate 1 + 2*ceil(N/100) reads,
// then at most UpdateContainerInstancesState and TerminateInstanceInAutoScalingGroup; a
// Launch 1 DescribeAutoScalingGroups and at most 1 SetDesiredCapacity.
//
// It reaches AWS only through the narrow interfaces ECSAPI and AutoScalingAPI, which the
// SDK's clients satisfy; tests put the stateful fake of package internal/awsfake behind them.
package ecsscale

import (
	"context"
	"errors"
	"fmt"
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
		seen: map[string]time.Time{}, busy: map[string]bool{}, idle: map[string]time.Time{}, placed: map[string]bool{}}
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
			if aws.ToString(t.ContainerInstanceArn) != "" {
				c.mu.Lock()
				c.placed[aws.ToString(t.TaskArn)] = true
				c.mu.Unlock()
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
	for n, t := range c.types {
		s.Types[n] = t
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
		s.LaunchErrors = append(s.LaunchErrors, les...)
		desired := int(aws.ToInt32(g.DesiredCapacity))
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
			if in.State == autoscale.InstanceDraining && tasks(ci) == 0 {
				if err := c.terminateInstance(ctx, g, id, desired); err != nil {
					return nil, fmt.Errorf("finish draining %s: %w", id, err)
				}
				desired = max(desired-1, pool.Min)
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
		}
	}
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
// unless that would go below the group's minimum (the group then launches a replacement).
func (c *Cluster) terminateInstance(ctx context.Context, g astypes.AutoScalingGroup, id string, desired int) error {
	decrement := desired > int(aws.ToInt32(g.MinSize))
	_, err := c.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(decrement)})
	if err != nil {
		return wrap("terminate instance "+id+" in auto scaling group "+aws.ToString(g.AutoScalingGroupName), err)
	}
	return nil
}

// Apply carries out one action. Launch raises the pool's group's desired capacity (a
// Type is a preference the group's launch template or mixed instances policy decides
// on; Spot is the group's split). Drain sets the instance DRAINING, or terminates it when
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

func (c *Cluster) launch(ctx context.Context, l autoscale.Launch) error {
	p, ok := c.pools[l.Pool]
	if !ok {
		return fmt.Errorf("launch in pool %q: %w", l.Pool, autoscale.ErrUnknown)
	}
	if l.Count < 1 {
		return fmt.Errorf("launch %d in pool %s: count must be >= 1", l.Count, l.Pool)
	}
	groups, err := c.groups(ctx)
	if err != nil {
		return err
	}
	g := groups[p.Group]
	pool := c.poolOf(p, g)
	if l.Type != "" && !slices.Contains(pool.InstanceTypes, l.Type) {
		return fmt.Errorf("launch %s in pool %s: %w", l.Type, l.Pool, autoscale.ErrUnknown)
	}
	desired := int(aws.ToInt32(g.DesiredCapacity))
	want := min(desired+l.Count, pool.Max)
	if want > desired {
		_, err := c.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String(p.Group), DesiredCapacity: aws.Int32(int32(want)), HonorCooldown: aws.Bool(false)})
		if err != nil {
			return wrap(fmt.Sprintf("set desired capacity of %s to %d", p.Group, want), err)
		}
	}
	if got := want - desired; got < l.Count {
		return fmt.Errorf("launch %d in pool %s: %d launched, group %s at its max %d: %w", l.Count, l.Pool, max(got, 0), p.Group, pool.Max, autoscale.ErrAtMax)
	}
	return nil
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
	if terminate && tasks(ci) > 0 {
		return fmt.Errorf("%s: %d tasks run there (drain it instead): %w", op, tasks(ci), ErrBusy)
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
	}
	if n := tasks(ci); n > 0 {
		if terminate {
			return fmt.Errorf("%s: a task reached it while it was drained for the terminate; it is DRAINING and ends once idle: %w", op, ErrBusy)
		}
		return nil
	}
	return c.terminateInstance(ctx, group, id, desired)
}
