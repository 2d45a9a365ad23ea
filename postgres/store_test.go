package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/postgres"
	"github.com/hashike/hashike/storetest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestStore runs the conformance suite, each subtest on a new database.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hashike.Store {
		return open(t, pgtest.DSN(t))
	})
}

// TestLogStore runs the LogStore suite on the store's own log table.
func TestLogStore(t *testing.T) {
	storetest.RunLogs(t, func(t *testing.T) storetest.LogSubject {
		s := open(t, pgtest.DSN(t))
		t.Cleanup(func() { s.Close() })
		return storetest.LogSubject{Logs: s, Runs: s}
	})
}

// TestLogArchiveIndex runs the LogArchiveIndex suite.
func TestLogArchiveIndex(t *testing.T) {
	storetest.RunLogArchiveIndex(t, func(t *testing.T) storetest.ArchiveIndexSubject {
		s := open(t, pgtest.DSN(t))
		t.Cleanup(func() { s.Close() })
		return storetest.ArchiveIndexSubject{Index: s, Runs: s}
	})
}

// TestServerStore runs the ServerStore conformance suite, each subtest on a new database;
// reopen opens another Store (its own pool) on the same database, as another replica.
func TestServerStore(t *testing.T) {
	dsns := map[hashike.ServerStore]string{}
	var mu sync.Mutex
	storetest.RunServer(t, func(t *testing.T) hashike.ServerStore {
		dsn := pgtest.DSN(t)
		s := open(t, dsn)
		mu.Lock()
		dsns[s] = dsn
		mu.Unlock()
		return s
	}, func(t *testing.T, s hashike.ServerStore) hashike.ServerStore {
		mu.Lock()
		dsn := dsns[s]
		mu.Unlock()
		return open(t, dsn)
	})
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 1, time.UTC)

func newRun(id string) *hashike.Run {
	return &hashike.Run{ID: id, Family: "job", Backend: "local", CreatedAt: t0,
		Spec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "job",
			ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "app"}}}}}
}

// TestTwoReplicas uses two Stores, each with its own pool, on one database, as two replicas
// of a server do: each sees the other's writes, a stale view cannot make an illegal move,
// logs written by one are followed by the other, and races between them on an idempotency
// key and on an owner takeover have exactly one winner.
func TestTwoReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()

	id := "01jd0000000000000000000001"
	if _, _, err := a.CreateRun(ctx, newRun(id)); err != nil {
		t.Fatal(err)
	}
	if r, err := b.GetRun(ctx, id[:8]); err != nil || r.ID != id {
		t.Fatalf("b.GetRun = %v, %v", r, err)
	}
	if _, err := b.UpdateRun(ctx, id, hashike.RunUpdate{At: t0.Add(time.Second), State: hashike.StateRunning}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UpdateRun(ctx, id, hashike.RunUpdate{At: t0.Add(2 * time.Second), State: hashike.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	_, err := a.UpdateRun(ctx, id, hashike.RunUpdate{At: t0.Add(3 * time.Second), State: hashike.StateStopping})
	if hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("a moved a run b had finished: %v", err)
	}

	// Both replicas append to one run while the second follows it: every entry arrives once,
	// and each replica's entries in the order it appended them.
	const batches, perBatch = 40, 10
	var wg sync.WaitGroup
	appendErrs := make(chan error, 2)
	for w, s := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				var es []hashike.LogEntry
				for j := range perBatch {
					es = append(es, hashike.LogEntry{Container: fmt.Sprint(w), Stream: hashike.Stdout,
						Time: t0.Add(time.Duration(i*perBatch + j)), Data: fmt.Appendf(nil, "%d\n", i*perBatch+j)})
				}
				if err := s.AppendLogs(ctx, id, es); err != nil {
					appendErrs <- err
					return
				}
			}
		}()
	}
	appended := make(chan struct{})
	go func() { wg.Wait(); close(appended) }()
	var pos int64
	seen := map[string]int{"0": 0, "1": 0}
	follow := func() {
		next, err := b.ReadLogs(ctx, id, pos, func(e hashike.LogEntry) error {
			if want := fmt.Sprintf("%d\n", seen[e.Container]); string(e.Data) != want {
				return fmt.Errorf("writer %s: entry %q, want %q", e.Container, e.Data, want)
			}
			seen[e.Container]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pos = next
	}
	for done := false; !done; {
		select {
		case <-appended:
			done = true
		default:
		}
		follow()
	}
	close(appendErrs)
	for err := range appendErrs {
		t.Fatal(err)
	}
	if seen["0"] != batches*perBatch || seen["1"] != batches*perBatch {
		t.Fatalf("follower read %v entries per writer, want %d each", seen, batches*perBatch)
	}
	if pos != 2*batches {
		t.Errorf("final position %d, want %d (one per append)", pos, 2*batches)
	}

	// Races across the replicas: creates with one key, then takeovers of an ownerless run.
	const writers = 8
	run2 := "01jd0000000000000000000002"
	if _, _, err := a.CreateRun(ctx, newRun(run2)); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		created []string
		byKey   = map[string]bool{}
		won     []int
		errs    []error
		start   sync.WaitGroup
	)
	start.Add(1)
	for i := range writers {
		s := []*postgres.Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRun(fmt.Sprintf("01jd00000000000000000001%02d", i))
			r.IdempotencyKey = "shared"
			start.Wait()
			got, ok, err := s.CreateRun(ctx, r)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			_, terr := s.UpdateRun(ctx, run2, hashike.RunUpdate{IfOwner: &hashike.OwnerMatch{},
				SetOwner: &hashike.Owner{Host: "h", PID: i, Start: "x"}})
			mu.Lock()
			defer mu.Unlock()
			byKey[got.ID] = true
			if ok {
				created = append(created, got.ID)
			}
			switch {
			case terr == nil:
				won = append(won, i)
			case hashike.ErrorCodeOf(terr) != hashike.EConflict:
				errs = append(errs, terr)
			}
		}()
	}
	start.Done()
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(created) != 1 || len(byKey) != 1 {
		t.Errorf("runs created with one key across two replicas: %v; runs returned: %v", created, byKey)
	}
	if len(won) != 1 {
		t.Fatalf("takeovers of one ownerless run that succeeded: %v, want exactly one", won)
	}
	if r, err := a.GetRun(ctx, run2); err != nil || r.Owner == nil || r.Owner.PID != won[0] {
		t.Fatalf("stored owner %+v (%v), winner %d", r.Owner, err, won[0])
	}
}

// TestConcurrentOpen opens one new database from several Stores at once, as replicas started
// together do: each must succeed, and each migration must be applied once.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			stores[i], errs[i] = postgres.Open(context.Background(), dsn)
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
	conn := connect(t, dsn)
	var versions, distinct int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version) FROM hashike_migrations`).Scan(&versions, &distinct); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if versions != len(entries) || distinct != versions {
		t.Fatalf("hashike_migrations has %d rows (%d versions), want one per migration file (%d)", versions, distinct, len(entries))
	}
}

// TestOpenWithoutCreatePrivilege: a role that may use the tables but not create any (a
// least-privilege deployment, migrated by another role) opens an up-to-date database.
func TestOpenWithoutCreatePrivilege(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	conn := connect(t, dsn)
	role := conn.Config().Database + "_app" // unique like the database
	password := role + "_pw"
	ident := pgx.Identifier{role}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE ROLE `+ident+` LOGIN PASSWORD '`+password+`'`); err != nil {
		t.Skipf("cannot create a role on this server: %v", err)
	}
	t.Cleanup(func() {
		conn.Exec(ctx, `DROP OWNED BY `+ident)
		if _, err := conn.Exec(ctx, `DROP ROLE `+ident); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	for _, q := range []string{
		`REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
		`GRANT USAGE ON SCHEMA public TO ` + ident,
		`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ` + ident,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg := conn.Config()
	s, err := postgres.Open(ctx, fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s",
		cfg.Host, cfg.Port, cfg.Database, role, password))
	if err != nil {
		t.Fatalf("Open as a role without CREATE: %v", err)
	}
	defer s.Close()
	if _, _, err := s.CreateRun(ctx, newRun("01jd0000000000000000000001")); err != nil {
		t.Fatal(err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	id := "01jd0000000000000000000001"
	if _, _, err := s.CreateRun(ctx, newRun(id)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs(ctx, id, []hashike.LogEntry{{Container: "app", Stream: hashike.Stdout, Time: t0, Data: []byte("x\n")}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
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
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	if _, err := connect(t, dsn).Exec(context.Background(), `INSERT INTO hashike_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(context.Background(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
	var se *postgres.SchemaError
	if !errors.As(err, &se) || se.Version != 999 || se.Known < 1 || !strings.HasPrefix(se.Database, "hashike_test_") {
		t.Fatalf("Open = %v, want a *SchemaError for version 999", err)
	}
	t.Log(err)
}

// TestTimes checks the ends of the accepted range (years 0 to 9999, the zero time.Time
// included) and the microsecond split of negative times (before 1970, before year 1).
func TestTimes(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.DSN(t))
	defer s.Close()
	for i, at := range []time.Time{
		{},
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, -1),
		time.Unix(0, 1),
		time.Date(9999, 12, 31, 23, 59, 59, 999999998, time.UTC).In(time.FixedZone("", 14*3600)),
	} {
		id := fmt.Sprintf("01jd%022d", i)
		r := newRun(id)
		r.CreatedAt, r.StartedAt = at, &at
		got, _, err := s.CreateRun(ctx, r)
		if err != nil {
			t.Errorf("%s: %v", at, err)
			continue
		}
		if !got.CreatedAt.Equal(at) || !got.StartedAt.Equal(at) {
			t.Errorf("%s came back as %s, %s", at, got.CreatedAt, got.StartedAt)
		}
		got, err = s.UpdateRun(ctx, id, hashike.RunUpdate{At: at.Add(1), State: hashike.StateRunning})
		if err != nil {
			t.Errorf("%s: %v", at, err)
		} else if last := got.History[len(got.History)-1]; !last.At.Equal(at.Add(1)) {
			t.Errorf("transition at %s came back as %s", at.Add(1), last.At)
		}
	}
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		r := newRun("01jd1000000000000000000001")
		r.CreatedAt = at
		if _, _, err := s.CreateRun(ctx, r); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("CreateRun at %s = %v, want EInvalid", at, err)
		}
	}
}

// TestTextPostgreSQLRefuses: text columns cannot hold NUL bytes or invalid UTF-8; such input
// is EInvalid and writes nothing. JSON columns keep \u0000 (json, not jsonb).
func TestTextPostgreSQLRefuses(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.DSN(t))
	defer s.Close()
	for name, mutate := range map[string]func(*hashike.Run){
		"NUL in family":       func(r *hashike.Run) { r.Family = "a\x00b" },
		"invalid UTF-8 in ID": func(r *hashike.Run) { r.ID = "01jd\xff" },
		"NUL in key":          func(r *hashike.Run) { r.IdempotencyKey = "\x00" },
	} {
		r := newRun("01jd0000000000000000000001")
		mutate(r)
		if _, _, err := s.CreateRun(ctx, r); hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("%s: CreateRun = %v, want EInvalid", name, err)
		}
	}
	if runs, err := s.ListRuns(ctx, hashike.RunFilter{}); err != nil || len(runs) != 0 {
		t.Fatalf("refused creates stored %d runs (%v)", len(runs), err)
	}
	// Looking up such an ID finds nothing, as no run can have it.
	for _, id := range []string{"01jd\xff", "01jd\x00"} {
		_, err := s.GetRun(ctx, id)
		wantCode(t, err, hashike.ENotFound, fmt.Sprintf("GetRun %q", id))
		_, err = s.UpdateRun(ctx, id, hashike.RunUpdate{Task: &hashike.TaskRef{ID: "t"}})
		wantCode(t, err, hashike.ENotFound, fmt.Sprintf("UpdateRun %q", id))
		_, err = s.ReadLogs(ctx, id, 0, func(hashike.LogEntry) error { return nil })
		wantCode(t, err, hashike.ENotFound, fmt.Sprintf("ReadLogs %q", id))
		err = s.AppendLogs(ctx, id, []hashike.LogEntry{{Container: "app", Time: t0}})
		wantCode(t, err, hashike.ENotFound, fmt.Sprintf("AppendLogs %q", id))
	}
	if runs, err := s.ListRuns(ctx, hashike.RunFilter{Family: "a\x00b"}); err != nil || len(runs) != 0 {
		t.Fatalf("ListRuns of an impossible family = %v, %v", runs, err)
	}

	r := newRun("01jd0000000000000000000001")
	r.Spec.TaskDefinition.ContainerDefinitions[0].Environment = []hashike.KeyValuePair{{Name: "NUL", Value: "a\x00b"}}
	if _, _, err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Spec.TaskDefinition.ContainerDefinitions[0].Environment[0].Value; v != "a\x00b" {
		t.Fatalf("environment value came back as %q", v)
	}
	_, err = s.UpdateRun(ctx, r.ID, hashike.RunUpdate{At: t0, State: hashike.StateRunning, Reason: "\x00"})
	if hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("UpdateRun with a NUL in the reason = %v, want EInvalid", err)
	}
	if got, err := s.GetRun(ctx, r.ID); err != nil || got.State != hashike.StatePending {
		t.Fatalf("refused update: state %v, %v", got.State, err)
	}
}

func wantCode(t *testing.T, err error, code hashike.ErrorCode, what string) {
	t.Helper()
	if got := hashike.ErrorCodeOf(err); err == nil || got != code {
		t.Errorf("%s = %v (%s), want %s", what, err, got, code)
	}
}

func TestReadLogsUnknownRun(t *testing.T) {
	s := open(t, pgtest.DSN(t))
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

// TestUnavailable: a server that is not there is EUnavailable, for Open and for a Store
// whose server went away.
func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "host="+filepath.Join(t.TempDir(), "nothing-here")+" port=5432 user=postgres dbname=x connect_timeout=5")
	if hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Fatalf("Open of a missing server = %v, want EUnavailable", err)
	}
	t.Log(err)

	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	defer s.Close()
	id := "01jd0000000000000000000001"
	if _, _, err := s.CreateRun(ctx, newRun(id)); err != nil {
		t.Fatal(err)
	}
	// The server ends the Store's connections (as at a restart or a failover).
	conn := connect(t, dsn)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	// The pool finds out on its next use: the error, if any, says the server is unavailable.
	if _, err := s.GetRun(ctx, id); err != nil && hashike.ErrorCodeOf(err) != hashike.EUnavailable {
		t.Fatalf("GetRun on a terminated connection = %v, want EUnavailable or success", err)
	} else {
		t.Logf("GetRun on a terminated connection: %v", err)
	}
	if _, err := s.GetRun(ctx, id); err != nil {
		t.Fatalf("GetRun once the pool has reconnected: %v", err)
	}
}

func TestOpenBadDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://%zz")
	if hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Fatalf("Open with a malformed DSN = %v, want EInvalid", err)
	}
}

func TestPruning(t *testing.T) {
	storetest.RunPruning(t, func(t *testing.T) storetest.PruningStore {
		return open(t, pgtest.DSN(t))
	})
}
