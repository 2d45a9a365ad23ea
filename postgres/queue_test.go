package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/postgres"
)

// TestClaimTwoReplicas has two Stores (two pools, as two server replicas) dispatch 300 runs
// of 3 capped queues with 4 claimers, while the runs are still being enqueued and a third
// party cancels queued runs: every run is either claimed exactly once or canceled, never
// both; no queue ever has more active runs than its cap; and at the end no queue item is
// left behind. Claims, enqueues and cancels lock runs and queue items in one order (runs
// first), so none of them may fail with a deadlock.
//
// The cap check is exact, as in storetest: claims run concurrently under gate's read lock
// and runs end only under its write lock, so while claims are in flight a queue's active
// count only grows, and every claim adds its runs to the count before any run can end.
func TestClaimTwoReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn+" pool_max_conns=3"), open(t, dsn+" pool_max_conns=3")
	defer a.Close()
	defer b.Close()
	stores := []*postgres.Store{a, b}

	const perQueue, claimers, batch = 100, 4, 5
	caps := map[string]int{"x": 2, "y": 3, "z": 7}
	names := []string{"x", "y", "z"}
	for _, q := range names {
		if err := a.PutQueue(ctx, hashike.QueueConfig{Name: q, MaxConcurrency: caps[q]}); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Hour)
	total := perQueue * len(names)
	id := func(i int) string { return fmt.Sprintf("01jq%022d", i) }

	var (
		gate      sync.RWMutex
		mu        sync.Mutex
		claimedBy = map[string]int{}
		canceled  = map[string]bool{}
		active    = map[string]int{}
		problems  []string
		created   atomic.Int64 // runs enqueued so far
		settled   atomic.Int64 // runs claimed or canceled
		failed    atomic.Bool
		wg        sync.WaitGroup
	)
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
		failed.Store(true)
	}

	// The enqueuer, alternating between the replicas, in a random queue order.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range total {
			r := newRun(id(i))
			r.CreatedAt = t0.Add(time.Duration(i) * time.Millisecond)
			// Each run goes ahead of those before it in its queue: a claim that raced another
			// without the lock would take a slot the other's picks fill.
			r.State, r.Queue, r.Priority = hashike.StateQueued, names[rng.IntN(len(names))], -100+200*i/total
			r.Job, r.JobVersion, r.Attempt, r.RootID = "job", 1, 1, r.ID
			if _, _, err := stores[i%2].CreateRun(ctx, r); err != nil {
				report("enqueue %s: %v", r.ID, err)
				return
			}
			created.Add(1)
		}
	}()

	// The canceller: cancels runs still queued, which the owner precondition (no owner)
	// tells from claimed runs.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; i < total && !failed.Load(); i += 1 + rng.IntN(6) {
			for created.Load() <= int64(i) {
				if failed.Load() {
					return
				}
				runtime.Gosched()
			}
			_, err := stores[i%2].UpdateRun(ctx, id(i), hashike.RunUpdate{At: now, State: hashike.StateCanceled,
				Reason: "canceled", StopCause: hashike.StopUser, IfOwner: &hashike.OwnerMatch{}})
			switch {
			case err == nil:
				mu.Lock()
				if _, ok := claimedBy[id(i)]; ok {
					problems = append(problems, fmt.Sprintf("run %s canceled after replica %d claimed it", id(i), claimedBy[id(i)]))
					failed.Store(true)
				}
				canceled[id(i)] = true
				mu.Unlock()
				settled.Add(1)
			case hashike.ErrorCodeOf(err) != hashike.EConflict:
				report("cancel %s: %v", id(i), err)
			}
		}
	}()

	for w := range claimers {
		s := stores[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := hashike.Owner{Host: fmt.Sprintf("replica-%d", w), PID: w, Start: "s"}
			var held []*hashike.Run
			for iter := 0; !failed.Load(); iter++ {
				if settled.Load() == int64(total) && len(held) == 0 {
					return
				}
				if iter > 200000 {
					report("claimer %d: no progress after %d iterations", w, iter)
					return
				}
				gate.RLock()
				got, err := s.ClaimRuns(ctx, now, batch, owner)
				if err == nil {
					mu.Lock()
					for _, r := range got {
						if prev, ok := claimedBy[r.ID]; ok {
							problems = append(problems, fmt.Sprintf("run %s claimed by %d and again by %d", r.ID, prev, w))
							failed.Store(true)
						}
						if canceled[r.ID] {
							problems = append(problems, fmt.Sprintf("run %s claimed by %d after it was canceled", r.ID, w))
							failed.Store(true)
						}
						claimedBy[r.ID] = w
						if active[r.Queue]++; active[r.Queue] > caps[r.Queue] {
							problems = append(problems, fmt.Sprintf("queue %s has %d active runs, cap %d", r.Queue, active[r.Queue], caps[r.Queue]))
							failed.Store(true)
						}
					}
					mu.Unlock()
					settled.Add(int64(len(got)))
				}
				gate.RUnlock()
				if err != nil {
					report("claimer %d: ClaimRuns: %v", w, err)
					return
				}
				held = append(held, got...)
				k := (len(held) + 1) / 2
				if len(got) == 0 {
					k = len(held)
				}
				if k > 0 {
					gate.Lock()
					for _, r := range held[:k] {
						if _, err := s.UpdateRun(ctx, r.ID, hashike.RunUpdate{At: now, State: hashike.StateSucceeded,
							IfOwner: &hashike.OwnerMatch{Owner: &owner}}); err != nil {
							report("claimer %d: end %s: %v", w, r.ID, err)
							break
						}
						mu.Lock()
						active[r.Queue]--
						mu.Unlock()
					}
					gate.Unlock()
					held = held[k:]
				}
				if len(got) == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(claimedBy)+len(canceled) != total || len(canceled) == 0 || len(claimedBy) == 0 {
		t.Fatalf("%d runs claimed and %d canceled of %d", len(claimedBy), len(canceled), total)
	}
	for i := range total {
		r, err := b.GetRun(ctx, id(i))
		if err != nil {
			t.Fatal(err)
		}
		want := hashike.StateSucceeded
		if canceled[r.ID] {
			want = hashike.StateCanceled
		}
		if r.State != want {
			t.Errorf("run %s is %s, want %s", r.ID, r.State, want)
		}
	}
	var items int
	if err := connect(t, dsn).QueryRow(ctx, `SELECT count(*) FROM queue_items`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if items != 0 {
		t.Errorf("%d queue items left behind", items)
	}
	t.Logf("%d runs claimed, %d canceled", len(claimedBy), len(canceled))
}
