package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashike/hashike"
)

// TestConcurrentWritesFailAlone: creates and updates racing from many goroutines share
// transactions (group commit), yet each succeeds or fails as it would alone: refused updates
// and repeated idempotency keys leave the other writes of their batch in place.
func TestConcurrentWritesFailAlone(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "hashike.db"))
	defer s.Close()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	ids := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("01jd%022d", i)
			r := newRun(id)
			r.IdempotencyKey = fmt.Sprintf("key-%d", i%(n/2)) // every key twice
			got, created, err := s.CreateRun(ctx, r)
			if err != nil {
				errs <- err
				return
			}
			if !created {
				return
			}
			ids <- got.ID
			// Illegal (pending -> pending): refused, and nothing of it stays.
			if _, err := s.UpdateRun(ctx, id, hashike.RunUpdate{At: t0, State: hashike.StatePending}); hashike.ErrorCodeOf(err) != hashike.EConflict {
				errs <- fmt.Errorf("illegal update of %s: %v", id, err)
			}
			if _, err := s.UpdateRun(ctx, id, hashike.RunUpdate{At: t0, State: hashike.StateRunning, Reason: "started"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	created := 0
	for id := range ids {
		created++
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != hashike.StateRunning || len(r.History) != 2 {
			t.Errorf("run %s: %s with %d transitions, want running with 2", id, r.State, len(r.History))
		}
	}
	if created != n/2 {
		t.Errorf("%d runs created for %d keys", created, n/2)
	}
	if runs, err := s.ListRuns(ctx, hashike.RunFilter{}); err != nil || len(runs) != n/2 {
		t.Errorf("%d runs stored (%v), want %d", len(runs), err, n/2)
	}
}
