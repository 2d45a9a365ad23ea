package retention_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/postgres"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type store interface {
	hashike.ServerStore
	hashike.Pruning
}

// eachStore runs fn against a new SQLite and a new PostgreSQL store.
func eachStore(t *testing.T, fn func(t *testing.T, s store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "hashike.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time                       { return c.now }
func (c *clock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

func days(n int) *hashike.Duration {
	d := hashike.Duration(time.Duration(n) * 24 * time.Hour)
	return &d
}

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// addRun creates a run of job created at created, brought to state (ended a minute later),
// with one log line.
func addRun(t *testing.T, s store, id, job string, created time.Time, state hashike.RunState) {
	t.Helper()
	ctx := context.Background()
	r := &hashike.Run{ID: id, Family: "fam", Backend: "local", CreatedAt: created, Job: job,
		Spec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "fam",
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app"}}}}}
	if job != "" {
		r.JobVersion, r.Attempt, r.RootID, r.Trigger = 1, 1, id, "api"
	}
	if state == hashike.StateQueued {
		r.State, r.Queue = hashike.StateQueued, "q"
	}
	if _, _, err := s.CreateRun(ctx, r); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	if err := s.AppendLogs(ctx, id, []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: created,
		Data: []byte("line of " + id + "\n")}}); err != nil {
		t.Fatalf("AppendLogs: %v", err)
	}
	if state == hashike.StateQueued || state == hashike.StatePending {
		return
	}
	end := created.Add(time.Minute)
	if _, err := s.UpdateRun(ctx, id, hashike.RunUpdate{At: end, State: state, FinishedAt: &end, Settled: job != "" && state.Terminal()}); err != nil {
		t.Fatalf("UpdateRun: %v", err)
	}
}

func logLines(t *testing.T, s hashike.Store, id string) int {
	t.Helper()
	n := 0
	if _, err := s.ReadLogs(context.Background(), id, 0, func(hashike.LogEntry) error { n++; return nil }); err != nil {
		t.Fatalf("ReadLogs %s: %v", id, err)
	}
	return n
}

func exists(t *testing.T, s hashike.Store, id string) bool {
	t.Helper()
	_, err := s.GetRun(context.Background(), id)
	if hashike.ErrorCodeOf(err) == hashike.ENotFound {
		return false
	}
	if err != nil {
		t.Fatalf("GetRun %s: %v", id, err)
	}
	return true
}

// counting wraps a store, records the batch sizes of its deletes, and fails every call while
// down is set (a database outage).
type counting struct {
	store
	mu       sync.Mutex
	down     bool
	logBatch []int
	runBatch []int
}

var errOutage = &hashike.Error{Code: hashike.EUnavailable, Message: "database unreachable"}

func (c *counting) fail() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errOutage
	}
	return nil
}

func (c *counting) ExpiredLogs(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	if err := c.fail(); err != nil {
		return nil, err
	}
	return c.store.ExpiredLogs(ctx, q)
}

func (c *counting) ExpiredRuns(ctx context.Context, q hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	if err := c.fail(); err != nil {
		return nil, err
	}
	return c.store.ExpiredRuns(ctx, q)
}

func (c *counting) DeleteLogs(ctx context.Context, ids []string, now time.Time) (int, error) {
	if err := c.fail(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.logBatch = append(c.logBatch, len(ids))
	c.mu.Unlock()
	return c.store.DeleteLogs(ctx, ids, now)
}

func (c *counting) DeleteRuns(ctx context.Context, ids []string) ([]string, error) {
	if err := c.fail(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.runBatch = append(c.runBatch, len(ids))
	c.mu.Unlock()
	return c.store.DeleteRuns(ctx, ids)
}

func newPruner(t *testing.T, cfg retention.Config) *retention.Pruner {
	t.Helper()
	p, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPruneBatchesAndSparesActive: 23 expired runs with batches of 10 are deleted in
// transactions of 10, 10 and 3; active runs and young runs are kept, however old the active.
func TestPruneBatchesAndSparesActive(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		for i := range 23 {
			addRun(t, s, fmt.Sprintf("old-%02d", i), "", day0.Add(time.Duration(i)*time.Second), hashike.StateSucceeded)
		}
		addRun(t, s, "old-running", "", day0, hashike.StateRunning)
		addRun(t, s, "old-pending", "", day0, hashike.StatePending)
		addRun(t, s, "old-queued", "nightly", day0, hashike.StateQueued)
		addRun(t, s, "young", "", day0.AddDate(0, 0, 9), hashike.StateFailed)
		c := &counting{store: s}
		clk := &clock{now: day0.AddDate(0, 0, 10)}
		p := newPruner(t, retention.Config{Store: c, Clock: clk, Batch: 10})
		policy := retention.Policy{Default: hashike.Retention{Logs: days(7), Runs: days(8)}}
		rep, err := p.Prune(context.Background(), policy, false)
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if rep.Logs != 23 || rep.Runs != 23 {
			t.Fatalf("report: logs %d, runs %d; want 23 and 23", rep.Logs, rep.Runs)
		}
		if !reflect.DeepEqual(c.logBatch, []int{10, 10, 3}) || !reflect.DeepEqual(c.runBatch, []int{10, 10, 3}) {
			t.Fatalf("delete batches: logs %v, runs %v; want [10 10 3] each", c.logBatch, c.runBatch)
		}
		for _, id := range []string{"old-running", "old-pending", "old-queued", "young"} {
			if !exists(t, s, id) || logLines(t, s, id) != 1 {
				t.Errorf("run %s or its log was deleted", id)
			}
		}
		if exists(t, s, "old-00") || exists(t, s, "old-22") {
			t.Error("an expired run is still there")
		}
	})
}

// TestPruneDryRunWritesNothing: a dry run reports what a pass would delete and deletes
// nothing, archives nothing.
func TestPruneDryRunWritesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		for i := range 5 {
			addRun(t, s, fmt.Sprintf("r%d", i), "", day0, hashike.StateSucceeded)
		}
		arch := &archive{}
		c := &counting{store: s}
		p := newPruner(t, retention.Config{Store: c, Clock: &clock{now: day0.AddDate(0, 0, 30)}, Archive: arch, Batch: 2})
		policy := retention.Policy{Default: hashike.Retention{Logs: days(7), Runs: days(20)}}
		rep, err := p.Prune(context.Background(), policy, true)
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if !rep.DryRun || rep.Logs != 5 || rep.Runs != 5 {
			t.Fatalf("dry-run report %+v; want 5 logs and 5 runs", rep)
		}
		if len(c.logBatch)+len(c.runBatch) != 0 || len(arch.calls()) != 0 {
			t.Fatalf("a dry run deleted (%v %v) or archived (%v)", c.logBatch, c.runBatch, arch.calls())
		}
		for i := range 5 {
			if logLines(t, s, fmt.Sprintf("r%d", i)) != 1 {
				t.Fatal("a dry run deleted logs")
			}
		}
		// The same pass for real deletes what the dry run said.
		real, err := p.Prune(context.Background(), policy, false)
		if err != nil || real.Logs != rep.Logs || real.Runs != rep.Runs {
			t.Fatalf("real pass = %+v, %v; want the dry run's counts", real, err)
		}
	})
}

// archive is a fake Archive: it checks the run's logs are still in the store when asked, and
// fails for the runs in failFor.
type archive struct {
	s       hashike.Store
	failFor map[string]bool
	mu      sync.Mutex
	called  []string
	had     map[string]int // log lines the store held at EnsureArchived
}

func (a *archive) EnsureArchived(ctx context.Context, runID string) error {
	a.mu.Lock()
	a.called = append(a.called, runID)
	a.mu.Unlock()
	if a.s != nil {
		n := 0
		if _, err := a.s.ReadLogs(ctx, runID, 0, func(hashike.LogEntry) error { n++; return nil }); err != nil {
			return err
		}
		a.mu.Lock()
		if a.had == nil {
			a.had = map[string]int{}
		}
		if _, ok := a.had[runID]; !ok { // the first call: the one before the logs went
			a.had[runID] = n
		}
		a.mu.Unlock()
	}
	if a.failFor[runID] {
		return errors.New("object store unreachable")
	}
	return nil
}

func (a *archive) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.called)
}

// TestPruneArchivesBeforeDeleting: every run's logs are archived while still in the
// database, before they go; a run whose archiving fails keeps its logs and its row, and a
// later pass (archive fixed) deletes them.
func TestPruneArchivesBeforeDeleting(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		for i := range 4 {
			addRun(t, s, fmt.Sprintf("r%d", i), "", day0, hashike.StateSucceeded)
		}
		arch := &archive{s: s, failFor: map[string]bool{"r1": true, "r2": true}}
		p := newPruner(t, retention.Config{Store: s, Clock: &clock{now: day0.AddDate(0, 0, 30)}, Archive: arch})
		policy := retention.Policy{Default: hashike.Retention{Logs: days(7), Runs: days(20)}}
		rep, err := p.Prune(context.Background(), policy, false)
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if rep.Logs != 2 || rep.Runs != 2 || rep.Kept != 4 || len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0], "r1") {
			t.Fatalf("report %+v; want logs and runs of r0 and r3 deleted, r1 and r2 kept twice (logs, runs) with their errors", rep)
		}
		for _, id := range []string{"r0", "r3"} {
			if arch.had[id] != 1 {
				t.Errorf("run %s had %d log lines in the database when archived, want 1: archived after its logs went", id, arch.had[id])
			}
			if exists(t, s, id) {
				t.Errorf("run %s archived and expired is still there", id)
			}
		}
		for _, id := range []string{"r1", "r2"} {
			if !exists(t, s, id) || logLines(t, s, id) != 1 {
				t.Errorf("run %s, whose archiving failed, lost its row or logs", id)
			}
		}
		arch.failFor = nil
		rep, err = p.Prune(context.Background(), policy, false)
		if err != nil || rep.Logs != 2 || rep.Runs != 2 || rep.Kept != 0 {
			t.Fatalf("second pass = %+v, %v; want r1 and r2 deleted", rep, err)
		}
	})
}

// TestPruneAfterOutage: a pass during a database outage fails and deletes nothing; the next
// pass, once the database is back, deletes everything due.
func TestPruneAfterOutage(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		for i := range 5 {
			addRun(t, s, fmt.Sprintf("r%d", i), "", day0, hashike.StateSucceeded)
		}
		c := &counting{store: s, down: true}
		p := newPruner(t, retention.Config{Store: c, Clock: &clock{now: day0.AddDate(0, 0, 30)}, Batch: 2})
		policy := retention.Policy{Default: hashike.Retention{Runs: days(20)}}
		rep, err := p.Prune(context.Background(), policy, false)
		if hashike.ErrorCodeOf(err) != hashike.EUnavailable || rep.Runs != 0 {
			t.Fatalf("Prune during the outage = %+v, %v; want EUnavailable and nothing deleted", rep, err)
		}
		c.mu.Lock()
		c.down = false
		c.mu.Unlock()
		rep, err = p.Prune(context.Background(), policy, false)
		if err != nil || rep.Runs != 5 {
			t.Fatalf("Prune after the outage = %+v, %v; want 5 runs deleted", rep, err)
		}
	})
}

// TestPrunePerJob: a job's own retention replaces the default for its runs, field by field,
// and "0s" keeps forever.
func TestPrunePerJob(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		addRun(t, s, "plain", "", day0, hashike.StateSucceeded)
		addRun(t, s, "audit", "audit", day0, hashike.StateSucceeded)
		addRun(t, s, "chatty", "chatty", day0, hashike.StateSucceeded)
		addRun(t, s, "other", "other", day0, hashike.StateSucceeded)
		zero := hashike.Duration(0)
		policy := retention.Policy{
			Default: hashike.Retention{Logs: days(7), Runs: days(60)},
			Jobs: []retention.Job{
				{Name: "audit", Family: "audit", Retention: hashike.Retention{Logs: &zero, Runs: &zero}},
				{Name: "chatty", Family: "chatty", Retention: hashike.Retention{Runs: days(10)}},
				{Name: "other", Family: "other", Retention: hashike.Retention{Archive: days(1)}},
			},
		}
		p := newPruner(t, retention.Config{Store: s, Clock: &clock{now: day0.AddDate(0, 0, 20)}})
		if _, err := p.Prune(context.Background(), policy, false); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string][2]bool{ // exists, has logs
			"plain": {true, false}, "audit": {true, true}, "chatty": {false, false}, "other": {true, false},
		} {
			got := [2]bool{exists(t, s, id), false}
			if got[0] {
				got[1] = logLines(t, s, id) > 0
			}
			if got != want {
				t.Errorf("run %s: (exists, has logs) = %v, want %v", id, got, want)
			}
		}
	})
}

func TestScopes(t *testing.T) {
	now := day0
	zero := hashike.Duration(0)
	tests := []struct {
		name   string
		policy retention.Policy
		want   []retention.Scope
	}{
		{"nothing configured keeps forever", retention.Policy{}, nil},
		{"default only", retention.Policy{Default: hashike.Retention{Logs: days(7)}},
			[]retention.Scope{{LogsBefore: now.AddDate(0, 0, -7)}}},
		{"a job keeping forever is left out of the default", retention.Policy{
			Default: hashike.Retention{Runs: days(400)},
			Jobs:    []retention.Job{{Name: "audit", Retention: hashike.Retention{Runs: &zero}}}},
			[]retention.Scope{{Except: []string{"audit"}, RunsBefore: now.AddDate(0, 0, -400)}}},
		{"a job's fields over the default", retention.Policy{
			Default: hashike.Retention{Logs: days(7), Runs: days(400)},
			Jobs: []retention.Job{{Name: "b", Retention: hashike.Retention{Logs: days(1)}},
				{Name: "a", Retention: hashike.Retention{Archive: days(3)}}}},
			[]retention.Scope{{Job: "b", LogsBefore: now.AddDate(0, 0, -1), RunsBefore: now.AddDate(0, 0, -400)},
				{Except: []string{"b"}, LogsBefore: now.AddDate(0, 0, -7), RunsBefore: now.AddDate(0, 0, -400)}}},
		{"a job with a retention and no default", retention.Policy{
			Jobs: []retention.Job{{Name: "a", Retention: hashike.Retention{Runs: days(2)}}}},
			[]retention.Scope{{Job: "a", RunsBefore: now.AddDate(0, 0, -2)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Scopes(now); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Scopes = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	before := retention.Policy{Default: hashike.Retention{Archive: days(90)},
		Jobs: []retention.Job{{Name: "j", Family: "fam-j", Retention: hashike.Retention{Archive: &zero}}}}.ArchiveBefore(now)
	if c, ok := before("other"); !ok || !c.Equal(now.AddDate(0, 0, -90)) {
		t.Fatalf("archive cutoff of a family without its own = %s, %v", c, ok)
	}
	if _, ok := before("fam-j"); ok {
		t.Fatal("a family kept forever has an archive cutoff")
	}
}

// objects is an in-memory ObjectStore.
type objects struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (o *objects) Put(_ context.Context, key string, body io.Reader, _ int64, _ hashike.PutOptions) error {
	b, err := io.ReadAll(body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string][]byte{}
	}
	o.m[key] = b
	return err
}

func (o *objects) Get(context.Context, string) (io.ReadCloser, hashike.ObjectInfo, error) {
	return io.NopCloser(bytes.NewReader(nil)), hashike.ObjectInfo{}, errors.New("not used")
}

func (o *objects) Stat(context.Context, string) (hashike.ObjectInfo, error) {
	return hashike.ObjectInfo{}, errors.New("not used")
}

func (o *objects) List(_ context.Context, prefix string, fn func(hashike.ObjectInfo) error) error {
	o.mu.Lock()
	var keys []string
	for k := range o.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	o.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		o.mu.Lock()
		size := int64(len(o.m[k]))
		o.mu.Unlock()
		if err := fn(hashike.ObjectInfo{Key: k, Size: size}); err != nil {
			return err
		}
	}
	return nil
}

func (o *objects) Delete(_ context.Context, keys ...string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range keys {
		delete(o.m, k)
	}
	return nil
}

func (o *objects) keys() []string {
	var out []string
	_ = o.List(context.Background(), "", func(i hashike.ObjectInfo) error { out = append(out, i.Key); return nil })
	return out
}

// layout is a date-partitioned layout: logs/FAMILY/YYYY/MM/DD/...
var layout = retention.ArchiveLayout{Prefixes: []string{"logs/"}, Parse: func(o hashike.ObjectInfo) (string, time.Time, bool) {
	parts := strings.Split(o.Key, "/")
	if len(parts) < 6 {
		return "", time.Time{}, false
	}
	day, err := time.Parse("2006/01/02", strings.Join(parts[2:5], "/"))
	return parts[1], day, err == nil
}}

// TestPruneArchive: archived objects of the days entirely before their family's archive
// cutoff are deleted; the rest, and objects outside the layout, stay. A dry run deletes none.
func TestPruneArchive(t *testing.T) {
	o := &objects{}
	for _, k := range []string{
		"logs/web/2026/02/01/run-1.jsonl.zst", // 28 days before day0: past 7 days
		"logs/web/2026/02/21/run-2.jsonl.zst", // the day ends at the cutoff (day0 - 7d): goes
		"logs/web/2026/02/22/run-3.jsonl.zst", // ends after the cutoff: stays
		"logs/audit/2026/01/01/run-4.jsonl.zst",
		"logs/README",
		"payloads/2020/01/01/x",
	} {
		if err := o.Put(context.Background(), k, strings.NewReader("data"), 4, hashike.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	zero := hashike.Duration(0)
	policy := retention.Policy{Default: hashike.Retention{Archive: days(7)},
		Jobs: []retention.Job{{Name: "audit", Family: "audit", Retention: hashike.Retention{Archive: &zero}}}}
	p := newPruner(t, retention.Config{Store: nopStore{}, Clock: &clock{now: day0}, Objects: o, Layout: layout})
	rep, err := p.Prune(context.Background(), policy, true)
	if err != nil || rep.ArchiveObjects != 2 || rep.ArchiveBytes != 8 || len(o.keys()) != 6 {
		t.Fatalf("dry run = %+v, %v, %d objects left; want 2 objects (8 bytes) reported, none deleted", rep, err, len(o.keys()))
	}
	if _, err := p.Prune(context.Background(), policy, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"logs/README", "logs/audit/2026/01/01/run-4.jsonl.zst", "logs/web/2026/02/22/run-3.jsonl.zst", "payloads/2020/01/01/x"}
	if got := o.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("objects left %v\nwant %v", got, want)
	}
}

// nopStore has nothing to prune.
type nopStore struct{}

func (nopStore) ExpiredLogs(context.Context, hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	return nil, nil
}
func (nopStore) ExpiredRuns(context.Context, hashike.ExpiryQuery) ([]hashike.RunKey, error) {
	return nil, nil
}
func (nopStore) DeleteLogs(context.Context, []string, time.Time) (int, error) { return 0, nil }
func (nopStore) DeleteRuns(context.Context, []string) ([]string, error)       { return nil, nil }

// TestPruneDeletesRunObjects: a deleted run's objects (payload, result) leave the object store
// with its row; those of runs kept stay, and a dry run deletes none.
func TestPruneDeletesRunObjects(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		addRun(t, s, "old", "", day0, hashike.StateSucceeded)
		addRun(t, s, "young", "", day0.AddDate(0, 0, 9), hashike.StateSucceeded)
		o := &objects{}
		for _, k := range []string{"runs/old/payload.json", "runs/old/result", "runs/young/result", "runs/older/result"} {
			if err := o.Put(context.Background(), k, strings.NewReader("{}"), 2, hashike.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		p := newPruner(t, retention.Config{Store: s, Clock: &clock{now: day0.AddDate(0, 0, 10)}, Objects: o,
			RunObjects: func(id string) string { return "runs/" + id + "/" }})
		policy := retention.Policy{Default: hashike.Retention{Runs: days(8)}}
		for _, dry := range []bool{true, false} {
			rep, err := p.Prune(context.Background(), policy, dry)
			if err != nil || rep.Runs != 1 {
				t.Fatalf("Prune (dry %t) = %+v, %v; want the old run", dry, rep, err)
			}
			want := []string{"runs/old/payload.json", "runs/old/result", "runs/older/result", "runs/young/result"}
			if !dry {
				want = []string{"runs/older/result", "runs/young/result"}
			}
			var got []string
			if err := o.List(context.Background(), "", func(i hashike.ObjectInfo) error { got = append(got, i.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("objects after a pass (dry %t) = %v, want %v", dry, got, want)
			}
		}
	})
}
