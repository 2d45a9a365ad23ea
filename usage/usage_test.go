package usage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/usage"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func f(v float64) *float64 { return &v }

func TestSummary(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name    string
		batches [][]hashike.UsageSample
		want    *hashike.ResourceUsage
	}{
		{name: "nothing observed", want: nil},
		{
			name: "docker counters: containers summed per batch, CPU the last counter of each",
			batches: [][]hashike.UsageSample{
				{{Container: "app", At: at(1), MemoryBytes: 100, CPUSeconds: 1, ThrottledSeconds: f(0)},
					{Container: "side", At: at(1), MemoryBytes: 50, CPUSeconds: 0.5, ThrottledSeconds: f(0)}},
				{{Container: "app", At: at(3), MemoryBytes: 300, CPUSeconds: 4, ThrottledSeconds: f(1)},
					{Container: "side", At: at(3), MemoryBytes: 10, CPUSeconds: 0.5, ThrottledSeconds: f(0.25)}},
				{{Container: "app", At: at(5), MemoryBytes: 200, CPUSeconds: 6, ThrottledSeconds: f(1.5)}},
			},
			want: &hashike.ResourceUsage{Source: "docker", Samples: 3, PeakMemoryBytes: 310, CPUSeconds: 6.5,
				ThrottledSeconds: f(1.75)},
		},
		{
			name: "container insights minutes: each task event one observation, repeats dropped",
			batches: [][]hashike.UsageSample{
				{{At: at(60), MemoryBytes: 300 << 20, CPUSeconds: 30, Period: time.Minute},
					{At: at(120), MemoryBytes: 310 << 20, CPUSeconds: 12, Period: time.Minute}},
				{{At: at(120), MemoryBytes: 310 << 20, CPUSeconds: 12, Period: time.Minute}, // again
					{At: at(180), MemoryBytes: 100 << 20, CPUSeconds: 6, Period: time.Minute}},
			},
			want: &hashike.ResourceUsage{Source: "docker", Samples: 3, PeakMemoryBytes: 310 << 20, CPUSeconds: 48},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := usage.NewSummary("docker", nil)
			for _, b := range tt.batches {
				s.Add(b)
			}
			got := s.Usage()
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("Usage() = %+v, want %+v", got, tt.want)
			}
			if got == nil {
				return
			}
			if got.Source != tt.want.Source || got.Samples != tt.want.Samples || got.PeakMemoryBytes != tt.want.PeakMemoryBytes ||
				got.CPUSeconds != tt.want.CPUSeconds || (got.ThrottledSeconds == nil) != (tt.want.ThrottledSeconds == nil) ||
				(got.ThrottledSeconds != nil && *got.ThrottledSeconds != *tt.want.ThrottledSeconds) {
				t.Errorf("Usage() = %+v (throttled %v), want %+v (throttled %v)", got, got.ThrottledSeconds, tt.want, tt.want.ThrottledSeconds)
			}
			if got.FirstSampleAt == nil || got.LastSampleAt == nil || got.LastSampleAt.Before(*got.FirstSampleAt) {
				t.Errorf("sample times %v .. %v", got.FirstSampleAt, got.LastSampleAt)
			}
		})
	}
}

func TestSummarySeededByRecordedPeak(t *testing.T) {
	s := usage.NewSummary("docker", &hashike.ResourceUsage{Source: "docker", Samples: 9, PeakMemoryBytes: 1000, CPUSeconds: 50})
	s.Add([]hashike.UsageSample{{Container: "app", At: t0, MemoryBytes: 10, CPUSeconds: 60}})
	got := s.Usage()
	if got.PeakMemoryBytes != 1000 || got.CPUSeconds != 60 {
		t.Errorf("after a takeover: %+v, want the recorded peak kept and CPU from the counter", got)
	}
}

// sampler is a fake hashike.UsageSampler: it answers from samples, or fails with err.
type sampler struct {
	mu      sync.Mutex
	err     error
	calls   [][]hashike.UsageQuery
	samples func(q hashike.UsageQuery, now time.Time) []hashike.UsageSample
}

func (s *sampler) UsageSource() string          { return "fake" }
func (s *sampler) UsageInterval() time.Duration { return 10 * time.Second }
func (s *sampler) SampleUsage(_ context.Context, qs []hashike.UsageQuery) ([]hashike.TaskUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, qs)
	if s.err != nil {
		return nil, s.err
	}
	var out []hashike.TaskUsage
	for _, q := range qs {
		out = append(out, hashike.TaskUsage{TaskID: q.Task.ID, Samples: s.samples(q, time.Now())})
	}
	return out, nil
}

func (s *sampler) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func run(id string, started time.Time) *hashike.Run {
	return &hashike.Run{ID: id, Job: "job-" + id, Task: &hashike.TaskRef{ID: "task-" + id}, StartedAt: &started}
}

// TestMonitor: every tracked task is sampled in one call per interval, with Since moving
// past what was seen; a failing source is reported once and sampling goes on; Running shows
// only the runs being sampled; Stop takes one last sample.
func TestMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		fake := &sampler{samples: func(q hashike.UsageQuery, now time.Time) []hashike.UsageSample {
			return []hashike.UsageSample{{Container: "app", At: now, MemoryBytes: int64(now.Sub(start) / time.Second), CPUSeconds: now.Sub(start).Seconds() / 2}}
		}}
		var warnings []error
		var mu sync.Mutex
		m := &usage.Monitor{Clock: hashike.SystemClock{}, Warn: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			warnings = append(warnings, err)
		}}
		a := m.Track(fake, run("a", start))
		b := m.Track(fake, run("b", start))
		time.Sleep(time.Second) // the first sample comes after a second
		synctest.Wait()
		if len(fake.calls) != 1 || len(fake.calls[0]) != 2 {
			t.Fatalf("after 1s the sampler got %d calls (%v), want one for both tasks", len(fake.calls), fake.calls)
		}
		if q := fake.calls[0][0]; !q.Since.Equal(start) {
			t.Errorf("first query since %v, want the run's start %v", q.Since, start)
		}
		if got := m.Running(); len(got) != 2 || got[0].CPUSeconds != 0.5 {
			t.Errorf("Running() = %+v, want both runs at 0.5 CPU seconds", got)
		}

		fake.setErr(hashike.Errorf(hashike.EUnavailable, "throttled"))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		mu.Lock()
		if len(warnings) != 1 || !errors.Is(warnings[0], fake.err) {
			t.Errorf("warnings during an outage of 3 intervals: %v, want one", warnings)
		}
		mu.Unlock()
		fake.setErr(nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(fake.calls); n != 5 {
			t.Errorf("after 41s the sampler got %d calls, want 5 (1s, then every 10s)", n)
		}
		if q := fake.calls[4][0]; !q.Since.Equal(start.Add(time.Second)) {
			t.Errorf("query after the outage since %v, want the last sample seen (%v)", q.Since, start.Add(time.Second))
		}

		time.Sleep(2 * time.Second)
		got := a.Stop()
		if got == nil || got.Samples != 3 || got.PeakMemoryBytes != 43 || got.CPUSeconds != 21.5 || got.Source != "fake" {
			t.Errorf("a.Stop() = %+v, want 3 samples (1s, 41s and the last one at 43s), peak 43, 21.5 CPU seconds", got)
		}
		if again := a.Stop(); again == nil || *again != *got {
			t.Errorf("a second Stop = %+v, want the same summary", again)
		}
		if running := m.Running(); len(running) != 1 || running[0].Run != "b" || running[0].Job != "job-b" {
			t.Errorf("Running() after a stopped = %+v, want b only", running)
		}
		calls := len(fake.calls)
		b.Discard()
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(fake.calls) != calls {
			t.Errorf("the sampler was called %d times after its last task stopped", len(fake.calls)-calls)
		}
	})
}
