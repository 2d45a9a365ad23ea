// Package postgres keeps hashike's run history and what `hashike server` needs beyond it
// (jobs, queues, leases, tokens, the notification outbox) in a PostgreSQL database: a
// hashike.ServerStore that several hashike processes on several machines (replicas of a
// server, CLI runs) share.
//
// Every read-modify-write runs in one READ COMMITTED transaction that first locks what it
// depends on, so concurrent writers, from this process or another replica, are serialized by
// the database: UpdateRun locks the run's queue item, if the update may touch it, and then
// the run's row (SELECT ... FOR UPDATE) before checking the transition and the owner
// precondition; CreateRun inserts with ON CONFLICT DO NOTHING and then reads the run holding
// the idempotency key, which the conflicting insert waits for; an AppendLogs bumps the run's
// log counter, whose row lock orders appends and their commits; ClaimRuns takes one advisory
// lock that orders every claim of every replica (see claimLock), then deletes the queue
// items of the runs it picked before it updates the runs; PutJob takes an advisory lock on
// the job's name. Locks on a run and its queue item are always taken item first.
// A transaction that fails with a serialization failure or a deadlock is retried a few times;
// past that, and when the server cannot be reached, the error is hashike.EUnavailable.
//
// Throughput: an enqueue is one statement (the run, its first transition, its queue item),
// and concurrent enqueues share one (see create.go); a claim of up to its limit runs, and an
// UpdateRun, are two round trips (see inConnTx). BenchmarkEnqueueClaim measures enqueues and
// claims together.
//
// Times: PostgreSQL's timestamptz keeps microseconds and hashike's times are nanoseconds, so
// each time is stored as a timestamptz truncated to its microsecond plus a smallint column
// with the nanoseconds below it (0 to 999). The timestamptz stays readable and comparable in
// SQL; the pair round-trips exactly. Like the SQLite store, times must lie in years 0 to 9999
// (else EInvalid), so that both stores accept the same runs.
//
// Text is PostgreSQL text: a NUL byte or invalid UTF-8 in an ID, family, reason or key is
// refused with hashike.EInvalid (SQLite would store it). JSON columns are json, not jsonb, so
// specs keep their exact encoding, \u0000 included.
//
// The schema is created and upgraded by the SQL files in migrations/, all in one transaction
// that first takes a transaction-scoped advisory lock, so replicas starting at once migrate
// once; the versions applied are rows of hashike_migrations. A database migrated by a newer
// hashike is refused with a *SchemaError. The tables are created in the first schema of the
// connection's search_path: give hashike its own database, or its own schema with
// search_path=... in the DSN.
//
// The Store never reads the clock: every time it records comes from the caller.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key that serializes migrations: "hashike" in ASCII.
const migrationLock = 0x68617368696b65

// maxAttempts bounds how often a transaction that lost a serialization race is run.
const maxAttempts = 5

var _ hashike.ServerStore = (*Store)(nil)

// Store is a hashike.Store in a PostgreSQL database. It is safe for concurrent use, and any
// number of Stores (in this process or others) may use the same database.
type Store struct {
	pool *pgxpool.Pool
	db   string // the database's name, for messages (the DSN may hold a password)
	// specs decodes the runs' specs.
	specs hashike.SpecCache

	// The creator and updater goroutines (see create.go and update.go): CreateRun hands them
	// its run on creates, UpdateRun its update on updates; Close closes stop, which ends
	// them, and cancels stopCtx, under which they write.
	creates    chan *createReq
	updates    chan *updateReq
	stop       chan struct{}
	stopCtx    context.Context
	cancelStop context.CancelFunc
	workers    sync.WaitGroup
	closeOnce  sync.Once
}

// SchemaError reports a database whose schema is newer than this binary knows: it was
// migrated by a newer hashike, and this one must not touch it.
type SchemaError struct {
	Database string
	Version  int // the database's
	Known    int // the newest this package knows
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("postgres: database %s has schema version %d, newer than the %d this hashike knows: use a newer hashike",
		e.Database, e.Version, e.Known)
}

// Open connects to the database dsn names (a libpq URL or key=value string, as pgx accepts;
// pool settings such as pool_max_conns included) and brings its schema up to date. A server
// that cannot be reached is hashike.EUnavailable.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "postgres: bad DSN", Err: err}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "hashike"
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		// The Store's statements are short; a generic plan's cost estimate can pass
		// jit_above_cost (a claim's, counting subplans it never runs) and pay tens of
		// milliseconds of compilation for a millisecond of work. Set after connecting
		// rather than as a startup parameter, which a server without JIT (before 11)
		// would refuse along with the connection.
		after := cfg.AfterConnect
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			if after != nil {
				if err := after(ctx, c); err != nil {
					return err
				}
			}
			_, err := c.Exec(ctx, `SET jit = off`)
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == undefinedObject {
				return nil
			}
			return err
		}
	}
	s := &Store{db: cfg.ConnConfig.Database}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, dbErr("open "+s.db, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, dbErr("open "+s.db, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	s.startWorkers()
	return s, nil
}

// Close stops the creator and updater goroutines, failing the creates and updates they have
// not written with hashike.EUnavailable, and closes the connection pool, waiting for
// connections in use to be released. Calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.cancelStop()
		s.workers.Wait()
		s.pool.Close()
	})
	return nil
}

// migrate applies the migrations the database lacks in one transaction holding the migration
// lock: a replica that waited for the lock finds the work done. Migrations are therefore
// transactional DDL only (no CREATE INDEX CONCURRENTLY).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := schema.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	op := "migrate " + s.db
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		// CREATE TABLE IF NOT EXISTS would need the CREATE privilege even when the table is
		// there: a role that may only use an up-to-date schema can still open it.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('hashike_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE TABLE hashike_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`); err != nil {
				return err
			}
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM hashike_migrations`).Scan(&version); err != nil {
			return err
		}
		if version > len(ms) {
			return &SchemaError{Database: s.db, Version: version, Known: len(ms)}
		}
		for _, m := range ms[version:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO hashike_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// inTx runs fn in a READ COMMITTED transaction (whatever the server's default), committing
// when fn returns nil, and runs it again, up to maxAttempts times, when the transaction fails
// with a serialization failure or a deadlock. fn must start from scratch each time. Errors
// are mapped by dbErr.
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	var err error
	for range maxAttempts {
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return dbErr(op, err)
}

// SQLSTATE codes the Store tells apart.
const (
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	lockNotAvailable     = "55P03"
	queryCanceled        = "57014"
	undefinedObject      = "42704"
)

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == serializationFailure || pe.Code == deadlockDetected)
}

// dbErr wraps a database error with the operation and gives it a hashike code where one fits:
// EUnavailable when the server cannot be reached or is shutting down, when a lock or a
// statement ran out of time (lock_timeout, statement_timeout) and when a transaction kept
// losing serialization races;
// EConflict for a unique violation; EInvalid for data PostgreSQL refuses (a NUL byte in text,
// invalid UTF-8, a number out of range). Errors that already have a code, a nil error and the
// context's own errors pass through (the latter wrapped).
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var he *hashike.Error
	if errors.As(err, &he) {
		return err
	}
	var se *SchemaError
	if errors.As(err, &se) {
		return err
	}
	wrap := func(code hashike.ErrorCode) error {
		return &hashike.Error{Code: code, Message: "postgres: " + op, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == serializationFailure || pe.Code == deadlockDetected || pe.Code == lockNotAvailable:
			return wrap(hashike.EUnavailable)
		case pe.Code == uniqueViolation:
			return wrap(hashike.EConflict)
		case pe.Code == foreignKeyViolation:
			return wrap(hashike.ENotFound)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources (too many connections)
			pe.Code == queryCanceled,                                   // statement_timeout
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutting down, starting up
			return wrap(hashike.EUnavailable)
		case strings.HasPrefix(pe.Code, "22"): // data exception
			return wrap(hashike.EInvalid)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) {
		return wrap(hashike.EUnavailable)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
