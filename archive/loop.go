package archive

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashike/hashike"
)

// Loop keeps the archive up to date: it completes the archive of every ended run (within
// Interval of its end, and at start every run that ended before, while the server was down or
// before it had an archive) and rolls segments of running runs every RollEvery. Errors are
// logged and the work tried again on the next tick: the loop outlives outages of the database
// and of the object store. One Loop per deployment is enough (the server runs it on its
// leader); two are harmless (Archiver is idempotent).
type Loop struct {
	Archiver *Archiver
	Index    hashike.LogArchiveIndex
	Runs     hashike.RunStore
	Clock    hashike.Clock
	Log      *slog.Logger
	// Interval is how often ended runs are looked for (default 2 s); RollEvery how often
	// running runs' output is rolled into segments (default 5 min; < 0: never).
	Interval  time.Duration
	RollEvery time.Duration
	// Batch bounds the runs archived per tick (default 50).
	Batch int
}

// Run archives until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	interval, roll, batch := l.Interval, l.RollEvery, l.Batch
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if roll == 0 {
		roll = 5 * time.Minute
	}
	if batch <= 0 {
		batch = 50
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lastRoll := l.Clock.Now()
	for {
		l.archiveEnded(ctx, log, batch)
		if roll > 0 && l.Clock.Now().Sub(lastRoll) >= roll {
			lastRoll = l.Clock.Now()
			l.rollRunning(ctx, log)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.Clock.After(interval):
		}
	}
}

// archiveEnded completes the archives of ended runs, oldest end first.
func (l *Loop) archiveEnded(ctx context.Context, log *slog.Logger, batch int) {
	ids, err := l.Index.UnarchivedRuns(ctx, l.Clock.Now(), batch)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("log archive: list ended runs", "err", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if err := l.Archiver.EnsureArchived(ctx, id); err != nil && ctx.Err() == nil {
			log.Warn("log archive: archive run", "run", id, "err", err)
		}
	}
}

// rollRunning archives what running runs stored so far.
func (l *Loop) rollRunning(ctx context.Context, log *slog.Logger) {
	runs, err := l.Runs.ListRuns(ctx, hashike.RunFilter{States: []hashike.RunState{hashike.StateRunning, hashike.StateStopping}})
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("log archive: list running runs", "err", err)
		}
		return
	}
	for _, run := range runs {
		if ctx.Err() != nil {
			return
		}
		if err := l.Archiver.Roll(ctx, run.ID); err != nil && ctx.Err() == nil {
			log.Warn("log archive: roll segments", "run", run.ID, "err", err)
		}
	}
}
