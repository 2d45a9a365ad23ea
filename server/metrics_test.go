package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
)

// recordedMetrics records what the server tells its Metrics, one line per call.
type recordedMetrics struct {
	mu    sync.Mutex
	calls []string
	waits []time.Duration
}

func (m *recordedMetrics) add(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, s)
}

func (m *recordedMetrics) RunEnqueued(r *hashike.Run) {
	m.add(fmt.Sprintf("enqueued %s #%d %s", r.Job, r.Attempt, r.Trigger))
}

func (m *recordedMetrics) RunDispatched(r *hashike.Run, waited time.Duration) {
	m.mu.Lock()
	m.waits = append(m.waits, waited)
	m.mu.Unlock()
	m.add(fmt.Sprintf("dispatched %s #%d", r.Job, r.Attempt))
}

func (m *recordedMetrics) RunFinished(r *hashike.Run) {
	m.add(fmt.Sprintf("finished %s #%d %s started=%v", r.Job, r.Attempt, r.State, r.StartedAt != nil))
}

func (m *recordedMetrics) RunRetried(r *hashike.Run) {
	m.add(fmt.Sprintf("retried %s #%d %s", r.Job, r.Attempt, r.State))
}

func (m *recordedMetrics) AutoscalerDecided(name string, d autoscale.Decision) {
	m.add("decided " + name)
}

func (m *recordedMetrics) sorted() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.calls)
	slices.Sort(out)
	return out
}

// TestMetricsSeeEveryRunOnce: an enqueue that fails and is retried once, and a queued run
// canceled before it started, are each enqueued, dispatched, finished and retried exactly
// as often as they happened.
func TestMetricsSeeEveryRunOnce(t *testing.T) {
	m := &recordedMetrics{}
	e := newEnv(t, opts{metrics: m, behave: func(hashike.StartRequest) fakebackend.Behavior { return fakebackend.Behavior{ExitCode: 3} }})
	e.register("flaky", definition(func(d *job.Definition) { d.RetryStrategy = dispatch.RetryStrategy{Attempts: 2} }))
	run := e.enqueue("flaky", api.EnqueueRequest{})
	if tries := e.settled(run.ID); len(tries) != 2 {
		t.Fatalf("tries: %v", states(tries))
	}
	held := e.enqueue("flaky", api.EnqueueRequest{Delay: hashike.Duration(time.Hour)})
	if _, err := e.s.Cancel(context.Background(), held.ID, api.CancelRequest{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dispatched flaky #1", "dispatched flaky #2",
		"enqueued flaky #1 api", "enqueued flaky #1 api", "enqueued flaky #2 retry",
		"finished flaky #1 canceled started=false", "finished flaky #1 failed started=true", "finished flaky #2 failed started=true",
		"retried flaky #1 failed",
	}
	e.eventually("every call", func() bool { return slices.Equal(m.sorted(), want) })
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.waits {
		if w < 0 || w > time.Minute {
			t.Errorf("a dispatch wait of %s", w)
		}
	}
}
