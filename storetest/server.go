package storetest

// RunServer is the conformance suite for hashike.ServerStore. Beyond the port's documentation
// it pins down these choices, which every implementation makes the same way:
//
// Runs
//   - CreateRun stores every server field as given (Job, JobVersion, Queue, Priority,
//     NotBefore, Payload, Attempt, RootID, RetryOf, Trigger, ScheduledAt, Settled). Payload
//     comes back byte for byte (whitespace included: not re-encoded JSON); times to the
//     nanosecond. RootID and RetryOf are not checked against stored runs.
//   - A run created queued has the first transition {"" -> queued at CreatedAt}. A queued
//     run without a queue is EInvalid and nothing is written.
//   - A run is queued (ClaimRuns may pick it) exactly while its state is StateQueued: any
//     UpdateRun that moves it on (canceled) takes it out of its queue.
//   - dispatch.Queued is built from a queued run as {RunID: ID, Queue, Priority,
//     EnqueuedAt: CreatedAt, NotBefore (nil: zero), Seq: the store's insertion order}. Seq
//     only has to grow with the order of CreateRun calls (the suite's model uses 1, 2, ...).
//   - Active runs of a queue are the runs whose Queue is that queue in StatePending,
//     StateRunning or StateStopping, however they got there. MaxConcurrency caps them.
//   - ClaimRuns with limit <= 0 claims nothing and returns no error. A claimed run comes
//     back as GetRun would return it: StatePending, Owner = the claim's owner, History ending
//     with {queued -> pending, At: now, Reason: "dispatched"}.
//   - RunUpdate.Settled sets Settled on any run whatever its state; nothing unsets it.
//   - RunUpdate.NotBefore is decided against the stored state: EConflict, nothing written,
//     unless the run is queued. It moves Run.NotBefore (year 9999 included: the server holds
//     a fire back with 9999-01-01) and what ClaimRuns sees, and records no transition.
//   - RunFilter.Unsettled selects runs with a Job, in a terminal state, not Settled.
//     RunFilter.Before names any stored run, whether or not it matches the other filters
//     (one that names none, whatever its bytes, is ENotFound);
//     paging is by (CreatedAt, ID) descending, as ListRuns orders.
//
// Jobs
//   - PutJob refuses (EInvalid, nothing written) a name job.ValidName would refuse, an
//     empty digest, and a Definition that is empty or not JSON. It ignores def.Version. The
//     digest is compared with the latest version's only: going back to an older content
//     makes a new version. With created=false the stored latest version comes back (its
//     own CreatedAt and Source). Definition comes back as equal JSON (not byte for byte).
//   - GetJob of a version that does not exist (negative included) is ENotFound.
//
// Queues
//   - PutQueue refuses (EInvalid) a name dispatch.ValidQueueName refuses and a negative
//     MaxConcurrency. ListQueues lists a queue when it was put or it has queued or active
//     runs; a queue only seen through ended runs is not listed.
//
// Leases
//   - A lease is held while now < ExpiresAt: at ExpiresAt it is free. Renewing sets
//     ExpiresAt = now+ttl, even if that is earlier than before. A refused AcquireLease
//     returns the lease as it stands (the other holder's) and false.
//   - ReleaseLease by a holder that does not hold the lease (or of a lease never taken) is
//     a no-op without error. A released lease is gone: GetLease is ENotFound again.
//   - AcquireLease refuses (EInvalid) an empty name or holder and a ttl <= 0.
//
// Schedule ticks
//   - SetScheduleTick overwrites, even with an earlier tick.
//
// Tokens
//   - CreateToken refuses (EInvalid) an empty ID or Hash and an unknown scope. A revoked
//     token's hash still counts as existing (EConflict). ListTokens orders by (CreatedAt,
//     ID). Revoking again keeps the first RevokedAt.
//
// Deliveries
//   - AddDeliveries is atomic: a delivery for a run that does not exist makes it ENotFound
//     and none of the batch is written. A delivery whose ID exists is skipped, its stored
//     fields unchanged.
//   - ClaimDeliveries takes deliveries with no DeliveredAt, not Failed and NextAt <= now,
//     ordered by (NextAt, CreatedAt, ID) ("oldest first" is the longest due first), and
//     returns them with NextAt = now+lease as stored. limit <= 0 claims nothing.
//   - UpdateDelivery writes only Attempts, LastError, NextAt, DeliveredAt and Failed; the
//     other fields of its argument are ignored.
//   - ListDeliveries orders by (CreatedAt, ID); a run without deliveries (or unknown) gives
//     none without error. Body comes back as equal JSON.
//
// Backlog
//   - ReadBacklog lists ListQueues's queues. A queued run is due when its NotBefore is nil or
//     <= now; OldestDue is the earliest max(CreatedAt, NotBefore) of the due runs, to the
//     microsecond. Ended runs count nowhere. The outbox counts deliveries neither delivered
//     nor failed; OutboxOldest is their earliest CreatedAt, to the microsecond.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/dispatch"
)

// RunServer runs the ServerStore suite. open must return a new, empty store each time it is
// called; reopen must return a second, independent handle on the same database as s (another
// replica: for SQLite another Open of the same file). RunServer closes what both return when
// the subtest ends, reopened handles first.
func RunServer(t *testing.T, open func(t *testing.T) hashike.ServerStore, reopen func(t *testing.T, s hashike.ServerStore) hashike.ServerStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hashike.ServerStore, reopen func() hashike.ServerStore)
	}{
		{"ServerFieldsRoundTrip", testServerFieldsRoundTrip},
		{"CreateQueuedNeedsQueue", testCreateQueuedNeedsQueue},
		{"QueuedIdempotency", testQueuedIdempotency},
		{"QueuedCancel", testQueuedCancel},
		{"ClaimOrder", testClaimOrder},
		{"ClaimPausedQueue", testClaimPausedQueue},
		{"ClaimRoundRobin", testClaimRoundRobin},
		{"ClaimMaxConcurrency", testClaimMaxConcurrency},
		{"ClaimMatchesDispatchNext", testClaimMatchesDispatchNext},
		{"ClaimExactlyOnceConcurrent", testClaimExactlyOnceConcurrent},
		{"MoveNotBefore", testMoveNotBefore},
		{"ListRunsServerFilters", testListRunsServerFilters},
		{"ListRunsPaging", testListRunsPaging},
		{"Settled", testSettled},
		{"Jobs", testJobs},
		{"JobsConcurrent", testJobsConcurrent},
		{"Queues", testQueues},
		{"Leases", testLeases},
		{"LeaseRace", testLeaseRace},
		{"ScheduleTick", testScheduleTick},
		{"Tokens", testTokens},
		{"Deliveries", testDeliveries},
		{"WebhookDeliveriesSaveDedupe", testWebhookSaveDedupe},
		{"WebhookDeliveriesClaimAck", testWebhookClaimAck},
		{"WebhookDeliveriesPrune", testWebhookPrune},
		{"WebhookDeliveriesConcurrent", testWebhookConcurrent},
		{"Snapshots", testSnapshots},
		{"RunObjects", testRunObjects},
		{"Backlog", testBacklog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			var others []hashike.ServerStore
			var mu sync.Mutex
			t.Cleanup(func() {
				for _, o := range others {
					if err := o.Close(); err != nil {
						t.Errorf("Close of a reopened handle: %v", err)
					}
				}
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s, func() hashike.ServerStore {
				o := reopen(t, s)
				mu.Lock()
				others = append(others, o)
				mu.Unlock()
				return o
			})
		})
	}
}

func sid(prefix string, i int) string { return fmt.Sprintf("01js%s%0*d", prefix, 22-len(prefix), i) }

// queuedRun is a server run waiting in queue, enqueued at created.
func queuedRun(id, queue string, priority int, created time.Time) *hashike.Run {
	r := newRun(id, "nightly", created)
	r.State = hashike.StateQueued
	r.Job, r.JobVersion = "nightly", 1
	r.Queue, r.Priority = queue, priority
	r.Attempt, r.RootID, r.Trigger = 1, id, "api"
	return r
}

func claim(t *testing.T, s hashike.ServerStore, now time.Time, limit int, owner hashike.Owner) []*hashike.Run {
	t.Helper()
	runs, err := s.ClaimRuns(context.Background(), now, limit, owner)
	if err != nil {
		t.Fatalf("ClaimRuns(%s, %d): %v", now.Format(time.RFC3339Nano), limit, err)
	}
	return runs
}

func runIDs(runs []*hashike.Run) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func wantIDs(t *testing.T, what string, got []*hashike.Run, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if g := runIDs(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("%s: got %v, want %v", what, g, want)
	}
}

func listRuns(t *testing.T, s hashike.ServerStore, f hashike.RunFilter) []*hashike.Run {
	t.Helper()
	runs, err := s.ListRuns(context.Background(), f)
	if err != nil {
		t.Fatalf("ListRuns %+v: %v", f, err)
	}
	return runs
}

func queues(t *testing.T, s hashike.ServerStore) []hashike.QueueInfo {
	t.Helper()
	qs, err := s.ListQueues(context.Background())
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	return qs
}

func putQueue(t *testing.T, s hashike.ServerStore, q hashike.QueueConfig) {
	t.Helper()
	if err := s.PutQueue(context.Background(), q); err != nil {
		t.Fatalf("PutQueue %+v: %v", q, err)
	}
}

var replica = hashike.Owner{Host: "server-1", PID: 7, Start: "1732180000"}

// assertClaimed checks a run ClaimRuns returned (and the stored run) against what a claim
// must leave.
func assertClaimed(t *testing.T, s hashike.ServerStore, r *hashike.Run, now time.Time, owner hashike.Owner) {
	t.Helper()
	for what, got := range map[string]*hashike.Run{"ClaimRuns' result": r, "GetRun after ClaimRuns": get(t, s, r.ID)} {
		if got.State != hashike.StatePending {
			t.Errorf("%s: %s is %s, want %s", what, r.ID, got.State, hashike.StatePending)
		}
		if got.Owner == nil || *got.Owner != owner {
			t.Errorf("%s: %s has owner %+v, want %+v", what, r.ID, got.Owner, owner)
		}
		if len(got.History) == 0 {
			t.Errorf("%s: %s has no history", what, r.ID)
			continue
		}
		last := got.History[len(got.History)-1]
		if last.From != hashike.StateQueued || last.To != hashike.StatePending || !last.At.Equal(now) || last.Reason != "dispatched" {
			t.Errorf("%s: %s's last transition is %+v, want queued -> pending at %s, \"dispatched\"", what, r.ID, last, now)
		}
	}
}

func testServerFieldsRoundTrip(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	notBefore := t0.Add(90*time.Second + 7)
	scheduled := t0.Add(-time.Minute + 1).In(time.UTC)
	in := newRun(sid("a", 1), "nightly", t0)
	in.State = hashike.StateQueued
	in.IdempotencyKey = "enqueue-1"
	in.Job, in.JobVersion = "nightly", 7
	in.Queue, in.Priority, in.NotBefore = "batch-high", -42, &notBefore
	in.Payload = []byte("{\"b\": 1,  \"a\": [\"ünïcode ✓\", null]}\n")
	in.Attempt, in.RootID, in.RetryOf = 3, sid("a", 100), sid("a", 99)
	in.Trigger, in.ScheduledAt = "retry", &scheduled

	got := create(t, s, in)
	want := *in
	assertRun(t, "CreateRun's result", &want, got)
	history := []hashike.Transition{{From: "", To: hashike.StateQueued, At: t0}}
	assertHistory(t, "CreateRun's result", history, got.History)
	stored := get(t, s, in.ID)
	assertRun(t, "GetRun", &want, stored)
	assertHistory(t, "GetRun", history, stored.History)
	listed := listRuns(t, s, hashike.RunFilter{Queue: in.Queue})
	if len(listed) != 1 {
		t.Fatalf("ListRuns by queue: %d runs, want 1", len(listed))
	}
	assertRun(t, "ListRuns", &want, listed[0])

	// A pending server run, settled at creation, with an empty payload and no times.
	p := newRun(sid("a", 2), "nightly", t0)
	p.Job, p.JobVersion, p.Queue, p.Priority, p.Attempt, p.RootID = "nightly", 1, "default", 100, 1, sid("a", 2)
	p.Trigger, p.Settled = "manual", true
	got = create(t, s, p)
	want = *p
	want.State = hashike.StatePending
	assertRun(t, "CreateRun's result (pending, settled)", &want, got)
	assertRun(t, "GetRun (pending, settled)", &want, get(t, s, p.ID))

	// A run of `hashike run` has none of the fields.
	plain := newRun(sid("a", 3), "plain", t0)
	got = get(t, s, create(t, s, plain).ID)
	if got.Job != "" || got.Queue != "" || got.NotBefore != nil || got.ScheduledAt != nil || len(got.Payload) != 0 ||
		got.Attempt != 0 || got.RootID != "" || got.RetryOf != "" || got.Trigger != "" || got.Settled || got.ServerRun() {
		t.Errorf("a plain run came back with server fields: %+v", got)
	}
}

func testCreateQueuedNeedsQueue(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	r := queuedRun(sid("b", 1), "", 0, t0)
	_, _, err := s.CreateRun(ctx, r)
	wantCode(t, err, hashike.EInvalid, "CreateRun of a queued run without a queue")
	_, err = s.GetRun(ctx, r.ID)
	wantCode(t, err, hashike.ENotFound, "GetRun of the refused run")
	if runs := listRuns(t, s, hashike.RunFilter{}); len(runs) != 0 {
		t.Fatalf("the refused create wrote %d runs", len(runs))
	}
	wantIDs(t, "ClaimRuns after the refused create", claim(t, s, t0.Add(time.Hour), 10, replica))
	if qs := queues(t, s); len(qs) != 0 {
		t.Fatalf("ListQueues after the refused create: %+v", qs)
	}
}

func testQueuedIdempotency(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	first := queuedRun(sid("c", 1), "q", 0, t0)
	first.IdempotencyKey = "enqueue-abc"
	create(t, s, first)

	again := queuedRun(sid("c", 2), "q", 0, t0.Add(time.Second))
	again.IdempotencyKey = first.IdempotencyKey
	got, created, err := s.CreateRun(ctx, again)
	if err != nil || created || got.ID != first.ID || got.State != hashike.StateQueued {
		t.Fatalf("CreateRun with a used key = %+v, %v, %v; want the first run, still queued, created=false", got, created, err)
	}
	_, err = s.GetRun(ctx, again.ID)
	wantCode(t, err, hashike.ENotFound, "GetRun of the run not created")

	now := t0.Add(time.Minute)
	wantIDs(t, "ClaimRuns", claim(t, s, now, 10, replica), first.ID)
	wantIDs(t, "ClaimRuns again", claim(t, s, now, 10, replica))

	// The key still answers once the run was dispatched, and queues nothing.
	got, created, err = s.CreateRun(ctx, again)
	if err != nil || created || got.ID != first.ID || got.State != hashike.StatePending {
		t.Fatalf("CreateRun with a used key after dispatch = %+v, %v, %v", got, created, err)
	}
	wantIDs(t, "ClaimRuns after the repeated create", claim(t, s, now, 10, replica))
	want := []hashike.QueueInfo{{QueueConfig: hashike.QueueConfig{Name: "q"}, Queued: 0, Active: 1}}
	if qs := queues(t, s); !reflect.DeepEqual(qs, want) {
		t.Fatalf("ListQueues = %+v, want %+v", qs, want)
	}
}

func testQueuedCancel(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	a, b := queuedRun(sid("d", 1), "q", 5, t0), queuedRun(sid("d", 2), "q", 0, t0.Add(time.Second))
	create(t, s, a)
	create(t, s, b)
	at := t0.Add(time.Minute)
	got := update(t, s, a.ID, hashike.RunUpdate{At: at, State: hashike.StateCanceled, Reason: "canceled through the API", StopCause: hashike.StopUser})
	if got.State != hashike.StateCanceled {
		t.Fatalf("cancel: state %s", got.State)
	}
	assertHistory(t, "canceled run", []hashike.Transition{
		{To: hashike.StateQueued, At: t0},
		{From: hashike.StateQueued, To: hashike.StateCanceled, At: at, Reason: "canceled through the API"},
	}, get(t, s, a.ID).History)
	if qs := queues(t, s); len(qs) != 1 || qs[0].Queued != 1 || qs[0].Active != 0 {
		t.Fatalf("ListQueues after the cancel = %+v, want q with 1 queued", qs)
	}
	now := at.Add(time.Minute)
	wantIDs(t, "ClaimRuns after the cancel", claim(t, s, now, 10, replica), b.ID)
	wantIDs(t, "ClaimRuns again", claim(t, s, now, 10, replica))
	if got := get(t, s, a.ID); got.State != hashike.StateCanceled || got.Owner != nil {
		t.Fatalf("the canceled run was touched by ClaimRuns: %+v", got)
	}
	if qs := queues(t, s); len(qs) != 1 || qs[0].Queued != 0 || qs[0].Active != 1 {
		t.Fatalf("ListQueues after the claim = %+v, want q with 0 queued, 1 active", qs)
	}
}

func testClaimOrder(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	now := t0.Add(time.Hour)
	later := now.Add(time.Minute)
	r1 := queuedRun(sid("e", 11), "a", 0, t0.Add(time.Second))
	r2 := queuedRun(sid("e", 32), "a", 5, t0.Add(2*time.Second))
	// r3 has r2's priority and instant and was enqueued after it, but has the smaller ID:
	// insertion order (Seq) decides before the ID.
	r3 := queuedRun(sid("e", 31), "a", 5, t0.Add(2*time.Second))
	r4 := queuedRun(sid("e", 40), "a", 0, t0)
	r5 := queuedRun(sid("e", 50), "a", 10, t0)
	r5.NotBefore = &later
	r6 := queuedRun(sid("e", 60), "a", -1, t0)
	for _, r := range []*hashike.Run{r1, r2, r3, r4, r5, r6} {
		create(t, s, r)
	}
	wantIDs(t, "limit 0", claim(t, s, now, 0, replica))
	wantIDs(t, "negative limit", claim(t, s, now, -1, replica))

	got := claim(t, s, now, 3, replica)
	wantIDs(t, "priority, then FIFO, then insertion order, limit 3", got, r2.ID, r3.ID, r4.ID)
	for _, r := range got {
		assertClaimed(t, s, r, now, replica)
	}
	other := hashike.Owner{Host: "server-2", PID: 8, Start: "x"}
	got = claim(t, s, now, 10, other)
	wantIDs(t, "the rest that is due", got, r1.ID, r6.ID)
	for _, r := range got {
		assertClaimed(t, s, r, now, other)
	}
	wantIDs(t, "one nanosecond before NotBefore", claim(t, s, later.Add(-1), 10, replica))
	got = claim(t, s, later, 10, replica)
	wantIDs(t, "at NotBefore", got, r5.ID)
	assertClaimed(t, s, got[0], later, replica)
	if h := get(t, s, r5.ID).History; len(h) != 2 {
		t.Errorf("a claimed run's history: %+v, want created queued then dispatched", h)
	}
	wantIDs(t, "nothing left", claim(t, s, later.Add(time.Hour), 10, replica))
}

func testClaimPausedQueue(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	putQueue(t, s, hashike.QueueConfig{Name: "p", Paused: true})
	p1, p2 := queuedRun(sid("f", 1), "p", 0, t0), queuedRun(sid("f", 2), "p", 0, t0.Add(1))
	o1 := queuedRun(sid("f", 3), "open", 0, t0.Add(2))
	for _, r := range []*hashike.Run{p1, p2, o1} {
		create(t, s, r)
	}
	now := t0.Add(time.Minute)
	wantIDs(t, "paused queue skipped", claim(t, s, now, 10, replica), o1.ID)
	wantIDs(t, "still paused", claim(t, s, now, 10, replica))
	putQueue(t, s, hashike.QueueConfig{Name: "p"})
	wantIDs(t, "resumed", claim(t, s, now, 10, replica), p1.ID, p2.ID)
}

func testClaimRoundRobin(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	x := []*hashike.Run{
		queuedRun(sid("g", 1), "x", 0, t0),
		queuedRun(sid("g", 2), "x", 0, t0.Add(time.Second)),
		queuedRun(sid("g", 3), "x", 0, t0.Add(2*time.Second)),
		queuedRun(sid("g", 4), "x", 0, t0.Add(3*time.Second)),
	}
	y := []*hashike.Run{
		// Priorities do not compete across queues: y1 does not overtake x1.
		queuedRun(sid("g", 5), "y", 100, t0.Add(10*time.Second)),
		queuedRun(sid("g", 6), "y", 0, t0.Add(11*time.Second)),
	}
	z := []*hashike.Run{queuedRun(sid("g", 7), "z", 0, t0.Add(5*time.Second))}
	for _, r := range slices.Concat(x, y, z) {
		create(t, s, r)
	}
	now := t0.Add(time.Minute)
	wantIDs(t, "first claim, limit 4", claim(t, s, now, 4, replica), x[0].ID, z[0].ID, y[0].ID, x[1].ID)
	wantIDs(t, "second claim", claim(t, s, now, 100, replica), x[2].ID, y[1].ID, x[3].ID)
}

func testClaimMaxConcurrency(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	putQueue(t, s, hashike.QueueConfig{Name: "c", MaxConcurrency: 2})
	var c []*hashike.Run
	for i := range 5 {
		r := queuedRun(sid("h", i), "c", 0, t0.Add(time.Duration(i)*time.Second))
		create(t, s, r)
		c = append(c, r)
	}
	free := queuedRun(sid("h", 10), "free", 0, t0.Add(time.Hour))
	create(t, s, free)
	now := t0.Add(2 * time.Hour)
	wantIDs(t, "cap 2", claim(t, s, now, 10, replica), c[0].ID, free.ID, c[1].ID)
	wantIDs(t, "the runs claimed earlier count", claim(t, s, now, 10, replica))

	step := func(id string, to hashike.RunState) {
		t.Helper()
		now = now.Add(time.Second)
		update(t, s, id, hashike.RunUpdate{At: now, State: to})
	}
	step(c[0].ID, hashike.StateRunning)
	wantIDs(t, "running counts", claim(t, s, now, 10, replica))
	step(c[0].ID, hashike.StateStopping)
	wantIDs(t, "stopping counts", claim(t, s, now, 10, replica))
	step(c[0].ID, hashike.StateSucceeded)
	wantIDs(t, "an ended run frees its slot", claim(t, s, now, 10, replica), c[2].ID)
	wantIDs(t, "full again", claim(t, s, now, 10, replica))
	// An active run created pending (not through the queue) counts too.
	direct := newRun(sid("h", 20), "nightly", now)
	direct.Job, direct.Queue = "nightly", "c"
	step(c[1].ID, hashike.StateFailed)
	create(t, s, direct)
	wantIDs(t, "a run created pending in the queue counts", claim(t, s, now, 10, replica))
	putQueue(t, s, hashike.QueueConfig{Name: "c", MaxConcurrency: 4})
	wantIDs(t, "cap raised", claim(t, s, now, 10, replica), c[3].ID, c[4].ID)
	if qs := queues(t, s); len(qs) != 2 || qs[0].Name != "c" || qs[0].Active != 4 || qs[0].Queued != 0 {
		t.Fatalf("ListQueues = %+v, want c with 4 active first", qs)
	}
}

// testClaimMatchesDispatchNext runs a random workload against a model: at every step
// ClaimRuns must pick what dispatch.Next picks from every queued run.
func testClaimMatchesDispatchNext(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"q1", "q2", "q3", "q4"}
	var (
		queued []dispatch.Queued
		active = map[string][]string{} // queue -> run IDs
		config = map[string]hashike.QueueConfig{}
		seq    int64
		now    = t0
	)
	for step := range 60 {
		for range rng.IntN(8) {
			seq++
			q := names[rng.IntN(len(names))]
			r := queuedRun(sid("i", int(seq)), q, rng.IntN(5)-2, now.Add(-time.Duration(rng.IntN(3))*time.Second))
			var nb time.Time
			if rng.IntN(4) == 0 {
				nb = now.Add(time.Duration(rng.IntN(5)-1) * time.Second)
				r.NotBefore = &nb
			}
			create(t, s, r)
			queued = append(queued, dispatch.Queued{RunID: r.ID, Queue: q, Priority: r.Priority,
				EnqueuedAt: r.CreatedAt, NotBefore: nb, Seq: seq})
		}
		if rng.IntN(3) == 0 {
			c := hashike.QueueConfig{Name: names[rng.IntN(len(names))], MaxConcurrency: rng.IntN(4), Paused: rng.IntN(4) == 0}
			putQueue(t, s, c)
			config[c.Name] = c
		}
		for _, q := range names {
			for len(active[q]) > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(len(active[q]))
				update(t, s, active[q][i], hashike.RunUpdate{At: now, State: hashike.StateSucceeded})
				active[q] = slices.Delete(active[q], i, i+1)
			}
		}
		states := map[string]dispatch.QueueState{}
		for name, c := range config {
			states[name] = dispatch.QueueState{MaxConcurrency: c.MaxConcurrency, Paused: c.Paused}
		}
		for name, ids := range active {
			st := states[name]
			st.Running = len(ids)
			states[name] = st
		}
		limit := rng.IntN(7)
		var want []string
		for _, q := range dispatch.Next(queued, states, now, limit) {
			want = append(want, q.RunID)
			active[q.Queue] = append(active[q.Queue], q.RunID)
			queued = slices.DeleteFunc(queued, func(x dispatch.Queued) bool { return x.RunID == q.RunID })
		}
		wantIDs(t, fmt.Sprintf("step %d, limit %d", step, limit), claim(t, s, now, limit, replica), want...)
		now = now.Add(time.Second)
	}
}

// testClaimExactlyOnceConcurrent has replicas, each with its own handle, claim and finish
// runs of capped queues while the runs are still being enqueued (through the handles in
// turn) and a third party cancels runs still queued. Every run must be either claimed
// exactly once or canceled, never both; no queue may ever have more active runs than its
// cap; no call may fail (claims, creates and cancels must not deadlock one another); and in
// the end no queue has runs queued or active. The cap check is exact: claims run
// concurrently (under gate's read lock) but runs are ended only under its write lock, so
// while claims are in flight the active count only grows, and every claim adds its runs to
// the count before any run can end: two replicas filling the same slot push the count over
// the cap.
func testClaimExactlyOnceConcurrent(t *testing.T, s hashike.ServerStore, reopen func() hashike.ServerStore) {
	const replicas, total, batch = 4, 600, 4
	caps := map[string]int{"x": 2, "y": 3, "z": 5}
	names := []string{"x", "y", "z"}
	for q, c := range caps {
		putQueue(t, s, hashike.QueueConfig{Name: q, MaxConcurrency: c})
	}
	handles := make([]hashike.ServerStore, replicas)
	for i := range handles {
		handles[i] = reopen()
	}
	ids := make([]string, total)
	for i := range ids {
		ids[i] = sid("j", i)
	}

	var (
		gate      sync.RWMutex
		mu        sync.Mutex
		claimedBy = map[string]int{} // run ID -> replica
		canceled  = map[string]bool{}
		active    = map[string]int{}
		problems  []string
		created   atomic.Int64 // runs enqueued so far, in ID order
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
	ctx := context.Background()
	now := t0.Add(time.Hour)

	// The enqueuer, through the handles in turn, in a random queue order. Each run goes ahead
	// of those before it in its queue: a claim racing another unserialized would take a slot
	// the other's picks fill.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for i, id := range ids {
			r := queuedRun(id, names[rng.IntN(len(names))], -100+200*i/total, t0.Add(time.Duration(i)*time.Millisecond))
			if _, _, err := handles[i%replicas].CreateRun(ctx, r); err != nil {
				report("enqueue %s: %v", id, err)
				return
			}
			created.Add(1)
		}
	})

	// The canceller: cancels runs still queued, which the owner precondition (no owner)
	// tells from claimed runs.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; i < total && !failed.Load(); i += 1 + rng.IntN(6) {
			for created.Load() <= int64(i) {
				if failed.Load() {
					return
				}
				runtime.Gosched()
			}
			_, err := handles[i%replicas].UpdateRun(ctx, ids[i], hashike.RunUpdate{At: now, State: hashike.StateCanceled,
				Reason: "canceled", StopCause: hashike.StopUser, IfOwner: &hashike.OwnerMatch{}})
			switch {
			case err == nil:
				mu.Lock()
				if w, ok := claimedBy[ids[i]]; ok {
					problems = append(problems, fmt.Sprintf("run %s canceled after replica %d claimed it", ids[i], w))
					failed.Store(true)
				}
				canceled[ids[i]] = true
				mu.Unlock()
				settled.Add(1)
			case hashike.ErrorCodeOf(err) != hashike.EConflict:
				report("cancel %s: %v", ids[i], err)
			}
		}
	})

	for w, h := range handles {
		wg.Go(func() {
			owner := hashike.Owner{Host: fmt.Sprintf("replica-%d", w), PID: w, Start: "s"}
			var held []*hashike.Run
			for iter := 0; !failed.Load(); iter++ {
				if settled.Load() == total && len(held) == 0 {
					return
				}
				if iter > 200000 {
					report("replica %d: no progress after %d iterations", w, iter)
					return
				}
				gate.RLock()
				got, err := h.ClaimRuns(ctx, now, batch, owner)
				if err == nil {
					mu.Lock()
					for _, r := range got {
						if prev, ok := claimedBy[r.ID]; ok {
							problems = append(problems, fmt.Sprintf("run %s claimed by replica %d and again by %d", r.ID, prev, w))
							failed.Store(true)
						}
						if canceled[r.ID] {
							problems = append(problems, fmt.Sprintf("run %s claimed by replica %d after it was canceled", r.ID, w))
							failed.Store(true)
						}
						claimedBy[r.ID] = w
						active[r.Queue]++
						if active[r.Queue] > caps[r.Queue] {
							problems = append(problems, fmt.Sprintf("queue %s has %d active runs, cap %d", r.Queue, active[r.Queue], caps[r.Queue]))
							failed.Store(true)
						}
					}
					mu.Unlock()
					settled.Add(int64(len(got)))
				}
				gate.RUnlock()
				if err != nil {
					report("replica %d: ClaimRuns: %v", w, err)
					return
				}
				held = append(held, got...)
				// End the older half of what this replica holds (everything when it got
				// nothing), so that runs claimed earlier stay active across claims.
				k := (len(held) + 1) / 2
				if len(got) == 0 {
					k = len(held)
				}
				if k > 0 {
					gate.Lock()
					for _, r := range held[:k] {
						_, err := h.UpdateRun(ctx, r.ID, hashike.RunUpdate{At: now, State: hashike.StateSucceeded,
							IfOwner: &hashike.OwnerMatch{Owner: &owner}})
						if err != nil {
							report("replica %d: end %s: %v", w, r.ID, err)
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
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(claimedBy)+len(canceled) != total || len(canceled) == 0 || len(claimedBy) == 0 {
		t.Fatalf("%d runs claimed and %d canceled of %d; want every run one or the other, and some of each", len(claimedBy), len(canceled), total)
	}
	// The store's own record agrees: each claimed run was dispatched once, by its claimer;
	// a canceled run never was.
	for _, id := range ids {
		r := get(t, s, id)
		var dispatched int
		for _, tr := range r.History {
			if tr.Reason == "dispatched" {
				dispatched++
			}
		}
		if canceled[id] {
			if dispatched != 0 || r.State != hashike.StateCanceled {
				t.Errorf("canceled run %s: state %s, %d dispatched transitions", id, r.State, dispatched)
			}
			continue
		}
		if dispatched != 1 || r.State != hashike.StateSucceeded || r.Owner == nil || r.Owner.PID != claimedBy[id] {
			t.Errorf("run %s: state %s, owner %+v, %d dispatched transitions; want succeeded, replica %d, 1",
				id, r.State, r.Owner, dispatched, claimedBy[id])
		}
	}
	for _, q := range queues(t, s) {
		if q.Queued != 0 || q.Active != 0 {
			t.Errorf("queue %s left with %d queued, %d active", q.Name, q.Queued, q.Active)
		}
	}
	t.Logf("%d runs claimed, %d canceled", len(claimedBy), len(canceled))
}

func testMoveNotBefore(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	held := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	r := queuedRun(sid("p", 1), "q", 0, t0)
	r.NotBefore = &held
	create(t, s, r)
	now := t0.Add(time.Hour)
	wantIDs(t, "held", claim(t, s, now, 10, replica))

	later := now.Add(time.Minute)
	got := update(t, s, r.ID, hashike.RunUpdate{NotBefore: &later})
	if got.NotBefore == nil || !got.NotBefore.Equal(later) || got.State != hashike.StateQueued || len(got.History) != 1 {
		t.Fatalf("after moving NotBefore: %+v", got)
	}
	if got := get(t, s, r.ID); got.NotBefore == nil || !got.NotBefore.Equal(later) {
		t.Fatalf("stored NotBefore %v, want %s", got.NotBefore, later)
	}
	wantIDs(t, "before the new NotBefore", claim(t, s, now, 10, replica))
	update(t, s, r.ID, hashike.RunUpdate{NotBefore: &now})
	wantIDs(t, "released", claim(t, s, now, 10, replica), r.ID)

	before := get(t, s, r.ID)
	_, err := s.UpdateRun(ctx, r.ID, hashike.RunUpdate{NotBefore: &held, Task: &hashike.TaskRef{ID: "t"}})
	wantCode(t, err, hashike.EConflict, "moving the NotBefore of a pending run")
	for _, d := range diffRun(before, get(t, s, r.ID)) {
		t.Errorf("the refused update wrote %s", d)
	}
}

func testListRunsServerFilters(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	end := func(id string, st hashike.RunState, settled bool) {
		t.Helper()
		update(t, s, id, hashike.RunUpdate{At: t0.Add(time.Hour), State: st, Settled: settled})
	}
	// The tries of one enqueue: root, then two retries.
	root := newRun(sid("k", 1), "a", at(1))
	root.Job, root.Queue, root.Attempt, root.RootID = "a", "qa", 1, sid("k", 1)
	retry1 := newRun(sid("k", 2), "a", at(2))
	retry1.Job, retry1.Queue, retry1.Attempt, retry1.RootID, retry1.RetryOf = "a", "qa", 2, root.ID, root.ID
	retry2 := newRun(sid("k", 3), "a", at(3))
	retry2.Job, retry2.Queue, retry2.Attempt, retry2.RootID, retry2.RetryOf = "a", "qa", 3, root.ID, retry1.ID
	b1 := queuedRun(sid("k", 4), "qb", 0, at(4))
	b1.Job = "b"
	b2 := newRun(sid("k", 5), "b", at(5))
	b2.Job, b2.Queue, b2.RootID = "b", "qb", sid("k", 5)
	plain := newRun(sid("k", 6), "a", at(6)) // a `hashike run` run of the same family
	for _, r := range []*hashike.Run{root, retry1, retry2, b1, b2, plain} {
		create(t, s, r)
	}
	end(root.ID, hashike.StateFailed, true)
	end(retry1.ID, hashike.StateFailed, false)
	update(t, s, retry2.ID, hashike.RunUpdate{At: t0.Add(time.Hour), State: hashike.StateRunning})
	end(b2.ID, hashike.StateSucceeded, false)
	end(plain.ID, hashike.StateFailed, false)

	for _, tt := range []struct {
		name   string
		filter hashike.RunFilter
		want   []string
	}{
		{"job", hashike.RunFilter{Job: "a"}, []string{retry2.ID, retry1.ID, root.ID}},
		{"job b", hashike.RunFilter{Job: "b"}, []string{b2.ID, b1.ID}},
		{"queue", hashike.RunFilter{Queue: "qb"}, []string{b2.ID, b1.ID}},
		{"root", hashike.RunFilter{RootID: root.ID}, []string{retry2.ID, retry1.ID, root.ID}},
		{"unsettled", hashike.RunFilter{Unsettled: true}, []string{b2.ID, retry1.ID}},
		{"unsettled and job", hashike.RunFilter{Unsettled: true, Job: "a"}, []string{retry1.ID}},
		{"job and states", hashike.RunFilter{Job: "a", States: []hashike.RunState{hashike.StateFailed}}, []string{retry1.ID, root.ID}},
		{"family still covers both", hashike.RunFilter{Family: "a"}, []string{plain.ID, retry2.ID, retry1.ID, root.ID}},
		{"queue, active", hashike.RunFilter{Queue: "qa", Active: true}, []string{retry2.ID}},
		{"before", hashike.RunFilter{Job: "a", Before: retry2.ID}, []string{retry1.ID, root.ID}},
		{"before a run the filter does not select", hashike.RunFilter{Job: "a", Before: plain.ID, Limit: 2}, []string{retry2.ID, retry1.ID}},
		{"before the oldest", hashike.RunFilter{Before: root.ID}, []string{}},
		{"no such job", hashike.RunFilter{Job: "c"}, []string{}},
	} {
		wantIDs(t, tt.name, listRuns(t, s, tt.filter), tt.want...)
	}
	// The API answers 400 naming cursor for any cursor that names no run, however garbled.
	for _, before := range []string{sid("k", 99), "garbage", "\x00\xff", strings.Repeat("z", 1000)} {
		_, err := s.ListRuns(ctx, hashike.RunFilter{Before: before})
		wantCode(t, err, hashike.ENotFound, fmt.Sprintf("ListRuns before the unknown run %q", before))
	}
}

func testListRunsPaging(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	// 25 runs, three to an instant, with IDs out of creation order.
	var want []string
	for i := range 25 {
		r := newRun(sid("l", (i*7)%25), "page", t0.Add(time.Duration(i/3)*time.Second))
		r.Job, r.Queue = "page", "p"
		create(t, s, r)
		want = append(want, r.ID)
	}
	all := runIDs(listRuns(t, s, hashike.RunFilter{Job: "page"}))
	if sorted := slices.Sorted(slices.Values(all)); !reflect.DeepEqual(sorted, slices.Sorted(slices.Values(want))) {
		t.Fatalf("ListRuns = %v, want the 25 runs", all)
	}
	var paged []string
	before := ""
	for page := 0; ; page++ {
		runs := listRuns(t, s, hashike.RunFilter{Job: "page", Before: before, Limit: 10})
		if len(runs) == 0 {
			break
		}
		if page > 3 {
			t.Fatalf("paging did not end: %v", paged)
		}
		paged = append(paged, runIDs(runs)...)
		before = runs[len(runs)-1].ID
	}
	if !reflect.DeepEqual(paged, all) {
		t.Fatalf("pages joined = %v, want %v", paged, all)
	}
	for i := 1; i < len(all); i++ {
		a, b := get(t, s, all[i-1]), get(t, s, all[i])
		if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
			t.Fatalf("ListRuns is not newest first: %s (%s) before %s (%s)", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}
}

func testSettled(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	r := newRun(sid("m", 1), "nightly", t0)
	r.Job, r.Queue = "nightly", "q"
	create(t, s, r)
	at := t0.Add(time.Minute)
	if got := update(t, s, r.ID, hashike.RunUpdate{At: at, State: hashike.StateFailed}); got.Settled {
		t.Fatal("Settled set by an update without it")
	}
	wantIDs(t, "unsettled", listRuns(t, s, hashike.RunFilter{Unsettled: true}), r.ID)
	if got := update(t, s, r.ID, hashike.RunUpdate{Settled: true}); !got.Settled {
		t.Fatal("RunUpdate.Settled did not set Settled")
	}
	if got := update(t, s, r.ID, hashike.RunUpdate{Task: &hashike.TaskRef{ID: "t"}}); !got.Settled {
		t.Fatal("an update without Settled unset it")
	}
	if got := update(t, s, r.ID, hashike.RunUpdate{Settled: true}); !got.Settled {
		t.Fatal("settling twice unset it")
	}
	if got := get(t, s, r.ID); !got.Settled || len(got.History) != 2 {
		t.Fatalf("stored: settled %v, history %+v", got.Settled, got.History)
	}
	wantIDs(t, "no longer unsettled", listRuns(t, s, hashike.RunFilter{Unsettled: true}))
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func assertJob(t *testing.T, what string, want, got hashike.JobVersion) {
	t.Helper()
	if got.Name != want.Name || got.Version != want.Version || !sameJSON(got.Definition, want.Definition) ||
		got.Digest != want.Digest || !got.CreatedAt.Equal(want.CreatedAt) || got.Source != want.Source {
		t.Errorf("%s: got %s v%d %s %s %s %q, want %s v%d %s %s %s %q", what,
			got.Name, got.Version, got.Definition, got.Digest, got.CreatedAt, got.Source,
			want.Name, want.Version, want.Definition, want.Digest, want.CreatedAt, want.Source)
	}
}

func jobVersions(vs []hashike.JobVersion) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s@%d", v.Name, v.Version))
	}
	return out
}

func testJobs(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	put := func(def hashike.JobVersion) (hashike.JobVersion, bool) {
		t.Helper()
		v, created, err := s.PutJob(ctx, def)
		if err != nil {
			t.Fatalf("PutJob %s %s: %v", def.Name, def.Digest, err)
		}
		return v, created
	}
	if js, err := s.ListJobs(ctx); err != nil || len(js) != 0 {
		t.Fatalf("ListJobs of an empty store = %v, %v", js, err)
	}
	_, err := s.GetJob(ctx, "nightly", 0)
	wantCode(t, err, hashike.ENotFound, "GetJob of an unknown job")
	_, err = s.ListJobVersions(ctx, "nightly")
	wantCode(t, err, hashike.ENotFound, "ListJobVersions of an unknown job")

	d1 := hashike.JobVersion{Name: "nightly", Version: 42, Definition: json.RawMessage(`{"taskDefinition": {"family": "nightly"}, "queue": "batch"}`),
		Digest: "sha256:1111", CreatedAt: t0, Source: "jobs/nightly.yaml"}
	v, created := put(d1)
	w1 := d1
	w1.Version = 1
	if !created {
		t.Fatal("first PutJob: created=false")
	}
	assertJob(t, "first PutJob", w1, v)

	same := d1
	same.CreatedAt, same.Source = t0.Add(time.Hour), "api"
	v, created = put(same)
	if created {
		t.Fatal("PutJob with the same digest: created=true")
	}
	assertJob(t, "PutJob with the same digest", w1, v)

	d2 := hashike.JobVersion{Name: "nightly", Definition: json.RawMessage(`{"taskDefinition": {"family": "nightly"}, "queue": "fast"}`),
		Digest: "sha256:2222", CreatedAt: t0.Add(2 * time.Hour), Source: "api"}
	v, created = put(d2)
	w2 := d2
	w2.Version = 2
	if !created {
		t.Fatal("PutJob with a new digest: created=false")
	}
	assertJob(t, "PutJob with a new digest", w2, v)
	// Going back to the first content is a change from the latest.
	back := d1
	back.CreatedAt = t0.Add(3 * time.Hour)
	v, created = put(back)
	w3 := back
	w3.Version = 3
	if !created {
		t.Fatal("PutJob back to version 1's content: created=false")
	}
	assertJob(t, "PutJob back to version 1's content", w3, v)

	for version, want := range map[int]hashike.JobVersion{0: w3, 1: w1, 2: w2, 3: w3} {
		got, err := s.GetJob(ctx, "nightly", version)
		if err != nil {
			t.Fatalf("GetJob version %d: %v", version, err)
		}
		assertJob(t, fmt.Sprintf("GetJob version %d", version), want, got)
	}
	for _, version := range []int{4, -1} {
		_, err := s.GetJob(ctx, "nightly", version)
		wantCode(t, err, hashike.ENotFound, fmt.Sprintf("GetJob version %d", version))
	}
	vs, err := s.ListJobVersions(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if got := jobVersions(vs); !reflect.DeepEqual(got, []string{"nightly@3", "nightly@2", "nightly@1"}) {
		t.Fatalf("ListJobVersions = %v", got)
	}
	assertJob(t, "ListJobVersions[1]", w2, vs[1])

	alpha := hashike.JobVersion{Name: "alpha", Definition: json.RawMessage(`{}`), Digest: "sha256:aaaa", CreatedAt: t0.Add(4 * time.Hour)}
	put(alpha)
	js, err := s.ListJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := jobVersions(js); !reflect.DeepEqual(got, []string{"alpha@1", "nightly@3"}) {
		t.Fatalf("ListJobs = %v", got)
	}
	assertJob(t, "ListJobs[1]", w3, js[1])

	for name, def := range map[string]hashike.JobVersion{
		"empty name":          {Name: "", Definition: d1.Definition, Digest: "sha256:9", CreatedAt: t0},
		"bad name":            {Name: "has space", Definition: d1.Definition, Digest: "sha256:9", CreatedAt: t0},
		"empty definition":    {Name: "nightly", Digest: "sha256:9", CreatedAt: t0},
		"definition not JSON": {Name: "nightly", Definition: json.RawMessage(`{"a":`), Digest: "sha256:9", CreatedAt: t0},
		"empty digest":        {Name: "nightly", Definition: d1.Definition, CreatedAt: t0},
	} {
		_, _, err := s.PutJob(ctx, def)
		wantCode(t, err, hashike.EInvalid, "PutJob with "+name)
	}
	js, err = s.ListJobs(ctx)
	if err != nil || !reflect.DeepEqual(jobVersions(js), []string{"alpha@1", "nightly@3"}) {
		t.Fatalf("refused PutJobs wrote: %v, %v", jobVersions(js), err)
	}
}

func testJobsConcurrent(t *testing.T, s hashike.ServerStore, reopen func() hashike.ServerStore) {
	const n = 4
	handles := []hashike.ServerStore{s}
	for len(handles) < n {
		handles = append(handles, reopen())
	}
	race := func(def func(i int) hashike.JobVersion) ([]hashike.JobVersion, []bool) {
		vs, cs, errs := make([]hashike.JobVersion, n), make([]bool, n), make([]error, n)
		var start, done sync.WaitGroup
		start.Add(1)
		for i, h := range handles {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				vs[i], cs[i], errs[i] = h.PutJob(context.Background(), def(i))
			}()
		}
		start.Done()
		done.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("PutJob %d: %v", i, err)
			}
		}
		return vs, cs
	}
	// The same new definition from every replica: one version.
	vs, cs := race(func(int) hashike.JobVersion {
		return hashike.JobVersion{Name: "j", Definition: json.RawMessage(`{"v":0}`), Digest: "sha256:0", CreatedAt: t0}
	})
	if k := slices.Index(cs, true); k < 0 || slices.Index(cs[k+1:], true) >= 0 {
		t.Fatalf("created = %v, want exactly one true", cs)
	}
	for i, v := range vs {
		if v.Version != 1 {
			t.Errorf("PutJob %d returned version %d, want 1", i, v.Version)
		}
	}
	// A different definition from every replica: four versions, each made once.
	vs, cs = race(func(i int) hashike.JobVersion {
		return hashike.JobVersion{Name: "j", Definition: json.RawMessage(fmt.Sprintf(`{"v":%d}`, i+1)),
			Digest: fmt.Sprintf("sha256:%d", i+1), CreatedAt: t0.Add(time.Duration(i+1) * time.Second)}
	})
	var got []int
	for i, v := range vs {
		if !cs[i] {
			t.Errorf("PutJob %d of a new digest: created=false", i)
		}
		got = append(got, v.Version)
	}
	slices.Sort(got)
	if !reflect.DeepEqual(got, []int{2, 3, 4, 5}) {
		t.Fatalf("versions made = %v, want 2 to 5", got)
	}
	all, err := s.ListJobVersions(context.Background(), "j")
	if err != nil || len(all) != 5 {
		t.Fatalf("ListJobVersions = %v, %v; want 5 versions", jobVersions(all), err)
	}
}

func testQueues(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	if qs := queues(t, s); len(qs) != 0 {
		t.Fatalf("ListQueues of an empty store = %+v", qs)
	}
	for name, q := range map[string]hashike.QueueConfig{
		"empty name":           {Name: ""},
		"bad name":             {Name: "no spaces"},
		"negative concurrency": {Name: "a", MaxConcurrency: -1},
	} {
		wantCode(t, s.PutQueue(ctx, q), hashike.EInvalid, "PutQueue with "+name)
	}
	if qs := queues(t, s); len(qs) != 0 {
		t.Fatalf("refused PutQueues wrote %+v", qs)
	}

	putQueue(t, s, hashike.QueueConfig{Name: "a", MaxConcurrency: 1})
	a1, a2 := queuedRun(sid("n", 1), "a", 0, t0), queuedRun(sid("n", 2), "a", 0, t0.Add(1))
	d1 := queuedRun(sid("n", 3), "d", 0, t0.Add(2))
	for _, r := range []*hashike.Run{a1, a2, d1} {
		create(t, s, r)
	}
	now := t0.Add(time.Minute)
	wantIDs(t, "ClaimRuns", claim(t, s, now, 10, replica), a1.ID, d1.ID)
	update(t, s, a1.ID, hashike.RunUpdate{At: now, State: hashike.StateRunning})
	update(t, s, d1.ID, hashike.RunUpdate{At: now, State: hashike.StateSucceeded}) // d: only ended runs
	create(t, s, queuedRun(sid("n", 4), "c", 0, t0.Add(3)))                        // c: never put
	putQueue(t, s, hashike.QueueConfig{Name: "a", MaxConcurrency: 3})
	putQueue(t, s, hashike.QueueConfig{Name: "b", Paused: true})

	want := []hashike.QueueInfo{
		{QueueConfig: hashike.QueueConfig{Name: "a", MaxConcurrency: 3}, Queued: 1, Active: 1},
		{QueueConfig: hashike.QueueConfig{Name: "b", Paused: true}},
		{QueueConfig: hashike.QueueConfig{Name: "c"}, Queued: 1},
	}
	if qs := queues(t, s); !reflect.DeepEqual(qs, want) {
		t.Fatalf("ListQueues = %+v, want %+v", qs, want)
	}
	putQueue(t, s, hashike.QueueConfig{Name: "a", Paused: true})
	if qs := queues(t, s); qs[0].MaxConcurrency != 0 || !qs[0].Paused {
		t.Fatalf("PutQueue did not replace a's settings: %+v", qs[0])
	}
}

func acquire(t *testing.T, s hashike.ServerStore, name, holder string, now time.Time, ttl time.Duration) (hashike.Lease, bool) {
	t.Helper()
	l, ok, err := s.AcquireLease(context.Background(), name, holder, now, ttl)
	if err != nil {
		t.Fatalf("AcquireLease %s for %s: %v", name, holder, err)
	}
	return l, ok
}

func assertLease(t *testing.T, what string, got hashike.Lease, holder string, expires time.Time) {
	t.Helper()
	if got.Name != "leader" || got.Holder != holder || !got.ExpiresAt.Equal(expires) {
		t.Fatalf("%s: lease %+v, want leader held by %s until %s", what, got, holder, expires)
	}
}

func testLeases(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	const ttl = 10 * time.Second
	_, err := s.GetLease(ctx, "leader")
	wantCode(t, err, hashike.ENotFound, "GetLease of a lease never taken")
	if err := s.ReleaseLease(ctx, "leader", "a"); err != nil {
		t.Fatalf("ReleaseLease of a lease never taken: %v", err)
	}
	for what, args := range map[string]struct {
		name, holder string
		ttl          time.Duration
	}{"empty name": {"", "a", ttl}, "empty holder": {"leader", "", ttl}, "zero ttl": {"leader", "a", 0}, "negative ttl": {"leader", "a", -ttl}} {
		_, _, err := s.AcquireLease(ctx, args.name, args.holder, t0, args.ttl)
		wantCode(t, err, hashike.EInvalid, "AcquireLease with "+what)
	}

	l, ok := acquire(t, s, "leader", "a", t0, ttl)
	if !ok {
		t.Fatal("a free lease was refused")
	}
	assertLease(t, "acquired", l, "a", t0.Add(ttl))
	got, err := s.GetLease(ctx, "leader")
	if err != nil {
		t.Fatal(err)
	}
	assertLease(t, "GetLease", got, "a", t0.Add(ttl))

	l, ok = acquire(t, s, "leader", "b", t0.Add(5*time.Second), ttl)
	if ok {
		t.Fatal("b took a's unexpired lease")
	}
	assertLease(t, "refused to b", l, "a", t0.Add(ttl))
	l, ok = acquire(t, s, "leader", "a", t0.Add(6*time.Second), ttl)
	if !ok {
		t.Fatal("a could not renew its lease")
	}
	assertLease(t, "renewed", l, "a", t0.Add(16*time.Second))
	if _, ok = acquire(t, s, "leader", "b", t0.Add(16*time.Second-1), ttl); ok {
		t.Fatal("b took the lease one nanosecond before it expired")
	}
	l, ok = acquire(t, s, "leader", "b", t0.Add(16*time.Second), ttl)
	if !ok {
		t.Fatal("b could not take the lease when it expired")
	}
	assertLease(t, "taken after expiry", l, "b", t0.Add(26*time.Second))
	if l, ok = acquire(t, s, "leader", "a", t0.Add(17*time.Second), ttl); ok || l.Holder != "b" {
		t.Fatalf("a got the lease back from b: %+v, %v", l, ok)
	}

	if err := s.ReleaseLease(ctx, "leader", "a"); err != nil {
		t.Fatalf("ReleaseLease by a non-holder: %v", err)
	}
	got, err = s.GetLease(ctx, "leader")
	if err != nil {
		t.Fatal(err)
	}
	assertLease(t, "after a non-holder's release", got, "b", t0.Add(26*time.Second))
	if err := s.ReleaseLease(ctx, "leader", "b"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	_, err = s.GetLease(ctx, "leader")
	wantCode(t, err, hashike.ENotFound, "GetLease after release")
	l, ok = acquire(t, s, "leader", "a", t0.Add(18*time.Second), ttl)
	if !ok {
		t.Fatal("a could not take a released lease")
	}
	assertLease(t, "after release", l, "a", t0.Add(28*time.Second))

	// Leases are independent of each other.
	if l, ok := acquire(t, s, "replica/b", "b", t0.Add(18*time.Second), time.Minute); !ok || l.Name != "replica/b" {
		t.Fatalf("another lease: %+v, %v", l, ok)
	}
}

func testLeaseRace(t *testing.T, s hashike.ServerStore, reopen func() hashike.ServerStore) {
	const n = 4
	handles := []hashike.ServerStore{s}
	for len(handles) < n {
		handles = append(handles, reopen())
	}
	for round, now := range []time.Time{t0, t0.Add(time.Hour)} { // free, then expired
		leases, wins, errs := make([]hashike.Lease, n), make([]bool, n), make([]error, n)
		var start, done sync.WaitGroup
		start.Add(1)
		for i, h := range handles {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				leases[i], wins[i], errs[i] = h.AcquireLease(context.Background(), "leader", fmt.Sprintf("r%d-%d", round, i), now, time.Minute)
			}()
		}
		start.Done()
		done.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: AcquireLease %d: %v", round, i, errs[i])
			}
			if wins[i] {
				if winner >= 0 {
					t.Fatalf("round %d: both %d and %d hold the lease", round, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody got the lease", round)
		}
		holder := fmt.Sprintf("r%d-%d", round, winner)
		for i, l := range leases {
			if l.Holder != holder || !l.ExpiresAt.Equal(now.Add(time.Minute)) {
				t.Errorf("round %d: AcquireLease %d returned %+v, want it held by %s", round, i, l, holder)
			}
		}
	}
}

func testScheduleTick(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	tick := func(job string) time.Time {
		t.Helper()
		got, err := s.ScheduleTick(ctx, job)
		if err != nil {
			t.Fatalf("ScheduleTick %s: %v", job, err)
		}
		return got
	}
	set := func(job string, at time.Time) {
		t.Helper()
		if err := s.SetScheduleTick(ctx, job, at); err != nil {
			t.Fatalf("SetScheduleTick %s: %v", job, err)
		}
	}
	if got := tick("nightly"); !got.IsZero() {
		t.Fatalf("tick before any was set: %s", got)
	}
	for _, at := range []time.Time{t0, t0.Add(24*time.Hour + 1), t0.Add(-time.Hour)} {
		set("nightly", at)
		if got := tick("nightly"); !got.Equal(at) {
			t.Fatalf("tick = %s, want %s", got, at)
		}
	}
	if got := tick("hourly"); !got.IsZero() {
		t.Fatalf("another job's tick: %s", got)
	}
}

func assertToken(t *testing.T, what string, want, got hashike.Token) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Hash != want.Hash || got.Scope != want.Scope ||
		!got.CreatedAt.Equal(want.CreatedAt) || !sameTime(got.RevokedAt, want.RevokedAt) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func testTokens(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	list := func() []hashike.Token {
		t.Helper()
		ts, err := s.ListTokens(ctx)
		if err != nil {
			t.Fatalf("ListTokens: %v", err)
		}
		return ts
	}
	if ts := list(); len(ts) != 0 {
		t.Fatalf("ListTokens of an empty store = %+v", ts)
	}
	ci := hashike.Token{ID: "tok-ci", Name: "ci", Hash: "aa11", Scope: hashike.ScopeSubmit, CreatedAt: t0}
	admin := hashike.Token{ID: "tok-admin", Name: "admin", Hash: "bb22", Scope: hashike.ScopeAdmin, CreatedAt: t0.Add(-time.Hour)}
	for _, tok := range []hashike.Token{ci, admin} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken %s: %v", tok.ID, err)
		}
	}
	got, err := s.TokenByHash(ctx, ci.Hash)
	if err != nil {
		t.Fatal(err)
	}
	assertToken(t, "TokenByHash", ci, got)
	_, err = s.TokenByHash(ctx, "cc33")
	wantCode(t, err, hashike.ENotFound, "TokenByHash of an unknown hash")

	for what, tok := range map[string]hashike.Token{
		"a used hash": {ID: "tok-3", Name: "x", Hash: ci.Hash, Scope: hashike.ScopeRead, CreatedAt: t0},
		"a used ID":   {ID: ci.ID, Name: "x", Hash: "dd44", Scope: hashike.ScopeRead, CreatedAt: t0},
	} {
		wantCode(t, s.CreateToken(ctx, tok), hashike.EConflict, "CreateToken with "+what)
	}
	for what, tok := range map[string]hashike.Token{
		"no ID":         {Name: "x", Hash: "ee55", Scope: hashike.ScopeRead, CreatedAt: t0},
		"no hash":       {ID: "tok-4", Name: "x", Scope: hashike.ScopeRead, CreatedAt: t0},
		"unknown scope": {ID: "tok-5", Name: "x", Hash: "ff66", Scope: "root", CreatedAt: t0},
	} {
		wantCode(t, s.CreateToken(ctx, tok), hashike.EInvalid, "CreateToken with "+what)
	}
	ts := list()
	if len(ts) != 2 {
		t.Fatalf("ListTokens: %d tokens, want 2", len(ts))
	}
	assertToken(t, "ListTokens[0] (oldest)", admin, ts[0])
	assertToken(t, "ListTokens[1]", ci, ts[1])

	revoked := t0.Add(time.Hour)
	if err := s.RevokeToken(ctx, ci.ID, revoked); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, err = s.TokenByHash(ctx, ci.Hash)
	wantCode(t, err, hashike.ENotFound, "TokenByHash of a revoked token")
	if err := s.RevokeToken(ctx, ci.ID, revoked.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken again: %v", err)
	}
	wantCode(t, s.RevokeToken(ctx, "tok-none", revoked), hashike.ENotFound, "RevokeToken of an unknown ID")
	ci.RevokedAt = &revoked
	ts = list()
	if len(ts) != 2 {
		t.Fatalf("ListTokens after revoking: %d tokens, want 2", len(ts))
	}
	assertToken(t, "ListTokens[1] revoked", ci, ts[1])
	assertToken(t, "ListTokens[0] untouched", admin, ts[0])
	wantCode(t, s.CreateToken(ctx, hashike.Token{ID: "tok-6", Name: "x", Hash: ci.Hash, Scope: hashike.ScopeRead, CreatedAt: t0}),
		hashike.EConflict, "CreateToken with a revoked token's hash")
	if got, err := s.TokenByHash(ctx, admin.Hash); err != nil || got.ID != admin.ID {
		t.Fatalf("TokenByHash of the other token = %+v, %v", got, err)
	}
}

func assertDelivery(t *testing.T, what string, want, got hashike.Delivery) {
	t.Helper()
	if got.ID != want.ID || got.RunID != want.RunID || got.Event != want.Event || got.Kind != want.Kind ||
		got.URL != want.URL || got.Secret != want.Secret || !sameJSON(got.Body, want.Body) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.NextAt.Equal(want.NextAt) || got.Attempts != want.Attempts ||
		got.LastError != want.LastError || !sameTime(got.DeliveredAt, want.DeliveredAt) || got.Failed != want.Failed {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func deliveryIDs(ds []hashike.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testDeliveries(t *testing.T, s hashike.ServerStore, _ func() hashike.ServerStore) {
	ctx := context.Background()
	r1, r2 := sid("o", 1), sid("o", 2)
	create(t, s, newRun(r1, "nightly", t0))
	create(t, s, newRun(r2, "nightly", t0))
	hook := func(id, run string, created, next time.Time) hashike.Delivery {
		return hashike.Delivery{ID: id, RunID: run, Event: "failure", Kind: "webhook", URL: "https://hooks.example.com/" + id,
			Secret: "hook_key", Body: json.RawMessage(`{"run": "` + run + `", "event": "failure"}`), CreatedAt: created, NextAt: next}
	}
	d1 := hook("d1", r1, t0, t0)
	d2 := hook("d2", r1, t0.Add(time.Second), t0.Add(time.Second))
	d2.Kind, d2.Secret, d2.Event = "slack", "", "recovery"
	d3 := hook("d3", r2, t0.Add(2*time.Second), t0.Add(10*time.Minute)) // not due yet
	d4 := hook("d4", r2, t0.Add(3*time.Second), t0.Add(-time.Minute))   // the longest due
	if err := s.AddDeliveries(ctx, []hashike.Delivery{d1, d2, d3, d4}); err != nil {
		t.Fatalf("AddDeliveries: %v", err)
	}
	if err := s.AddDeliveries(ctx, nil); err != nil {
		t.Fatalf("AddDeliveries of none: %v", err)
	}
	changed := d1
	changed.URL, changed.NextAt = "https://elsewhere.example.com/", t0.Add(time.Hour)
	d5 := hook("d5", r1, t0.Add(4*time.Second), t0.Add(4*time.Second))
	if err := s.AddDeliveries(ctx, []hashike.Delivery{changed, d5}); err != nil {
		t.Fatalf("AddDeliveries again: %v", err)
	}
	bad := hook("d6", sid("o", 99), t0, t0)
	wantCode(t, s.AddDeliveries(ctx, []hashike.Delivery{hook("d7", r1, t0, t0), bad}), hashike.ENotFound,
		"AddDeliveries for an unknown run")

	list := func(run string) []hashike.Delivery {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, run)
		if err != nil {
			t.Fatalf("ListDeliveries %s: %v", run, err)
		}
		return ds
	}
	ds := list(r1)
	if got := deliveryIDs(ds); !reflect.DeepEqual(got, []string{"d1", "d2", "d5"}) {
		t.Fatalf("ListDeliveries = %v, want d1 d2 d5 (the refused batch's d7 not stored)", got)
	}
	assertDelivery(t, "d1 as added first", d1, ds[0])
	assertDelivery(t, "d2", d2, ds[1])
	if ds := list(sid("o", 99)); len(ds) != 0 {
		t.Fatalf("ListDeliveries of an unknown run = %v", deliveryIDs(ds))
	}

	claimD := func(now time.Time, limit int, lease time.Duration) []hashike.Delivery {
		t.Helper()
		ds, err := s.ClaimDeliveries(ctx, now, limit, lease)
		if err != nil {
			t.Fatalf("ClaimDeliveries: %v", err)
		}
		return ds
	}
	now, lease := t0.Add(5*time.Second), time.Minute
	if ds := claimD(now, 0, lease); len(ds) != 0 {
		t.Fatalf("ClaimDeliveries with limit 0 = %v", deliveryIDs(ds))
	}
	got := claimD(now, 2, lease)
	if ids := deliveryIDs(got); !reflect.DeepEqual(ids, []string{"d4", "d1"}) {
		t.Fatalf("ClaimDeliveries limit 2 = %v, want d4 d1", ids)
	}
	leased := d4
	leased.NextAt = now.Add(lease)
	assertDelivery(t, "a claimed delivery", leased, got[0])
	if ids := deliveryIDs(claimD(now, 10, lease)); !reflect.DeepEqual(ids, []string{"d2", "d5"}) {
		t.Fatalf("second ClaimDeliveries = %v, want d2 d5", ids)
	}
	if ids := deliveryIDs(claimD(now.Add(time.Second), 10, lease)); len(ids) != 0 {
		t.Fatalf("ClaimDeliveries within the lease = %v, want none", ids)
	}

	// d1 failed once and is retried later; d2 was delivered; d4 is given up.
	retry := d1
	retry.Attempts, retry.LastError, retry.NextAt = 1, "HTTP 500 from hooks.example.com", t0.Add(2*time.Minute)
	retry.URL = "https://ignored.example.com/" // not written
	delivered := d2
	deliveredAt := now.Add(time.Second)
	delivered.Attempts, delivered.DeliveredAt = 1, &deliveredAt
	gaveUp := d4
	gaveUp.Attempts, gaveUp.LastError, gaveUp.Failed = 5, "HTTP 410", true
	for _, d := range []hashike.Delivery{retry, delivered, gaveUp} {
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatalf("UpdateDelivery %s: %v", d.ID, err)
		}
	}
	wantCode(t, s.UpdateDelivery(ctx, hook("d-none", r1, t0, t0)), hashike.ENotFound, "UpdateDelivery of an unknown ID")
	ds = list(r1)
	retry.URL = d1.URL
	assertDelivery(t, "d1 after UpdateDelivery", retry, ds[0])
	assertDelivery(t, "d2 after UpdateDelivery", delivered, ds[1])
	assertDelivery(t, "d4 after UpdateDelivery", gaveUp, list(r2)[1])

	// d5's lease ran out (t0+65s), d1 is due again (t0+2m), d3 is due (t0+10m); d2 and d4 are
	// done for good.
	if ids := deliveryIDs(claimD(t0.Add(time.Hour), 10, lease)); !reflect.DeepEqual(ids, []string{"d5", "d1", "d3"}) {
		t.Fatalf("ClaimDeliveries after the updates = %v, want d5 d1 d3", ids)
	}
	// Leased at one instant, they fall due together: then the oldest created goes first.
	if ids := deliveryIDs(claimD(t0.Add(24*time.Hour), 10, lease)); !reflect.DeepEqual(ids, []string{"d1", "d3", "d5"}) {
		t.Fatalf("ClaimDeliveries after the leases = %v, want d1 d3 d5", ids)
	}
}
