package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxGroup bounds the writes one transaction carries, so that a batch holds the database's
// write lock (which other processes wait for) for a bounded time.
const maxGroup = 64

// group commits concurrent writes together: a server creates and updates runs from many
// goroutines at once, and with one write connection each write would otherwise wait for a
// transaction of its own, begun and committed (pages appended to the WAL) one after another.
//
// The first writer to find no batch running leads: it takes every write waiting, its own
// included, runs them in one transaction, each in a savepoint of its own (a write that fails
// is rolled back alone, as if it had been a transaction), commits, and hands the lead to the
// next writer waiting, if any. The others wait for the commit; a write's result stands only
// once its batch has committed.
type group struct {
	mu      sync.Mutex
	busy    bool
	pending []*groupWrite
}

type groupWrite struct {
	ctx context.Context
	op  string // for errors
	fn  func(ctx context.Context, tx *sql.Tx) error
	err error
	// done delivers true when the write's batch has ended (err is its result), false when
	// the write is to lead the next batch.
	done chan bool
}

// inWriteTx runs fn in a write transaction, possibly shared with other writes of this Store
// (see group), and returns its error, or the commit's. fn must return an error to undo what it
// wrote, and must not commit or roll back.
func (s *Store) inWriteTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return dbErr(op, err)
	}
	w := &groupWrite{ctx: ctx, op: op, fn: fn, done: make(chan bool, 1)}
	g := &s.group
	g.mu.Lock()
	g.pending = append(g.pending, w)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead {
		if ended := <-w.done; ended {
			return w.err
		}
	}
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		s.commitGroup(batch)
		mine := false
		for _, b := range batch {
			if b == w {
				mine = true
			} else {
				b.done <- true
			}
		}
		if !mine {
			continue // more than maxGroup were waiting, w among the later ones: lead on
		}
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.busy = false
			g.mu.Unlock()
		} else {
			next := g.pending[0]
			g.mu.Unlock()
			next.done <- false // lead the next batch
		}
		return w.err
	}
}

// commitGroup runs the writes of batch in one transaction, each in a savepoint, and sets
// their errors.
func (s *Store) commitGroup(batch []*groupWrite) {
	// The transaction outlives any one caller: a write whose caller gave up is skipped, and
	// each runs without its cancellation, since interrupting a statement can roll the whole
	// transaction back.
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(batch, err)
		return
	}
	defer tx.Rollback()
	ctx := context.Background()
	savepoint, release, rollbackTo := tx.StmtContext(ctx, s.stmt.savepoint), tx.StmtContext(ctx, s.stmt.release), tx.StmtContext(ctx, s.stmt.rollbackTo)
	var written []*groupWrite
	for _, w := range batch {
		if w.err = w.ctx.Err(); w.err != nil {
			continue
		}
		if _, err := savepoint.ExecContext(ctx); err != nil {
			failAll(batch, err)
			return
		}
		if w.err = w.fn(context.WithoutCancel(w.ctx), tx); w.err != nil {
			if _, err := rollbackTo.ExecContext(ctx); err != nil {
				failAll(batch, errors.Join(w.err, err))
				return
			}
		} else {
			written = append(written, w)
		}
		if _, err := release.ExecContext(ctx); err != nil {
			failAll(batch, err)
			return
		}
	}
	if len(written) == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		for _, w := range written {
			w.err = dbErr(w.op, err)
		}
	}
}

// failAll fails every write of batch with err: the transaction is lost.
func failAll(batch []*groupWrite, err error) {
	for _, w := range batch {
		w.err = dbErr(w.op, err)
	}
}
