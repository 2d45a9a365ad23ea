package runners_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runners"
)

// scaleSetAPI is an in-memory runners.ScaleSets with one session whose messages the test
// sends.
type scaleSetAPI struct {
	mu       sync.Mutex
	stats    *runners.ScaleSetStats // given when a session opens
	msgs     chan runners.ScaleSetMessage
	acquired []int64
	acks     []int
	taken    bool // another listener holds the session
	opened   int
}

func (a *scaleSetAPI) EnsureScaleSet(context.Context, *runners.Pool) (int, error) { return 7, nil }

func (a *scaleSetAPI) Listen(context.Context, *runners.Pool, int, string) (runners.Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.taken {
		return nil, fmt.Errorf("open session: %w", runners.ErrSessionTaken)
	}
	a.opened++
	return &fakeSession{a: a}, nil
}

func (a *scaleSetAPI) GenerateScaleSetJIT(_ context.Context, _ *runners.Pool, id int, name string) (runners.JIT, error) {
	return runners.JIT{RunnerID: int64(id), Config: "jit-" + name}, nil
}

type fakeSession struct{ a *scaleSetAPI }

func (s *fakeSession) Stats() (runners.ScaleSetStats, bool) {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if s.a.stats == nil {
		return runners.ScaleSetStats{}, false
	}
	return *s.a.stats, true
}

func (s *fakeSession) Next(ctx context.Context, _ int) (runners.ScaleSetMessage, bool, error) {
	select {
	case m := <-s.a.msgs:
		return m, true, nil
	case <-ctx.Done():
		return runners.ScaleSetMessage{}, false, ctx.Err()
	}
}

func (s *fakeSession) Ack(_ context.Context, m runners.ScaleSetMessage) error {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.a.acks = append(s.a.acks, m.ID)
	return nil
}

func (s *fakeSession) Acquire(_ context.Context, ids []int64) ([]int64, error) {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.a.acquired = append(s.a.acquired, ids...)
	return ids, nil
}

func (s *fakeSession) Close(context.Context) error { return nil }

type sysClock struct{}

func (sysClock) Now() time.Time                         { return time.Now() }
func (sysClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

var _ hashike.Clock = sysClock{}

func queuedIDs(t *testing.T, d *runners.ScaleSetDemand) []int64 {
	t.Helper()
	js, err := d.QueuedJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, j := range js {
		if runners.LabelKey(j.Labels) != "linux,medium,self-hosted" {
			t.Errorf("job %d labels %v: want the medium pool's", j.ID, j.Labels)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// The listener's demand: GitHub's statistics count the jobs assigned to the scale set and
// not running, including some assigned before this listener took over (counted, with IDs of
// their own); available jobs are acquired and counted at once; every message is
// acknowledged; a session held elsewhere is retried.
func TestScaleSetDemandFollowsStatistics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, err := runners.Compile([]runners.Pool{{Name: "medium", Labels: []string{"self-hosted", "linux", "medium"}, Job: "runner-medium",
			Max: 6, Scope: org}}, runners.ArchAMD64)
		if err != nil {
			t.Fatal(err)
		}
		api := &scaleSetAPI{stats: &runners.ScaleSetStats{Assigned: 2}, msgs: make(chan runners.ScaleSetMessage), taken: true}
		d := &runners.ScaleSetDemand{Plan: p, API: api, Clock: sysClock{}, Owner: "a", Backoff: time.Second}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = d.Run(ctx) }()
		synctest.Wait()
		if q := queuedIDs(t, d); len(q) != 0 {
			t.Fatalf("demand %v without a session", q)
		}
		if st := d.Status()[0]; st.Session || !errors.Is(st.Err, runners.ErrSessionTaken) {
			t.Fatalf("status %+v, want the session refused as taken", st)
		}
		api.mu.Lock()
		api.taken = false // the other listener went away
		api.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		medium := d.Status()[0]
		if !medium.Session || medium.ScaleSetID != 7 {
			t.Fatalf("status %+v, want the session held", medium)
		}
		// Two jobs assigned before this listener: counted by the statistics alone.
		q := queuedIDs(t, d)
		if len(q) != 2 {
			t.Fatalf("demand %v, want the 2 jobs GitHub counts", q)
		}
		// Job 11 is offered: acquired and counted before GitHub's next statistics.
		api.msgs <- runners.ScaleSetMessage{ID: 1, Available: []runners.ScaleSetJob{{RequestID: 11}}}
		synctest.Wait()
		api.mu.Lock()
		acquired, acks := slices.Clone(api.acquired), slices.Clone(api.acks)
		api.mu.Unlock()
		if !slices.Equal(acquired, []int64{11}) || !slices.Equal(acks, []int{1}) {
			t.Fatalf("acquired %v, acked %v", acquired, acks)
		}
		if q := queuedIDs(t, d); len(q) != 3 || !slices.Contains(q, 11) {
			t.Fatalf("demand %v, want job 11 counted", q)
		}
		// GitHub's next statistics: 3 assigned, 2 of them running (job 11 and an old one).
		api.msgs <- runners.ScaleSetMessage{ID: 2, Stats: &runners.ScaleSetStats{Assigned: 3, Running: 2},
			Started: []runners.ScaleSetJob{{RequestID: 11}}}
		synctest.Wait()
		if q := queuedIDs(t, d); len(q) != 1 || slices.Contains(q, 11) {
			t.Fatalf("demand %v, want job 11 gone and 1 waiting", q)
		}
		jit, err := d.GenerateJITConfig(ctx, &p.Pools()[0], "hashike-medium-x")
		if err != nil || jit.RunnerID != 7 {
			t.Fatalf("jit %v, %v: want one of the scale set's runners", jit, err)
		}
		cancel()
		synctest.Wait()
	})
}
