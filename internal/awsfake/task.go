package awsfake

import (
	"fmt"
	"strings"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
)

// Task lifecycle states, as ECS names them.
const (
	statusProvisioning   = "PROVISIONING"
	statusPending        = "PENDING"
	statusActivating     = "ACTIVATING"
	statusRunning        = "RUNNING"
	statusDeactivating   = "DEACTIVATING"
	statusStopping       = "STOPPING"
	statusDeprovisioning = "DEPROVISIONING"
	statusStopped        = "STOPPED"
)

type task struct {
	c                *Cloud
	arn, id          string
	cluster          *cluster
	def              types.TaskDefinition
	hdef             hashike.TaskDefinition
	overrides        *types.TaskOverride
	launchType       types.LaunchType
	capacityProvider string
	startedBy, group string
	tags             []types.Tag
	cpu, mem         int
	binpack          autoscale.BinpackField // RunTask's placement, for a PROVISIONING task
	instance         *instance
	// placedOn is the container instance the task was placed on; unlike instance (the
	// resources held) it stays after the task stopped, as containerInstanceArn does on ECS.
	placedOn string
	launched bool

	lastStatus, desiredStatus string
	stopCode                  types.TaskStopCode
	stoppedReason             string
	createdAt, pullStartedAt  *time.Time
	pullStoppedAt, startedAt  *time.Time
	connectivityAt            *time.Time
	stoppingAt, stoppedAt     *time.Time
	executionStoppedAt        *time.Time
	version                   int64

	// insightsNext is the first minute whose Container Insights event is not written yet.
	insightsNext time.Time

	containers    []*container
	volumes       map[string]map[string]string // volume -> path -> content
	stopRequested bool
	userReason    string
	wake          chan struct{}
	gone          chan struct{} // closed when the host went away
}

func (c *Cloud) newTask(cl *cluster, td *taskDef, in *awsecs.RunTaskInput, launch types.LaunchType, provider string, cpu, mem int, now time.Time) *task {
	id := c.hexID(32)
	t := &task{
		c: c, id: id, cluster: cl,
		arn:              c.arn("ecs", fmt.Sprintf("task/%s/%s", cl.name, id)),
		def:              td.def,
		overrides:        in.Overrides,
		launchType:       launch,
		capacityProvider: provider,
		startedBy:        deref(in.StartedBy),
		group:            deref(in.Group),
		tags:             append([]types.Tag(nil), in.Tags...),
		cpu:              cpu, mem: mem,
		lastStatus:    statusProvisioning,
		desiredStatus: statusRunning,
		createdAt:     timePtr(now),
		version:       1,
		volumes:       map[string]map[string]string{},
		wake:          make(chan struct{}, 1),
		gone:          make(chan struct{}),
	}
	if t.group == "" {
		t.group = "family:" + deref(td.def.Family)
	}
	if in.PropagateTags == types.PropagateTagsTaskDefinition {
		t.tags = append(t.tags, td.tags...)
	}
	t.hdef.Family = deref(td.def.Family)
	for _, v := range td.def.Volumes {
		t.volumes[deref(v.Name)] = map[string]string{}
	}
	for i, cd := range td.def.ContainerDefinitions {
		cd = withOverride(cd, in.Overrides)
		hc := hashike.ContainerDefinition{Name: deref(cd.Name), Essential: cd.Essential}
		for _, d := range cd.DependsOn {
			hc.DependsOn = append(hc.DependsOn, hashike.ContainerDependency{ContainerName: deref(d.ContainerName), Condition: string(d.Condition)})
		}
		if cd.StartTimeout != nil {
			hc.StartTimeout = ptr(int(*cd.StartTimeout))
		}
		t.hdef.ContainerDefinitions = append(t.hdef.ContainerDefinitions, hc)
		ctr := &container{
			t: t, def: cd,
			arn:       c.arn("ecs", fmt.Sprintf("container/%s/%s/%s", cl.name, id, c.hexID(32))),
			runtimeID: fmt.Sprintf("%s-%d", id, 1000000000+i),
			status:    statusPending,
			fs:        map[string]string{},
			term:      make(chan struct{}),
		}
		if cd.HealthCheck != nil {
			ctr.health = types.HealthStatusUnknown
		}
		t.containers = append(t.containers, ctr)
	}
	c.tasks[t.arn] = t
	c.order = append(c.order, t)
	c.publishTaskEvent(t)
	return t
}

// assign reserves the task's resources on host.
func (t *task) assign(host *instance) {
	t.instance = host
	t.placedOn = host.arn
	host.usedCPU += t.cpu
	host.usedMem += t.mem
	host.pending++
}

func (t *task) release() {
	if t.instance == nil {
		return
	}
	t.instance.usedCPU -= t.cpu
	t.instance.usedMem -= t.mem
	if t.startedAt != nil {
		t.instance.running--
	} else {
		t.instance.pending--
	}
	t.instance = nil
}

// launch starts the task's lifecycle in its own goroutine.
func (t *task) launch() {
	if t.launched {
		return
	}
	t.launched = true
	t.c.wg.Add(1)
	go func() {
		defer t.c.wg.Done()
		t.drive()
	}()
}

// touch records a change (c.mu held): a new version, an event for the events queues, a wake-up
// for the task's driver.
func (t *task) touch() {
	t.version++
	t.c.publishTaskEvent(t)
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// requestStop is StopTask: it is called with c.mu held.
func (t *task) requestStop(reason string) {
	if t.desiredStatus == statusStopped || t.lastStatus == statusStopped {
		return
	}
	now := t.c.clock.Now()
	t.desiredStatus = statusStopped
	t.stopRequested = true
	t.userReason = reason
	if !t.launched {
		// Never placed: it goes straight to STOPPED.
		t.stopCode = types.TaskStopCodeUserInitiated
		t.stoppedReason = reason
		t.finish(now)
		return
	}
	if t.stoppingAt == nil {
		t.stoppingAt = timePtr(now)
	}
	t.touch()
}

// failProvisioning stops a task that waited too long for capacity.
func (t *task) failProvisioning(now time.Time) {
	t.desiredStatus = statusStopped
	t.stopCode = types.TaskStopCodeTaskFailedToStart
	t.stoppedReason = "Capacity provider " + t.capacityProvider + " did not provide capacity in time: Timeout waiting for capacity"
	t.stoppingAt = timePtr(now)
	t.finish(now)
}

// hostGone stops the task at once: its instance was terminated.
func (t *task) hostGone(reason string) {
	now := t.c.clock.Now()
	for _, ctr := range t.containers {
		if ctr.status != statusStopped {
			ctr.status = statusStopped
			ctr.reason = reason
			ctr.finishedAt = timePtr(now)
		}
	}
	t.desiredStatus = statusStopped
	if t.stopCode == "" {
		t.stopCode = types.TaskStopCodeTerminationNotice
		t.stoppedReason = reason
	}
	if t.stoppingAt == nil {
		t.stoppingAt = timePtr(now)
	}
	t.finish(now)
	close(t.gone)
}

// finish marks the task STOPPED and frees its resources (c.mu held).
func (t *task) finish(now time.Time) {
	if t.stopCode == "" && t.stopRequested {
		// Stopped by StopTask before its containers ran (during the pull, say).
		t.stopCode = types.TaskStopCodeUserInitiated
		t.stoppedReason = t.userReason
	}
	for _, ctr := range t.containers {
		if ctr.status != statusStopped {
			ctr.status = statusStopped
		}
	}
	t.release()
	t.lastStatus = statusStopped
	t.desiredStatus = statusStopped
	t.stoppedAt = timePtr(now)
	t.executionStoppedAt = timePtr(now)
	t.touch()
}

// sleep waits d on the clock; false when the cloud closed or the host went away.
func (t *task) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-t.c.closed:
			return false
		case <-t.gone:
			return false
		default:
			return true
		}
	}
	select {
	case <-t.c.clock.After(d):
		return true
	case <-t.c.closed:
		return false
	case <-t.gone:
		return false
	}
}

// step moves the task to status after StepDelay, unless it is stopping; false when the
// driver must end.
func (t *task) step(status string, stamp **time.Time) bool {
	if !t.sleep(t.c.opts.StepDelay) {
		return false
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.lastStatus == statusStopped {
		return false
	}
	if t.stopRequested {
		return true
	}
	t.lastStatus = status
	if stamp != nil {
		*stamp = timePtr(c.clock.Now())
	}
	t.touch()
	return true
}

// drive runs the task from placement to STOPPED.
func (t *task) drive() {
	c := t.c
	if !t.step(statusPending, &t.pullStartedAt) {
		return
	}
	c.mu.Lock()
	failed := t.stopRequested || t.pull()
	var pulling time.Duration
	if !failed {
		pulling = t.pullTime()
	}
	c.mu.Unlock()
	if !failed && pulling > 0 {
		if !t.sleep(pulling) {
			return
		}
		c.mu.Lock()
		if t.lastStatus == statusStopped {
			c.mu.Unlock()
			return
		}
		failed = t.stopRequested
		c.mu.Unlock()
	}
	c.mu.Lock()
	if !failed {
		t.pullStoppedAt = timePtr(c.clock.Now())
	}
	c.mu.Unlock()
	if !failed {
		if !t.step(statusActivating, &t.connectivityAt) || !t.step(statusRunning, &t.startedAt) {
			return
		}
		c.mu.Lock()
		if t.startedAt != nil && t.instance != nil {
			t.instance.pending--
			t.instance.running++
		}
		c.mu.Unlock()
		if !t.runContainers() {
			return
		}
	}
	for _, s := range []string{statusDeactivating, statusStopping, statusDeprovisioning} {
		c.mu.Lock()
		if t.lastStatus == statusStopped {
			c.mu.Unlock()
			return
		}
		t.lastStatus = s
		if t.stoppingAt == nil {
			t.stoppingAt = timePtr(c.clock.Now())
		}
		if s == statusStopping && t.executionStoppedAt == nil {
			t.executionStoppedAt = timePtr(c.clock.Now())
		}
		t.touch()
		c.mu.Unlock()
		if !t.sleep(c.opts.StepDelay) {
			return
		}
	}
	c.mu.Lock()
	if t.lastStatus != statusStopped {
		t.finish(c.clock.Now())
	}
	c.mu.Unlock()
}

// pull resolves images and secrets as the agent does before starting containers; it stops
// the task and returns true when one fails (c.mu held).
func (t *task) pull() bool {
	c := t.c
	fail := func(ctr *container, reason string) bool {
		if ctr != nil {
			ctr.reason = reason
		}
		for _, x := range t.containers {
			x.status = statusStopped
		}
		t.desiredStatus = statusStopped
		t.stopCode = types.TaskStopCodeTaskFailedToStart
		t.stoppedReason = reason
		t.stoppingAt = timePtr(c.clock.Now())
		t.touch()
		return true
	}
	for _, ctr := range t.containers {
		ctr.env = map[string]string{}
		for _, kv := range ctr.def.Environment {
			ctr.env[deref(kv.Name)] = deref(kv.Value)
		}
		for _, s := range ctr.def.Secrets {
			from := deref(s.ValueFrom)
			v, ok := c.secrets[from]
			if !ok {
				if strings.Contains(from, ":ssm:") || !strings.HasPrefix(from, "arn:") {
					return fail(ctr, fmt.Sprintf("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): InvalidParameters: Invalid parameters: [%s]", from))
				}
				return fail(ctr, fmt.Sprintf("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret %s from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.", from))
			}
			ctr.env[deref(s.Name)] = v
		}
	}
	for _, ctr := range t.containers {
		img := deref(ctr.def.Image)
		if img != c.opts.TestImage && !c.opts.Images[img] {
			return fail(ctr, fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref %s: %s: not found", qualify(img), qualify(img)))
		}
	}
	return false
}

// qualify names an image as the agent's resolver does (docker.io/library/name:tag).
func qualify(img string) string {
	ref := img
	if !strings.Contains(ref, ":") && !strings.Contains(ref, "@") {
		ref += ":latest"
	}
	first, _, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		return "docker.io/library/" + ref
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + ref
	}
	return ref
}

// runContainers starts, watches and stops the containers with the agent's policy
// (hashike.NextTaskActions) until all have stopped; false when the driver must end at once.
func (t *task) runContainers() bool {
	c := t.c
	for {
		c.mu.Lock()
		if t.lastStatus == statusStopped {
			c.mu.Unlock()
			return false
		}
		now := c.clock.Now()
		t.checkHealth(now)
		act := hashike.NextTaskActions(&t.hdef, t.status(), t.stopRequested, now)
		again := false
		for _, name := range act.Start {
			again = t.container(name).start(now) || again
		}
		for name, why := range act.NeverStart {
			if ctr := t.container(name); ctr.status == statusPending {
				ctr.status = statusStopped
				ctr.reason = why
				t.touch()
			}
		}
		if act.StopAll {
			if t.stopCode == "" {
				t.stopCode = types.TaskStopCode(act.StopCode)
				t.stoppedReason = t.reasonFor(act)
				t.desiredStatus = statusStopped
				if t.stoppingAt == nil {
					t.stoppingAt = timePtr(now)
				}
				t.lastStatus = statusDeactivating
				t.touch()
			}
			for _, ctr := range t.containers {
				ctr.signal()
			}
		}
		done := act.Done && !again
		c.mu.Unlock()
		if done {
			return true
		}
		if again {
			continue
		}
		select {
		case <-t.wake:
		case <-c.clock.After(c.opts.Tick):
		case <-c.closed:
			return false
		case <-t.gone:
			return false
		}
	}
}

// reasonFor words the stop as ECS does.
func (t *task) reasonFor(act hashike.TaskActions) string {
	switch act.StopCode {
	case hashike.StopCodeEssentialExited:
		return "Essential container in task exited"
	case hashike.StopCodeUserInitiated:
		return t.userReason
	}
	for _, ctr := range t.containers {
		if ctr.status == statusStopped && ctr.exitCode == nil && ctr.reason != "" && essential(ctr.def) &&
			(strings.HasPrefix(ctr.reason, "CannotStartContainerError") || strings.HasPrefix(ctr.reason, "CannotPullContainerError")) {
			return ctr.reason
		}
	}
	return act.StoppedReason
}

func (t *task) container(name string) *container {
	for _, ctr := range t.containers {
		if deref(ctr.def.Name) == name {
			return ctr
		}
	}
	return nil
}

// status is the task as hashike's policy sees it.
func (t *task) status() hashike.TaskStatus {
	st := hashike.TaskStatus{LastStatus: t.lastStatus, CreatedAt: t.startedAt, StartedAt: t.startedAt}
	for _, ctr := range t.containers {
		cs := hashike.ContainerStatus{Name: deref(ctr.def.Name), LastStatus: ctr.status, Reason: ctr.reason, Health: string(ctr.health), StartedAt: ctr.startedAt}
		if ctr.exitCode != nil {
			cs.ExitCode = ptr(int(*ctr.exitCode))
		}
		st.Containers = append(st.Containers, cs)
	}
	return st
}

// describe renders the task as DescribeTasks does.
func (t *task) describe(withTags bool) types.Task {
	out := types.Task{
		TaskArn:            ptr(t.arn),
		ClusterArn:         ptr(t.cluster.arn),
		TaskDefinitionArn:  t.def.TaskDefinitionArn,
		LastStatus:         ptr(t.lastStatus),
		DesiredStatus:      ptr(t.desiredStatus),
		LaunchType:         t.launchType,
		Cpu:                ptr(fmt.Sprint(t.cpu)),
		Memory:             ptr(fmt.Sprint(t.mem)),
		Group:              ptr(t.group),
		CreatedAt:          t.createdAt,
		PullStartedAt:      t.pullStartedAt,
		PullStoppedAt:      t.pullStoppedAt,
		ConnectivityAt:     t.connectivityAt,
		StartedAt:          t.startedAt,
		StoppingAt:         t.stoppingAt,
		StoppedAt:          t.stoppedAt,
		ExecutionStoppedAt: t.executionStoppedAt,
		StopCode:           t.stopCode,
		Version:            t.version,
		AvailabilityZone:   ptr(t.c.opts.Region + "a"),
		Overrides:          &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{}},
		Attachments:        []types.Attachment{},
		HealthStatus:       t.health(),
		Connectivity:       types.ConnectivityConnected,
		Tags:               []types.Tag{},
	}
	if t.overrides != nil {
		out.Overrides = t.overrides
	}
	if t.capacityProvider != "" {
		out.CapacityProviderName = ptr(t.capacityProvider)
	}
	if t.startedBy != "" {
		out.StartedBy = ptr(t.startedBy)
	}
	if t.stoppedReason != "" {
		out.StoppedReason = ptr(t.stoppedReason)
	}
	if t.placedOn != "" {
		out.ContainerInstanceArn = ptr(t.placedOn)
	}
	if withTags {
		out.Tags = append(out.Tags, t.tags...)
	}
	for _, ctr := range t.containers {
		out.Containers = append(out.Containers, ctr.describe())
	}
	return out
}

// health is the task's health: that of its essential containers with health checks.
func (t *task) health() types.HealthStatus {
	h := types.HealthStatusUnknown
	checked := false
	for _, ctr := range t.containers {
		if ctr.def.HealthCheck == nil || !essential(ctr.def) {
			continue
		}
		switch ctr.health {
		case types.HealthStatusUnhealthy:
			return types.HealthStatusUnhealthy
		case types.HealthStatusHealthy:
			if !checked {
				h = types.HealthStatusHealthy
			}
		default:
			h = types.HealthStatusUnknown
		}
		checked = true
	}
	return h
}
