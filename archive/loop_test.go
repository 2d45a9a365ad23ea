package archive_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
)

// TestLoop: the loop rolls a running run's output into segments, completes the archive once the
// run has ended, gets over an object store that failed, and stops with its context.
func TestLoop(t *testing.T) {
	f := newFixture(t)
	id := "01jd0000000000000000000001"
	f.createRun(t, id, "web")
	batches := output(60)
	all := appendAll(t, f.db, id, batches[:3])
	f.objects.failAt = 1 // the first write fails: an outage
	loop := &archive.Loop{Archiver: f.arch, Index: f.db, Runs: f.db, Clock: hashike.SystemClock{},
		Interval: 5 * time.Millisecond, RollEvery: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	await := func(what string, cond func(hashike.LogArchive) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			arc, err := f.db.LogArchive(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if cond(arc) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: archive %+v", what, arc)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	await("rolling segments of the running run", func(a hashike.LogArchive) bool { return a.Through > 0 && !a.Complete })
	all = append(all, appendAll(t, f.db, id, batches[3:])...)
	f.endRun(t, id)
	await("the ended run's archive complete", func(a hashike.LogArchive) bool { return a.Complete })
	f.dropDBLogs(t, id)
	got, _ := readAll(t, f.logs, id)
	sameEntries(t, "archived by the loop", all, got)

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not stop with its context")
	}
}
