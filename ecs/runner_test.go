package ecs_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/ecs/ecsfake"
	"github.com/hashike/hashike/runner"
	"github.com/hashike/hashike/sqlite"
)

// A whole run on ECS as `hashike run` does it: the runner, the SQLite history and the backend on
// the fake. The history must keep what ECS forgets: ARN, placement, stop code, output.
func TestRunOnECSIsRecorded(t *testing.T) {
	cloud := newCloud(t, ecsfake.Options{})
	cloud.AddInstance("default", 4096, 8192)
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	self := hashike.Owner{Host: "h", PID: 1, Start: "1"}
	r := &runner.Runner{Backend: ecs.New(fastConfig(cloud)), Store: store, Clock: hashike.SystemClock{}, Self: self,
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
