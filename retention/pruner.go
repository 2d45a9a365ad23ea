package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashike/hashike"
)

// DefaultBatch is how many runs the Pruner deletes per transaction.
const DefaultBatch = 500

// maxErrors bounds the errors a report keeps: a pass over a broken archive would otherwise
// collect one per run.
const maxErrors = 10

// Archive is the log archive as the pruner needs it (package archive's Archiver).
type Archive interface {
	// EnsureArchived makes sure every stored log entry of the ended run is in the archive,
	// and returns nil once it is (at once when it already was). Idempotent. Only after it
	// returned nil are the run's logs deleted from the database.
	EnsureArchived(ctx context.Context, runID string) error
}

// ArchiveLayout tells the pruner where archived logs are in the object store and which day
// each object belongs to: the archive writes date-partitioned keys.
type ArchiveLayout struct {
	// Prefixes are the key prefixes that hold archived logs ("logs/").
	Prefixes []string
	// Parse returns the family and the (UTC) day an archived object is filed under, from its
	// key (a dt= partition) or, for a layout whose keys have no date, its Modified time; ok
	// false leaves the object alone.
	Parse func(o hashike.ObjectInfo) (family string, day time.Time, ok bool)
}

// Config is what a Pruner needs. Store and Clock are required.
type Config struct {
	Store hashike.Pruning
	Clock hashike.Clock
	// Archive, when set, archives each run's logs before they (or the run) are deleted from
	// the database; a run whose archiving fails keeps its logs and its row until a later
	// pass. Nil: logs are deleted without a copy.
	Archive Archive
	// Objects and Layout, when both set, let the pruner delete archived logs past their
	// retention.
	Objects hashike.ObjectStore
	Layout  ArchiveLayout
	// RunObjects, with Objects, is the key prefix of a run's own objects (its payload,
	// script and result: "runs/ID/"); they are deleted with the run.
	RunObjects func(runID string) string
	Logger     *slog.Logger
	// Batch is how many runs one transaction deletes (default DefaultBatch, at most
	// hashike.MaxPruneBatch).
	Batch int
}

// Pruner applies a Policy. It holds no state between passes: a pass cut short (a database
// outage, a crash) is simply redone by the next.
type Pruner struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Pruner.
func New(cfg Config) (*Pruner, error) {
	if cfg.Store == nil || cfg.Clock == nil {
		return nil, errors.New("retention: config lacks Store or Clock")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Batch > hashike.MaxPruneBatch {
		return nil, fmt.Errorf("retention: batch %d is above %d", cfg.Batch, hashike.MaxPruneBatch)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pruner{cfg: cfg, log: cfg.Logger}, nil
}

// Report is what a pass deleted, or with dryRun would delete.
type Report = hashike.PruneReport

func fail(r *Report, err error) {
	if len(r.Errors) < maxErrors {
		r.Errors = append(r.Errors, err.Error())
	}
}

// Prune makes one pass at the clock's now: for each scope, the logs of runs past their logs
// retention are archived then deleted from the database, and runs past their runs
// retention are archived then deleted, in batches; then archived objects past their archive
// retention are deleted. With dryRun nothing is archived or deleted and the report says what
// would be. The error is the first that stopped a step (the report holds what was done
// before it); a run that could not be archived does not stop the pass but is counted in
// Kept and its error reported.
func (p *Pruner) Prune(ctx context.Context, policy Policy, dryRun bool) (Report, error) {
	now := p.cfg.Clock.Now()
	rep := Report{DryRun: dryRun, At: now, Scopes: []hashike.PruneScope{}}
	var errs []error
	for _, sc := range policy.Scopes(now) {
		sr := hashike.PruneScope{Job: sc.Job}
		if !sc.LogsBefore.IsZero() {
			sr.LogsBefore = &sc.LogsBefore
			n, err := p.sweep(ctx, &rep, sc, sc.LogsBefore, p.cfg.Store.ExpiredLogs, func(ids []string) (int, error) {
				return p.cfg.Store.DeleteLogs(ctx, ids, now)
			}, dryRun)
			sr.Logs = n
			if err != nil {
				errs = append(errs, fmt.Errorf("prune logs%s: %w", of(sc), err))
			}
		}
		if !sc.RunsBefore.IsZero() {
			sr.RunsBefore = &sc.RunsBefore
			n, err := p.sweep(ctx, &rep, sc, sc.RunsBefore, p.cfg.Store.ExpiredRuns, func(ids []string) (int, error) {
				deleted, err := p.cfg.Store.DeleteRuns(ctx, ids)
				p.deleteRunObjects(ctx, &rep, deleted)
				return len(deleted), err
			}, dryRun)
			sr.Runs = n
			if err != nil {
				errs = append(errs, fmt.Errorf("prune runs%s: %w", of(sc), err))
			}
		}
		rep.Logs += sr.Logs
		rep.Runs += sr.Runs
		rep.Scopes = append(rep.Scopes, sr)
	}
	if p.cfg.Objects != nil && p.cfg.Layout.Parse != nil {
		if err := p.pruneArchive(ctx, &rep, policy.ArchiveBefore(now), dryRun); err != nil {
			errs = append(errs, fmt.Errorf("prune archived logs: %w", err))
		}
	}
	for _, err := range errs {
		fail(&rep, err)
	}
	if len(errs) > 0 {
		return rep, errs[0]
	}
	return rep, nil
}

func of(sc Scope) string {
	if sc.Job == "" {
		return ""
	}
	return " of job " + sc.Job
}

// sweep lists the scope's runs before cutoff page by page and deletes each page (after
// archiving its runs' logs). It pages with a cursor, so that runs kept (archiving failed)
// are not listed again in the same pass.
func (p *Pruner) sweep(ctx context.Context, rep *Report, sc Scope, cutoff time.Time,
	list func(context.Context, hashike.ExpiryQuery) ([]hashike.RunKey, error),
	del func([]string) (int, error), dryRun bool) (int, error) {
	q := hashike.ExpiryQuery{Before: cutoff, Job: sc.Job, ExceptJobs: sc.Except, Limit: p.cfg.Batch}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		page, err := list(ctx, q)
		if err != nil {
			return total, err
		}
		if len(page) == 0 {
			return total, nil
		}
		q.After = &page[len(page)-1]
		if dryRun {
			total += len(page)
		} else {
			ids := p.archived(ctx, rep, page)
			if len(ids) > 0 {
				n, err := del(ids)
				total += n
				if err != nil {
					return total, err
				}
			}
		}
		if len(page) < q.Limit {
			return total, nil
		}
	}
}

// archived archives the page's runs' logs and returns the IDs of those now archived (every
// run when there is no archive).
func (p *Pruner) archived(ctx context.Context, rep *Report, page []hashike.RunKey) []string {
	ids := make([]string, 0, len(page))
	for _, k := range page {
		if p.cfg.Archive != nil {
			if err := p.cfg.Archive.EnsureArchived(ctx, k.ID); err != nil {
				rep.Kept++
				fail(rep, fmt.Errorf("archive logs of run %s: %w", k.ID, err))
				p.log.Warn("retention: archiving a run's logs failed; they are kept", "run", k.ID, "err", err)
				continue
			}
		}
		ids = append(ids, k.ID)
	}
	return ids
}

// deleteRunObjects deletes the objects of the deleted runs (payloads, scripts, results) from
// the object store. A failure is reported and the pass goes on: the runs are gone already.
func (p *Pruner) deleteRunObjects(ctx context.Context, rep *Report, runIDs []string) {
	if p.cfg.Objects == nil || p.cfg.RunObjects == nil {
		return
	}
	for _, id := range runIDs {
		var keys []string
		err := p.cfg.Objects.List(ctx, p.cfg.RunObjects(id), func(o hashike.ObjectInfo) error {
			keys = append(keys, o.Key)
			return nil
		})
		if err == nil && len(keys) > 0 {
			err = p.cfg.Objects.Delete(ctx, keys...)
		}
		if err != nil {
			fail(rep, fmt.Errorf("delete the objects of run %s: %w", id, err))
			p.log.Warn("retention: deleting a deleted run's objects failed; they stay in the object store", "run", id, "err", err)
		}
	}
}

// deleteBatch bounds the keys of one ObjectStore.Delete call (S3 DeleteObjects takes 1000).
const deleteBatch = 1000

// pruneArchive deletes the archived objects filed under a day that ended before their
// family's archive cutoff.
func (p *Pruner) pruneArchive(ctx context.Context, rep *Report, before func(string) (time.Time, bool), dryRun bool) error {
	var batch []string
	var batchBytes int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if !dryRun {
			if err := p.cfg.Objects.Delete(ctx, batch...); err != nil {
				return err
			}
		}
		rep.ArchiveObjects += len(batch)
		rep.ArchiveBytes += batchBytes
		batch, batchBytes = batch[:0], 0
		return nil
	}
	for _, prefix := range p.cfg.Layout.Prefixes {
		err := p.cfg.Objects.List(ctx, prefix, func(o hashike.ObjectInfo) error {
			family, day, ok := p.cfg.Layout.Parse(o)
			if !ok {
				return nil
			}
			cutoff, ok := before(family)
			// A day's partition goes once all of it is before the cutoff.
			if !ok || day.Add(24*time.Hour).After(cutoff) {
				return nil
			}
			batch = append(batch, o.Key)
			batchBytes += o.Size
			if len(batch) >= deleteBatch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return flush()
}
