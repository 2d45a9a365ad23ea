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

// TestCreateCoalesced races creates that the creators write together: shared idempotency
// keys make one run per key, shared IDs one run per ID (the others EConflict), a run
// PostgreSQL refuses fails alone (EInvalid) and the runs written with it stand.
func TestCreateCoalesced(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	defer s.Close()

	const n = 96
	type outcome struct {
		run     *hashike.Run
		created bool
		err     error
	}
	runs := make([]*hashike.Run, n)
	for i := range runs {
		r := newRun(fmt.Sprintf("01jc%022d", i))
		r.State, r.Queue, r.Job = hashike.StateQueued, "q", "job"
		switch {
		case i < 32: // 8 keys, 4 runs each
			r.IdempotencyKey = fmt.Sprintf("key-%d", i%8)
		case i < 48: // 8 IDs, 2 runs each
			r.ID = fmt.Sprintf("01jc%022d", 32+i%8)
		case i == 48:
			r.Family = "bad\x00family"
		}
		runs[i] = r
	}
	out := make([]outcome, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i, r := range runs {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			got, created, err := s.CreateRun(ctx, r)
			out[i] = outcome{got, created, err}
		}()
	}
	start.Done()
	done.Wait()

	byKey := map[string][]outcome{}
	byID := map[string][]outcome{}
	queued := 0
	for i, o := range out {
		r := runs[i]
		switch {
		case i == 48:
			if hashike.ErrorCodeOf(o.err) != hashike.EInvalid {
				t.Errorf("a run with a NUL in its family: %v, want EInvalid", o.err)
			}
			if _, err := s.GetRun(ctx, r.ID); hashike.ErrorCodeOf(err) != hashike.ENotFound {
				t.Errorf("the refused run was stored: %v", err)
			}
			continue
		case r.IdempotencyKey != "":
			byKey[r.IdempotencyKey] = append(byKey[r.IdempotencyKey], o)
		case i >= 32 && i < 48:
			byID[r.ID] = append(byID[r.ID], o)
		default:
			if o.err != nil || !o.created || o.run.ID != r.ID || len(o.run.History) != 1 || o.run.State != hashike.StateQueued {
				t.Errorf("run %d: %+v, %v, %v", i, o.run, o.created, o.err)
			}
		}
		if o.created {
			queued++
		}
	}
	for key, os := range byKey {
		created, ids := 0, map[string]bool{}
		for _, o := range os {
			if o.err != nil {
				t.Fatalf("key %s: %v", key, o.err)
			}
			if o.created {
				created++
			}
			ids[o.run.ID] = true
		}
		if created != 1 || len(ids) != 1 {
			t.Errorf("key %s: %d created, runs %v; want one run, created once", key, created, ids)
		}
	}
	for id, os := range byID {
		created, conflicts := 0, 0
		for _, o := range os {
			switch {
			case o.err == nil && o.created:
				created++
			case hashike.ErrorCodeOf(o.err) == hashike.EConflict:
				conflicts++
			default:
				t.Errorf("ID %s: %+v", id, o)
			}
		}
		if created != 1 || conflicts != 1 {
			t.Errorf("ID %s: %d created, %d conflicts; want 1 and 1", id, created, conflicts)
		}
	}
	var items int
	if err := connect(t, dsn).QueryRow(ctx, `SELECT count(*) FROM queue_items`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if items != queued {
		t.Errorf("%d queue items for %d queued runs created", items, queued)
	}
	claimed, err := s.ClaimRuns(ctx, t0.Add(time.Hour), n, hashike.Owner{Host: "h"})
	if err != nil || len(claimed) != queued {
		t.Fatalf("claimed %d of %d queued runs: %v", len(claimed), queued, err)
	}
}

// TestCloseDuringCreates closes a Store while creates are in flight: each returns, created
// or EUnavailable, and Close does not wait for callers.
func TestCloseDuringCreates(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.DSN(t))
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	started := make(chan struct{}, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, _, err := s.CreateRun(ctx, newRun(fmt.Sprintf("01jz%02d%020d", w, i)))
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 16 {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if hashike.ErrorCodeOf(err) != hashike.EUnavailable {
			t.Errorf("CreateRun during Close: %v, want EUnavailable", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
}
