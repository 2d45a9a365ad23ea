package ecs_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/runner"
	"github.com/hashike/hashike/sqlite"
)

// A whole run on ECS as `hashike run` does it: the runner, the SQLite history and the backend on
// the fake. The history must keep what ECS forgets: ARN, placement, stop code, output.
func TestRunOnECSIsRecorded(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	self := hashike.Owner{Host: "h", PID: 1, Start: "1"}
	r := &runner.Runner{Backend: ecs.New(fastConfig(cloud)), Store: store, Logs: store, Clock: hashike.SystemClock{}, Self: self,
		Alive: func(o hashike.Owner) bool { return o == self }, Random: rand.Reader}
	spec := job(64, "print", "2", "from ecs", "exit", "4")
	spec.Backend = "ecs"
	run, _, err := r.Create(context.Background(), spec, "", &self)
	if err != nil {
		t.Fatal(err)
	}
	done, err := r.Supervise(tctx(t), run.ID, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != hashike.StateFailed || done.Exit.Code != 4 || done.Exit.StopCode != "EssentialContainerExited" {
		t.Fatalf("recorded %s %+v", done.State, done.Exit)
	}
	if !strings.HasPrefix(done.Task.ID, "arn:aws:ecs:") || done.Task.Cluster != "default" || !strings.Contains(done.Task.ContainerInstance, ":container-instance/") {
		t.Fatalf("task recorded as %+v", done.Task)
	}
	var out strings.Builder
	if _, err := store.ReadLogs(context.Background(), run.ID, 0, func(e hashike.LogEntry) error { out.Write(e.Data); return nil }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "from ecs 1\nfrom ecs 2\n" {
		t.Fatalf("stored output %q", out.String())
	}
}

// capacityWait is a runner on the fake whose only instance is too small for job(512): every
// RunTask answers RESOURCE:MEMORY, and the default capacity timeout (10 minutes) is far away.
func capacityWait(t *testing.T) (*awsfake.Cloud, *runner.Runner, *hashike.Run) {
	t.Helper()
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 1024, 128)
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	self := hashike.Owner{Host: "h", PID: 1, Start: "1"}
	r := &runner.Runner{Backend: ecs.New(fastConfig(cloud)), Store: store, Logs: store, Clock: hashike.SystemClock{}, Self: self,
		Alive: func(o hashike.Owner) bool { return o == self }, Random: rand.Reader}
	spec := job(512, "exit", "0")
	spec.Backend = "ecs"
	run, _, err := r.Create(context.Background(), spec, "", &self)
	if err != nil {
		t.Fatal(err)
	}
	return cloud, r, run
}

type supervised struct {
	run *hashike.Run
	err error
}

func awaitRunTasks(cloud *awsfake.Cloud, n int) {
	for cloud.Calls("RunTask") < n {
		time.Sleep(5 * time.Millisecond)
	}
}

// A Ctrl-C while the run waits for capacity ends the wait at once: the run is canceled and no
// task is ever started, even once capacity appears.
func TestSignalDuringCapacityWaitStartsNothing(t *testing.T) {
	cloud, r, run := capacityWait(t)
	stops := make(chan runner.StopRequest, 2)
	done := make(chan supervised, 1)
	go func() {
		out, err := r.Supervise(tctx(t), run.ID, runner.Options{Stop: stops})
		done <- supervised{out, err}
	}()
	awaitRunTasks(cloud, 2)
	stops <- runner.StopRequest{Cause: hashike.StopInterrupt, Grace: -1}
	s := <-done
	if s.err != nil {
		t.Fatalf("Supervise: %v (the stop did not end the capacity wait)", s.err)
	}
	if s.run.State != hashike.StateCanceled || s.run.Exit.Code != hashike.ExitSIGINT || !strings.Contains(s.run.Exit.Reason, "before its task was created") {
		t.Fatalf("recorded %s %+v", s.run.State, s.run.Exit)
	}
	calls := cloud.Calls("RunTask")
	cloud.AddInstance("default", 4096, 8192)
	if n := len(cloud.Tasks()); n != 0 || cloud.Calls("RunTask") != calls {
		t.Fatalf("%d tasks, %d RunTask calls after the stop", n, cloud.Calls("RunTask")-calls)
	}
}

// hashike stop from another process (a stop recorded in the history) ends the wait too.
func TestStopRecordedDuringCapacityWaitStartsNothing(t *testing.T) {
	cloud, r, run := capacityWait(t)
	done := make(chan supervised, 1)
	go func() {
		out, err := r.Supervise(tctx(t), run.ID, runner.Options{})
		done <- supervised{out, err}
	}()
	awaitRunTasks(cloud, 2)
	if _, err := r.Store.UpdateRun(context.Background(), run.ID, hashike.RunUpdate{At: time.Now(), StopCause: hashike.StopUser,
		State: hashike.StateStopping, Reason: "stop requested: hashike stop"}); err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s.err != nil {
		t.Fatalf("Supervise: %v (the stop did not end the capacity wait)", s.err)
	}
	if s.run.State != hashike.StateCanceled || s.run.Exit.Code != hashike.ExitSIGTERM {
		t.Fatalf("recorded %s %+v", s.run.State, s.run.Exit)
	}
	if n := len(cloud.Tasks()); n != 0 {
		t.Fatalf("%d tasks started after the stop", n)
	}
}

// With RunTask answering HTTP 500, a short capacityTimeout bounds the whole start: the run
// ends start_failed soon after it, saying ECS failed, not that capacity was lacking. (The
// runner rides out an unreachable platform by starting again; that must not restart the
// capacity timeout.)
func TestServerErrorsBoundedByCapacityTimeout(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	cloud.FailAlways("RunTask", awsfake.ServerError())
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var said syncBuffer
	cfg := fastConfig(cloud)
	cfg.Logger = slog.New(slog.NewTextHandler(&said, nil))
	self := hashike.Owner{Host: "h", PID: 1, Start: "1"}
	r := &runner.Runner{Backend: ecs.New(cfg), Store: store, Logs: store, Clock: hashike.SystemClock{}, Self: self,
		Alive: func(o hashike.Owner) bool { return o == self }, Random: rand.Reader}
	spec := job(64, "exit", "0")
	spec.Backend = "ecs"
	spec.ECS = &hashike.ECSOptions{CapacityTimeout: hashike.Duration(300 * time.Millisecond)}
	run, _, err := r.Create(context.Background(), spec, "", &self)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := r.Supervise(ctx, run.ID, runner.Options{})
	if err != nil {
		t.Fatalf("Supervise: %v (the capacity timeout did not bound the server errors)", err)
	}
	if done.State != hashike.StateStartFailed || done.Exit.Code != hashike.ExitStartFailed {
		t.Fatalf("recorded %s %+v", done.State, done.Exit)
	}
	if why := done.Exit.Reason; !strings.Contains(why, "server error") || !strings.Contains(why, "not a lack of capacity") {
		t.Fatalf("reason %q does not say ECS failed", why)
	}
	if got := said.String(); strings.Contains(got, "waiting for capacity") || !strings.Contains(got, "server error") {
		t.Fatalf("server errors reported as a capacity wait:\n%s", got)
	}
	if n := len(cloud.Tasks()); n != 0 {
		t.Fatalf("%d tasks", n)
	}
}
