package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
)

// TestEnqueueOverrides: an enqueue's overrides (command, environment, cpu, memory, timeout)
// change that run's container and timeout, not the job's; the run's retry keeps them, and so
// does a rerun of the same version.
func TestEnqueueOverrides(t *testing.T) {
	e := newEnv(t, opts{behave: func(req hashike.StartRequest) fakebackend.Behavior {
		return fakebackend.Behavior{ExitCode: 3} // fails: retried once
	}})
	e.register("hello", definition(func(d *job.Definition) {
		d.RetryStrategy = dispatch.RetryStrategy{Attempts: 2}
		d.TaskDefinition.ContainerDefinitions[0].Environment = []hashike.KeyValuePair{{Name: "MODE", Value: "job"}, {Name: "KEEP", Value: "1"}}
	}))
	timeout := hashike.Duration(5 * time.Minute)
	run := e.enqueue("hello", api.EnqueueRequest{Overrides: &api.Overrides{
		Command: []string{"sleep", "1"}, Environment: []hashike.KeyValuePair{{Name: "MODE", Value: "oneshot"}},
		Cpu: ptr(512), Memory: ptr(128), Timeout: &timeout}})
	tries := e.settled(run.ID)
	if len(tries) != 2 {
		t.Fatalf("tries = %v", states(tries))
	}
	for _, try := range tries {
		c := try.Spec.TaskDefinition.ContainerDefinitions[0]
		if strings.Join(c.Command, " ") != "sleep 1" || c.Cpu != 512 || c.Memory == nil || *c.Memory != 128 ||
			env_(try, "MODE") != "oneshot" || env_(try, "KEEP") != "1" || try.Spec.Timeout != timeout {
			t.Errorf("try %d: command %q cpu %d memory %v MODE %q KEEP %q timeout %v", try.Attempt, c.Command, c.Cpu, c.Memory, env_(try, "MODE"), env_(try, "KEEP"), try.Spec.Timeout)
		}
	}
	if tries[0].Resources.MemoryMiB != 128 {
		t.Errorf("resources = %+v", tries[0].Resources)
	}
	// The job itself is unchanged: a plain enqueue runs its definition.
	plain := e.enqueue("hello", api.EnqueueRequest{})
	if c := plain.Spec.TaskDefinition.ContainerDefinitions[0]; c.Command != nil || env_(plain, "MODE") != "job" || *c.Memory != 64 {
		t.Errorf("a plain run got the overrides: %+v", c)
	}
	rerun, err := e.s.Rerun(context.Background(), tries[1].ID, api.RerunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if c := rerun.Spec.TaskDefinition.ContainerDefinitions[0]; strings.Join(c.Command, " ") != "sleep 1" || env_(rerun, "MODE") != "oneshot" {
		t.Errorf("rerun lost the overrides: %+v", c)
	}
}

// TestEnqueueOverridesBadInput: bad overrides are refused, naming the request's field, and
// queue nothing.
func TestEnqueueOverridesBadInput(t *testing.T) {
	e := newEnv(t, opts{noLoop: true})
	e.register("hello", definition(nil))
	for _, tc := range []struct {
		o    api.Overrides
		path string
	}{
		{api.Overrides{Container: "nope"}, "overrides.container"},
		{api.Overrides{Memory: ptr(1)}, "overrides.memory"},
		{api.Overrides{Cpu: ptr(-1)}, "overrides.cpu"},
		{api.Overrides{Command: []string{}}, "overrides.command"},
		{api.Overrides{Environment: []hashike.KeyValuePair{{Value: "x"}}}, "overrides.environment[0].name"},
	} {
		_, _, err := e.s.Enqueue(context.Background(), "hello", api.EnqueueRequest{Overrides: &tc.o})
		var paths []string
		if he, ok := err.(*hashike.Error); ok {
			for _, f := range he.Fields {
				paths = append(paths, f.Path)
			}
		}
		if hashike.ErrorCodeOf(err) != hashike.EInvalid || !strings.Contains(strings.Join(paths, " "), tc.path) {
			t.Errorf("%+v: %v (fields %v); want invalid naming %s", tc.o, err, paths, tc.path)
		}
	}
	runs, err := e.store.ListRuns(context.Background(), hashike.RunFilter{})
	if err != nil || len(runs) != 0 {
		t.Fatalf("queued %d runs (%v)", len(runs), err)
	}
}
