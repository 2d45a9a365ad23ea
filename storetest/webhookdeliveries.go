package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// The WebhookDeliveries role of a ServerStore: GitHub's webhook deliveries, deduped by their
// X-GitHub-Delivery ID, claimed under a lease, acknowledged and pruned.

func saveWebhook(t *testing.T, s hashike.WebhookDeliveries, d hashike.WebhookDelivery) bool {
	t.Helper()
	created, err := s.SaveWebhookDelivery(context.Background(), d)
	if err != nil {
		t.Fatalf("SaveWebhookDelivery %s: %v", d.ID, err)
	}
	return created
}

func claimWebhooks(t *testing.T, s hashike.WebhookDeliveries, now time.Time, limit int, lease time.Duration) []hashike.WebhookDelivery {
	t.Helper()
	ds, err := s.ClaimWebhookDeliveries(context.Background(), now, limit, lease)
	if err != nil {
		t.Fatalf("ClaimWebhookDeliveries: %v", err)
	}
	return ds
}

func webhookIDs(ds []hashike.WebhookDelivery) []string {
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func wantWebhookIDs(t *testing.T, what string, got []hashike.WebhookDelivery, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if g := webhookIDs(got); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("%s: got deliveries %v, want %v", what, g, want)
	}
}

// testWebhookSaveDedupe: a delivery is stored byte for byte once; its redelivery (same ID,
// even with another body) changes nothing.
func testWebhookSaveDedupe(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)
	body := []byte("{\"action\":\"queued\",\"x\":\"\\u00e9\x00\xff\"}")
	if !saveWebhook(t, s, hashike.WebhookDelivery{ID: "d-1", Event: "workflow_job", Body: body, ReceivedAt: t0,
		Attempts: 7, AckedAt: &t0}) {
		t.Fatal("first save: created=false")
	}
	if saveWebhook(t, s, hashike.WebhookDelivery{ID: "d-1", Event: "workflow_job", Body: []byte("{}"), ReceivedAt: t0.Add(time.Hour)}) {
		t.Fatal("second save of d-1: created=true, want false (a redelivery)")
	}
	got := claimWebhooks(t, s, t0, 10, time.Minute)
	wantWebhookIDs(t, "claim", got, "d-1")
	d := got[0]
	if !bytes.Equal(d.Body, body) || d.Event != "workflow_job" || !d.ReceivedAt.Equal(t0) {
		t.Errorf("claimed %q %q at %s; want the first save's body %q, workflow_job, %s", d.Body, d.Event, d.ReceivedAt, body, t0)
	}
	if d.Attempts != 1 || d.AckedAt != nil {
		t.Errorf("claimed: attempts %d, acked %v; want 1 and nil (save ignores both)", d.Attempts, d.AckedAt)
	}
	for _, bad := range []hashike.WebhookDelivery{{Event: "workflow_job", ReceivedAt: t0}, {ID: "d-2", ReceivedAt: t0}} {
		if _, err := s.SaveWebhookDelivery(ctx, bad); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("save %+v: %v, want EInvalid", bad, err)
		}
	}
}

// testWebhookClaimAck: claims go oldest first, a leased delivery is not claimed again until
// its lease ends (a consumer that died), an acknowledged one never.
func testWebhookClaimAck(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// Saved out of order; same instant for b and c: by ID.
	saveWebhook(t, s, hashike.WebhookDelivery{ID: "c", Event: "workflow_job", Body: []byte("{}"), ReceivedAt: t0.Add(time.Second)})
	saveWebhook(t, s, hashike.WebhookDelivery{ID: "a", Event: "workflow_job", Body: []byte("{}"), ReceivedAt: t0})
	saveWebhook(t, s, hashike.WebhookDelivery{ID: "b", Event: "workflow_job", Body: []byte("{}"), ReceivedAt: t0.Add(time.Second)})

	now := t0.Add(time.Minute)
	lease := 30 * time.Second
	wantWebhookIDs(t, "first claim, limit 2", claimWebhooks(t, s, now, 2, lease), "a", "b")
	wantWebhookIDs(t, "second claim", claimWebhooks(t, s, now, 10, lease), "c")
	wantWebhookIDs(t, "while leased", claimWebhooks(t, s, now.Add(lease-time.Nanosecond), 10, lease))
	if ds := claimWebhooks(t, s, now, 0, lease); len(ds) != 0 {
		t.Errorf("limit 0 claimed %v", webhookIDs(ds))
	}

	ackAt := now.Add(time.Second)
	if err := s.AckWebhookDelivery(ctx, "a", ackAt); err != nil {
		t.Fatalf("ack a: %v", err)
	}
	if err := s.AckWebhookDelivery(ctx, "a", ackAt.Add(time.Hour)); err != nil {
		t.Fatalf("ack a again: %v", err)
	}
	if err := s.AckWebhookDelivery(ctx, "nope", ackAt); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Errorf("ack of an unknown delivery: %v, want ENotFound", err)
	}
	// The lease is over: b and c come back (their consumer died), a does not.
	again := claimWebhooks(t, s, now.Add(lease), 10, lease)
	wantWebhookIDs(t, "after the lease", again, "b", "c")
	for _, d := range again {
		if d.Attempts != 2 {
			t.Errorf("%s: attempts %d, want 2", d.ID, d.Attempts)
		}
	}
	if err := s.AckWebhookDelivery(ctx, "b", ackAt); err != nil {
		t.Fatal(err)
	}
	if err := s.AckWebhookDelivery(ctx, "c", ackAt); err != nil {
		t.Fatal(err)
	}
	wantWebhookIDs(t, "all acknowledged", claimWebhooks(t, s, now.Add(time.Hour), 10, lease))
	// A redelivery of an acknowledged delivery is still a duplicate.
	if saveWebhook(t, s, hashike.WebhookDelivery{ID: "a", Event: "workflow_job", Body: []byte("{}"), ReceivedAt: now}) {
		t.Error("save of acknowledged a: created=true, want false")
	}
}

// testWebhookPrune: pruning deletes what was received before the cutoff, acknowledged or
// not, and forgets those IDs.
func testWebhookPrune(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"old-acked", "old-waiting", "new"} {
		saveWebhook(t, s, hashike.WebhookDelivery{ID: id, Event: "workflow_job", Body: []byte("{}"),
			ReceivedAt: t0.Add(time.Duration(i) * time.Hour)})
	}
	if err := s.AckWebhookDelivery(ctx, "old-acked", t0); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneWebhookDeliveries(ctx, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("PruneWebhookDeliveries: %v", err)
	}
	if n != 2 {
		t.Errorf("pruned %d, want 2", n)
	}
	wantWebhookIDs(t, "after pruning", claimWebhooks(t, s, t0.Add(3*time.Hour), 10, time.Minute), "new")
	if !saveWebhook(t, s, hashike.WebhookDelivery{ID: "old-waiting", Event: "workflow_job", Body: []byte("{}"), ReceivedAt: t0.Add(3 * time.Hour)}) {
		t.Error("save of a pruned ID: created=false, want true")
	}
	if n, err := s.PruneWebhookDeliveries(ctx, t0); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v; want 0, nil", n, err)
	}
}

// testWebhookConcurrent: replicas saving the same deliveries at once create each once, and
// replicas claiming at once get each delivery once per lease.
func testWebhookConcurrent(t *testing.T, s hashike.ServerStore, reopen func() hashike.ServerStore) {
	const replicas, n = 4, 200
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	handles := []hashike.ServerStore{s}
	for range replicas - 1 {
		handles = append(handles, reopen())
	}
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[string]int{}
		errs    = make(chan error, replicas*2)
	)
	for r := range replicas {
		wg.Go(func() {
			for i := range n {
				d := hashike.WebhookDelivery{ID: fmt.Sprintf("d-%03d", i), Event: "workflow_job", Body: []byte("{}"),
					ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond)}
				ok, err := handles[r].SaveWebhookDelivery(ctx, d)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					mu.Lock()
					created[d.ID]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		if id := fmt.Sprintf("d-%03d", i); created[id] != 1 {
			t.Errorf("%s created %d times, want 1", id, created[id])
		}
	}
	claimed := map[string]int{}
	now := t0.Add(time.Minute)
	for r := range replicas {
		wg.Go(func() {
			for {
				ds, err := handles[r].ClaimWebhookDeliveries(ctx, now, 7, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					claimed[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != n {
		t.Errorf("%d deliveries claimed, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("%s claimed %d times in one lease, want 1", id, c)
		}
	}
}
