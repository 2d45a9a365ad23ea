package ecsscale

// Image warm-up.
//
// A new instance's first task of an image waits for its pull (often 10-60 s for a batch
// image, more than the container's start). With Config.Warmup.Images N > 0, the adapter
// has a new instance pull the N images used most in the last Warmup.Window before the
// policy counts it as ready: when it first sees the container instance ACTIVE (registered
// less than Warmup.Timeout ago), it starts on it, with StartTask, one warm-up task per image.
// A warm-up task's definition (family Warmup.Family + "-" + a hash of the image, registered
// once) has one container of the image with entry point ["true"] and 16 MiB: a no-op. An
// image without a `true` binary (FROM scratch, distroless) fails with
// CannotStartContainerError, but only after its pull, which is what warms the agent's
// cache: a warm-up task is done once its PullStoppedAt is set (or it stopped, whatever its
// exit). Until its warm-up tasks are done, or Warmup.Timeout has passed since they started,
// Snapshot reports the instance as autoscale.InstanceLaunching (ActiveAt zero), so a policy
// counts it as capacity on its way, not as capacity ready; but once a job runs there (see
// below) it is in service and reported active: in the simulator, hiding warming instances
// that ran jobs made the hashike policy launch a fifth fewer instances and wait longer
// (docs/sim.md, Image warm-up).
//
// Warm-up tasks (StartedBy WarmupStartedBy) are never demand (they are placed, so never
// PROVISIONING) and never counted as an instance's tasks: an instance that runs only
// warm-up tasks is idle (not protected from scale-in; Terminate does not refuse it with
// ErrBusy, and a DRAINING one is terminated), and their CPU and memory are not in
// CPUUsed/MemoryUsed. The warm-up tasks are counted after the container instance's task
// counts are read, so a warm-up task that ended in between can only make an instance look
// busier than it is, never idle while a job runs there; so does one that is stopping
// (desired STOPPED, not listed any more, still counted by ECS) for its last seconds.
//
// "Used most" counts the tasks first seen in the window per image: hashike's queue's
// waiting tasks (Config.Queue), PROVISIONING tasks and the cluster's tasks (other than
// warm-up ones), as each Snapshot sees them.
//
// Jobs placed on a warming instance: the adapter does not keep them off it. ECS places a
// RunTask on any ACTIVE instance with room, so while an instance warms, a job can land
// there; its image pull is then shared with a warm-up task's (the agent pulls an image once)
// or runs beside them. That job starts no later than on the same instance without warm-up
// (except for the bandwidth the other pulls take). To keep jobs off warming
// instances instead, the AWS-native way is an instance attribute and a placement
// constraint: the launch template's user data registers the instance with
// ECS_INSTANCE_ATTRIBUTES={"hashike.warming":"true"}, jobs run with the placement
// constraint "attribute:hashike.warming !exists" (JobSpec's ECS placementConstraints), and
// the adapter would DeleteAttributes hashike.warming once warm; not implemented here.
//
// The other way to hold an instance until it is warm is an Auto Scaling launch lifecycle
// hook (autoscaling:EC2_INSTANCE_LAUNCHING) whose CompleteLifecycleAction waits for the
// pulls: the instance then does not even register before it is warm, with no need for a
// placement constraint, at the cost of a user-data script that pulls the images (docker
// pull, ECR login) and knows which ones. The warm-up tasks above need neither.
//
// API calls: per new instance, N StartTask (and, once per image per process, one
// DescribeTaskDefinition and at most one RegisterTaskDefinition); a Drain or Terminate of
// an instance that warmed adds one ListTasks.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike/autoscale"
)

// WarmupStartedBy is the startedBy of warm-up tasks.
const WarmupStartedBy = "hashike-warmup"

// Warmup configures image warm-up on new instances (warmup.go).
type Warmup struct {
	// Images is how many images a new instance pulls before it counts as ready (0: no
	// warm-up): the ones used most in the last Window (default 1 h).
	Images int
	Window time.Duration
	// Timeout bounds the warm-up (default 5 min): after it, the instance is ready even if a
	// pull goes on. An instance registered longer ago than Timeout when the adapter first
	// sees it is not warmed.
	Timeout time.Duration
	// Family prefixes the warm-up task definitions' families (default "hashike-warmup").
	Family string
	// ExecutionRoleArn, when set, goes into the warm-up task definitions: the role the
	// agent pulls with (private registries; ECR images pull with the instance role).
	ExecutionRoleArn string
}

// warmupMemoryMiB is what a warm-up task reserves: ECS's floor for a container is 6 MiB.
const warmupMemoryMiB = 16

// warmer is the warm-up's state. Its own lock guards it: Snapshot's task listing fills it
// before Snapshot takes the Cluster's.
type warmer struct {
	cfg Warmup

	mu sync.Mutex
	// on is, per container instance ARN, the warm-up tasks of the latest task listing not
	// stopped (desired RUNNING): ARN -> pull done.
	on map[string]map[string]bool
	// used is, per image, when each task using it was first seen.
	used map[string]map[string]time.Time
	// state is per EC2 instance ID.
	state map[string]*warming
	// defs are the warm-up task definitions' ARNs by image.
	defs map[string]string
}

type warming struct {
	started time.Time
	tasks   []string
	done    bool
}

func newWarmer(cfg Warmup) (*warmer, error) {
	if cfg.Images < 0 || cfg.Window < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("warmup: images, window and timeout must be >= 0")
	}
	if cfg.Images == 0 {
		return nil, nil
	}
	if cfg.Window == 0 {
		cfg.Window = time.Hour
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Family == "" {
		cfg.Family = "hashike-warmup"
	}
	return &warmer{cfg: cfg, on: map[string]map[string]bool{}, used: map[string]map[string]time.Time{},
		state: map[string]*warming{}, defs: map[string]string{}}, nil
}

// beginListing forgets the previous task listing's warm-up tasks.
func (w *warmer) beginListing() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on = map[string]map[string]bool{}
}

// observe takes a task of the listing: a warm-up task is recorded on its instance (and
// true returned: it is no job); another counts as a use of its images.
func (w *warmer) observe(t ecstypes.Task, now time.Time) bool {
	warm := aws.ToString(t.StartedBy) == WarmupStartedBy
	if w == nil {
		return warm
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	arn := aws.ToString(t.TaskArn)
	if warm {
		ci := aws.ToString(t.ContainerInstanceArn)
		if w.on[ci] == nil {
			w.on[ci] = map[string]bool{}
		}
		w.on[ci][arn] = t.PullStoppedAt != nil || aws.ToString(t.LastStatus) == "STOPPED"
		return true
	}
	for _, ctr := range t.Containers {
		w.use(aws.ToString(ctr.Image), arn, now)
	}
	return false
}

// use records that task id uses image (w.mu held).
func (w *warmer) use(image, id string, now time.Time) {
	if image == "" {
		return
	}
	if w.used[image] == nil {
		w.used[image] = map[string]time.Time{}
	}
	if _, ok := w.used[image][id]; !ok {
		w.used[image][id] = now
	}
}

// pending counts the waiting tasks as uses of their images.
func (w *warmer) pending(ts []autoscale.Task, now time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range ts {
		w.use(t.Image, t.ID, now)
	}
}

// top returns the Images images used most in the window, most first, ties by name (w.mu
// held); it forgets uses older than the window.
func (w *warmer) top(now time.Time) []string {
	var imgs []string
	n := map[string]int{}
	for img, ids := range w.used {
		for id, at := range ids {
			if now.Sub(at) > w.cfg.Window {
				delete(ids, id)
			}
		}
		if len(ids) == 0 {
			delete(w.used, img)
			continue
		}
		imgs = append(imgs, img)
		n[img] = len(ids)
	}
	slices.SortFunc(imgs, func(a, b string) int {
		if c := cmp.Compare(n[b], n[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return imgs[:min(len(imgs), w.cfg.Images)]
}

// warmTasks is how many warm-up tasks the latest listing saw on a container instance.
func (w *warmer) warmTasks(ciARN string) int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.on[ciARN])
}

// jobTasks is what an instance runs or is starting, warm-up tasks not counted (they were
// listed after the instance's counts were read, so this is never below its jobs).
func (c *Cluster) jobTasks(ci ecstypes.ContainerInstance) int {
	return max(tasks(ci)-c.warm.warmTasks(aws.ToString(ci.ContainerInstanceArn)), 0)
}

// jobTasksNow is jobTasks for Drain and Terminate: the warm-up tasks are listed now, after
// ci was read, with one ListTasks when the instance ran warm-up tasks.
func (c *Cluster) jobTasksNow(ctx context.Context, ci ecstypes.ContainerInstance) (int, error) {
	n := tasks(ci)
	if c.warm == nil || n == 0 {
		return n, nil
	}
	c.warm.mu.Lock()
	_, warmed := c.warm.state[aws.ToString(ci.Ec2InstanceId)]
	c.warm.mu.Unlock()
	if !warmed {
		return n, nil
	}
	arn := aws.ToString(ci.ContainerInstanceArn)
	out, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.cfg.Cluster), ContainerInstance: aws.String(arn),
		StartedBy: aws.String(WarmupStartedBy), DesiredStatus: ecstypes.DesiredStatusRunning})
	if err != nil {
		return 0, wrap("list warm-up tasks on "+arn, err)
	}
	return max(n-len(out.TaskArns), 0), nil
}

// warmUp applies the warm-up to an instance of the snapshot, registered, whose Tasks,
// CPUUsed and MemoryUsed are the container instance's: the warm-up tasks come off them, a
// new ACTIVE instance starts its warm-up, and one warming is reported launching (c.mu held).
func (c *Cluster) warmUp(ctx context.Context, in *autoscale.Instance, ci ecstypes.ContainerInstance, now time.Time) error {
	w := c.warm
	if w == nil {
		return nil
	}
	ciARN := aws.ToString(ci.ContainerInstanceArn)
	w.mu.Lock()
	defer w.mu.Unlock()
	on := w.on[ciARN]
	in.Tasks = max(in.Tasks-len(on), 0)
	if ci.AgentConnected {
		in.MemoryUsed = max(in.MemoryUsed-len(on)*warmupMemoryMiB, 0)
	}
	st := w.state[in.ID]
	if st == nil {
		if in.State != autoscale.InstanceActive {
			return nil
		}
		st = &warming{started: now}
		w.state[in.ID] = st
		for arn := range on { // started before a restart of the adapter: adopted
			st.tasks = append(st.tasks, arn)
		}
		switch {
		case len(st.tasks) > 0:
		case now.Sub(aws.ToTime(ci.RegisteredAt)) > w.cfg.Timeout:
			st.done = true // here before the adapter: not new
		default:
			if err := c.startWarmup(ctx, st, ciARN, w.top(now)); err != nil {
				return fmt.Errorf("warm up %s: %w", in.ID, err)
			}
		}
	}
	if !st.done {
		st.done = now.Sub(st.started) >= w.cfg.Timeout
		if !st.done {
			st.done = true
			for _, arn := range st.tasks {
				if pulled, listed := w.on[ciARN][arn]; listed && !pulled {
					st.done = false
				}
			}
		}
	}
	if !st.done && in.State == autoscale.InstanceActive && in.Tasks == 0 {
		in.State, in.ActiveAt = autoscale.InstanceLaunching, time.Time{}
	}
	return nil
}

// startWarmup starts one warm-up task per image on the container instance (c.mu and
// c.warm.mu held). A task ECS does not place (RESOURCE:*, the instance gone) is skipped.
func (c *Cluster) startWarmup(ctx context.Context, st *warming, ciARN string, images []string) error {
	for _, img := range images {
		def, err := c.warmupDef(ctx, img)
		if err != nil {
			return err
		}
		out, err := c.ecs.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String(c.cfg.Cluster), ContainerInstances: []string{ciARN},
			TaskDefinition: aws.String(def), StartedBy: aws.String(WarmupStartedBy)})
		if err != nil {
			return wrap("start warm-up task of "+img+" on "+ciARN, err)
		}
		for _, t := range out.Tasks {
			st.tasks = append(st.tasks, aws.ToString(t.TaskArn))
			if c.warm.on[ciARN] == nil {
				c.warm.on[ciARN] = map[string]bool{}
			}
			c.warm.on[ciARN][aws.ToString(t.TaskArn)] = false
		}
	}
	return nil
}

// warmupDef returns the warm-up task definition of an image: the latest revision of its
// family when it runs that image, else a new one (c.warm.mu held).
func (c *Cluster) warmupDef(ctx context.Context, img string) (string, error) {
	if arn, ok := c.warm.defs[img]; ok {
		return arn, nil
	}
	h := fnv.New64a()
	h.Write([]byte(img))
	family := c.warm.cfg.Family + "-" + strconv.FormatUint(h.Sum64(), 36)
	d, err := c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "ClientException") { // ClientException: no such family yet
		return "", wrap("describe warm-up task definition "+family, err)
	}
	if err == nil && d.TaskDefinition != nil && len(d.TaskDefinition.ContainerDefinitions) == 1 &&
		aws.ToString(d.TaskDefinition.ContainerDefinitions[0].Image) == img {
		c.warm.defs[img] = aws.ToString(d.TaskDefinition.TaskDefinitionArn)
		return c.warm.defs[img], nil
	}
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityEc2},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("warmup"), Image: aws.String(img),
			EntryPoint: []string{"true"}, Memory: aws.Int32(warmupMemoryMiB), Essential: aws.Bool(true)}}}
	if r := c.warm.cfg.ExecutionRoleArn; r != "" {
		in.ExecutionRoleArn = aws.String(r)
	}
	r, err := c.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", wrap("register warm-up task definition "+family+" of "+img, err)
	}
	c.warm.defs[img] = aws.ToString(r.TaskDefinition.TaskDefinitionArn)
	return c.warm.defs[img], nil
}

// forget drops the state of instances no longer in the cluster (c.mu held).
func (w *warmer) forget(present map[string]bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.state {
		if !present[id] {
			delete(w.state, id)
		}
	}
}
