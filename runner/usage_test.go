package runner_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runner"
	"github.com/hashike/hashike/usage"
)

// samplingBackend is fakeBackend with a usage sampler that answers each call with a growing
// sample, or fails with err, and signals every call on calls.
type samplingBackend struct {
	*fakeBackend
	err   error
	mu    sync.Mutex
	n     int
	calls chan struct{}
}

func (s *samplingBackend) UsageSource() string          { return "fake" }
func (s *samplingBackend) UsageInterval() time.Duration { return time.Hour }
func (s *samplingBackend) SampleUsage(_ context.Context, qs []hashike.UsageQuery) ([]hashike.TaskUsage, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	select {
	case s.calls <- struct{}{}:
	default:
	}
	if s.err != nil {
		return nil, s.err
	}
	out := make([]hashike.TaskUsage, 0, len(qs))
	for _, q := range qs {
		out = append(out, hashike.TaskUsage{TaskID: q.Task.ID, Samples: []hashike.UsageSample{{Container: "app",
			At: time.Now(), MemoryBytes: int64(n) * hashike.MiB, CPUSeconds: float64(n)}}})
	}
	return out, nil
}

func superviseSampled(t *testing.T, b *samplingBackend) (*hashike.Run, []error) {
	t.Helper()
	r := newRunner(t, b.fakeBackend)
	r.Backend = b
	var mu sync.Mutex
	var warnings []error
	warn := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, err)
	}
	r.Usage = &usage.Monitor{Clock: hashike.SystemClock{}, Interval: 10 * time.Millisecond, Warn: warn}
	run := create(t, r, spec(0))
	go func() {
		for range 3 { // the task ends after three samples were asked for
			<-b.calls
		}
		b.release(run.ID)
	}()
	done, err := r.Supervise(context.Background(), run.ID, runner.Options{Warn: warn})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := r.Store.GetRun(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if (stored.Usage == nil) != (done.Usage == nil) {
		t.Errorf("Supervise returned usage %+v, the store has %+v", done.Usage, stored.Usage)
	}
	mu.Lock()
	defer mu.Unlock()
	return done, warnings
}

// TestUsageRecordedWithTheEnd: what the sampler measured while the task ran is recorded with
// the run's end, the last sample taken as it ended.
func TestUsageRecordedWithTheEnd(t *testing.T) {
	b := &samplingBackend{fakeBackend: &fakeBackend{exitCode: 0}, calls: make(chan struct{})}
	done, warnings := superviseSampled(t, b)
	if done.State != hashike.StateSucceeded {
		t.Fatalf("run %s: %+v", done.State, done.Exit)
	}
	u := done.Usage
	b.mu.Lock()
	calls := b.n
	b.mu.Unlock()
	if u == nil || u.Source != "fake" || u.Samples < 3 || u.Samples > calls || u.PeakMemoryBytes != int64(calls)*hashike.MiB || u.CPUSeconds != float64(calls) {
		t.Errorf("usage %+v after %d calls: want every sample, the peak and CPU of the last", u, calls)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
}

// TestUsageErrorsDoNotFailTheRun: a sampler that always fails is reported once; the run ends
// as its task did, with no usage recorded.
func TestUsageErrorsDoNotFailTheRun(t *testing.T) {
	b := &samplingBackend{fakeBackend: &fakeBackend{exitCode: 0}, calls: make(chan struct{}),
		err: hashike.Errorf(hashike.EUnavailable, "cannot reach the Docker Engine")}
	done, warnings := superviseSampled(t, b)
	if done.State != hashike.StateSucceeded || done.Exit.Code != 0 {
		t.Fatalf("run %s: %+v; want it succeeded", done.State, done.Exit)
	}
	if done.Usage != nil {
		t.Errorf("usage %+v recorded from a sampler that never answered", done.Usage)
	}
	if len(warnings) != 1 || !errors.Is(warnings[0], b.err) || !strings.Contains(warnings[0].Error(), "CPU and memory") {
		t.Errorf("warnings %v; want the outage reported once", warnings)
	}
}

// TestUsageRecordedWhileRunning: the usage so far is in the store while the run runs.
func TestUsageRecordedWhileRunning(t *testing.T) {
	b := &samplingBackend{fakeBackend: &fakeBackend{exitCode: 0}, calls: make(chan struct{}, 100)}
	r := newRunner(t, b.fakeBackend)
	r.Backend = b
	r.Usage = &usage.Monitor{Clock: hashike.SystemClock{}, Interval: 10 * time.Millisecond}
	r.UsageRecordInterval = 20 * time.Millisecond
	run := create(t, r, spec(0))
	done := make(chan error, 1)
	go func() {
		_, err := r.Supervise(context.Background(), run.ID, runner.Options{})
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := r.Store.GetRun(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage != nil {
			if got.State != hashike.StateRunning || got.Usage.Samples < 1 || got.Usage.Source != "fake" {
				t.Errorf("while running: %s with usage %+v", got.State, got.Usage)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no usage recorded while the run ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.release(run.ID)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
