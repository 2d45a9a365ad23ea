package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// The Backlog role of a ServerStore: the queues, active runs and outbox as metrics read them.

func readBacklog(t *testing.T, s hashike.ServerStore, now time.Time) hashike.BacklogStats {
	t.Helper()
	b, err := s.ReadBacklog(context.Background(), now)
	if err != nil {
		t.Fatalf("ReadBacklog: %v", err)
	}
	return b
}

// sameInstant compares optional times to the microsecond, what every store keeps of them
// here.
func sameInstant(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func wantQueueBacklog(t *testing.T, got hashike.BacklogStats, want hashike.QueueBacklog) {
	t.Helper()
	for _, q := range got.Queues {
		if q.Queue != want.Queue {
			continue
		}
		if len(q.Active) == 0 {
			q.Active = nil
		}
		gotOld, wantOld := q.OldestDue, want.OldestDue
		q.OldestDue, want.OldestDue = nil, nil
		if !reflect.DeepEqual(q, want) || !sameInstant(gotOld, wantOld) {
			t.Errorf("queue %s: got %+v (oldest due %v), want %+v (oldest due %v)", want.Queue, q, gotOld, want, wantOld)
		}
		return
	}
	t.Errorf("queue %s is not in the backlog %+v", want.Queue, got.Queues)
}

func testBacklog(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	now := t0.Add(5 * time.Minute)
	if b := readBacklog(t, s, now); len(b.Queues) != 0 || b.Outbox != 0 || b.OutboxOldest != nil {
		t.Fatalf("the backlog of an empty store: %+v", b)
	}

	if err := s.PutQueue(ctx, hashike.QueueConfig{Name: "idle", Paused: true}); err != nil {
		t.Fatal(err)
	}
	// Queue a: two due runs and one delayed past now.
	create(t, s, queuedRun(sid("a", 1), "a", 0, t0))
	create(t, s, queuedRun(sid("a", 2), "a", 5, t0.Add(time.Second)))
	later := queuedRun(sid("a", 3), "a", 0, t0.Add(2*time.Second))
	nb := t0.Add(10 * time.Minute)
	later.NotBefore = &nb
	create(t, s, later)
	// Queue b: a run enqueued long ago that became due at its not-before time, and two
	// active runs.
	old := queuedRun(sid("b", 1), "b", 0, t0.Add(-time.Hour))
	due := t0.Add(time.Minute)
	old.NotBefore = &due
	create(t, s, old)
	for i, st := range []hashike.RunState{hashike.StatePending, hashike.StateRunning} {
		r := create(t, s, queuedRun(sid("b", 10+i), "b", 0, t0))
		if _, err := s.UpdateRun(ctx, r.ID, hashike.RunUpdate{At: t0, State: hashike.StatePending}); err != nil {
			t.Fatal(err)
		}
		if st == hashike.StateRunning {
			if _, err := s.UpdateRun(ctx, r.ID, hashike.RunUpdate{At: t0, State: hashike.StateRunning}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Queue c: ended runs only, which are history, not backlog.
	ended := create(t, s, queuedRun(sid("c", 1), "c", 0, t0))
	for _, st := range []hashike.RunState{hashike.StatePending, hashike.StateSucceeded} {
		if _, err := s.UpdateRun(ctx, ended.ID, hashike.RunUpdate{At: t0, State: st}); err != nil {
			t.Fatal(err)
		}
	}

	hook := func(id, run string, created time.Time) hashike.Delivery {
		return hashike.Delivery{ID: id, RunID: run, Event: "failure", Kind: "webhook", URL: "https://hooks.example.com/" + id,
			Body: json.RawMessage(`{}`), CreatedAt: created, NextAt: created}
	}
	if err := s.AddDeliveries(ctx, []hashike.Delivery{
		hook("d1", ended.ID, t0.Add(time.Second)), hook("d2", ended.ID, t0.Add(2*time.Second)), hook("d3", ended.ID, t0.Add(3*time.Second)),
	}); err != nil {
		t.Fatal(err)
	}
	delivered := t0.Add(time.Minute)
	if err := s.UpdateDelivery(ctx, hashike.Delivery{ID: "d1", Attempts: 1, NextAt: delivered, DeliveredAt: &delivered}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateDelivery(ctx, hashike.Delivery{ID: "d3", Attempts: 5, NextAt: delivered, Failed: true}); err != nil {
		t.Fatal(err)
	}

	b := readBacklog(t, s, now)
	var names []string
	for _, q := range b.Queues {
		names = append(names, q.Queue)
	}
	if want := []string{"a", "b", "idle"}; !reflect.DeepEqual(names, want) {
		t.Errorf("queues in the backlog: %v, want %v", names, want)
	}
	t0a := t0
	wantQueueBacklog(t, b, hashike.QueueBacklog{Queue: "a", Queued: 3, Due: 2, OldestDue: &t0a})
	wantQueueBacklog(t, b, hashike.QueueBacklog{Queue: "b", Queued: 1, Due: 1, OldestDue: &due,
		Active: map[hashike.RunState]int{hashike.StatePending: 1, hashike.StateRunning: 1}})
	wantQueueBacklog(t, b, hashike.QueueBacklog{Queue: "idle", Paused: true})
	d2 := t0.Add(2 * time.Second)
	if b.Outbox != 1 || !sameInstant(b.OutboxOldest, &d2) {
		t.Errorf("outbox: %d, oldest %v; want 1 (d2), oldest %v", b.Outbox, b.OutboxOldest, d2)
	}

	// Once the delayed run's time has come it is due; the queue's oldest is unchanged.
	b = readBacklog(t, s, nb)
	wantQueueBacklog(t, b, hashike.QueueBacklog{Queue: "a", Queued: 3, Due: 3, OldestDue: &t0a})
	// Before b's not-before time nothing of b is due.
	b = readBacklog(t, s, t0)
	wantQueueBacklog(t, b, hashike.QueueBacklog{Queue: "b", Queued: 1, Due: 0,
		Active: map[hashike.RunState]int{hashike.StatePending: 1, hashike.StateRunning: 1}})
}
