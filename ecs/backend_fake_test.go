package ecs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

func intp(v int) *int { return &v }

var runSeq atomic.Int64

func newRunID() string { return fmt.Sprintf("run%023d", runSeq.Add(1)) }

func job(memory int, cmd ...string) hashike.JobSpec {
	return hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "unit", ContainerDefinitions: []hashike.ContainerDefinition{
		{Name: "app", Image: "hashike-testjob:test", Memory: intp(memory), Command: cmd},
	}}}
}

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// runToEnd starts spec, follows its logs and waits for it.
func runToEnd(t *testing.T, b *ecs.Backend, spec hashike.JobSpec) (hashike.TaskStatus, []string) {
	t.Helper()
	ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return waitRef(t, b, ref)
}

func waitRef(t *testing.T, b *ecs.Backend, ref hashike.TaskRef) (hashike.TaskStatus, []string) {
	t.Helper()
	var lines []string
	var mu sync.Mutex
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- b.Logs(tctx(t), ref, hashike.LogsOptions{Follow: true}, func(e hashike.LogEntry) error {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, strings.TrimSuffix(string(e.Data), "\n"))
			return nil
		})
	}()
	st, err := b.Wait(tctx(t), ref)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := <-logsDone; err != nil {
		t.Fatalf("Logs: %v", err)
	}
	return st, lines
}

// A job file is registered as it is: an edited command, environment, cpu or memory in the
// file registers a new revision whose content is the file's, as ecspresso does; only the
// per-run overrides (hashike run's command after --, -e, --cpu, --memory) ride as RunTask
// containerOverrides on the file's revision.
func TestRegisterOnlyWhenChanged(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	file := func(cpu, mem hashike.TaskSize, env []hashike.KeyValuePair, cmd ...string) hashike.JobSpec {
		s := job(64, cmd...)
		s.TaskDefinition.Cpu, s.TaskDefinition.Memory = cpu, mem
		c := &s.TaskDefinition.ContainerDefinitions[0]
		c.Environment = env
		c.Extra = map[string]any{"portMappings": []any{map[string]any{"containerPort": 8080}}}
		return s
	}
	cli := func(o hashike.Overrides, s hashike.JobSpec) hashike.JobSpec {
		out, err := o.Apply(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	sized := func(s hashike.JobSpec, cpu, mem int) hashike.JobSpec {
		c := &s.TaskDefinition.ContainerDefinitions[0]
		c.Cpu, c.Memory = cpu, intp(mem)
		return s
	}
	ab := []hashike.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
	ba := []hashike.KeyValuePair{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}
	a9 := []hashike.KeyValuePair{{Name: "A", Value: "9"}, {Name: "B", Value: "2"}}
	steps := []struct {
		name      string
		spec      hashike.JobSpec
		registers int
		exit      int
		line      string // a line the task must print ("" for none)
		overrides bool   // whether RunTask must carry containerOverrides
	}{
		{"first", file("0.25 vCPU", "0.5 GB", ab, "exit", "0"), 1, 0, "", false},
		{"same in other words", file("256", "512", ba, "exit", "0"), 1, 0, "", false},
		// An edited file is a new revision, whatever the field.
		{"file's command edited", file("256", "512", ab, "exit", "1"), 2, 1, "", false},
		{"file's environment edited", file("256", "512", a9, "env", "A", "exit", "1"), 3, 1, "A=9", false},
		{"file's container cpu and memory edited", sized(file("256", "512", a9, "exit", "0"), 128, 96), 4, 0, "", false},
		// Per-run overrides reuse the file's revision.
		{"override of command and environment", cli(hashike.Overrides{Command: []string{"env", "A", "env", "DATE", "exit", "0"},
			Environment: []hashike.KeyValuePair{{Name: "A", Value: "7"}, {Name: "DATE", Value: "x"}}}, sized(file("256", "512", a9, "exit", "0"), 128, 96)), 4, 0, "DATE=x", true},
		{"override of cpu and memory", cli(hashike.Overrides{Cpu: intp(256), Memory: intp(128)}, sized(file("256", "512", a9, "exit", "0"), 128, 96)), 4, 0, "", true},
		{"other task memory", file("256", "1024", ab, "exit", "0"), 5, 0, "", false},
		{"back to the first", file("256", "512", ab, "exit", "0"), 6, 0, "", false},
	}
	for _, s := range steps {
		b := ecs.New(fastConfig(cloud)) // a fresh process: no cache
		st, lines := runToEnd(t, b, s.spec)
		if st.LastStatus != hashike.TaskStopped {
			t.Fatalf("%s: %+v", s.name, st)
		}
		if got := cloud.Calls("RegisterTaskDefinition"); got != s.registers {
			t.Fatalf("%s: %d registrations, want %d", s.name, got, s.registers)
		}
		if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != s.exit {
			t.Fatalf("%s: container %+v, want exit %d", s.name, c, s.exit)
		}
		if s.line != "" && !slices.Contains(lines, s.line) {
			t.Fatalf("%s: output %q lacks %q", s.name, lines, s.line)
		}
		if s.line == "DATE=x" && !slices.Contains(lines, "A=7") {
			t.Fatalf("%s: output %q lacks the overridden A=7", s.name, lines)
		}
		tasks := cloud.Tasks()
		task := tasks[len(tasks)-1]
		if got := task.Overrides != nil && len(task.Overrides.ContainerOverrides) > 0; got != s.overrides {
			t.Fatalf("%s: RunTask overrides %+v, want overrides: %v", s.name, task.Overrides, s.overrides)
		}
		// The revision the task ran is the job file's definition, whatever the overrides.
		if got, want := revisionCanonical(t, cloud, aws.ToString(task.TaskDefinitionArn)), fileCanonical(t, &s.spec); got != want {
			t.Fatalf("%s: the revision run is\n%s\nbut the file says\n%s", s.name, got, want)
		}
	}
}

// revisionCanonical is the canonical form of a registered revision.
func revisionCanonical(t *testing.T, cloud *awsfake.Cloud, arn string) string {
	t.Helper()
	out, err := cloud.ECS().DescribeTaskDefinition(context.Background(), &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(out.TaskDefinition)
	if err != nil {
		t.Fatal(err)
	}
	var in awsecs.RegisterTaskDefinitionInput
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	c, err := ecs.Canonical(&in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fileCanonical is the canonical form of the job file's definition, as the backend registers it.
func fileCanonical(t *testing.T, spec *hashike.JobSpec) string {
	t.Helper()
	in, err := ecs.RegisterInput(spec.Filed(), testLogs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ecs.Canonical(in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRegisterRetriesConcurrentAttempts(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	cloud.FailRegister(3)
	st, _ := runToEnd(t, ecs.New(fastConfig(cloud)), job(64, "exit", "0"))
	if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	if got := cloud.Calls("RegisterTaskDefinition"); got != 4 {
		t.Fatalf("%d RegisterTaskDefinition calls, want 4 (3 refused)", got)
	}
}

func TestCapacityAppearsWhileWaiting(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 1024, 128)
	var said syncBuffer
	cfg := fastConfig(cloud)
	cfg.Logger = slog.New(slog.NewTextHandler(&said, nil))
	b := ecs.New(cfg)
	type started struct {
		ref hashike.TaskRef
		err error
	}
	ch := make(chan started, 1)
	go func() {
		ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: job(512, "print", "1", "placed")})
		ch <- started{ref, err}
	}()
	for cloud.Calls("RunTask") < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	cloud.AddInstance("default", 1024, 1024)
	s := <-ch
	if s.err != nil {
		t.Fatalf("Start: %v", s.err)
	}
	st, lines := waitRef(t, b, s.ref)
	if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != 0 || len(lines) != 1 {
		t.Fatalf("status %+v, lines %q", st, lines)
	}
	// The wait is shown as such, with ECS's reason.
	if got := said.String(); !strings.Contains(got, "waiting for capacity") || !strings.Contains(got, "RESOURCE:MEMORY") {
		t.Fatalf("the capacity wait was not reported: %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCapacityTimeoutIsStartError(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 1024, 128)
	spec := job(512, "exit", "0")
	spec.ECS = &hashike.ECSOptions{CapacityTimeout: hashike.Duration(200 * time.Millisecond)}
	_, err := ecs.New(fastConfig(cloud)).Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	var se *hashike.StartError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "capacity timeout") || !strings.Contains(se.Reason, "RESOURCE:MEMORY") {
		t.Fatalf("Start: %v, want a capacity timeout StartError naming RESOURCE:MEMORY", err)
	}
	if n := len(cloud.Tasks()); n != 0 {
		t.Fatalf("%d tasks exist", n)
	}
}

func TestProvisioningTimeoutStopsTask(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddAutoScalingGroup("cp-asg", "default", 0, 0, 0, 1024, 2048, 0)
	cloud.AddCapacityProvider("default", "cp", "cp-asg")
	spec := job(512, "exit", "0")
	spec.ECS = &hashike.ECSOptions{
		CapacityProviderStrategy: []hashike.CapacityProviderStrategyItem{{CapacityProvider: "cp", Weight: 1}},
		CapacityTimeout:          hashike.Duration(300 * time.Millisecond),
	}
	b := ecs.New(fastConfig(cloud))
	ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st, err := b.Describe(tctx(t), ref); err != nil || st.LastStatus != hashike.TaskProvisioning {
		t.Fatalf("Describe: %+v, %v; want PROVISIONING", st, err)
	}
	st, err := b.Wait(tctx(t), ref)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	app := st.Container("app")
	if st.LastStatus != hashike.TaskStopped || app.ExitCode != nil || !strings.Contains(st.StoppedReason, "capacity timeout") {
		t.Fatalf("status %+v", st)
	}
	state, exit := hashike.Outcome("", 0, app, st)
	if state != hashike.StateStartFailed || exit.Code != hashike.ExitStartFailed {
		t.Fatalf("outcome %s %+v", state, exit)
	}
}

func desired(t *testing.T, cloud *awsfake.Cloud, group string) int {
	out, err := cloud.AutoScaling().DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describe group: %v", err)
	}
	return int(aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity))
}

func TestScaleOutOneInstancePerTask(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddAutoScalingGroup("asg", "default", 0, 5, 0, 1024, 1024, 50*time.Millisecond)
	b := ecs.New(fastConfig(cloud))
	spec := job(1024, "sleep", "500ms", "exit", "0")
	spec.ECS = &hashike.ECSOptions{AutoScalingGroupName: "asg", CapacityTimeout: hashike.Duration(20 * time.Second)}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _ := runToEnd(t, b, spec)
			if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != 0 {
				t.Errorf("status %+v", st)
			}
		}()
	}
	wg.Wait()
	if got := desired(t, cloud, "asg"); got != 3 {
		t.Fatalf("desired capacity %d, want 3 (one instance per task, each fits one)", got)
	}
}

func TestScaleOutNeverAboveMax(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddAutoScalingGroup("asg", "default", 0, 1, 0, 1024, 1024, 20*time.Millisecond)
	b := ecs.New(fastConfig(cloud))
	long := job(1024, "sleep", "3s")
	long.ECS = &hashike.ECSOptions{AutoScalingGroupName: "asg"}
	if _, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: long}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	second := job(1024, "exit", "0")
	second.ECS = &hashike.ECSOptions{AutoScalingGroupName: "asg", CapacityTimeout: hashike.Duration(400 * time.Millisecond)}
	_, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: second})
	var se *hashike.StartError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "capacity timeout") {
		t.Fatalf("second Start: %v, want a capacity timeout", err)
	}
	if got := desired(t, cloud, "asg"); got != 1 {
		t.Fatalf("desired %d, want the maximum 1", got)
	}
	tooBig := job(2048, "exit", "0")
	tooBig.ECS = &hashike.ECSOptions{AutoScalingGroupName: "asg"}
	_, err = b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: tooBig})
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "needs") {
		t.Fatalf("Start of a task larger than an instance: %v, want a StartError at once", err)
	}
}

func TestFailuresAfterRunTask(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	b := ecs.New(fastConfig(cloud))
	secret := job(64, "env", "X")
	secret.TaskDefinition.ContainerDefinitions[0].Secrets = []hashike.Secret{{Name: "X", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"}}
	pull := job(64)
	pull.TaskDefinition.ContainerDefinitions[0].Image = "nowhere/none:1"
	for _, tc := range []struct {
		name, reason string
		spec         hashike.JobSpec
	}{
		{"ResourceInitializationError", "ResourceInitializationError", secret},
		{"CannotPullContainerError", "CannotPullContainerError", pull},
	} {
		st, _ := runToEnd(t, b, tc.spec)
		app := st.Container("app")
		if app.ExitCode != nil || !strings.Contains(app.Reason+st.StoppedReason, tc.reason) || st.StopCode != hashike.StopCodeFailedToStart {
			t.Errorf("%s: status %+v", tc.name, st)
		}
		if state, exit := hashike.Outcome("", 0, app, st); state != hashike.StateStartFailed || exit.Code != 125 {
			t.Errorf("%s: outcome %s %+v", tc.name, state, exit)
		}
	}
}

func TestThrottledDescribeTasksAndGetLogEvents(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{Throttle: map[string]awsfake.Rate{
		"DescribeTasks": {PerSecond: 20, Burst: 1},
		"GetLogEvents":  {PerSecond: 20, Burst: 2},
	}})
	cloud.AddInstance("default", 16384, 65536)
	b := ecs.New(fastConfig(cloud))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, lines := runToEnd(t, b, job(64, "print", "300", "l", "exit", "3"))
			if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != 3 || len(lines) != 300 || lines[299] != "l 300" {
				t.Errorf("status %+v, %d lines", st, len(lines))
			}
		}()
	}
	wg.Wait()
	if cloud.Throttled("DescribeTasks") == 0 || cloud.Throttled("GetLogEvents") == 0 {
		t.Fatalf("nothing throttled (%d, %d): the test proves nothing", cloud.Throttled("DescribeTasks"), cloud.Throttled("GetLogEvents"))
	}
}

// lossy loses the answer of the first RunTask call that started a task.
type lossy struct {
	ecs.ECSAPI
	lost atomic.Bool
}

func (l *lossy) RunTask(ctx context.Context, in *awsecs.RunTaskInput, opt ...func(*awsecs.Options)) (*awsecs.RunTaskOutput, error) {
	out, err := l.ECSAPI.RunTask(ctx, in, opt...)
	if err == nil && len(out.Tasks) > 0 && l.lost.CompareAndSwap(false, true) {
		return nil, errors.New("read tcp: i/o timeout")
	}
	return out, err
}

func TestRetriedRunTaskStartsOneTask(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	cfg := fastConfig(cloud)
	cfg.ECS = &lossy{ECSAPI: cloud.ECS()}
	st, lines := runToEnd(t, ecs.New(cfg), job(64, "print", "1", "once"))
	if c := st.Container("app"); c.ExitCode == nil || *c.ExitCode != 0 || len(lines) != 1 {
		t.Fatalf("status %+v, lines %q", st, lines)
	}
	if n := len(cloud.Tasks()); n != 1 || cloud.Calls("RunTask") != 2 {
		t.Fatalf("%d tasks after %d RunTask calls, want 1 after 2", n, cloud.Calls("RunTask"))
	}
}

func TestForgottenTaskIsNotFound(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{ForgetAfter: 50 * time.Millisecond})
	cloud.AddInstance("default", 4096, 8192)
	b := ecs.New(fastConfig(cloud))
	id := newRunID()
	spec := job(64, "exit", "0")
	ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: id, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	waitRef(t, b, ref)
	time.Sleep(100 * time.Millisecond)
	cloud.Housekeep()
	if _, err := b.Describe(tctx(t), ref); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("Describe: %v, want not_found", err)
	}
	if _, err := ecs.New(fastConfig(cloud)).Wait(tctx(t), ref); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("Wait: %v, want not_found", err)
	}
	if _, err := b.Find(tctx(t), id, &spec); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("Find: %v, want not_found", err)
	}
}

func TestLateStreamAndLateEventsAllRead(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{LogStreamDelay: 300 * time.Millisecond, LogDeliveryDelay: 250 * time.Millisecond})
	cloud.AddInstance("default", 4096, 8192)
	cfg := fastConfig(cloud)
	cfg.LogPoll = 150 * time.Millisecond
	st, lines := runToEnd(t, ecs.New(cfg), job(64, "print", "500", "l"))
	if st.LastStatus != hashike.TaskStopped || len(lines) != 500 || lines[499] != "l 500" {
		t.Fatalf("%d lines (last %q), want 500", len(lines), lines[len(lines)-1:])
	}
}

func TestPollerBatchesDescribeTasks(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 1<<20, 1<<20)
	cfg := fastConfig(cloud)
	cfg.PollMin, cfg.PollMax = 20*time.Millisecond, 200*time.Millisecond
	b := ecs.New(cfg)
	const n = 150
	refs := make([]hashike.TaskRef, n)
	for i := range refs {
		ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: job(16, "sleep", "1s", "exit", "0")})
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = ref
	}
	before := cloud.Calls("DescribeTasks")
	began := time.Now()
	var wg sync.WaitGroup
	for _, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := b.Wait(tctx(t), ref)
			if err != nil || st.LastStatus != hashike.TaskStopped {
				t.Errorf("Wait: %+v %v", st, err)
			}
		}()
	}
	wg.Wait()
	calls, elapsed := cloud.Calls("DescribeTasks")-before, time.Since(began)
	if limit := int(elapsed/cfg.PollMin) + 4; calls > limit {
		t.Fatalf("%d DescribeTasks calls in %s for %d waiting runs, want at most %d (one per PollMin)", calls, elapsed, n, limit)
	}
	t.Logf("%d DescribeTasks calls in %s for %d runs", calls, elapsed, n)
}

// Events that CloudWatch shows more than two log polls after the task stopped are still read:
// the follower keeps reading for a grace period after STOPPED, not just two empty pages.
func TestEventsShownLongAfterStopAreRead(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{LogDeliveryDelay: 180 * time.Millisecond})
	cloud.AddInstance("default", 4096, 8192)
	cfg := fastConfig(cloud)
	cfg.LogPoll = 50 * time.Millisecond // two empty pages take 100 ms; the grace is 250 ms
	st, lines := runToEnd(t, ecs.New(cfg), job(64, "print", "3", "tail", "exit", "0"))
	if st.LastStatus != hashike.TaskStopped || len(lines) != 3 || lines[2] != "tail 3" {
		t.Fatalf("lines %q, want the whole tail", lines)
	}
}

// failingAfterStart starts the task but answers every RunTask with a server error.
type failingAfterStart struct{ ecs.ECSAPI }

func (f failingAfterStart) RunTask(ctx context.Context, in *awsecs.RunTaskInput, opt ...func(*awsecs.Options)) (*awsecs.RunTaskOutput, error) {
	if _, err := f.ECSAPI.RunTask(ctx, in, opt...); err != nil {
		return nil, err
	}
	return nil, awsfake.ServerError()
}

// Server errors until the capacity timeout, but the task was started by a call whose answer was
// lost: Start returns that task rather than a failure, so that it does not run unknown.
func TestServerErrorsAfterAStartedTaskReturnIt(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	cfg := fastConfig(cloud)
	cfg.ECS = failingAfterStart{cloud.ECS()}
	spec := job(64, "exit", "0")
	spec.ECS = &hashike.ECSOptions{CapacityTimeout: hashike.Duration(200 * time.Millisecond)}
	ref, err := ecs.New(cfg).Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	if err != nil {
		t.Fatalf("Start: %v, want the task the lost answer started", err)
	}
	if tasks := cloud.Tasks(); len(tasks) != 1 || aws.ToString(tasks[0].TaskArn) != ref.ID {
		t.Fatalf("Start returned %q; the cloud has %d tasks", ref.ID, len(tasks))
	}
}

// TestManagedGroupIsNotScaledOut: a group the cluster autoscaler owns (Config.ManagedGroups)
// is never scaled out by a run that names it; the run waits, and starts once the owner adds
// an instance.
func TestManagedGroupIsNotScaledOut(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddAutoScalingGroup("asg", "default", 0, 5, 0, 1024, 1024, 20*time.Millisecond)
	cfg := fastConfig(cloud)
	cfg.ManagedGroups = map[string]bool{"asg": true}
	b := ecs.New(cfg)
	spec := job(1024, "exit", "0")
	spec.ECS = &hashike.ECSOptions{AutoScalingGroupName: "asg", CapacityTimeout: hashike.Duration(20 * time.Second)}
	done := make(chan error, 1)
	go func() {
		ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
		if err == nil {
			_, err = b.Wait(tctx(t), ref)
		}
		done <- err
	}()
	for cloud.Calls("RunTask") < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if n := cloud.Calls("SetDesiredCapacity"); n != 0 || desired(t, cloud, "asg") != 0 {
		t.Fatalf("%d SetDesiredCapacity calls, desired %d: the backend scaled a group it does not own", n, desired(t, cloud, "asg"))
	}
	// The owner scales out.
	if _, err := cloud.AutoScaling().SetDesiredCapacity(tctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("asg"), DesiredCapacity: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the run did not start on the owner's capacity: %v", err)
	}
	if n := cloud.Calls("SetDesiredCapacity"); n != 1 {
		t.Fatalf("%d SetDesiredCapacity calls, want the owner's 1", n)
	}
}
