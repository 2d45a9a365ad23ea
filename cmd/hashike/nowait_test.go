package main

import (
	"bytes"
	"context"
	"crypto/rand"
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

// run --no-wait prints the run ID as soon as the detached supervisor has the run, not once ECS
// has found capacity for its task: the supervisor waits, the command does not.
func TestNoWaitDoesNotWaitForCapacity(t *testing.T) {
	cloud := awsfake.New(awsfake.Options{})
	t.Cleanup(cloud.Close)
	cloud.AddCluster("default")
	cloud.AddInstance("default", 1024, 128) // too small: RunTask answers RESOURCE:MEMORY
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	parent := hashike.Owner{Host: "h", PID: 1, Start: "1"}
	child := hashike.Owner{Host: "h", PID: 2, Start: "2"}
	alive := func(o hashike.Owner) bool { return o == parent || o == child }
	backend := ecs.New(ecs.Config{ECS: cloud.ECS(), AutoScaling: cloud.AutoScaling(), Logs: cloud.Logs(),
		PollMin: 10 * time.Millisecond, PollMax: 100 * time.Millisecond})
	r := &runner.Runner{Backend: backend, Store: store, Logs: store, Clock: hashike.SystemClock{}, Self: parent, Alive: alive, Random: rand.Reader}
	spec := hashike.JobSpec{Backend: "ecs", TaskDefinition: hashike.TaskDefinition{Family: "nowait", ContainerDefinitions: []hashike.ContainerDefinition{
		{Name: "app", Image: "hashike-testjob:test", Memory: new(512), Command: []string{"exit", "0"}},
	}}}
	run, _, err := r.Create(context.Background(), spec, "", &parent)
	if err != nil {
		t.Fatal(err)
	}

	// The detached supervisor, in process: it takes the run over from its parent, as
	// `hashike supervise` does, and supervises it until the test ends.
	superCtx, stopSupervisor := context.WithCancel(context.Background())
	supervised := make(chan struct{})
	t.Cleanup(func() { stopSupervisor(); <-supervised })
	spawn := func(runID string, _ bool, handoff *hashike.Owner) error {
		sr := *r
		sr.Self = child
		if _, err := store.UpdateRun(context.Background(), runID, hashike.RunUpdate{At: time.Now(), IfOwner: &hashike.OwnerMatch{Owner: handoff}, SetOwner: &child}); err != nil {
			return err
		}
		go func() {
			defer close(supervised)
			_, _ = sr.Supervise(superCtx, runID, runner.Options{})
		}()
		return nil
	}

	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, clock: hashike.SystemClock{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.startDetached(ctx, r, run, "text", spawn); err != nil {
		t.Fatalf("run --no-wait: %v (stderr %q)", err, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != run.ID {
		t.Fatalf("printed %q, want the run ID %s", got, run.ID)
	}
	cur, err := store.GetRun(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.State != hashike.StatePending || len(cloud.Tasks()) != 0 {
		t.Fatalf("run %s, %d tasks: the ID was printed only after capacity was found", cur.State, len(cloud.Tasks()))
	}
}
