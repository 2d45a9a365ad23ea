package console

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
	_ "time/tzdata" // the fixture's schedules are in Asia/Tokyo, whatever the host has

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/job"
)

// pagesFake adds to fakeService what the jobs, queues, schedules, capacity and runners pages
// read and do: queues, job versions, schedules, the controllers' status.
type pagesFake struct {
	*fakeService
	queues    []hashike.QueueInfo
	versions  map[string][]api.JobView // newest first
	schedules []api.ScheduleView
	capacity  *api.CapacityStatus
	runners   *api.RunnersStatus
}

func (f *pagesFake) ListQueues(context.Context) ([]hashike.QueueInfo, error) {
	return slices.Clone(f.queues), nil
}

func (f *pagesFake) PutQueue(_ context.Context, q hashike.QueueConfig) (hashike.QueueInfo, error) {
	f.record("PutQueue " + q.Name + " " + map[bool]string{true: "paused", false: "active"}[q.Paused] + " " + itoa(q.MaxConcurrency))
	for i := range f.queues {
		if f.queues[i].Name == q.Name {
			f.queues[i].QueueConfig = q
			return f.queues[i], nil
		}
	}
	return hashike.QueueInfo{}, hashike.Errorf(hashike.ENotFound, "no queue %q", q.Name)
}

// ListRuns answers OldestFirst (the queues page's oldest waiting run), else as fakeService.
func (f *pagesFake) ListRuns(ctx context.Context, fl hashike.RunFilter) (api.RunPage, error) {
	if !fl.OldestFirst {
		return f.fakeService.ListRuns(ctx, fl)
	}
	limit := fl.Limit
	fl.OldestFirst, fl.Limit = false, 0
	page, err := f.fakeService.ListRuns(ctx, fl)
	slices.Reverse(page.Runs)
	if limit > 0 && len(page.Runs) > limit {
		page.Runs = page.Runs[:limit]
	}
	return api.RunPage{Runs: page.Runs}, err
}

func (f *pagesFake) GetJob(_ context.Context, name string, version int) (api.JobView, error) {
	vs := f.versions[name]
	for _, v := range vs {
		if version == 0 || v.Version == version {
			return v, nil
		}
	}
	return api.JobView{}, hashike.Errorf(hashike.ENotFound, "job %s version %d not found", name, version)
}

func (f *pagesFake) ListJobVersions(_ context.Context, name string) ([]api.JobView, error) {
	if vs, ok := f.versions[name]; ok {
		return vs, nil
	}
	return nil, hashike.Errorf(hashike.ENotFound, "job %s not found", name)
}

func (f *pagesFake) ListJobs(context.Context) ([]api.JobView, error) {
	var out []api.JobView
	for _, j := range f.jobs {
		if vs := f.versions[j.Name]; len(vs) > 0 {
			out = append(out, vs[0])
		}
	}
	return out, nil
}

func (f *pagesFake) ListSchedules(context.Context) ([]api.ScheduleView, error) {
	return slices.Clone(f.schedules), nil
}

func (f *pagesFake) GetSchedule(_ context.Context, job string) (api.ScheduleView, error) {
	for _, s := range f.schedules {
		if s.Job == job {
			return s, nil
		}
	}
	return api.ScheduleView{}, hashike.Errorf(hashike.ENotFound, "job %s has no schedule", job)
}

func (f *pagesFake) SetSuspended(ctx context.Context, job string, suspended bool) (api.ScheduleView, error) {
	f.record("SetSuspended " + job + " " + map[bool]string{true: "true", false: "false"}[suspended])
	for i := range f.schedules {
		if f.schedules[i].Job == job {
			f.schedules[i].Schedule.Suspended = suspended
			return f.schedules[i], nil
		}
	}
	return api.ScheduleView{}, hashike.Errorf(hashike.ENotFound, "job %s has no schedule", job)
}

func (f *pagesFake) Trigger(_ context.Context, job string) (*hashike.Run, error) {
	f.record("Trigger " + job)
	return &hashike.Run{ID: "run-new"}, nil
}

func (f *pagesFake) CapacityStatus(context.Context) (api.CapacityStatus, error) {
	if f.capacity == nil {
		return api.CapacityStatus{}, hashike.Errorf(hashike.ENotFound, "this server runs no cluster autoscaler")
	}
	return *f.capacity, nil
}

func (f *pagesFake) RunnersStatus(context.Context) (api.RunnersStatus, error) {
	if f.runners == nil {
		return api.RunnersStatus{}, hashike.Errorf(hashike.ENotFound, "this server runs no runner pools")
	}
	return *f.runners, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// etlDefinition is the fixture's job etl at a version: v2 and v3 differ in the image, a
// secret environment value and the schedule.
func etlDefinition(version int) *job.Definition {
	env := []hashike.KeyValuePair{{Name: "DB_HOST", Value: "db.internal"}}
	if version >= 3 {
		env = append(env, hashike.KeyValuePair{Name: "DB_PASSWORD", Value: "hunter2"})
	}
	d := &job.Definition{
		JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "etl",
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "etl:" + itoa(version), Environment: env}}}},
		Description: "Loads yesterday's events",
		Queue:       "default",
		Notifications: []job.Notification{{Type: job.KindSlack,
			URL: "https://hooks.slack.com/services/T0000/B0000/slacksecret" + itoa(version)}},
	}
	if version >= 2 {
		d.Schedule = etlSchedule()
	}
	return d
}

func etlSchedule() cron.Spec {
	return cron.Spec{
		Expressions:    []cron.Expr{{Cron: "30 2 * * *", TimeZone: "Asia/Tokyo"}, {Cron: "0 12 * * 1"}},
		SuspendWindows: []cron.Window{{Cron: "0 0 1 * *", Duration: hashike.Duration(24 * time.Hour), TimeZone: "Asia/Tokyo"}},
		Overlap:        cron.OverlapQueueOne,
	}
}

// newPagesConsole is a console over the fixture: jobs etl (three versions, scheduled) and
// report (suspended schedule), queues default (holding a queued run) and fast (paused).
func newPagesConsole(t *testing.T, runs []api.RunView, opts Options) (*testConsole, *pagesFake) {
	t.Helper()
	f := &pagesFake{fakeService: newFake(runs)}
	f.queues = []hashike.QueueInfo{
		{QueueConfig: hashike.QueueConfig{Name: "default", MaxConcurrency: 4}, Queued: 1, Active: 1},
		{QueueConfig: hashike.QueueConfig{Name: "fast", Paused: true}, Active: 1},
	}
	report := &job.Definition{JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "report",
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "report:1"}}}}, Queue: "fast",
		Schedule: cron.Spec{Expressions: []cron.Expr{{Cron: "*/30 * * * *"}}, Suspended: true}}
	f.versions = map[string][]api.JobView{
		"etl": {
			{Name: "etl", Version: 3, Digest: "sha256:3333333333333333333333", CreatedAt: t0.Add(-time.Hour), Source: "api", Definition: etlDefinition(3)},
			{Name: "etl", Version: 2, Digest: "sha256:2222222222222222222222", CreatedAt: t0.Add(-48 * time.Hour), Source: "api", Definition: etlDefinition(2)},
			{Name: "etl", Version: 1, Digest: "sha256:1111111111111111111111", CreatedAt: t0.Add(-72 * time.Hour), Source: "jobs dir", Definition: etlDefinition(1)},
		},
		"report": {{Name: "report", Version: 1, Digest: "sha256:rrrrrrrrrrrrrrrrrrrrrr", CreatedAt: t0.Add(-time.Hour), Source: "api", Definition: report}},
	}
	tick := t0.Add(9 * time.Minute)
	f.schedules = []api.ScheduleView{
		{Job: "etl", Version: 3, Schedule: etlSchedule(), LastTick: &tick},
		{Job: "report", Version: 1, Schedule: report.Schedule},
	}
	opts.Now = func() time.Time { return now }
	opts.Random = zeroReader{}
	c, err := New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testConsole{t: t, c: c, fake: f.fakeService}, f
}

// fixtureCapacity is a cluster with two groups: instances launching, active (one of them a
// spot instance being reclaimed) and draining, tasks pending, and decisions that acted,
// one action of which failed, and one that could not observe.
func fixtureCapacity() *api.CapacityStatus {
	obs := t0.Add(9 * time.Minute)
	return &api.CapacityStatus{Leader: true, Clusters: []api.ClusterCapacity{{
		Name: "batch", Policy: "hashike", ObservedAt: &obs,
		Groups: []api.CapacityGroupView{
			{Name: "spot", InstanceTypes: []string{"c7i.large", "c6i.large"}, Max: 20, Launching: 2, Active: 1},
			{Name: "on-demand", InstanceTypes: []string{"m7i.large"}, Min: 1, Max: 4, Active: 1, Draining: 1},
		},
		Instances: []api.InstanceView{
			{ID: "i-0a", Group: "on-demand", Type: "m7i.large", State: "active", LaunchedAt: t0.Add(-3 * time.Hour), ActiveAt: at(-3*time.Hour + time.Minute), CPU: 2048, MemoryMiB: 7680, CPUUsed: 1536, MemoryUsed: 4096, Tasks: 3},
			{ID: "i-0b", Group: "on-demand", Type: "m7i.large", State: "draining", LaunchedAt: t0.Add(-5 * time.Hour), CPU: 2048, MemoryMiB: 7680, Tasks: 0},
			{ID: "i-0c", Group: "spot", Type: "c7i.large", Spot: true, State: "active", LaunchedAt: t0.Add(-time.Hour), CPU: 2048, MemoryMiB: 3840, CPUUsed: 2048, MemoryUsed: 3072, Tasks: 4, InterruptionAt: at(11 * time.Minute)},
			{ID: "i-0d", Group: "spot", Type: "c7i.large", Spot: true, State: "launching", LaunchedAt: t0.Add(8 * time.Minute)},
			{ID: "i-0e", Group: "spot", Type: "c7i.large", Spot: true, State: "launching", LaunchedAt: t0.Add(8 * time.Minute)},
		},
		Pending: 5, PendingCPU: 2560, PendingMemoryMiB: 5120, OldestPendingAt: at(7 * time.Minute), Running: 7,
		Decisions: []api.ScalingDecisionView{
			{At: t0.Add(9 * time.Minute), Error: "describe auto scaling groups: throttled"},
			{At: t0.Add(8 * time.Minute), Actions: []api.ScalingActionView{
				{Action: "launch 2 c7i.large in spot", Reason: "5 tasks (2560 CPU) wait 60s, above the 30s SLO"},
				{Action: "drain i-0b", Reason: "idle for 10m, above the group's minimum", Error: "DeregisterContainerInstance: throttled"},
			}},
		},
	}}}
}

// fixtureRunners is one pool with runners in every state, a job queued and jobs started.
func fixtureRunners() *api.RunnersStatus {
	decided := t0.Add(9 * time.Minute)
	return &api.RunnersStatus{Leader: true, DecidedAt: &decided, LostWebhooks: 1,
		Pools: []api.RunnerPoolView{{Name: "linux", Job: "gha-runner", Max: 10, Queued: 1, Idle: 1, Starting: 1, Busy: 2, Desired: 4, MinIdle: 1, MinIdleReason: "schedule 09:00-18:00"}},
		Runners: []api.RunnerView{
			{Name: "linux-c", Pool: "linux", State: "starting", RunID: "run-r3", Created: at(8 * time.Minute)},
			{Name: "linux-a", Pool: "linux", State: "busy", RunID: "run-r1", GitHubID: 11, Created: at(-time.Hour)},
			{Name: "linux-b", Pool: "linux", State: "idle", RunID: "run-r2", GitHubID: 12, Created: at(-30 * time.Minute)},
			{Name: "linux-d", Pool: "linux", State: "busy", RunID: "run-r4", GitHubID: 14, Created: at(-20 * time.Minute)},
		},
		Queued: []api.QueuedJobView{{ID: 901, Labels: []string{"self-hosted", "linux"}, Pool: "linux", QueuedAt: t0.Add(9*time.Minute + 30*time.Second), WaitSeconds: 30}},
		Recent: []api.RecentJobView{
			{ID: 900, Labels: []string{"self-hosted", "linux"}, Pool: "linux", Runner: "linux-d", QueuedAt: t0.Add(-21 * time.Minute), StartedAt: t0.Add(-20*time.Minute + 5*time.Second), WaitSeconds: 65},
			{ID: 899, Labels: []string{"self-hosted", "linux"}, Pool: "linux", Runner: "linux-a", QueuedAt: t0.Add(-40 * time.Minute), StartedAt: t0.Add(-40*time.Minute + 4*time.Second), WaitSeconds: 4},
			{ID: 898, Labels: []string{"self-hosted", "linux"}, Pool: "linux", Runner: "linux-x", QueuedAt: t0.Add(-50 * time.Minute), StartedAt: t0.Add(-50*time.Minute + 6*time.Second), WaitSeconds: 6},
		},
	}
}
