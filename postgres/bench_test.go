package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/postgres"
)

// BenchmarkEnqueueClaim is the server's queue at full tilt on PostgreSQL: b.N queued runs
// are created by 8 goroutines (as API requests would) while one claimer (the dispatcher)
// claims them in batches of 100, until every run is claimed. runs/s counts runs enqueued
// and dispatched per second of wall time. The runs wait in 4 queues without caps (the
// claimed runs stay pending: a cap would stop the claims), so that each claim reads several
// queues and deals them round-robin.
//
//	go test -run '^$' -bench BenchmarkEnqueueClaim -benchtime 50000x -count 3 ./postgres/
//
// The database is pgtest's throw-away cluster, which runs without fsync and with
// synchronous_commit off: the figure is the store's and the database's CPU cost, not a
// disk's (bench/server's BenchmarkStoreEnqueueClaim is the same on a durable cluster).
//
// On the 2-core development VM (PostgreSQL 15, Go 1.26), 2026-11-21, with other work
// keeping its load average at 6 to 8: 2,580, 2,720 and 3,310 runs/s (80 to 99 runs per
// claim). Per run, the database's processes took about 290 µs of CPU and this process
// about 150 µs (the spec's JSON decoding, on create and on claim, is a third of that).
func BenchmarkEnqueueClaim(b *testing.B) {
	s := open(b, pgtest.DSN(b))
	defer s.Close()
	b.ResetTimer()
	perSec, perClaim := enqueueClaim(b, s, b.N)
	b.StopTimer()
	b.ReportMetric(perSec, "runs/s")
	b.ReportMetric(perClaim, "runs/claim")
}

// enqueueClaim creates n queued runs from 8 goroutines while claiming them in batches of
// 100, and returns the runs per second and the runs per claim.
func enqueueClaim(b testing.TB, s *postgres.Store, n int) (perSec, perClaim float64) {
	const creators, batch = 8, 100
	queues := []string{"default", "reports", "mail", "nightly"}
	ctx := context.Background()
	owner := hashike.Owner{Host: "bench", PID: 1, Start: "0"}
	now := t0.Add(time.Hour)

	var (
		next    atomic.Int64
		ready   = make(chan struct{}, 1) // a run was created since the claimer last looked
		created = make(chan struct{})    // every run was created
		wg      sync.WaitGroup
		errs    = make(chan error, creators+1)
	)
	start := time.Now()
	for range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				r := newRun(fmt.Sprintf("01jb%022d", i))
				r.CreatedAt = t0.Add(time.Duration(i))
				r.State, r.Queue, r.Job, r.JobVersion = hashike.StateQueued, queues[i%int64(len(queues))], "bench", 1
				r.Attempt, r.RootID, r.Trigger = 1, r.ID, "api"
				if _, _, err := s.CreateRun(ctx, r); err != nil {
					errs <- err
					return
				}
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		}()
	}
	go func() { wg.Wait(); close(created) }()

	claimed, claims := 0, 0
	for claimed < n {
		runs, err := s.ClaimRuns(ctx, now, batch, owner)
		if err != nil {
			b.Fatal(err)
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
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	if claimed != n {
		b.Fatalf("claimed %d runs, created %d", claimed, n)
	}
	return float64(n) / elapsed.Seconds(), float64(n) / float64(claims)
}
