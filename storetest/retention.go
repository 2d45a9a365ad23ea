package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// PruningStore is a ServerStore with the Pruning role.
type PruningStore interface {
	hashike.ServerStore
	hashike.Pruning
}

// RunPruning is the conformance suite of the Pruning role. Beyond the port's documentation it
// pins down: a run's age is its FinishedAt (a run that ended at the cutoff stays); listings
// are by (CreatedAt, ID) ascending and After pages past a run whether or not it still exists;
// a run of `hashike run` (no Job) is never settled and needs not be; ExceptJobs never leaves
// out runs without a job. open must return a new, empty store each time.
func RunPruning(t *testing.T, open func(t *testing.T) PruningStore) {
	runClosing(t, open, []suiteCase[PruningStore]{
		{"ExpiredLogsAgeAndState", testExpiredLogsAgeAndState},
		{"ExpiredPaging", testExpiredPaging},
		{"DeleteLogs", testDeleteLogs},
		{"ExpiredRunsSpareDependents", testExpiredRunsSpareDependents},
		{"DeleteRuns", testDeleteRuns},
		{"ExpiryScopes", testExpiryScopes},
		{"BatchBounds", testBatchBounds},
	})
}

// day0 is when the suite's runs are created; they end a minute later unless said otherwise.
var day0 = time.Date(2026, 1, 10, 8, 0, 0, 500, time.UTC)

// endedRun creates a run of job ("" for one of `hashike run`) at created, ends it in state at
// created+1m, settles it when settled, and gives it one log append.
func endedRun(t *testing.T, s hashike.ServerStore, id, job string, created time.Time, state hashike.RunState, settled bool) {
	t.Helper()
	r := newRun(id, "fam", created)
	if job != "" {
		r.Job, r.JobVersion, r.Attempt, r.RootID, r.Trigger = job, 1, 1, id, "api"
	}
	create(t, s, r)
	appendLog(t, s, id, "hello from "+id)
	end := created.Add(time.Minute)
	if state.Terminal() {
		update(t, s, id, hashike.RunUpdate{At: end, State: state, FinishedAt: &end, Reason: "ended", Settled: settled})
	} else if state != hashike.StatePending {
		update(t, s, id, hashike.RunUpdate{At: end, State: state, Reason: "moved"})
	}
}

func appendLog(t *testing.T, s hashike.Store, id, line string) {
	t.Helper()
	if err := s.AppendLogs(context.Background(), id, []hashike.LogEntry{{Time: day0, Container: "app",
		Stream: hashike.Stdout, Data: []byte(line + "\n")}}); err != nil {
		t.Fatalf("AppendLogs %s: %v", id, err)
	}
}

func keyIDs(ks []hashike.RunKey) []string {
	out := []string{}
	for _, k := range ks {
		out = append(out, k.ID)
	}
	return out
}

func expiredLogs(t *testing.T, s hashike.Pruning, q hashike.ExpiryQuery) []string {
	t.Helper()
	ks, err := s.ExpiredLogs(context.Background(), q)
	if err != nil {
		t.Fatalf("ExpiredLogs %+v: %v", q, err)
	}
	return keyIDs(ks)
}

func expiredRuns(t *testing.T, s hashike.Pruning, q hashike.ExpiryQuery) []string {
	t.Helper()
	ks, err := s.ExpiredRuns(context.Background(), q)
	if err != nil {
		t.Fatalf("ExpiredRuns %+v: %v", q, err)
	}
	return keyIDs(ks)
}

func wantList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func logCount(t *testing.T, s hashike.Store, id string) int {
	t.Helper()
	entries, _ := readAll(t, s, id, 0)
	return len(entries)
}

// testExpiredLogsAgeAndState: only ended runs that ended before the cutoff are listed; an
// active run is never listed, however old.
func testExpiredLogsAgeAndState(t *testing.T, s PruningStore) {
	endedRun(t, s, sid("a", 1), "", day0, hashike.StateSucceeded, false)
	endedRun(t, s, sid("a", 2), "nightly", day0.Add(time.Second), hashike.StateFailed, true)
	endedRun(t, s, sid("a", 3), "", day0.Add(2*time.Second), hashike.StateRunning, false)
	endedRun(t, s, sid("a", 4), "", day0.Add(3*time.Second), hashike.StatePending, false)
	endedRun(t, s, sid("a", 5), "nightly", day0.Add(4*time.Second), hashike.StateLost, false) // unsettled: logs may go
	create(t, s, queuedRun(sid("a", 6), "q", 0, day0.Add(5*time.Second)))
	endedRun(t, s, sid("a", 7), "", day0.Add(time.Hour), hashike.StateCanceled, false)

	cutoff := day0.Add(time.Hour + time.Minute) // run 7 ended exactly at the cutoff: it stays
	wantList(t, "expired logs", expiredLogs(t, s, hashike.ExpiryQuery{Before: cutoff}),
		sid("a", 1), sid("a", 2), sid("a", 5))
	wantList(t, "expired logs a year on", expiredLogs(t, s, hashike.ExpiryQuery{Before: day0.AddDate(1, 0, 0)}),
		sid("a", 1), sid("a", 2), sid("a", 5), sid("a", 7))
	wantList(t, "expired logs before anything ended", expiredLogs(t, s, hashike.ExpiryQuery{Before: day0.Add(time.Minute)}))
}

// testExpiredPaging: Limit bounds a page, After continues it, past a run deleted since.
func testExpiredPaging(t *testing.T, s PruningStore) {
	for i := range 7 {
		endedRun(t, s, sid("p", i), "", day0.Add(time.Duration(i%3)*time.Second), hashike.StateSucceeded, false)
	}
	// Created at +0s: p0 p3 p6; +1s: p1 p4; +2s: p2 p5. Pages of 3 by (CreatedAt, ID).
	before := day0.Add(24 * time.Hour)
	var got []string
	var after *hashike.RunKey
	for page := 0; ; page++ {
		ks, err := s.ExpiredRuns(context.Background(), hashike.ExpiryQuery{Before: before, Limit: 3, After: after})
		if err != nil {
			t.Fatalf("ExpiredRuns page %d: %v", page, err)
		}
		if len(ks) > 3 {
			t.Fatalf("page %d has %d runs, limit 3", page, len(ks))
		}
		if len(ks) == 0 {
			break
		}
		if page == 0 {
			if gone, err := s.DeleteRuns(context.Background(), []string{ks[len(ks)-1].ID}); err != nil || len(gone) != 1 || gone[0] != ks[len(ks)-1].ID {
				t.Fatalf("DeleteRuns of the page's last run = %v, %v", gone, err)
			}
		}
		got = append(got, keyIDs(ks)...)
		after = &ks[len(ks)-1]
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	wantList(t, "runs over every page", got, sid("p", 0), sid("p", 3), sid("p", 6), sid("p", 1), sid("p", 4), sid("p", 2), sid("p", 5))
	ks, err := s.ExpiredLogs(context.Background(), hashike.ExpiryQuery{Before: before, Limit: 2})
	if err != nil || len(ks) != 2 || ks[0].ID != sid("p", 0) || !ks[0].CreatedAt.Equal(day0) {
		t.Fatalf("ExpiredLogs limit 2 = %+v, %v; want p0 (created %s) first", ks, err, day0)
	}
}

// testDeleteLogs: the logs of ended runs go, the run stays, and the run is listed no more;
// a run still active passed by mistake keeps its logs. Idempotent.
func testDeleteLogs(t *testing.T, s PruningStore) {
	ctx := context.Background()
	endedRun(t, s, sid("l", 1), "", day0, hashike.StateSucceeded, false)
	endedRun(t, s, sid("l", 2), "nightly", day0, hashike.StateFailed, true)
	endedRun(t, s, sid("l", 3), "", day0, hashike.StateRunning, false)
	appendLog(t, s, sid("l", 1), "second append")
	n, err := s.DeleteLogs(ctx, []string{sid("l", 1), sid("l", 3), "no-such-run"}, day0.Add(48*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteLogs = %d, %v; want 1 (the running run and the unknown one skipped)", n, err)
	}
	if c := logCount(t, s, sid("l", 1)); c != 0 {
		t.Fatalf("run l1 still has %d log entries after DeleteLogs", c)
	}
	if c := logCount(t, s, sid("l", 3)); c != 1 {
		t.Fatalf("the running run has %d log entries after DeleteLogs, want its 1", c)
	}
	if c := logCount(t, s, sid("l", 2)); c != 1 {
		t.Fatalf("run l2 (not passed) has %d log entries, want 1", c)
	}
	r := get(t, s, sid("l", 1))
	if r.State != hashike.StateSucceeded || len(r.History) != 2 {
		t.Fatalf("run l1 after DeleteLogs: state %s, %d transitions; want it kept whole", r.State, len(r.History))
	}
	wantList(t, "expired logs after the delete", expiredLogs(t, s, hashike.ExpiryQuery{Before: day0.AddDate(0, 1, 0)}), sid("l", 2))
	if n, err := s.DeleteLogs(ctx, []string{sid("l", 1)}, day0.Add(49*time.Hour)); err != nil || n != 0 {
		t.Fatalf("DeleteLogs again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteLogs(ctx, nil, day0); err != nil || n != 0 {
		t.Fatalf("DeleteLogs of nothing = %d, %v", n, err)
	}
}

// testExpiredRunsSpareDependents: runs the server still depends on are never listed nor
// deleted: an unsettled ended run of a job, and every try of an enqueue one of whose tries is
// queued, running or unsettled.
func testExpiredRunsSpareDependents(t *testing.T, s PruningStore) {
	ctx := context.Background()
	endedRun(t, s, sid("d", 1), "", day0, hashike.StateSucceeded, false)       // hashike run: no settling
	endedRun(t, s, sid("d", 2), "nightly", day0, hashike.StateSucceeded, true) // settled
	endedRun(t, s, sid("d", 3), "nightly", day0, hashike.StateFailed, false)   // unsettled
	endedRun(t, s, sid("d", 4), "nightly", day0, hashike.StateFailed, true)    // retried: try 2 queued
	retry := queuedRun(sid("d", 5), "q", 0, day0.Add(time.Hour))
	retry.Attempt, retry.RootID, retry.RetryOf, retry.Trigger = 2, sid("d", 4), sid("d", 4), "retry"
	create(t, s, retry)
	endedRun(t, s, sid("d", 6), "nightly", day0, hashike.StateFailed, true) // retried: try 2 ended, unsettled
	r7 := newRun(sid("d", 7), "fam", day0.Add(time.Hour))
	r7.Job, r7.JobVersion, r7.Attempt, r7.RootID, r7.RetryOf, r7.Trigger = "nightly", 1, 2, sid("d", 6), sid("d", 6), "retry"
	create(t, s, r7)
	end := day0.Add(2 * time.Hour)
	update(t, s, sid("d", 7), hashike.RunUpdate{At: end, State: hashike.StateFailed, FinishedAt: &end})

	before := day0.AddDate(0, 0, 30)
	wantList(t, "expired runs", expiredRuns(t, s, hashike.ExpiryQuery{Before: before}), sid("d", 1), sid("d", 2))
	all := []string{sid("d", 1), sid("d", 2), sid("d", 3), sid("d", 4), sid("d", 5), sid("d", 6), sid("d", 7)}
	gone, err := s.DeleteRuns(ctx, all)
	if err != nil || !slices.Equal(gone, []string{sid("d", 1), sid("d", 2)}) {
		t.Fatalf("DeleteRuns of every run = %v, %v; want d1 and d2 (only those the server no longer needs)", gone, err)
	}
	for _, id := range all[2:] {
		get(t, s, id)
	}
	// Once the retry chain has ended and settled, it goes as a whole.
	update(t, s, sid("d", 7), hashike.RunUpdate{Settled: true})
	wantList(t, "expired runs once d7 settled", expiredRuns(t, s, hashike.ExpiryQuery{Before: before}), sid("d", 6), sid("d", 7))
}

// testDeleteRuns: a deleted run is gone with its transitions, logs and notifications; tokens,
// jobs and other runs are untouched.
func testDeleteRuns(t *testing.T, s PruningStore) {
	ctx := context.Background()
	endedRun(t, s, sid("x", 1), "nightly", day0, hashike.StateFailed, true)
	endedRun(t, s, sid("x", 2), "nightly", day0, hashike.StateSucceeded, true)
	if err := s.AddDeliveries(ctx, []hashike.Delivery{{ID: "dl-1", RunID: sid("x", 1), Event: "failure", Kind: "webhook",
		URL: "https://example.com/h", Body: []byte(`{}`), CreatedAt: day0, NextAt: day0}}); err != nil {
		t.Fatalf("AddDeliveries: %v", err)
	}
	if err := s.CreateToken(ctx, hashike.Token{ID: "tok-1", Name: "ci", Hash: "abc123", Scope: hashike.ScopeRead, CreatedAt: day0}); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	for _, name := range []string{hashike.RunObjectPayload, hashike.RunObjectResult} {
		for _, id := range []string{sid("x", 1), sid("x", 2)} {
			if err := s.PutRunObject(ctx, hashike.RunObject{RunID: id, Name: name, Key: "runs/" + id + "/" + name, Size: 2, CreatedAt: day0}); err != nil {
				t.Fatalf("PutRunObject: %v", err)
			}
		}
	}
	if gone, err := s.DeleteRuns(ctx, []string{sid("x", 1)}); err != nil || !slices.Equal(gone, []string{sid("x", 1)}) {
		t.Fatalf("DeleteRuns = %v, %v", gone, err)
	}
	// The deleted run's records of objects go with it; the other run keeps its own.
	for _, name := range []string{hashike.RunObjectPayload, hashike.RunObjectResult} {
		_, err := s.GetRunObject(ctx, sid("x", 1), name)
		wantCode(t, err, hashike.ENotFound, "GetRunObject "+name+" of a deleted run")
		if _, err := s.GetRunObject(ctx, sid("x", 2), name); err != nil {
			t.Fatalf("GetRunObject %s of the run not deleted: %v", name, err)
		}
	}
	_, err := s.GetRun(ctx, sid("x", 1))
	wantCode(t, err, hashike.ENotFound, "GetRun of a deleted run")
	_, err = s.ReadLogs(ctx, sid("x", 1), 0, func(hashike.LogEntry) error { return nil })
	wantCode(t, err, hashike.ENotFound, "ReadLogs of a deleted run")
	if ds, err := s.ListDeliveries(ctx, sid("x", 1)); err != nil || len(ds) != 0 {
		t.Fatalf("ListDeliveries of a deleted run = %d deliveries, %v", len(ds), err)
	}
	if ds, err := s.ClaimDeliveries(ctx, day0.Add(time.Hour), 10, time.Minute); err != nil || len(ds) != 0 {
		t.Fatalf("ClaimDeliveries after the run was deleted = %d, %v; want none", len(ds), err)
	}
	if _, err := s.TokenByHash(ctx, "abc123"); err != nil {
		t.Fatalf("TokenByHash after DeleteRuns: %v", err)
	}
	if r := get(t, s, sid("x", 2)); len(r.History) != 2 || logCount(t, s, sid("x", 2)) != 1 {
		t.Fatalf("the run not deleted lost its history or logs: %d transitions", len(r.History))
	}
	wantIDs(t, "runs listed", listRuns(t, s, hashike.RunFilter{}), sid("x", 2))
	// A run created again with a deleted run's ID starts with a history of its own.
	endedRun(t, s, sid("x", 1), "", day0.Add(time.Hour), hashike.StateSucceeded, false)
	if r := get(t, s, sid("x", 1)); len(r.History) != 2 {
		t.Fatalf("a new run with a deleted run's ID has %d transitions, want 2: %+v", len(r.History), r.History)
	}
}

// testExpiryScopes: Job selects one job's runs; ExceptJobs leaves jobs out but never the runs
// without a job.
func testExpiryScopes(t *testing.T, s PruningStore) {
	endedRun(t, s, sid("s", 1), "", day0, hashike.StateSucceeded, false)
	endedRun(t, s, sid("s", 2), "nightly", day0, hashike.StateSucceeded, true)
	endedRun(t, s, sid("s", 3), "hourly", day0, hashike.StateSucceeded, true)
	endedRun(t, s, sid("s", 4), "weekly", day0, hashike.StateSucceeded, true)
	before := day0.AddDate(0, 0, 1)
	for _, list := range []struct {
		name string
		fn   func(*testing.T, hashike.Pruning, hashike.ExpiryQuery) []string
	}{{"logs", expiredLogs}, {"runs", expiredRuns}} {
		wantList(t, list.name+" of job hourly", list.fn(t, s, hashike.ExpiryQuery{Before: before, Job: "hourly"}), sid("s", 3))
		wantList(t, list.name+" except hourly and weekly", list.fn(t, s, hashike.ExpiryQuery{Before: before, ExceptJobs: []string{"hourly", "weekly"}}),
			sid("s", 1), sid("s", 2))
		wantList(t, list.name+" of an unknown job", list.fn(t, s, hashike.ExpiryQuery{Before: before, Job: "none"}))
	}
}

// testBatchBounds: a batch larger than MaxPruneBatch is refused and nothing is written; bad
// queries are EInvalid.
func testBatchBounds(t *testing.T, s PruningStore) {
	ctx := context.Background()
	endedRun(t, s, sid("b", 0), "", day0, hashike.StateSucceeded, false)
	ids := []string{sid("b", 0)}
	for i := 1; i <= hashike.MaxPruneBatch; i++ {
		ids = append(ids, fmt.Sprintf("missing-%d", i))
	}
	_, err := s.DeleteRuns(ctx, ids)
	wantCode(t, err, hashike.EInvalid, "DeleteRuns of MaxPruneBatch+1 runs")
	_, err = s.DeleteLogs(ctx, ids, day0)
	wantCode(t, err, hashike.EInvalid, "DeleteLogs of MaxPruneBatch+1 runs")
	get(t, s, sid("b", 0))
	if logCount(t, s, sid("b", 0)) != 1 {
		t.Fatal("a refused DeleteLogs deleted logs")
	}
	for _, q := range []hashike.ExpiryQuery{
		{},
		{Before: day0, Limit: hashike.MaxPruneBatch + 1},
		{Before: day0, Limit: -1},
		{Before: day0, Job: "a", ExceptJobs: []string{"b"}},
	} {
		_, err := s.ExpiredRuns(ctx, q)
		wantCode(t, err, hashike.EInvalid, fmt.Sprintf("ExpiredRuns %+v", q))
		_, err = s.ExpiredLogs(ctx, q)
		wantCode(t, err, hashike.EInvalid, fmt.Sprintf("ExpiredLogs %+v", q))
	}
}
