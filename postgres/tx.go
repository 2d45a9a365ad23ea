package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Transactions on the hot paths (UpdateRun, ClaimRuns) send BEGIN with their first batch of
// statements and COMMIT with their last, rather than each on its own round trip as pgx.Tx
// would: two round trips for a read, a decision in Go, and the writes.
const (
	begin  = `BEGIN ISOLATION LEVEL READ COMMITTED`
	commit = `COMMIT`
)

// byIndex makes the rest of a transaction reach rows by index only: no sequential scan, no
// hash or merge join, so a join of a few IDs with a table is a nested loop of index probes.
// The claims and grouped updates send it after BEGIN. Their statements name a few runs by
// ID, which the planner serves from the primary key once it knows the tables' sizes, but a
// statement prepared while a table was small (a new database, before autovacuum's first
// ANALYZE) keeps a plan that scans the whole table, and with every run written several
// times it soon holds thousands of row versions: a claim of 5 runs took 3-6 ms scanning
// them instead of 0.1 ms.
const byIndex = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true)`

// errTxLeftOpen reports a bug: a transaction function that returned without committing.
var errTxLeftOpen = errors.New("transaction left open")

// inConnTx runs fn on a connection of its own, in the transaction fn begins and commits in
// its batches, and runs it again, up to maxAttempts times, when it fails with a
// serialization failure or a deadlock. When fn fails inside the transaction, the
// transaction is rolled back (should that fail too, the pool closes the connection rather
// than reuse it). Errors are mapped by dbErr.
func (s *Store) inConnTx(ctx context.Context, op string, fn func(conn *pgxpool.Conn) error) error {
	var err error
	for range maxAttempts {
		err = s.connTx(ctx, fn)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return dbErr(op, err)
}

func (s *Store) connTx(ctx context.Context, fn func(conn *pgxpool.Conn) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = fn(conn)
	if conn.Conn().PgConn().TxStatus() != 'I' {
		conn.Exec(ctx, `ROLLBACK`)
		if err == nil {
			err = errTxLeftOpen
		}
	}
	return err
}

// batcher sends batches: a pooled connection, or a transaction.
type batcher interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// runBatch sends b and reads its results in order, stopping at the first error: the
// statement at index row has its one row scanned into dest (pgx.ErrNoRows when it returns
// none); the others are executed.
func runBatch(ctx context.Context, q batcher, b *pgx.Batch, row int, dest ...any) error {
	br := q.SendBatch(ctx, b)
	var err error
	for i := range b.Len() {
		if i == row {
			err = br.QueryRow().Scan(dest...)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}
