package awsfake

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func TestPlacementBinpacksAndReportsResourceFailures(t *testing.T) {
	c := newCloud(t, Options{Clock: NewManualClock(time.Unix(1e9, 0))})
	register(t, c, "job", app("app", 1024, "sleep", "1h"))
	// An empty cluster: ECS fails the call (an Auto Scaling group scaled to zero leaves one).
	out, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), Count: i32(3)})
	if code(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "No Container Instances were found in your cluster.") {
		t.Fatalf("no instances: %+v, %v", out, err)
	}
	big := c.AddInstance("c", 4096, 8192)
	small := c.AddInstance("c", 1024, 2048)
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")})
	if *tk.ContainerInstanceArn != small {
		t.Fatalf("binpack chose %s, want the fuller instance %s", *tk.ContainerInstanceArn, small)
	}
	run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")}) // small now has 0 MiB left
	register(t, c, "huge", app("app", 9000, "sleep", "1h"))
	out, err = c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("huge")})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, f := range out.Failures {
		reasons[*f.Arn] = *f.Reason
	}
	if len(out.Tasks) != 0 || reasons[big] != "RESOURCE:MEMORY" || reasons[small] != "RESOURCE:MEMORY" {
		t.Fatalf("failures %v", reasons)
	}
	cpuHog := app("app", 64, "sleep", "1h")
	cpuHog.Cpu = 5000
	register(t, c, "cpu", cpuHog)
	out, _ = c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("cpu")})
	reasons = map[string]string{}
	for _, f := range out.Failures {
		reasons[*f.Arn] = *f.Reason
	}
	// small is short of both: CPU is checked first (autoscale.Place).
	if len(out.Failures) != 2 || reasons[big] != "RESOURCE:CPU" || reasons[small] != "RESOURCE:CPU" {
		t.Fatalf("want RESOURCE:CPU for both (big lacks CPU, small CPU and memory): %v", reasons)
	}
	di, err := c.ECS().DescribeContainerInstances(bg, &awsecs.DescribeContainerInstancesInput{Cluster: s("c"), ContainerInstances: []string{big}})
	if err != nil {
		t.Fatal(err)
	}
	rem := di.ContainerInstances[0].RemainingResources
	if *rem[1].Name != "MEMORY" || rem[1].IntegerValue != 8192 || *rem[0].Type != "INTEGER" || rem[0].IntegerValue != 4096 {
		t.Fatalf("remaining %+v", rem)
	}
}

func TestRunTaskValidation(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 4096, 8192)
	register(t, c, "job", app("app", 64))
	for name, tc := range map[string]struct {
		in   awsecs.RunTaskInput
		code string
	}{
		"unknown cluster": {awsecs.RunTaskInput{Cluster: s("nope"), TaskDefinition: s("job")}, "ClusterNotFoundException"},
		"unknown family":  {awsecs.RunTaskInput{TaskDefinition: s("nope")}, "ClientException"},
		"count":           {awsecs.RunTaskInput{TaskDefinition: s("job"), Count: i32(11)}, "InvalidParameterException"},
		"startedBy":       {awsecs.RunTaskInput{TaskDefinition: s("job"), StartedBy: s(strings.Repeat("x", 129))}, "InvalidParameterException"},
		"both": {awsecs.RunTaskInput{TaskDefinition: s("job"), LaunchType: types.LaunchTypeEc2,
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: s("cp")}}}, "InvalidParameterException"},
		"overrides": {awsecs.RunTaskInput{TaskDefinition: s("job"), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{
			{Name: s("app"), Environment: []types.KeyValuePair{{Name: s("BIG"), Value: s(strings.Repeat("x", 8200))}}}}}}, "InvalidParameterException"},
	} {
		if tc.in.Cluster == nil {
			tc.in.Cluster = s("c")
		}
		if _, err := c.ECS().RunTask(bg, &tc.in); code(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
}

func TestClientTokenIdempotency(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 4096, 8192)
	register(t, c, "job", app("app", 64, "print", "1", "once"))
	in := &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), ClientToken: s("run-1"), StartedBy: s("a")}
	first := run(t, c, in)
	again := run(t, c, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), ClientToken: s("run-1"), StartedBy: s("a")})
	if *again.TaskArn != *first.TaskArn || len(c.Tasks()) != 1 {
		t.Fatalf("second call started %s (%d tasks)", *again.TaskArn, len(c.Tasks()))
	}
	_, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), ClientToken: s("run-1"), StartedBy: s("b")})
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) || code(err) != "ConflictException" || len(conflict.ResourceIds) != 1 || conflict.ResourceIds[0] != *first.TaskArn {
		t.Fatalf("token reuse with other parameters: %v", err)
	}
}

func TestTaskDefinitions(t *testing.T) {
	c := newCloud(t, Options{})
	register(t, c, "fam", app("app", 64))
	td2 := register(t, c, "fam", app("app", 128))
	if td2.Revision != 2 || td2.Status != types.TaskDefinitionStatusActive || !strings.HasSuffix(*td2.TaskDefinitionArn, ":task-definition/fam:2") {
		t.Fatalf("second registration %+v", td2)
	}
	for _, ref := range []string{"fam", "fam:2", *td2.TaskDefinitionArn} {
		out, err := c.ECS().DescribeTaskDefinition(bg, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: s(ref)})
		if err != nil || out.TaskDefinition.Revision != 2 {
			t.Fatalf("describe %s: %v", ref, err)
		}
	}
	if out, _ := c.ECS().DescribeTaskDefinition(bg, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: s("fam:1")}); *out.TaskDefinition.ContainerDefinitions[0].Memory != 64 {
		t.Fatal("revision 1 changed")
	}
	_, err := c.ECS().DescribeTaskDefinition(bg, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: s("other")})
	if code(err) != "ClientException" || !strings.Contains(err.Error(), "Unable to describe task definition.") {
		t.Fatalf("unknown family: %v", err)
	}
	c.FailRegister(2)
	for i := 0; i < 2; i++ {
		_, err := c.ECS().RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: s("fam"), ContainerDefinitions: []types.ContainerDefinition{app("app", 64)}})
		if code(err) != "ClientException" || !strings.Contains(err.Error(), "Too many concurrent attempts") {
			t.Fatalf("injected failure %d: %v", i, err)
		}
	}
	if td := register(t, c, "fam", app("app", 64)); td.Revision != 3 {
		t.Fatalf("revision %d after failures, want 3", td.Revision)
	}
	if n := c.Calls("RegisterTaskDefinition"); n != 5 {
		t.Fatalf("Calls = %d, want 5", n)
	}
	_, err = c.ECS().RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: s("x"), ContainerDefinitions: []types.ContainerDefinition{{Name: s("a"), Image: s("i")}}})
	if code(err) != "ClientException" {
		t.Fatalf("no memory: %v", err)
	}
}

func TestProvisioningPlacedWhenCapacityArrives(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1})
	c.AddAutoScalingGroup("asg", "c", 0, 3, 0, 2048, 4096, 3*time.Minute)
	c.AddCapacityProvider("c", "cp", "asg")
	register(t, c, "job", app("app", 512, "sleep", "1h"))
	strategy := []types.CapacityProviderStrategyItem{{CapacityProvider: s("cp"), Weight: 1}}
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job"), CapacityProviderStrategy: strategy})
	if *tk.LastStatus != "PROVISIONING" || tk.ContainerInstanceArn != nil || *tk.CapacityProviderName != "cp" {
		t.Fatalf("%+v", tk)
	}
	if _, err := c.AutoScaling().SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("asg"), DesiredCapacity: i32(4)}); code(err) != "ValidationError" ||
		!strings.Contains(err.Error(), "New SetDesiredCapacity value 4 is above max value 3 for the AutoScalingGroup.") {
		t.Fatalf("above max: %v", err)
	}
	if _, err := c.AutoScaling().SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("asg"), DesiredCapacity: i32(1)}); err != nil {
		t.Fatal(err)
	}
	g, _ := c.AutoScaling().DescribeAutoScalingGroups(bg, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"asg"}})
	if grp := g.AutoScalingGroups[0]; *grp.DesiredCapacity != 1 || len(grp.Instances) != 1 || grp.Instances[0].LifecycleState != "Pending" {
		t.Fatalf("group %+v", grp)
	}
	clock.Advance(2 * time.Minute)
	if tk := describe(t, c, *tk.TaskArn); *tk.LastStatus != "PROVISIONING" {
		t.Fatalf("placed before the instance registered: %s", *tk.LastStatus)
	}
	list, _ := c.ECS().ListContainerInstances(bg, &awsecs.ListContainerInstancesInput{Cluster: s("c")})
	if len(list.ContainerInstanceArns) != 0 {
		t.Fatal("instance registered early")
	}
	clock.Advance(time.Minute)
	waitFor(t, func() bool { return *describe(t, c, *tk.TaskArn).LastStatus == "RUNNING" })
	if got := describe(t, c, *tk.TaskArn); got.ContainerInstanceArn == nil {
		t.Fatal("no container instance")
	}
}

func TestProvisioningTimeoutAndLimit(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1, MaxProvisioning: 3})
	c.AddAutoScalingGroup("asg", "c", 0, 3, 0, 2048, 4096, time.Minute)
	c.AddCapacityProvider("c", "cp", "asg")
	register(t, c, "job", app("app", 512, "sleep", "1h"))
	strategy := []types.CapacityProviderStrategyItem{{CapacityProvider: s("cp")}}
	var arns []string
	for i := 0; i < 3; i++ {
		arns = append(arns, *run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job"), CapacityProviderStrategy: strategy}).TaskArn)
	}
	_, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), CapacityProviderStrategy: strategy})
	if code(err) != "ClientException" {
		t.Fatalf("beyond the PROVISIONING quota: %v", err)
	}
	clock.Advance(29 * time.Minute)
	if tk := describe(t, c, arns[0]); *tk.LastStatus != "PROVISIONING" {
		t.Fatal("stopped early")
	}
	clock.Advance(time.Minute)
	tk := describe(t, c, arns[0])
	if *tk.LastStatus != "STOPPED" || tk.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(*tk.StoppedReason, "Timeout waiting for capacity") {
		t.Fatalf("after 30 min: %s %s %v", *tk.LastStatus, tk.StopCode, tk.StoppedReason)
	}
	if a := ctr(tk, "app"); a.ExitCode != nil || *a.LastStatus != "STOPPED" {
		t.Fatalf("container %+v", a)
	}
}

func TestStoppedTasksForgottenAfterAnHour(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1})
	c.AddInstance("c", 2048, 4096)
	register(t, c, "job", app("app", 64, "exit", "0"))
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job"), StartedBy: s("me")})
	waitFor(t, func() bool { return *describe(t, c, *tk.TaskArn).LastStatus == "STOPPED" })
	l, _ := c.ECS().ListTasks(bg, &awsecs.ListTasksInput{Cluster: s("c"), DesiredStatus: types.DesiredStatusStopped, StartedBy: s("me")})
	if len(l.TaskArns) != 1 {
		t.Fatalf("ListTasks STOPPED: %v", l.TaskArns)
	}
	if l, _ := c.ECS().ListTasks(bg, &awsecs.ListTasksInput{Cluster: s("c")}); len(l.TaskArns) != 0 {
		t.Fatalf("ListTasks RUNNING lists a stopped task: %v", l.TaskArns)
	}
	clock.Advance(59 * time.Minute)
	describe(t, c, *tk.TaskArn)
	clock.Advance(time.Minute)
	out, err := c.ECS().DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: s("c"), Tasks: []string{*tk.TaskArn}})
	if err != nil || len(out.Tasks) != 0 || len(out.Failures) != 1 || *out.Failures[0].Reason != "MISSING" || *out.Failures[0].Arn != *tk.TaskArn {
		t.Fatalf("after an hour: %+v %v", out, err)
	}
}

func TestDescribeTasksLimitsAndListPages(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 100000, 100000)
	register(t, c, "job", app("app", 1, "sleep", "1h"))
	var arns []string
	for i := 0; i < 105; i++ {
		arns = append(arns, *run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")}).TaskArn)
	}
	_, err := c.ECS().DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: s("c"), Tasks: arns[:101]})
	if code(err) != "InvalidParameterException" {
		t.Fatalf("101 ARNs: %v", err)
	}
	out, err := c.ECS().DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: s("c"), Tasks: append(arns[:99:99], "0123456789abcdef0123456789abcdef")})
	if err != nil || len(out.Tasks) != 99 || len(out.Failures) != 1 || *out.Failures[0].Reason != "MISSING" {
		t.Fatalf("100 ARNs: %d tasks %+v %v", len(out.Tasks), out.Failures, err)
	}
	var listed []string
	var token *string
	for pages := 0; ; pages++ {
		l, err := c.ECS().ListTasks(bg, &awsecs.ListTasksInput{Cluster: s("c"), Family: s("job"), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, l.TaskArns...)
		if token = l.NextToken; token == nil {
			if pages != 1 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
	}
	if len(listed) != 105 {
		t.Fatalf("listed %d", len(listed))
	}
}

func TestThrottling(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, Throttle: map[string]Rate{"DescribeTasks": {PerSecond: 2, Burst: 3}}})
	call := func() error {
		_, err := c.ECS().DescribeTasks(bg, &awsecs.DescribeTasksInput{Cluster: s("c"), Tasks: []string{"x"}})
		return err
	}
	for i := 0; i < 3; i++ {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := call()
	if code(err) != "ThrottlingException" || !strings.Contains(err.Error(), "Rate exceeded") {
		t.Fatalf("4th call: %v", err)
	}
	clock.Advance(500 * time.Millisecond)
	if err := call(); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if c.Throttled("DescribeTasks") != 1 || c.Calls("DescribeTasks") != 5 {
		t.Fatalf("throttled %d calls %d", c.Throttled("DescribeTasks"), c.Calls("DescribeTasks"))
	}
}

// waitFor polls cond (real time) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLateStreamAndLateEvents(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1, LogStreamDelay: 200 * time.Millisecond, LogDeliveryDelay: 300 * time.Millisecond})
	c.AddInstance("c", 2048, 4096)
	register(t, c, "job", app("app", 64, "print", "3", "l"))
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")})
	stream := "run/app/" + taskID(*tk.TaskArn)
	in := &cloudwatchlogs.GetLogEventsInput{LogGroupName: s("/hashike"), LogStreamName: s(stream), StartFromHead: ptr(true)}
	waitFor(t, func() bool { return *describe(t, c, *tk.TaskArn).LastStatus == "STOPPED" })
	if _, err := c.Logs().GetLogEvents(bg, in); code(err) != "ResourceNotFoundException" {
		t.Fatalf("before the stream exists: %v", err)
	}
	clock.Advance(200 * time.Millisecond)
	out, err := c.Logs().GetLogEvents(bg, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 0 {
		t.Fatalf("events delivered before their delay: %d (task already STOPPED)", len(out.Events))
	}
	tok := out.NextForwardToken
	again, _ := c.Logs().GetLogEvents(bg, &cloudwatchlogs.GetLogEventsInput{LogGroupName: s("/hashike"), LogStreamName: s(stream), NextToken: tok})
	if *again.NextForwardToken != *tok {
		t.Fatal("token moved with no new events")
	}
	clock.Advance(100 * time.Millisecond)
	got, _ := c.Logs().GetLogEvents(bg, &cloudwatchlogs.GetLogEventsInput{LogGroupName: s("/hashike"), LogStreamName: s(stream), NextToken: tok, Limit: i32(2)})
	if len(got.Events) != 2 || *got.Events[0].Message != "l 1" {
		t.Fatalf("page %+v", got.Events)
	}
	rest, _ := c.Logs().GetLogEvents(bg, &cloudwatchlogs.GetLogEventsInput{LogGroupName: s("/hashike"), LogStreamName: s(stream), NextToken: got.NextForwardToken})
	if len(rest.Events) != 1 || *rest.Events[0].Message != "l 3" {
		t.Fatalf("rest %+v", rest.Events)
	}
	tail, _ := c.Logs().GetLogEvents(bg, &cloudwatchlogs.GetLogEventsInput{LogGroupName: s("/hashike"), LogStreamName: s(stream), Limit: i32(1)})
	if len(tail.Events) != 1 || *tail.Events[0].Message != "l 3" {
		t.Fatalf("without startFromHead the newest events come back: %+v", tail.Events)
	}
}

func TestScripts(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 8192, 16384)
	for _, tc := range []struct {
		name   string
		def    types.ContainerDefinition
		exit   *int32
		reason string
		stop   types.TaskStopCode
		lines  string
	}{
		{"hello", app("app", 64), ptr(int32(0)), "", types.TaskStopCodeEssentialContainerExited, "hello from hashike-testjob"},
		{"exit", app("app", 64, "print", "1", "exit", "42"), ptr(int32(42)), "", types.TaskStopCodeEssentialContainerExited, "line 1"},
		{"oom", app("app", 32, "sleep", "10ms", "alloc", "200"), ptr(int32(137)), OOMReason, types.TaskStopCodeEssentialContainerExited, ""},
		{"alloc fits", app("app", 64, "alloc", "20"), ptr(int32(0)), "", types.TaskStopCodeEssentialContainerExited, "allocated 20 MiB"},
		{"cat missing", app("app", 64, "cat", "/nope"), ptr(int32(99)), "", types.TaskStopCodeEssentialContainerExited, "hashike-testjob: cat: open /nope: no such file or directory"},
		{"env", func() types.ContainerDefinition {
			d := app("app", 64, "env", "A")
			d.Environment = []types.KeyValuePair{{Name: s("A"), Value: s("b")}}
			return d
		}(), ptr(int32(0)), "", types.TaskStopCodeEssentialContainerExited, "A=b"},
		{"bad entrypoint", func() types.ContainerDefinition {
			d := app("app", 64)
			d.EntryPoint = []string{"/does/not/exist"}
			return d
		}(), nil, "CannotStartContainerError", types.TaskStopCodeTaskFailedToStart, ""},
		{"missing image", func() types.ContainerDefinition {
			d := app("app", 64)
			d.Image = s("hashike-does-not-exist:never")
			return d
		}(), nil, "CannotPullContainerError", types.TaskStopCodeTaskFailedToStart, ""},
		{"missing secret", func() types.ContainerDefinition {
			d := app("app", 64)
			d.Secrets = []types.Secret{{Name: s("S"), ValueFrom: s("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope")}}
			return d
		}(), nil, "ResourceInitializationError: unable to pull secrets or registry auth", types.TaskStopCodeTaskFailedToStart, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fam := strings.ReplaceAll(tc.name, " ", "-")
			register(t, c, fam, tc.def)
			tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s(fam)})
			done := waitStatus(t, c, *tk.TaskArn, "STOPPED")
			a := ctr(done, "app")
			if (a.ExitCode == nil) != (tc.exit == nil) || a.ExitCode != nil && *a.ExitCode != *tc.exit {
				t.Errorf("exit code %v, want %v", a.ExitCode, tc.exit)
			}
			if !strings.HasPrefix(deref(a.Reason), tc.reason) || tc.reason == "" && a.Reason != nil {
				t.Errorf("reason %q, want %q", deref(a.Reason), tc.reason)
			}
			if done.StopCode != tc.stop {
				t.Errorf("stopCode %s (%s), want %s", done.StopCode, deref(done.StoppedReason), tc.stop)
			}
			if got := strings.Join(c.Output(*tk.TaskArn, "app"), "|"); got != tc.lines {
				t.Errorf("output %q, want %q", got, tc.lines)
			}
		})
	}
}

func TestStopTaskSignals(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 8192, 16384)
	for _, tc := range []struct {
		name   string
		script []string
		exit   int32
		min    time.Duration
	}{
		{"default", []string{"print", "1", "ready", "sleep", "60s"}, 143, 0},
		{"trap", []string{"trap-term", "7", "print", "1", "ready", "sleep", "60s"}, 7, 0},
		{"ignore", []string{"ignore-term", "print", "1", "ready", "sleep", "60s"}, 137, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			register(t, c, tc.name, app("app", 64, tc.script...))
			tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s(tc.name)})
			waitFor(t, func() bool { return len(c.Output(*tk.TaskArn, "app")) > 0 })
			start := time.Now()
			out, err := c.ECS().StopTask(bg, &awsecs.StopTaskInput{Cluster: s("c"), Task: tk.TaskArn, Reason: s("test stop")})
			if err != nil || *out.Task.DesiredStatus != "STOPPED" {
				t.Fatalf("StopTask: %v", err)
			}
			done := waitStatus(t, c, *tk.TaskArn, "STOPPED")
			if took := time.Since(start); took < tc.min {
				t.Errorf("stopped after %v, before stopTimeout %v", took, tc.min)
			}
			if a := ctr(done, "app"); a.ExitCode == nil || *a.ExitCode != tc.exit {
				t.Errorf("exit %v, want %d", a.ExitCode, tc.exit)
			}
			if done.StopCode != types.TaskStopCodeUserInitiated || *done.StoppedReason != "test stop" {
				t.Errorf("stop %s %q", done.StopCode, *done.StoppedReason)
			}
			if tc.name == "trap" && !strings.Contains(strings.Join(c.Output(*tk.TaskArn, "app"), "|"), "caught SIGTERM") {
				t.Error("no handler output")
			}
			if _, err := c.ECS().StopTask(bg, &awsecs.StopTaskInput{Cluster: s("c"), Task: tk.TaskArn}); err != nil {
				t.Errorf("stopping a stopped task: %v", err)
			}
		})
	}
}

func TestDependsOnSharesVolumeAndHealth(t *testing.T) {
	c := newCloud(t, Options{HealthCheckInterval: 50 * time.Millisecond})
	c.AddInstance("c", 8192, 16384)
	mounts := []types.MountPoint{{SourceVolume: s("shared"), ContainerPath: s("/shared")}}
	initC := app("init", 64, "sleep", "50ms", "touch", "/shared/ready")
	initC.Essential = ptr(false)
	initC.MountPoints = mounts
	main := app("app", 64, "cat", "/shared/ready")
	main.MountPoints = mounts
	main.DependsOn = []types.ContainerDependency{{ContainerName: s("init"), Condition: types.ContainerConditionSuccess}}
	_, err := c.ECS().RegisterTaskDefinition(bg, &awsecs.RegisterTaskDefinitionInput{Family: s("dep"), ContainerDefinitions: []types.ContainerDefinition{main, initC},
		Volumes: []types.Volume{{Name: s("shared")}}})
	if err != nil {
		t.Fatal(err)
	}
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("dep")})
	done := waitStatus(t, c, *tk.TaskArn, "STOPPED")
	if a := ctr(done, "app"); a.ExitCode == nil || *a.ExitCode != 0 || strings.Join(c.Output(*tk.TaskArn, "app"), "") != "touched" {
		t.Fatalf("app %v output %q", a.ExitCode, c.Output(*tk.TaskArn, "app"))
	}

	db := app("db", 64, "sleep", "100ms", "touch", "/tmp/healthy", "sleep", "60s")
	db.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "/testjob", "exists", "/tmp/healthy"}, Interval: i32(5), Retries: i32(3)}
	user := app("app", 64, "print", "1", "db is healthy")
	user.DependsOn = []types.ContainerDependency{{ContainerName: s("db"), Condition: types.ContainerConditionHealthy}}
	register(t, c, "health", user, db)
	tk = run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("health")})
	waitFor(t, func() bool { return ctr(describe(t, c, *tk.TaskArn), "db").HealthStatus == types.HealthStatusHealthy })
	done = waitStatus(t, c, *tk.TaskArn, "STOPPED")
	if a := ctr(done, "app"); a.ExitCode == nil || *a.ExitCode != 0 {
		t.Fatalf("app %+v", a)
	}
	if d := ctr(done, "db"); d.ExitCode == nil || *d.ExitCode != 143 {
		t.Fatalf("db not stopped with the task: %+v", d)
	}

	failing := app("init", 64, "exit", "4")
	failing.Essential = ptr(false)
	blocked := app("app", 64, "print", "1", "should not run")
	blocked.DependsOn = []types.ContainerDependency{{ContainerName: s("init"), Condition: types.ContainerConditionSuccess}}
	register(t, c, "blocked", blocked, failing)
	tk = run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("blocked")})
	done = waitStatus(t, c, *tk.TaskArn, "STOPPED")
	if a := ctr(done, "app"); a.ExitCode != nil || !strings.Contains(deref(a.Reason), "exited 4") || len(c.Output(*tk.TaskArn, "app")) != 0 {
		t.Fatalf("blocked app %+v", a)
	}
}

func TestSecretsAndOverrides(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 2048, 4096)
	d := app("app", 64, "env", "PW")
	d.Secrets = []types.Secret{{Name: s("PW"), ValueFrom: s("arn:aws:secretsmanager:us-east-1:123456789012:secret:db")}}
	register(t, c, "sec", d)
	c.PutSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:db", "s3cr3t")
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("sec"), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{
		{Name: s("app"), Command: []string{"env", "PW", "env", "X"}, Environment: []types.KeyValuePair{{Name: s("X"), Value: s("y")}}}}}})
	waitStatus(t, c, *tk.TaskArn, "STOPPED")
	if got := strings.Join(c.Output(*tk.TaskArn, "app"), "|"); got != "PW=s3cr3t|X=y" {
		t.Fatalf("output %q", got)
	}
}

func TestTerminatedInstanceStopsItsTasks(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddAutoScalingGroup("asg", "c", 0, 2, 1, 2048, 4096, 0)
	register(t, c, "job", app("app", 64, "sleep", "1h"))
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")})
	waitStatus(t, c, *tk.TaskArn, "RUNNING")
	if _, err := c.AutoScaling().SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("asg"), DesiredCapacity: i32(0)}); err != nil {
		t.Fatal(err)
	}
	done := describe(t, c, *tk.TaskArn)
	if *done.LastStatus != "STOPPED" || !strings.HasPrefix(*done.StoppedReason, "Host EC2 (instance i-") {
		t.Fatalf("%s %v", *done.LastStatus, done.StoppedReason)
	}
}

func TestManyTasksAtOnce(t *testing.T) {
	c := newCloud(t, Options{})
	c.AddInstance("c", 1<<20, 1<<20)
	register(t, c, "job", app("app", 1, "print", "100", "x", "exit", "1"))
	var arns []string
	for i := 0; i < 20; i++ {
		out, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), Count: i32(10)})
		if err != nil || len(out.Tasks) != 10 {
			t.Fatalf("RunTask: %v", err)
		}
		for _, tk := range out.Tasks {
			arns = append(arns, *tk.TaskArn)
		}
	}
	for _, arn := range arns {
		if tk := waitStatus(t, c, arn, "STOPPED"); *ctr(tk, "app").ExitCode != 1 {
			t.Fatal(fmt.Sprint("exit ", *ctr(tk, "app").ExitCode))
		}
	}
}

func TestManagedScalingLaunchesWhatProvisioningTasksNeed(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1, ManagedScalingDelay: time.Minute})
	c.AddAutoScalingGroup("asg", "c", 0, 10, 0, 2048, 4096, 3*time.Minute)
	c.AddCapacityProvider("c", "cp", "asg")
	register(t, c, "job", app("app", 3000, "sleep", "1h"))
	strategy := []types.CapacityProviderStrategyItem{{CapacityProvider: s("cp")}}
	var arns []string
	for i := 0; i < 3; i++ {
		arns = append(arns, *run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job"), CapacityProviderStrategy: strategy}).TaskArn)
	}
	desired := func() int32 {
		g, _ := c.AutoScaling().DescribeAutoScalingGroups(bg, &autoscaling.DescribeAutoScalingGroupsInput{})
		return *g.AutoScalingGroups[0].DesiredCapacity
	}
	if d := desired(); d != 0 {
		t.Fatalf("scaled before the delay: %d", d)
	}
	clock.Advance(time.Minute)
	if d := desired(); d != 3 {
		t.Fatalf("desired %d, want 3 (one 3000 MiB task per 4096 MiB instance)", d)
	}
	clock.Advance(time.Minute)
	if d := desired(); d != 3 {
		t.Fatalf("scaled again while instances boot: %d", d)
	}
	clock.Advance(2 * time.Minute)
	for _, arn := range arns {
		waitFor(t, func() bool { return *describe(t, c, arn).LastStatus == "RUNNING" })
	}
}

func TestStoppedTaskKeepsItsPlacementAndStopCode(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	c.AddCluster("c")
	arn := c.AddInstance("c", 1024, 2048)
	td := register(t, c, "keep", app("app", 64, "sleep", "60s"))
	task := *run(t, c, &awsecs.RunTaskInput{TaskDefinition: td.TaskDefinitionArn, LaunchType: types.LaunchTypeEc2}).TaskArn
	if _, err := c.ECS().StopTask(bg, &awsecs.StopTaskInput{Cluster: s("c"), Task: &task, Reason: s("enough")}); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, c, task, "STOPPED")
	if got.ContainerInstanceArn == nil || *got.ContainerInstanceArn != arn {
		t.Fatalf("stopped task lost its containerInstanceArn: %v", got.ContainerInstanceArn)
	}
	if got.StopCode != types.TaskStopCodeUserInitiated || *got.StoppedReason != "enough" {
		t.Fatalf("stopCode %q, reason %q", got.StopCode, *got.StoppedReason)
	}
}
