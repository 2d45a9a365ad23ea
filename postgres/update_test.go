package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/pgtest"
)

// TestConcurrentUpdates: many UpdateRun calls at once, as a server's supervisions make them,
// share transactions (the rows they wrote have fewer distinct xmin than there were updates),
// and each caller gets what it would get alone: its run as updated, with the transition in
// its history; a refusal (EConflict) that leaves the run as it was; ENotFound; the updates of
// queued runs (which leave their queue) and two updates of one run both applied.
func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	defer s.Close()

	self := hashike.Owner{Host: "a", PID: 1, Start: "1"}
	other := hashike.Owner{Host: "b", PID: 2, Start: "2"}
	const started, refused, queued, twice, missing = 48, 8, 6, 4, 3
	id := func(kind string, i int) string { return fmt.Sprintf("01ju%s%020d", kind, i) }
	at := t0.Add(time.Minute)
	for i := range started + refused + twice {
		r := newRun(id("p", i))
		r.Owner = &self
		if _, _, err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range queued {
		r := newRun(id("q", i))
		r.State, r.Queue, r.Job, r.JobVersion, r.Attempt, r.RootID = hashike.StateQueued, "default", "job", 1, 1, id("q", i)
		if _, _, err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	type call struct {
		id   string
		u    hashike.RunUpdate
		want hashike.ErrorCode // "" for success
		run  *hashike.Run
		err  error
	}
	task := hashike.TaskRef{ID: "task"}
	var calls []*call
	for i := range started {
		calls = append(calls, &call{id: id("p", i), u: hashike.RunUpdate{At: at, State: hashike.StateRunning, Reason: "task started",
			Task: &task, StartedAt: &at, IfOwner: &hashike.OwnerMatch{Owner: &self}}})
	}
	for i := range refused {
		calls = append(calls, &call{id: id("p", started+i), want: hashike.EConflict,
			u: hashike.RunUpdate{At: at, State: hashike.StateRunning, IfOwner: &hashike.OwnerMatch{Owner: &other}}})
	}
	for i := range queued {
		calls = append(calls, &call{id: id("q", i), u: hashike.RunUpdate{At: at, State: hashike.StateCanceled, Reason: "canceled",
			FinishedAt: &at}})
	}
	for i := range twice {
		rid := id("p", started+refused+i)
		calls = append(calls, &call{id: rid, u: hashike.RunUpdate{At: at, State: hashike.StateRunning, Reason: "task started"}},
			&call{id: rid, u: hashike.RunUpdate{At: at, Task: &task}})
	}
	for i := range missing {
		calls = append(calls, &call{id: id("m", i), want: hashike.ENotFound, u: hashike.RunUpdate{At: at, Settled: true}})
	}

	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, c := range calls {
		wg.Go(func() {
			<-gate
			c.run, c.err = s.UpdateRun(ctx, c.id, c.u)
		})
	}
	close(gate)
	wg.Wait()

	for _, c := range calls {
		if c.want != "" {
			if code := hashike.ErrorCodeOf(c.err); code != c.want {
				t.Errorf("update %s: %v (%s), want %s", c.id, c.err, code, c.want)
			}
			continue
		}
		if c.err != nil {
			t.Errorf("update %s: %v", c.id, c.err)
			continue
		}
		if c.run.ID != c.id {
			t.Errorf("update %s returned run %s", c.id, c.run.ID)
		}
		if c.u.State != "" {
			last := c.run.History[len(c.run.History)-1]
			if c.run.State != c.u.State || last.To != c.u.State || !last.At.Equal(at) || last.Reason != c.u.Reason {
				t.Errorf("update %s: state %s, last transition %+v, want %s at %s", c.id, c.run.State, last, c.u.State, at)
			}
		}
	}
	for i := range refused {
		r, err := s.GetRun(ctx, id("p", started+i))
		if err != nil || r.State != hashike.StatePending || len(r.History) != 1 {
			t.Errorf("refused update changed run %s: %+v, %v", id("p", started+i), r, err)
		}
	}
	for i := range twice {
		r, err := s.GetRun(ctx, id("p", started+refused+i))
		if err != nil || r.State != hashike.StateRunning || r.Task == nil || len(r.History) != 2 {
			t.Errorf("two updates of run %s: %+v, %v; want both applied", id("p", started+refused+i), r, err)
		}
	}
	if claimed, err := s.ClaimRuns(ctx, at.Add(time.Hour), 100, self); err != nil || len(claimed) != 0 {
		t.Errorf("canceled queued runs are still queued: claimed %d, %v", len(claimed), err)
	}

	conn := connect(t, dsn)
	var updated, txs int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM runs WHERE id LIKE '01jup%' AND state = 'running'`).Scan(&updated, &txs); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs started by %d transactions", updated, txs)
	if updated != started+twice || txs >= started {
		t.Errorf("%d runs started by %d transactions: want %d runs, updates sharing transactions", updated, txs, started+twice)
	}
}
