package archive_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/archive"
	"github.com/hashike/hashike/sqlite"
	"github.com/hashike/hashike/storetest"
	"github.com/klauspost/compress/zstd"
)

type fixture struct {
	db      *sqlite.Store
	path    string
	objects *memObjects
	arch    *archive.Archiver
	logs    *archive.Logs
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hashike.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	objects := newMemObjects()
	return &fixture{
		db: db, path: path, objects: objects,
		arch: &archive.Archiver{Runs: db, Logs: db, Index: db, Objects: objects, SegmentBytes: 400},
		logs: &archive.Logs{DB: db, Index: db, Objects: objects},
	}
}

// t0 is 2 s before midnight UTC, in another zone: output crosses a dt partition.
var t0 = time.Date(2026, 12, 6, 8, 59, 58, 123456789, time.FixedZone("JST", 9*3600))

func (f *fixture) createRun(t testing.TB, id, family string) {
	t.Helper()
	sp := hashike.JobSpec{Backend: "local", TaskDefinition: hashike.TaskDefinition{Family: family,
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app:1"}, {Name: "proxy", Image: "envoy:1"}}}}
	run := &hashike.Run{ID: id, Family: family, Backend: "local", Spec: sp, Digest: sp.Digest(), Resources: sp.Resources(),
		State: hashike.StatePending, CreatedAt: t0}
	if _, _, err := f.db.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.UpdateRun(context.Background(), id, hashike.RunUpdate{At: t0, State: hashike.StateRunning, StartedAt: &t0}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) endRun(t testing.TB, id string) {
	t.Helper()
	end := t0.Add(time.Hour)
	if _, err := f.db.UpdateRun(context.Background(), id, hashike.RunUpdate{At: end, State: hashike.StateSucceeded, FinishedAt: &end}); err != nil {
		t.Fatal(err)
	}
}

// dropDBLogs deletes the run's output from the database, as the pruner does.
func (f *fixture) dropDBLogs(t *testing.T, id string) {
	t.Helper()
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA busy_timeout = 5000; DELETE FROM run_logs WHERE run_id = ?`, id); err != nil {
		t.Fatal(err)
	}
}

// output is a run's output with what is hard to keep: two containers interleaved, both
// streams, lines without a newline, an empty entry, escapes, invalid UTF-8, a NUL, times
// across midnight UTC and entries in one nanosecond.
func output(n int) [][]hashike.LogEntry {
	var batches [][]hashike.LogEntry
	var b []hashike.LogEntry
	for i := range n {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		cont, stream := "app", hashike.Stdout
		if i%3 == 1 {
			cont = "proxy"
		}
		if i%5 == 2 {
			stream = hashike.Stderr
		}
		var data string
		switch i % 7 {
		case 0:
			data = fmt.Sprintf("line %d ok\n", i)
		case 1:
			data = fmt.Sprintf("progress %d%%\r", i)
		case 2:
			data = ""
		case 3:
			data = fmt.Sprintf("quote \" backslash \\ tab \t nul \x00 ünïcode ✓ <html>&amp; %d\n", i)
		case 4:
			data = fmt.Sprintf("binary \xff\xfe %d\n", i)
		case 5:
			data = fmt.Sprintf("ERROR request %d timed out\n", i)
			at = at.Add(-50 * time.Millisecond)
		default:
			data = fmt.Sprintf("two\nlines %d\n", i)
		}
		b = append(b, hashike.LogEntry{Container: cont, Stream: stream, Time: at, Data: []byte(data)})
		if len(b) == 9 {
			batches = append(batches, b)
			b = nil
		}
	}
	if len(b) > 0 {
		batches = append(batches, b)
	}
	return batches
}

func appendAll(t *testing.T, s hashike.LogStore, id string, batches [][]hashike.LogEntry) []hashike.LogEntry {
	t.Helper()
	var all []hashike.LogEntry
	for _, b := range batches {
		if err := s.AppendLogs(context.Background(), id, b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func readAll(t *testing.T, s hashike.LogStore, id string) ([]hashike.LogEntry, int64) {
	t.Helper()
	var got []hashike.LogEntry
	next, err := s.ReadLogs(context.Background(), id, 0, func(e hashike.LogEntry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadLogs %s: %v", id, err)
	}
	return got, next
}

func sameEntries(t *testing.T, what string, want, got []hashike.LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Container != w.Container || g.Stream != w.Stream || !g.Time.Equal(w.Time) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: entry %d = {%s %s %s %q}, want {%s %s %s %q}", what, i, g.Container, g.Stream,
				g.Time.Format(time.RFC3339Nano), g.Data, w.Container, w.Stream, w.Time.Format(time.RFC3339Nano), w.Data)
		}
	}
}

// TestLogStoreSuite: with an archive, the LogStore behaves as the database's.
func TestLogStoreSuite(t *testing.T) {
	storetest.RunLogs(t, func(t *testing.T) storetest.LogSubject {
		f := newFixture(t)
		return storetest.LogSubject{Logs: f.logs, Runs: f.db}
	})
}

// TestArchiveThenRead: a run archived while it runs (rolling segments) and at its end reads back
// byte for byte from the archive once the database's copy is gone, and its objects are where
// Athena's tables expect them.
func TestArchiveThenRead(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := "01jd0000000000000000000001"
	f.createRun(t, id, "web")
	batches := output(120)
	all := appendAll(t, f.db, id, batches[:6])
	if err := f.arch.Roll(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.arch.EnsureArchived(ctx, id); hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("EnsureArchived of a running run = %v, want EConflict", err)
	}
	rolled := len(f.objects.keys(""))
	if rolled == 0 {
		t.Fatal("Roll archived nothing")
	}
	all = append(all, appendAll(t, f.db, id, batches[6:])...)
	f.endRun(t, id)
	if err := f.arch.EnsureArchived(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.arch.EnsureArchived(ctx, id); err != nil {
		t.Fatalf("EnsureArchived again: %v", err)
	}
	_, dbNext := readAll(t, f.db, id)

	arc, err := f.db.LogArchive(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !arc.Complete || arc.Through != dbNext || arc.ThroughLine != int64(len(all)) {
		t.Fatalf("archive complete %v through %d (%d lines), want complete through %d (%d lines)", arc.Complete, arc.Through,
			arc.ThroughLine, dbNext, len(all))
	}
	// The layout: both copies of every indexed segment, and nothing else.
	var want []string
	for _, g := range arc.Segments {
		want = append(want, g.TaskKey, g.ServiceKey)
		if !strings.HasPrefix(g.TaskKey, "logs/by-task/family=web/container="+g.Container+"/run="+id+"/") {
			t.Errorf("task key %s", g.TaskKey)
		}
		dt := g.FirstAt.UTC().Format(time.DateOnly)
		if wantKey := fmt.Sprintf("logs/by-service/family=web/container=%s/dt=%s/%s-%06d.json.zst", g.Container, dt, id, g.Seq); g.ServiceKey != wantKey {
			t.Errorf("service key %s, want %s", g.ServiceKey, wantKey)
		}
		if g.FirstAt.UTC().Format(time.DateOnly) != g.LastAt.UTC().Format(time.DateOnly) {
			t.Errorf("segment %s spans %s..%s: a segment holds one UTC day", g.TaskKey, g.FirstAt.UTC(), g.LastAt.UTC())
		}
	}
	got := f.objects.keys("")
	if !reflect.DeepEqual(sorted(want), got) {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(sorted(want), "\n"))
	}
	if !containsPrefix(got, "logs/by-service/family=web/container=app/dt=2026-12-05/") ||
		!containsPrefix(got, "logs/by-service/family=web/container=app/dt=2026-12-06/") {
		t.Errorf("the output crosses midnight UTC: want segments under dt=2026-12-05 and dt=2026-12-06, have:\n%s", strings.Join(got, "\n"))
	}

	// Read back from the database, then from the archive once the database's copy is gone.
	fromDB, _ := readAll(t, f.logs, id)
	sameEntries(t, "read before pruning", all, fromDB)
	f.dropDBLogs(t, id)
	if got, _ := readAll(t, f.db, id); len(got) != 0 {
		t.Fatalf("the database still has %d entries", len(got))
	}
	fromArchive, next := readAll(t, f.logs, id)
	sameEntries(t, "read from the archive", all, fromArchive)
	if next != dbNext {
		t.Errorf("ReadLogs from the archive returned position %d, want the database's %d", next, dbNext)
	}
	// Every segment is a zstd stream of JSON lines with every line number once.
	seen := map[int64]int{}
	for _, key := range f.objects.keys("logs/by-service/") {
		for _, line := range decodeLines(t, f.objects.m[key]) {
			var n int64
			if _, err := fmt.Sscanf(line[strings.Index(line, `"n":`)+4:], "%d", &n); err != nil {
				t.Fatalf("%s: %q: %v", key, line, err)
			}
			seen[n]++
		}
	}
	for n := range int64(len(all)) {
		if seen[n] != 1 {
			t.Errorf("line %d is in %d by-service segments, want 1", n, seen[n])
		}
	}
}

// failingIndex fails its failAt-th AddLogSegments: a crash after a segment's objects were
// written and before they were indexed.
type failingIndex struct {
	hashike.LogArchiveIndex
	n, failAt int
}

func (x *failingIndex) AddLogSegments(ctx context.Context, runID string, segs []hashike.LogSegment, through, throughLine int64, complete bool) error {
	x.n++
	if x.n == x.failAt {
		return errCrash
	}
	return x.LogArchiveIndex.AddLogSegments(ctx, runID, segs, through, throughLine, complete)
}

// TestCrashAnywhere: an archiver that dies after any of its writes (an object or an index row),
// while the run runs or after it ended, loses nothing and duplicates nothing once it runs again.
func TestCrashAnywhere(t *testing.T) {
	ctx := context.Background()
	id := "01jd0000000000000000000001"
	batches := output(90)
	// How many writes a clean archive makes.
	clean := newFixture(t)
	counted := &failingIndex{LogArchiveIndex: clean.db}
	clean.arch.Index = counted
	clean.createRun(t, id, "web")
	all := appendAll(t, clean.db, id, batches[:4])
	if err := clean.arch.Roll(ctx, id); err != nil {
		t.Fatal(err)
	}
	all = append(all, appendAll(t, clean.db, id, batches[4:])...)
	clean.endRun(t, id)
	if err := clean.arch.EnsureArchived(ctx, id); err != nil {
		t.Fatal(err)
	}
	puts, adds := clean.objects.puts, counted.n
	if puts < 10 || adds < 4 {
		t.Fatalf("a clean archive made %d puts and %d index writes: too few to crash in between", puts, adds)
	}
	crash := func(t *testing.T, f *fixture, x *failingIndex) {
		f.createRun(t, id, "web")
		appendAll(t, f.db, id, batches[:4])
		rollErr := f.arch.Roll(ctx, id)
		appendAll(t, f.db, id, batches[4:])
		f.endRun(t, id)
		err := rollErr
		if err == nil {
			err = f.arch.EnsureArchived(ctx, id)
		}
		if err == nil {
			t.Fatal("the crash was not reported")
		}
		f.objects.failAt, x.failAt = 0, 0
		if err := f.arch.EnsureArchived(ctx, id); err != nil {
			t.Fatalf("EnsureArchived after the crash: %v", err)
		}
		f.dropDBLogs(t, id)
		got, _ := readAll(t, f.logs, id)
		sameEntries(t, "after the crash", all, got)
		seen := map[int64]int{}
		for _, key := range f.objects.keys("logs/by-service/") {
			for _, line := range decodeLines(t, f.objects.m[key]) {
				var n int64
				if _, err := fmt.Sscanf(line[strings.Index(line, `"n":`)+4:], "%d", &n); err != nil {
					t.Fatal(err)
				}
				seen[n]++
			}
		}
		for n := range int64(len(all)) {
			if seen[n] != 1 {
				t.Fatalf("line %d is in %d by-service segments, want 1", n, seen[n])
			}
		}
	}
	for failAt := 1; failAt <= puts; failAt++ {
		t.Run(fmt.Sprintf("put%d", failAt), func(t *testing.T) {
			f := newFixture(t)
			x := &failingIndex{LogArchiveIndex: f.db}
			f.arch.Index, f.objects.failAt = x, failAt
			crash(t, f, x)
		})
	}
	for failAt := 1; failAt <= adds; failAt++ {
		t.Run(fmt.Sprintf("index%d", failAt), func(t *testing.T) {
			f := newFixture(t)
			x := &failingIndex{LogArchiveIndex: f.db, failAt: failAt}
			f.arch.Index = x
			crash(t, f, x)
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func containsPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func decodeLines(t *testing.T, obj []byte) []string {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	b, err := dec.DecodeAll(obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func errorsAs(err error, target **hashike.Error) bool { return errors.As(err, target) }
