package dispatch_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/dispatch"
)

// q builds a queued run: id, queue, priority, enqueued minutes after t0, seq.
func q(id, queue string, prio, min int, seq int64) dispatch.Queued {
	return dispatch.Queued{RunID: id, Queue: queue, Priority: prio, EnqueuedAt: t0.Add(time.Duration(min) * time.Minute), Seq: seq}
}

func ids(qs []dispatch.Queued) []string {
	out := []string{}
	for _, x := range qs {
		out = append(out, x.RunID)
	}
	return out
}

func TestNext(t *testing.T) {
	later := q("later", "a", 100, 0, 0)
	later.NotBefore = t0.Add(time.Second)
	due := q("due", "a", 0, 5, 0)
	due.NotBefore = t0 // NotBefore == now is due

	tests := []struct {
		name   string
		queued []dispatch.Queued
		queues map[string]dispatch.QueueState
		limit  int
		want   []string
	}{
		{"empty", nil, nil, 10, []string{}},
		{"limit 0 dispatches nothing", []dispatch.Queued{q("r1", "a", 0, 0, 1)}, nil, 0, []string{}},
		{"FIFO by EnqueuedAt", []dispatch.Queued{q("r3", "a", 0, 3, 1), q("r1", "a", 0, 1, 3), q("r2", "a", 0, 2, 2)}, nil, 10,
			[]string{"r1", "r2", "r3"}},
		{"Seq breaks EnqueuedAt ties", []dispatch.Queued{q("r2", "a", 0, 1, 8), q("r1", "a", 0, 1, 7), q("r0", "a", 0, 0, 9)}, nil, 10,
			[]string{"r0", "r1", "r2"}},
		{"RunID breaks full ties", []dispatch.Queued{q("r2", "a", 0, 1, 1), q("r1", "a", 0, 1, 1)}, nil, 10, []string{"r1", "r2"}},
		{"priority first, then FIFO", []dispatch.Queued{q("low", "a", -5, 0, 1), q("mid-new", "a", 0, 9, 4), q("high", "a", 50, 10, 2), q("mid-old", "a", 0, 1, 3)}, nil, 10,
			[]string{"high", "mid-old", "mid-new", "low"}},
		{"limit", []dispatch.Queued{q("r1", "a", 0, 1, 1), q("r2", "a", 0, 2, 2), q("r3", "a", 0, 3, 3)}, nil, 2, []string{"r1", "r2"}},
		{"NotBefore holds a run back", []dispatch.Queued{later, due, q("r1", "a", 0, 9, 1)}, nil, 10, []string{"due", "r1"}},
		{"concurrency cap", []dispatch.Queued{q("r1", "a", 0, 1, 1), q("r2", "a", 0, 2, 2), q("r3", "a", 0, 3, 3)},
			map[string]dispatch.QueueState{"a": {MaxConcurrency: 3, Running: 1}}, 10, []string{"r1", "r2"}},
		{"queue full", []dispatch.Queued{q("r1", "a", 0, 1, 1)}, map[string]dispatch.QueueState{"a": {MaxConcurrency: 2, Running: 2}}, 10, []string{}},
		{"over full", []dispatch.Queued{q("r1", "a", 0, 1, 1)}, map[string]dispatch.QueueState{"a": {MaxConcurrency: 2, Running: 5}}, 10, []string{}},
		{"0 means no cap", []dispatch.Queued{q("r1", "a", 0, 1, 1), q("r2", "a", 0, 2, 2)},
			map[string]dispatch.QueueState{"a": {MaxConcurrency: 0, Running: 100}}, 10, []string{"r1", "r2"}},
		{"cap keeps the highest priority", []dispatch.Queued{q("old", "a", 0, 1, 1), q("urgent", "a", 9, 2, 2)},
			map[string]dispatch.QueueState{"a": {MaxConcurrency: 1}}, 10, []string{"urgent"}},
		{"paused", []dispatch.Queued{q("a1", "a", 0, 1, 1), q("b1", "b", 0, 2, 2)},
			map[string]dispatch.QueueState{"a": {Paused: true}}, 10, []string{"b1"}},
		{"unknown queue: no cap, not paused", []dispatch.Queued{q("x1", "x", 0, 1, 1), q("x2", "x", 0, 2, 2)},
			map[string]dispatch.QueueState{"a": {MaxConcurrency: 1}}, 10, []string{"x1", "x2"}},
		{"round-robin across queues", []dispatch.Queued{
			q("a1", "a", 0, 1, 1), q("a2", "a", 0, 2, 2), q("a3", "a", 0, 3, 3), q("a4", "a", 0, 4, 4),
			q("b1", "b", 0, 5, 5), q("b2", "b", 0, 6, 6),
			q("c1", "c", 0, 7, 7)}, nil, 10,
			[]string{"a1", "b1", "c1", "a2", "b2", "a3", "a4"}},
		{"a small limit is shared", []dispatch.Queued{
			q("a1", "a", 0, 1, 1), q("a2", "a", 0, 2, 2), q("a3", "a", 0, 3, 3),
			q("b1", "b", 0, 5, 5), q("c1", "c", 0, 7, 7)}, nil, 3,
			[]string{"a1", "b1", "c1"}},
		{"within a round the longest-waiting queue goes first", []dispatch.Queued{
			q("a1", "a", 0, 10, 1), q("a2", "a", 0, 11, 2), q("b1", "b", 0, 5, 3), q("b2", "b", 0, 20, 4)}, nil, 10,
			[]string{"b1", "a1", "a2", "b2"}},
		{"priorities do not compete across queues", []dispatch.Queued{
			q("a-urgent", "a", 100, 9, 9), q("b-old", "b", -100, 1, 1)}, nil, 1,
			[]string{"b-old"}},
		{"queue name breaks head ties", []dispatch.Queued{q("b1", "b", 0, 1, 1), q("a1", "a", 0, 1, 1)}, nil, 1, []string{"a1"}},
		{"caps and round-robin together", []dispatch.Queued{
			q("a1", "a", 0, 1, 1), q("a2", "a", 0, 2, 2), q("a3", "a", 0, 3, 3),
			q("b1", "b", 0, 4, 4), q("b2", "b", 0, 5, 5)},
			map[string]dispatch.QueueState{"a": {MaxConcurrency: 2}, "b": {MaxConcurrency: 5, Running: 4}}, 10,
			[]string{"a1", "b1", "a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]dispatch.Queued(nil), tt.queued...)
			got := ids(dispatch.Next(tt.queued, tt.queues, t0, tt.limit))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.queued) {
				t.Error("Next modified its input")
			}
		})
	}
}

// Drains a busy queue and a quiet one one run per call, as a dispatcher with one free slot
// would, while the busy queue keeps receiving work: the quiet queue's run goes as soon as it is
// the oldest next run, whatever the busy queue's priorities.
func TestNextNoStarvation(t *testing.T) {
	for _, tt := range []struct {
		name      string
		priority  int // of the busy queue's new runs
		quietCall int // the call that dispatches the quiet queue's run
	}{
		{"steady work", 0, 5},   // after the five busy runs enqueued before it
		{"urgent work", 100, 0}, // the urgent run is the busy queue's next and younger
	} {
		t.Run(tt.name, func(t *testing.T) {
			var pending []dispatch.Queued
			seq := int64(0)
			add := func(queue string, prio int, at time.Time) {
				seq++
				pending = append(pending, dispatch.Queued{RunID: fmt.Sprintf("%s-%d", queue, seq), Queue: queue, Priority: prio, EnqueuedAt: at, Seq: seq})
			}
			for i := 0; i < 5; i++ {
				add("busy", 0, t0)
			}
			add("quiet", 0, t0.Add(time.Minute))
			now := t0.Add(time.Minute)
			for call := 0; call < 20; call++ {
				now = now.Add(time.Second)
				add("busy", tt.priority, now)
				got := dispatch.Next(pending, nil, now, 1)
				if len(got) != 1 {
					t.Fatalf("call %d: Next = %v", call, ids(got))
				}
				if got[0].Queue == "quiet" {
					if call != tt.quietCall {
						t.Errorf("quiet queue dispatched on call %d, want %d", call, tt.quietCall)
					}
					return
				}
				for i, p := range pending {
					if p.RunID == got[0].RunID {
						pending = append(pending[:i], pending[i+1:]...)
						break
					}
				}
			}
			t.Fatal("quiet queue starved")
		})
	}
}

// Property: whatever the input, Next respects the limit, caps, pauses and NotBefore, returns
// each run at most once, and keeps each queue's own order.
func TestNextProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{"a", "b", "c", "d"}
	for i := 0; i < 500; i++ {
		var queued []dispatch.Queued
		for j := range r.IntN(40) {
			x := q(fmt.Sprint("r", j), names[r.IntN(len(names))], r.IntN(5)-2, r.IntN(10), int64(r.IntN(100)))
			if r.IntN(4) == 0 {
				x.NotBefore = t0.Add(time.Duration(r.IntN(3)-1) * time.Second)
			}
			queued = append(queued, x)
		}
		queues := map[string]dispatch.QueueState{}
		for _, n := range names[:3] {
			queues[n] = dispatch.QueueState{MaxConcurrency: r.IntN(5), Running: r.IntN(4), Paused: r.IntN(5) == 0}
		}
		limit := r.IntN(20)
		got := dispatch.Next(queued, queues, t0, limit)
		if len(got) > limit {
			t.Fatalf("%d runs for limit %d", len(got), limit)
		}
		seen := map[string]bool{}
		per := map[string][]dispatch.Queued{}
		for _, x := range got {
			s := queues[x.Queue]
			if seen[x.RunID] || s.Paused || x.NotBefore.After(t0) {
				t.Fatalf("dispatched %+v (queue %+v, seen %v)", x, s, seen[x.RunID])
			}
			seen[x.RunID] = true
			per[x.Queue] = append(per[x.Queue], x)
		}
		for name, runs := range per {
			if s := queues[name]; s.MaxConcurrency > 0 && len(runs) > s.MaxConcurrency-s.Running {
				t.Fatalf("queue %s %+v got %d runs", name, s, len(runs))
			}
			for k := 1; k < len(runs); k++ {
				a, b := runs[k-1], runs[k]
				if a.Priority < b.Priority || a.Priority == b.Priority && b.EnqueuedAt.Before(a.EnqueuedAt) {
					t.Fatalf("queue %s out of order: %+v before %+v", name, a, b)
				}
			}
		}
		// Work-conserving: if fewer than limit were dispatched, nothing else was eligible.
		if len(got) < limit {
			eligible := 0
			count := map[string]int{}
			for _, x := range queued {
				if !x.NotBefore.After(t0) && !queues[x.Queue].Paused {
					count[x.Queue]++
				}
			}
			for name, n := range count {
				if s := queues[name]; s.MaxConcurrency > 0 {
					n = min(n, max(s.MaxConcurrency-s.Running, 0))
				}
				eligible += n
			}
			if len(got) != eligible {
				t.Fatalf("dispatched %d of %d eligible runs with limit %d", len(got), eligible, limit)
			}
		}
	}
}

func TestQueuedValidate(t *testing.T) {
	tests := []struct {
		q    dispatch.Queued
		want []string
	}{
		{dispatch.Queued{RunID: "r", Queue: "default"}, nil},
		{dispatch.Queued{RunID: "r", Queue: "Batch_jobs-2", Priority: dispatch.MaxPriority}, nil},
		{dispatch.Queued{RunID: "r", Queue: strings.Repeat("q", dispatch.MaxQueueNameLen), Priority: dispatch.MinPriority}, nil},
		{dispatch.Queued{}, []string{"runId", "queue"}},
		{dispatch.Queued{RunID: "r", Queue: strings.Repeat("q", dispatch.MaxQueueNameLen+1)}, []string{"queue"}},
		{dispatch.Queued{RunID: "r", Queue: "with space"}, []string{"queue"}},
		{dispatch.Queued{RunID: "r", Queue: "a.b"}, []string{"queue"}},
		{dispatch.Queued{RunID: "r", Queue: "a/b"}, []string{"queue"}},
		{dispatch.Queued{RunID: "r", Queue: "é"}, []string{"queue"}},
		{dispatch.Queued{RunID: "r", Queue: "a", Priority: 101}, []string{"priority"}},
		{dispatch.Queued{RunID: "r", Queue: "a", Priority: -101}, []string{"priority"}},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range tt.q.Validate() {
			got = append(got, e.Path)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v: paths %q, want %q", tt.q, got, tt.want)
		}
	}
	if errs := (dispatch.QueueState{MaxConcurrency: -1, Running: -1}).Validate(); len(errs) != 2 {
		t.Errorf("QueueState.Validate = %v", errs)
	}
	if errs := (dispatch.QueueState{MaxConcurrency: 3, Running: 5, Paused: true}).Validate(); errs != nil {
		t.Errorf("QueueState.Validate = %v", errs)
	}
}

func FuzzValidQueueName(f *testing.F) {
	for _, s := range []string{"default", "", "a b", "é", strings.Repeat("x", 81)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok := dispatch.ValidQueueName(name)
		want := len(name) >= 1 && len(name) <= dispatch.MaxQueueNameLen && strings.Trim(name,
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
		if ok != want {
			t.Fatalf("ValidQueueName(%q) = %v, want %v", name, ok, want)
		}
		if errs := (dispatch.Queued{RunID: "r", Queue: name}).Validate(); (len(errs) == 0) != ok {
			t.Fatalf("Validate(%q) = %v, ValidQueueName = %v", name, errs, ok)
		}
	})
}
