package awsfake

import (
	"strings"
	"testing"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestStartTask: StartTask places the task on the instance named (by ARN or ID), and fails
// per instance as ECS does: MISSING for an unknown instance, INACTIVE for a DRAINING one,
// RESOURCE:MEMORY when it does not fit; more than 10 instances is a parameter error.
func TestStartTask(t *testing.T) {
	c := newCloud(t, Options{})
	a := c.AddInstance("c", 2048, 4096)
	b := c.AddInstance("c", 2048, 4096)
	full := c.AddInstance("c", 2048, 100)
	register(t, c, "job", app("app", 256, "sleep", "1h"))
	if _, err := (ecsClient{c}).UpdateContainerInstancesState(bg, &awsecs.UpdateContainerInstancesStateInput{Cluster: s("c"), ContainerInstances: []string{b}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	out, err := (ecsClient{c}).StartTask(bg, &awsecs.StartTaskInput{Cluster: s("c"), TaskDefinition: s("job"), StartedBy: s("warm"),
		ContainerInstances: []string{taskID(a), b, full, "0123456789abcdef0123456789abcdef"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 || *out.Tasks[0].ContainerInstanceArn != a || *out.Tasks[0].StartedBy != "warm" {
		t.Fatalf("tasks %+v, want one on %s started by warm", out.Tasks, a)
	}
	reasons := map[string]string{}
	for _, f := range out.Failures {
		reasons[*f.Arn] = *f.Reason
	}
	if reasons[b] != "INACTIVE" || reasons[full] != "RESOURCE:MEMORY" || reasons["0123456789abcdef0123456789abcdef"] != "MISSING" {
		t.Fatalf("failures %v", reasons)
	}
	waitStatus(t, c, *out.Tasks[0].TaskArn, "RUNNING")

	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = a
	}
	_, err = (ecsClient{c}).StartTask(bg, &awsecs.StartTaskInput{Cluster: s("c"), TaskDefinition: s("job"), ContainerInstances: eleven})
	if code(err) != "InvalidParameterException" {
		t.Fatalf("11 instances: %v", err)
	}
	if _, err = (ecsClient{c}).StartTask(bg, &awsecs.StartTaskInput{Cluster: s("c"), TaskDefinition: s("nope"), ContainerInstances: []string{a}}); code(err) != "ClientException" {
		t.Fatalf("unknown task definition: %v", err)
	}
}

// TestImagePullsAreCachedPerInstance: the first task of an image on an instance pulls it
// for Options.PullTime; a later one there starts without a pull, one on another instance
// pulls again. A warm-up task whose entry point the image lacks fails to start
// (CannotStartContainerError) after its pull, which leaves the image cached: a job on the
// warmed instance then starts 30 s sooner than the same job on a cold one.
func TestImagePullsAreCachedPerInstance(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	const img = "registry.example/app:1"
	c := newCloud(t, Options{Clock: clock, StepDelay: -1, Tick: time.Hour, Images: map[string]bool{img: true},
		PullTime: map[string]time.Duration{img: 30 * time.Second}})
	warm := c.AddInstance("c", 2048, 4096)
	cold := c.AddInstance("c", 2048, 4096)
	register(t, c, "job", types.ContainerDefinition{Name: s("app"), Image: s(img), Memory: i32(64)})
	register(t, c, "warmup", types.ContainerDefinition{Name: s("warmup"), Image: s(img), Memory: i32(16), EntryPoint: []string{"true"}})
	start := func(family, on string) string {
		t.Helper()
		out, err := (ecsClient{c}).StartTask(bg, &awsecs.StartTaskInput{Cluster: s("c"), TaskDefinition: s(family), ContainerInstances: []string{on}})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("StartTask %s on %s: %v %+v", family, on, err, out)
		}
		return *out.Tasks[0].TaskArn
	}
	// pulling waits until a task driver sleeps on the clock (its pull): the clock has more
	// timers than before.
	pulling := func(before int) {
		t.Helper()
		waitFor(t, func() bool { return clock.Waiters() > before })
	}

	w := start("warmup", warm)
	pulling(0)
	if c.Cached(warm, img) {
		t.Fatal("cached before its pull ended")
	}
	clock.Advance(30 * time.Second)
	tk := waitStatus(t, c, w, "STOPPED")
	if got := tk.PullStoppedAt.Sub(*tk.PullStartedAt); got != 30*time.Second {
		t.Errorf("warm-up pull took %v, want 30s", got)
	}
	if !strings.HasPrefix(*tk.StoppedReason, "CannotStartContainerError") {
		t.Errorf("warm-up of an image without `true` stopped for %q", *tk.StoppedReason)
	}
	if !c.Cached(warm, img) || c.Cached(cold, img) {
		t.Fatalf("cached on the warmed instance %v, on the cold one %v", c.Cached(warm, img), c.Cached(cold, img))
	}

	hot := waitStatus(t, c, start("job", warm), "STOPPED") // no pull: no clock time needed
	timers := clock.Waiters()
	onCold := start("job", cold)
	pulling(timers)
	clock.Advance(30 * time.Second)
	slow := waitStatus(t, c, onCold, "STOPPED")
	if d := hot.StartedAt.Sub(*hot.CreatedAt); d != 0 {
		t.Errorf("job on the warmed instance started %v after it was created, want at once", d)
	}
	if d := slow.StartedAt.Sub(*slow.CreatedAt); d != 30*time.Second {
		t.Errorf("job on the cold instance started %v after it was created, want 30s (the pull)", d)
	}
	if hot.StopCode != types.TaskStopCodeEssentialContainerExited || slow.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Errorf("stop codes %s %s", hot.StopCode, slow.StopCode)
	}
}
