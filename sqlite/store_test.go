package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/sqlite"
	"github.com/hashike/hashike/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hashike.Store {
		return open(t, filepath.Join(t.TempDir(), "hashike.db"))
	})
}

// TestLogStore runs the LogStore suite on the store's own log table.
func TestLogStore(t *testing.T) {
	storetest.RunLogs(t, func(t *testing.T) storetest.LogSubject {
		s := open(t, filepath.Join(t.TempDir(), "hashike.db"))
		t.Cleanup(func() { s.Close() })
		return storetest.LogSubject{Logs: s, Runs: s}
	})
}

// TestLogArchiveIndex runs the LogArchiveIndex suite.
func TestLogArchiveIndex(t *testing.T) {
	storetest.RunLogArchiveIndex(t, func(t *testing.T) storetest.ArchiveIndexSubject {
		s := open(t, filepath.Join(t.TempDir(), "hashike.db"))
		t.Cleanup(func() { s.Close() })
		return storetest.ArchiveIndexSubject{Index: s, Runs: s}
	})
}

// TestServerStore runs the ServerStore suite; a second handle on the same file stands for
// another replica.
func TestServerStore(t *testing.T) {
	var mu sync.Mutex
	paths := map[hashike.ServerStore]string{}
	storetest.RunServer(t, func(t *testing.T) hashike.ServerStore {
		path := filepath.Join(t.TempDir(), "hashike.db")
		s := open(t, path)
		mu.Lock()
		paths[s] = path
		mu.Unlock()
		return s
	}, func(t *testing.T, s hashike.ServerStore) hashike.ServerStore {
		mu.Lock()
		path := paths[s]
		mu.Unlock()
		return open(t, path)
	})
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 1, time.UTC)

func newRun(id string) *hashike.Run {
	return &hashike.Run{ID: id, Family: "job", Backend: "local", CreatedAt: t0,
		Spec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "job",
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app"}}}}}
}

// TestTwoStoresOneFile uses two Stores on one file, as a `run` process and a `wait` follower
// do: each sees the other's writes at once, and their writes interleave without loss.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hashike.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()

	id := "01jd0000000000000000000001"
	if _, _, err := a.CreateRun(ctx, newRun(id)); err != nil {
		t.Fatal(err)
	}
	r, err := b.GetRun(ctx, id[:8])
	if err != nil || r.ID != id {
		t.Fatalf("b.GetRun = %v, %v", r, err)
	}
	if _, err := b.UpdateRun(ctx, id, hashike.RunUpdate{At: t0.Add(time.Second), State: hashike.StateRunning}); err != nil {
		t.Fatal(err)
	}
	if r, err := a.GetRun(ctx, id); err != nil || r.State != hashike.StateRunning {
		t.Fatalf("a sees %v, %v after b's update", r, err)
	}
	// a's stale view does not let it make an illegal move: the check runs under the lock.
	if _, err := b.UpdateRun(ctx, id, hashike.RunUpdate{At: t0.Add(2 * time.Second), State: hashike.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	_, err = a.UpdateRun(ctx, id, hashike.RunUpdate{At: t0.Add(3 * time.Second), State: hashike.StateStopping})
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("a moved a run b had finished: %v", err)
	}

	// One writes logs while the other follows them.
	const batches, perBatch = 50, 20
	var wg sync.WaitGroup
	wg.Add(1)
	appendErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := range batches {
			var es []hashike.LogEntry
			for j := range perBatch {
				es = append(es, hashike.LogEntry{Container: "app", Stream: hashike.Stdout,
					Time: t0.Add(time.Duration(i*perBatch + j)), Data: fmt.Appendf(nil, "%d\n", i*perBatch+j)})
			}
			if err := a.AppendLogs(ctx, id, es); err != nil {
				appendErr <- err
				return
			}
		}
		appendErr <- nil
	}()
	var pos int64
	var n int
	for n < batches*perBatch {
		next, err := b.ReadLogs(ctx, id, pos, func(e hashike.LogEntry) error {
			if want := fmt.Sprintf("%d\n", n); string(e.Data) != want {
				return fmt.Errorf("entry %d is %q", n, e.Data)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pos = next
		select {
		case err := <-appendErr:
			if err != nil {
				t.Fatal(err)
			}
			appendErr <- nil // let the loop drain what is left
			if n < batches*perBatch {
				continue
			}
		default:
		}
	}
	wg.Wait()

	// Concurrent writers in both stores: creates with one key, and owner takeovers.
	const writers = 6
	created := make(chan string, 2*writers)
	errs := make(chan error, 4*writers)
	run2 := "01jd0000000000000000000002"
	if _, _, err := a.CreateRun(ctx, newRun(run2)); err != nil {
		t.Fatal(err)
	}
	var won sync.Map
	for i := range 2 * writers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRun(fmt.Sprintf("01jd00000000000000000001%02d", i))
			r.IdempotencyKey = "shared"
			got, ok, err := s.CreateRun(ctx, r)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				created <- got.ID
			}
			_, err = s.UpdateRun(ctx, run2, hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{},
				SetOwner: &hashike.Owner{Host: "h", PID: i, Start: "x"}})
			switch {
			case err == nil:
				won.Store(i, true)
			case hashike.ErrorCodeOf(err) != hashike.EConflict:
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(created)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ids := collect(created); len(ids) != 1 {
		t.Errorf("runs created with one key across two stores: %v", ids)
	}
	winners := 0
	won.Range(func(any, any) bool { winners++; return true })
	if winners != 1 {
		t.Errorf("%d takeovers of one ownerless run succeeded, want 1", winners)
	}
}

func collect(c <-chan string) []string {
	var out []string
	for s := range c {
		out = append(out, s)
	}
	return out
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hashike.db")
	s := open(t, path)
	id := "01jd0000000000000000000001"
	if _, _, err := s.CreateRun(ctx, newRun(id)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs(ctx, id, []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: t0, Data: []byte("x\n")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if _, err := s.GetRun(ctx, id); err != nil {
		t.Fatal(err)
	}
	n := 0
	if _, err := s.ReadLogs(ctx, id, 0, func(hashike.LogEntry) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("ReadLogs after reopening: %d entries, %v", n, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashike.db")
	open(t, path).Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := sqlite.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
	var se *sqlite.SchemaError
	if !errors.As(err, &se) || se.Version != 999 || se.Known < 1 {
		t.Fatalf("Open = %v, want a *SchemaError for version 999", err)
	}
	t.Log(err)
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "hashike")
	path := filepath.Join(dir, "hashike.db")
	s := open(t, path)
	defer s.Close()
	if _, _, err := s.CreateRun(context.Background(), newRun("01jd0000000000000000000001")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		filepath.Dir(dir): 0o700 | os.ModeDir,
		dir:               0o700 | os.ModeDir,
		path:              0o600,
		path + "-wal":     0o600,
		path + "-shm":     0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?name#%41.db")
	s := open(t, path)
	defer s.Close()
	if _, _, err := s.CreateRun(context.Background(), newRun("01jd0000000000000000000001")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path given: %v", err)
	}
}

func TestReadLogsUnknownRun(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "hashike.db"))
	defer s.Close()
	_, err := s.ReadLogs(context.Background(), "nope", 0, func(hashike.LogEntry) error { return nil })
	if hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("ReadLogs of an unknown run = %v, want ENotFound", err)
	}
	err = s.AppendLogs(context.Background(), "nope", []hashike.LogEntry{{Container: "app", Time: t0}})
	if hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("AppendLogs of an unknown run = %v, want ENotFound", err)
	}
}

// TestConcurrentOpen opens one new file from several goroutines at once, as processes
// started together would: each must succeed, and the schema must be created once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "hashike.db")
	const n = 6
	stores := make([]*sqlite.Store, n)
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			stores[i], errs[i] = sqlite.Open(path)
		}()
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, s := range stores {
		id := fmt.Sprintf("01jd%022d", i)
		if _, _, err := s.CreateRun(context.Background(), newRun(id)); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		if _, err := stores[(i+1)%n].GetRun(context.Background(), id); err != nil {
			t.Fatalf("store %d: %v", (i+1)%n, err)
		}
	}
}

func TestPruning(t *testing.T) {
	storetest.RunPruning(t, func(t *testing.T) storetest.PruningStore {
		return open(t, filepath.Join(t.TempDir(), "hashike.db"))
	})
}
