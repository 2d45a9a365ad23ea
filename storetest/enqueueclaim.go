package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// EnqueueClaim drives a store's queue at full tilt, as the server does: n queued runs, made
// by newRun (given 0 to n-1), are created one CreateRun each by producers goroutines while
// one claimer (the dispatcher's part) takes them with ClaimRuns, at most batch at a time at
// now(), until every run is claimed. It returns how long that took and how many claims it
// made. The queue benchmarks of bench/server and postgres time it; nothing is supervised,
// and the claimed runs stay pending.
func EnqueueClaim(t testing.TB, s hashike.ServerStore, n, producers, batch int, now func() time.Time,
	newRun func(i int) (*hashike.Run, error)) (elapsed time.Duration, claims int) {
	ctx := context.Background()
	owner := hashike.Owner{Host: "bench", PID: 1, Start: "0"}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		ready   = make(chan struct{}, 1) // a run was created since the claimer last looked
		created = make(chan struct{})    // every run was created
		errs    = make(chan error, producers)
	)
	start := time.Now()
	for range producers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				r, err := newRun(int(i))
				if err == nil {
					_, _, err = s.CreateRun(ctx, r)
				}
				if err != nil {
					errs <- err
					return
				}
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		})
	}
	go func() { wg.Wait(); close(created) }()

	claimed := 0
	for claimed < n {
		runs, err := s.ClaimRuns(ctx, now(), batch, owner)
		if err != nil {
			t.Fatal(err)
		}
		claimed += len(runs)
		claims++
		if len(runs) == batch {
			continue
		}
		// The queues are drained: wait for the next create, or for the last.
		select {
		case <-ready:
		case <-created:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	elapsed = time.Since(start)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if claimed != n {
		t.Fatalf("claimed %d runs, created %d", claimed, n)
	}
	return elapsed, claims
}
