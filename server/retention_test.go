package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/job"
)

// flakyPruning is the store's Pruning role during an outage while down is set.
type flakyPruning struct {
	hashike.Pruning
	down atomic.Bool
}

func (f *flakyPruning) ExpiredLogs(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	if f.down.Load() {
		return nil, &hashike.Error{Code: hashike.EUnavailable, Message: "database unreachable"}
	}
	return f.Pruning.ExpiredLogs(ctx, q)
}

func (f *flakyPruning) ExpiredRuns(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	if f.down.Load() {
		return nil, &hashike.Error{Code: hashike.EUnavailable, Message: "database unreachable"}
	}
	return f.Pruning.ExpiredRuns(ctx, q)
}

// TestLeaderPrunesAfterOutage: the leader's pruner deletes a job's runs past the job's own
// retention and the logs of others past the server's; while the database is unreachable its
// passes fail, are logged and retried, and once it is back the runs due go.
func TestLeaderPrunesAfterOutage(t *testing.T) {
	clk := newTestClock(time.Now())
	flaky := &flakyPruning{}
	flaky.down.Store(true)
	var logs syncBuf
	week := hashike.Duration(7 * 24 * time.Hour)
	e := newEnv(t, opts{clock: clk, retention: &hashike.Retention{Logs: &week}, logger: testLogger(&logs),
		pruneStore: func(p hashike.Pruning) hashike.Pruning { flaky.Pruning = p; return flaky }})
	day := hashike.Duration(24 * time.Hour)
	e.register("short", definition(func(d *job.Definition) { d.Retention.Runs = &day }))
	e.register("plain", definition(nil))
	short := e.settled(e.enqueue("short", api.EnqueueRequest{}).ID)[0]
	plain := e.settled(e.enqueue("plain", api.EnqueueRequest{}).ID)[0]
	if err := e.store.AppendLogs(context.Background(), plain.ID, []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout,
		Time: clk.Now(), Data: []byte("kept a week\n")}}); err != nil {
		t.Fatal(err)
	}

	clk.add(8 * 24 * time.Hour)
	e.eventually("a failed retention pass to be logged", func() bool {
		return strings.Contains(logs.String(), "retention pass failed")
	})
	if _, err := e.store.GetRun(context.Background(), short.ID); err != nil {
		t.Fatalf("run deleted during the outage: %v", err)
	}
	flaky.down.Store(false)
	e.eventually("the short job's run to be deleted", func() bool {
		_, err := e.store.GetRun(context.Background(), short.ID)
		return hashike.ErrorCodeOf(err) == hashike.ENotFound
	})
	e.eventually("the plain job's logs to be deleted", func() bool {
		n := 0
		_, err := e.store.ReadLogs(context.Background(), plain.ID, 0, func(hashike.LogEntry) error { n++; return nil })
		return err == nil && n == 0
	})
	if r := e.get(plain.ID); r.State != hashike.StateSucceeded {
		t.Fatalf("the plain job's run after pruning: %s", r.State)
	}
	// A dry run through the server reports nothing left to delete.
	rep, err := e.s.Prune(context.Background(), api.PruneRequest{DryRun: true})
	if err != nil || !rep.DryRun || rep.Logs != 0 || rep.Runs != 0 {
		t.Fatalf("dry run after the pass = %+v, %v", rep, err)
	}
}
