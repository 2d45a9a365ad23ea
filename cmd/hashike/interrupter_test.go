package main

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/server"
	"github.com/hashike/hashike/sqlite"
)

// TestServerInterrupter: the server's ecsscale.Interrupter stops the runs of the interrupted
// instance's tasks with StopInterruption and its reason, and gives back the tasks of no run.
func TestServerInterrupter(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hold := make(chan struct{})
	defer close(hold)
	b := fakebackend.New("local", func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{Hold: hold} })
	self := hashike.Owner{Host: "test", PID: 1, Start: "1"}
	srv, err := server.New(server.Config{Store: st, Clock: hashike.SystemClock{}, Random: rand.Reader, Self: self, NoLeader: true,
		Backend: func(string) (hashike.Backend, error) { return b, nil }, Alive: func(o hashike.Owner) bool { return o == self },
		ParseDefinition: func(string, []byte) (*job.Definition, error) { return nil, nil }, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	srv.Start(ctx)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	def := &job.Definition{JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "i", Memory: new(64)}}}}}
	if _, _, err := srv.Register(ctx, "j", def, "test"); err != nil {
		t.Fatal(err)
	}
	run, _, err := srv.Enqueue(ctx, "j", api.EnqueueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var task string
	for deadline := time.Now().Add(10 * time.Second); task == ""; time.Sleep(5 * time.Millisecond) {
		if r, err := st.GetRun(ctx, run.ID); err == nil && r.State == hashike.StateRunning && r.Task != nil {
			task = r.Task.ID
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never started")
		}
	}
	var in ecsscale.Interrupter = &serverInterrupter{srv}
	unknown, err := in.Interrupt(ctx, ecsscale.Interruption{Instance: "i-0abc", Tasks: []string{task, "arn:other"}, Reason: "EC2 Spot Instance Interruption Warning for i-0abc"})
	if err != nil || !slices.Equal(unknown, []string{"arn:other"}) {
		t.Fatalf("Interrupt: unknown %v, %v", unknown, err)
	}
	if r, err := st.GetRun(ctx, run.ID); err != nil || r.StopCause != hashike.StopInterruption {
		t.Errorf("run %+v, %v: want stopped with cause interruption", r, err)
	}
}
