// Package sqlite keeps hashike's run history in a SQLite database file: a hashike.Store for
// one machine, shared by every hashike process on it, and the hashike.ServerStore of a
// `hashike server` on one machine (replicas on one host may share the file).
//
// Several processes use the same file at once (the `run` process, a detached supervisor, a
// `wait` follower). The file is in WAL mode so readers never block the writer; each Store
// writes through one connection and only in BEGIN IMMEDIATE transactions, which take the
// database's write lock before reading, so a read-modify-write (an idempotent create, an
// owner compare-and-set, a legal-transition check) cannot be overtaken by another process.
// Contention waits up to BusyTimeout; past that the error is hashike.EUnavailable.
//
// The schema is created and upgraded by the SQL files in migrations/, applied in order; the
// number applied is the database's user_version. A database written by a newer hashike
// (a higher user_version than this package knows) is refused with a *SchemaError.
//
// The Store never reads the clock: every time it records comes from the caller.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/schema"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// BusyTimeout is how long a statement waits for another connection's lock before failing.
const BusyTimeout = 10 * time.Second

// walAutocheckpoint is how many WAL pages the writer lets build up before it checkpoints
// them into the database file (SQLite's default is 1000). Every checkpoint syncs both files;
// a server's queue commits a dozen pages per run, so the default checkpoints every ~80
// enqueues, and on a busy disk those syncs set the pace. 8000 pages (32 MiB of WAL at most,
// in the usual case of one writer) checkpoints an eighth as often and writes a hot index page
// once per checkpoint rather than eight times: BenchmarkEnqueueClaim gains about a fifth.
const walAutocheckpoint = 8000

// maxReaders bounds the read-only pool. Readers in WAL mode do not block each other or the
// writer; a few cover a process's concurrent GetRun/ReadLogs callers.
const maxReaders = 4

//go:embed migrations/*.sql
var migrationFiles embed.FS

var (
	_ hashike.Store       = (*Store)(nil)
	_ hashike.ServerStore = (*Store)(nil)
)

// Store is a hashike.ServerStore in a SQLite file. It is safe for concurrent use, and any
// number of Stores (in this process or others) may use the same file.
type Store struct {
	path string
	w    *sql.DB // one connection: every write, in BEGIN IMMEDIATE transactions
	r    *sql.DB // read-only connections
	stmt statements
	// group commits concurrent CreateRun and UpdateRun calls together.
	group group
	// updates are UpdateRun's statements, one per set of columns written.
	updates stmtCache
	// read are GetRun's and GetJob's statements, prepared on the read-only pool.
	read readStatements
	// specs decodes the runs' specs.
	specs hashike.SpecCache
}

// readStatements are GetRun's and GetJob's statements on the read-only pool (database/sql
// prepares them on each of its connections as it first uses them there).
type readStatements struct {
	runIDs, runByID, history, jobVersion, jobLatest *sql.Stmt
}

func (st *readStatements) all() []**sql.Stmt {
	return []**sql.Stmt{&st.runIDs, &st.runByID, &st.history, &st.jobVersion, &st.jobLatest}
}

func (st *readStatements) prepare(ctx context.Context, db *sql.DB) error {
	queries := []string{
		`SELECT id FROM runs WHERE id >= ? ORDER BY id LIMIT 2`,
		`SELECT ` + runColumns + ` FROM runs WHERE id = ?`,
		historyQuery,
		`SELECT ` + jobColumns + ` FROM jobs WHERE name = ? AND version = ?`,
		`SELECT ` + jobColumns + ` FROM jobs WHERE name = ? ORDER BY version DESC LIMIT 1`,
	}
	for i, dst := range st.all() {
		var err error
		if *dst, err = db.PrepareContext(ctx, queries[i]); err != nil {
			return fmt.Errorf("prepare %q: %w", queries[i], err)
		}
	}
	return nil
}

func (st *readStatements) close() error {
	var errs []error
	for _, s := range st.all() {
		if *s != nil {
			errs = append(errs, (*s).Close())
		}
	}
	return errors.Join(errs...)
}

// stmtCache holds statements prepared once per query text, for statements put together from
// a few fixed pieces. get must not be called inside a transaction of a pool of one
// connection: preparing needs a connection of its own.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// statements are the hot paths' statements (creating, reading and claiming runs), prepared
// once on the writer's connection and used in its transactions through Tx.StmtContext:
// compiling them each time would cost about as much as running them.
type statements struct {
	insertRun, insertFirstTransition, insertQueueItem, deleteQueueItem *sql.Stmt
	runByID, runByKey, history                                         *sql.Stmt
	queueSnapshot, queueHead                                           *sql.Stmt
	dispatch, dispatchTransitions, dequeue, runsByIDs, historiesByIDs  *sql.Stmt
	runState, appendTransition, moveQueueItem                          *sql.Stmt
	savepoint, release, rollbackTo                                     *sql.Stmt
}

func (st *statements) all() []**sql.Stmt {
	return []**sql.Stmt{&st.insertRun, &st.insertFirstTransition, &st.insertQueueItem, &st.deleteQueueItem,
		&st.runByID, &st.runByKey, &st.history, &st.queueSnapshot, &st.queueHead,
		&st.dispatch, &st.dispatchTransitions, &st.dequeue, &st.runsByIDs, &st.historiesByIDs,
		&st.runState, &st.appendTransition, &st.moveQueueItem,
		&st.savepoint, &st.release, &st.rollbackTo}
}

func (st *statements) prepare(ctx context.Context, db *sql.DB) error {
	queries := []string{
		`INSERT INTO runs (` + runColumns + `) VALUES (` + runValues + `)`,
		`INSERT INTO run_transitions (run_id, seq, from_state, to_state, at, reason) VALUES (?, 1, '', ?, ?, '')`,
		`INSERT INTO queue_items (run_id, seq, queue, priority, enqueued_at, not_before) VALUES (?, ?, ?, ?, ?, ?)`,
		`DELETE FROM queue_items WHERE run_id = ?`,
		`SELECT ` + runColumns + ` FROM runs WHERE id = ?`,
		`SELECT ` + runColumns + ` FROM runs WHERE idempotency_key = ?`,
		historyQuery,
		queueSnapshotQuery,
		queueHeadQuery,
		`UPDATE runs SET state = 'pending', owner = ? WHERE id IN (SELECT value FROM json_each(?)) AND +state = 'queued'`,
		`INSERT INTO run_transitions (run_id, seq, from_state, to_state, at, reason)
			SELECT j.value, (SELECT COALESCE(MAX(t.seq), 0) + 1 FROM run_transitions t WHERE t.run_id = j.value),
				'queued', 'pending', ?, 'dispatched'
			FROM json_each(?) j`,
		`DELETE FROM queue_items WHERE run_id IN (SELECT value FROM json_each(?))`,
		`SELECT ` + runColumns + ` FROM runs WHERE id IN (SELECT value FROM json_each(?))`,
		`SELECT run_id, from_state, to_state, at, reason FROM run_transitions
			WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY run_id, seq`,
		`SELECT state, stop_cause, owner FROM runs WHERE id = ?`,
		`INSERT INTO run_transitions (run_id, seq, from_state, to_state, at, reason)
			SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM run_transitions WHERE run_id = ?`,
		`UPDATE queue_items SET not_before = ? WHERE run_id = ?`,
		`SAVEPOINT write`,
		`RELEASE write`,
		`ROLLBACK TO write`,
	}
	for i, dst := range st.all() {
		var err error
		if *dst, err = db.PrepareContext(ctx, queries[i]); err != nil {
			return fmt.Errorf("prepare %q: %w", queries[i], err)
		}
	}
	return nil
}

func (st *statements) close() error {
	var errs []error
	for _, s := range st.all() {
		if *s != nil {
			errs = append(errs, (*s).Close())
		}
	}
	return errors.Join(errs...)
}

// SchemaError reports a database whose schema is newer than this binary knows: it was
// written by a newer hashike, and this one must not touch it.
type SchemaError struct {
	Path    string
	Version int // the database's
	Known   int // the newest this package knows
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("sqlite: %s has schema version %d, newer than the %d this hashike knows: use a newer hashike",
		e.Path, e.Version, e.Known)
}

// Open opens the database at path, creating it (and its directory, mode 0700; the file is
// 0600: it holds job definitions and logs) if needed, and brings its schema up to date.
func Open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Create the file ourselves so that it gets 0600 (SQLite would use 0644); SQLite gives
	// the -wal and -shm files it creates the database file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	s := &Store{path: abs}
	busy := strconv.FormatInt(BusyTimeout.Milliseconds(), 10)
	s.w, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {busy},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_pragma":       {fmt.Sprintf("wal_autocheckpoint(%d)", walAutocheckpoint)},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if err := migrate(ctx, s.w, abs); err != nil {
		s.w.Close()
		return nil, err
	}
	if err := s.stmt.prepare(ctx, s.w); err != nil {
		s.Close()
		return nil, dbErr("open "+path, err)
	}

	// Opened after the writer has put the file in WAL mode, which a read-only connection
	// could not do.
	s.r, err = sql.Open("sqlite", dsn(abs, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {busy},
	}))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(maxReaders)
	s.r.SetMaxIdleConns(maxReaders)
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	if err := s.read.prepare(ctx, s.r); err != nil {
		s.Close()
		return nil, dbErr("open "+path, err)
	}
	return s, nil
}

// dsn is a file: URI (so that a path holding '?' or '#' stays a path, and SQLite applies
// mode=ro) with the driver's parameters.
func dsn(path string, q url.Values) string {
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

// Close closes both connection pools.
func (s *Store) Close() error {
	errs := []error{s.stmt.close(), s.updates.close(), s.read.close()}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// migrate applies the migrations the database lacks, each in its own write transaction that
// re-reads the version, so processes opening the same new file at once apply each just once.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	ms, err := schema.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return dbErr("open "+path, err)
	}
	if version > len(ms) {
		return &SchemaError{Path: path, Version: version, Known: len(ms)}
	}
	for _, m := range ms {
		if m.Version <= version {
			continue
		}
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var current int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
				return err
			}
			if current >= m.Version {
				return nil // another process got there first
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			// PRAGMA takes no bound parameters; the version is our own integer.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return dbErr(fmt.Sprintf("migrate %s to %s", path, m.Name), err)
		}
	}
	return nil
}

// dbErr wraps a database error with the operation. A lock held past BusyTimeout is
// EUnavailable: another process holds the database, and trying again later may work.
func dbErr(op string, err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED) {
		return &hashike.Error{Code: hashike.EUnavailable, Message: "sqlite: " + op + ": database is locked by another process", Err: err}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// constraint reports whether err is the given SQLite constraint violation (an extended code).
func constraint(err error, code int) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code() == code
}
