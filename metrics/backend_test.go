package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/metrics"
)

// stubBackend starts after asking Proceed waits times, and fails Stop with stopErr.
type stubBackend struct {
	hashike.Backend
	waits   int
	stopErr error
	// during is read while Start waits: what the waiting gauge said then.
	during func()
}

func (b *stubBackend) Name() string { return "ecs" }

func (b *stubBackend) Start(ctx context.Context, req hashike.StartRequest) (hashike.TaskRef, error) {
	for range b.waits {
		if req.Proceed != nil {
			if err := req.Proceed(ctx); err != nil {
				return hashike.TaskRef{}, err
			}
		}
		if b.during != nil {
			b.during()
		}
	}
	return hashike.TaskRef{ID: "task-" + req.RunID}, nil
}

func (b *stubBackend) Stop(context.Context, hashike.TaskRef, string, time.Duration) error {
	return b.stopErr
}

func TestDecorateBackendCountsCallsErrorsAndCapacityWaits(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewBackend(reg)
	stub := &stubBackend{waits: 2}
	b := metrics.DecorateBackend(stub, m)
	var waitingDuring float64
	stub.during = func() { waitingDuring = testutil.ToFloat64(m.Waiting("ecs")) }

	asked := 0
	ref, err := b.Start(context.Background(), hashike.StartRequest{RunID: "r1", Proceed: func(context.Context) error { asked++; return nil }})
	if err != nil || ref.ID != "task-r1" {
		t.Fatalf("Start through the decorator: %v, %v", ref, err)
	}
	if asked != 2 {
		t.Errorf("the run's Proceed was asked %d times, want 2: the decorator must pass it on", asked)
	}
	if waitingDuring != 1 {
		t.Errorf("hashike_backend_capacity_waiting_starts during the wait: %v, want 1", waitingDuring)
	}
	// A start that does not wait is no capacity wait; a Proceed that refuses ends the start.
	stub.waits = 0
	if _, err := b.Start(context.Background(), hashike.StartRequest{RunID: "r2"}); err != nil {
		t.Fatal(err)
	}
	stub.waits = 1
	stop := errors.New("a stop was recorded")
	if _, err := b.Start(context.Background(), hashike.StartRequest{RunID: "r3", Proceed: func(context.Context) error { return stop }}); !errors.Is(err, stop) {
		t.Fatalf("Start with a refusing Proceed: %v, want %v", err, stop)
	}
	stub.stopErr = hashike.Errorf(hashike.ENotFound, "no task")
	if err := b.Stop(context.Background(), ref, "test", time.Second); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("Stop: %v, want the backend's not found", err)
	}
	stub.stopErr = context.Canceled
	_ = b.Stop(context.Background(), ref, "test", time.Second)

	want := `
# HELP hashike_backend_call_errors_total Calls of the Backend port that returned an error, by backend, operation and hashike error code (not_found, conflict, invalid, unavailable, internal, canceled).
# TYPE hashike_backend_call_errors_total counter
hashike_backend_call_errors_total{backend="ecs",code="canceled",operation="stop"} 1
hashike_backend_call_errors_total{backend="ecs",code="internal",operation="start"} 1
hashike_backend_call_errors_total{backend="ecs",code="not_found",operation="stop"} 1
# HELP hashike_backend_calls_total Calls of the Backend port (start, find, wait, describe, logs, stop, remove), by backend (local, ecs) and operation.
# TYPE hashike_backend_calls_total counter
hashike_backend_calls_total{backend="ecs",operation="start"} 3
hashike_backend_calls_total{backend="ecs",operation="stop"} 2
# HELP hashike_backend_capacity_waiting_starts Starts waiting for capacity now, by backend.
# TYPE hashike_backend_capacity_waiting_starts gauge
hashike_backend_capacity_waiting_starts{backend="ecs"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"hashike_backend_calls_total", "hashike_backend_call_errors_total", "hashike_backend_capacity_waiting_starts"); err != nil {
		t.Error(err)
	}
	// Two starts waited (r1, and r3 until its Proceed refused).
	if n := testutil.CollectAndCount(reg, "hashike_backend_capacity_wait_seconds"); n != 1 {
		t.Errorf("capacity wait histograms: %d, want 1 (backend ecs)", n)
	}
	if got := histogramCount(t, reg, "hashike_backend_capacity_wait_seconds"); got != 2 {
		t.Errorf("capacity waits observed: %d, want 2", got)
	}
	if got := histogramCount(t, reg, "hashike_backend_call_duration_seconds"); got != 5 {
		t.Errorf("timed calls: %d, want 5 (3 starts, 2 stops)", got)
	}
}

// histogramCount sums the sample counts of the histograms named name.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// rolesBackend has the optional roles a Backend may have.
type rolesBackend struct {
	stubBackend
}

func (*rolesBackend) ReadFile(context.Context, hashike.TaskRef, string, int64) ([]byte, string, error) {
	return []byte("result"), "app", nil
}

var (
	_ hashike.TaskFiles    = (*rolesBackend)(nil)
	_ hashike.UsageSampler = (*rolesBackend)(nil)
)

func (*rolesBackend) UsageSource() string          { return hashike.UsageSourceDocker }
func (*rolesBackend) UsageInterval() time.Duration { return time.Second }
func (*rolesBackend) SampleUsage(context.Context, []hashike.UsageQuery) ([]hashike.TaskUsage, error) {
	return []hashike.TaskUsage{{TaskID: "t"}}, nil
}

// TestDecorateBackendKeepsRoles: what the server finds out by type assertion (reading a
// result, sampling usage) still works through the decorator.
func TestDecorateBackendKeepsRoles(t *testing.T) {
	m := metrics.NewBackend(prometheus.NewRegistry())
	b := metrics.DecorateBackend(&rolesBackend{}, m)
	files, ok := b.(hashike.TaskFiles)
	if !ok {
		t.Fatal("the decorated backend lost TaskFiles")
	}
	if data, _, err := files.ReadFile(context.Background(), hashike.TaskRef{}, "/hashike/result", 10); err != nil || string(data) != "result" {
		t.Errorf("ReadFile through the decorator: %q, %v", data, err)
	}
	sampler, ok := b.(hashike.UsageSampler)
	if !ok {
		t.Fatal("the decorated backend lost UsageSampler")
	}
	if got, err := sampler.SampleUsage(context.Background(), nil); err != nil || len(got) != 1 || sampler.UsageSource() != hashike.UsageSourceDocker {
		t.Errorf("SampleUsage through the decorator: %v, %v", got, err)
	}
	if _, ok := metrics.DecorateBackend(&stubBackend{}, m).(hashike.TaskFiles); ok {
		t.Error("the decorator gave TaskFiles to a backend without it")
	}
	if b.Name() != "ecs" {
		t.Errorf("Name through the decorator: %q", b.Name())
	}
}
