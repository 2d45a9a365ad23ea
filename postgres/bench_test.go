package postgres_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/postgres"
	"github.com/hashike/hashike/storetest"
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
	queues := []string{"default", "reports", "mail", "nightly"}
	now := t0.Add(time.Hour)
	elapsed, claims := storetest.EnqueueClaim(b, s, n, 8, 100, func() time.Time { return now }, func(i int) (*hashike.Run, error) {
		r := newRun(fmt.Sprintf("01jb%022d", i))
		r.CreatedAt = t0.Add(time.Duration(i))
		r.State, r.Queue, r.Job, r.JobVersion = hashike.StateQueued, queues[i%len(queues)], "bench", 1
		r.Attempt, r.RootID, r.Trigger = 1, r.ID, "api"
		return r, nil
	})
	return float64(n) / elapsed.Seconds(), float64(n) / float64(claims)
}

// BenchmarkSaveWebhookDelivery is the durable write of a GitHub webhook request on
// PostgreSQL, one delivery after another (each its own transaction), reporting the p99 in
// p99-ms. pgtest's cluster runs without fsync: the figure is the store's and the database's
// cost, not a disk's.
//
//	go test -run '^$' -bench BenchmarkSaveWebhookDelivery -benchtime 5000x ./postgres/
func BenchmarkSaveWebhookDelivery(b *testing.B) {
	s := open(b, pgtest.DSN(b))
	defer s.Close()
	body := []byte(`{"action":"queued","workflow_job":{"id":42,"run_id":7,"labels":["self-hosted","linux","x64","medium"]}}`)
	ctx := b.Context()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		created, err := s.SaveWebhookDelivery(ctx, hashike.WebhookDelivery{ID: fmt.Sprintf("bench-%d", i), Event: "workflow_job",
			Body: body, ReceivedAt: t0.Add(time.Duration(i))})
		lat = append(lat, time.Since(start))
		if err != nil || !created {
			b.Fatal(created, err)
		}
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
}
