package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// Bounds of GitHubDemand.
const (
	// githubQueueLimit is how long GitHub keeps a job queued for a self-hosted runner before
	// it fails it: a job queued longer is no demand, whatever the deliveries said.
	githubQueueLimit = 24 * time.Hour
	// demandClaimBatch bounds one claim of deliveries; demandLease is how long a claimed
	// delivery is this replica's before another may claim it (the fold acks at once).
	demandClaimBatch = 500
	demandLease      = time.Minute
)

// QueuedGitHubJob is a job GitHub announced queued and no later delivery said was taken.
type QueuedGitHubJob struct {
	ID         int64
	Labels     []string
	Repository string
	Org        string
	// QueuedAt is the job's created_at (when GitHub queued it), else when its delivery came.
	QueuedAt time.Time
	// DeliveredAt is when its queued delivery was received: DeliveredAt-QueuedAt is how late
	// the webhook was.
	DeliveredAt time.Time
}

// GitHubDemand is the webhook intake as demand for runners (the runner controller's
// DemandSource, through an adapter to its job type): it claims the stored workflow_job
// deliveries, folds them into the set of jobs queued now, and acknowledges them. The set lives
// in memory: a new leader starts empty and learns jobs queued before it took over from the
// controller's periodic re-scan of GitHub (a lost webhook only delays). Safe for concurrent
// use; one per leader.
type GitHubDemand struct {
	store hashike.WebhookDeliveries
	parse func([]byte) (hashike.WorkflowJobEvent, error)
	clock hashike.Clock
	log   *slog.Logger

	// onStarted, when set, sees each job an in_progress delivery says a runner took, once
	// (metrics: its wait).
	onStarted func(StartedGitHubJob)

	mu   sync.Mutex
	jobs webhookJobs
}

// GitHubDemand returns the demand of this server's GitHub webhook; nil when it has none.
func (s *Server) GitHubDemand() *GitHubDemand {
	if s.cfg.GitHubWebhook == nil {
		return nil
	}
	return &GitHubDemand{store: s.store, parse: s.cfg.GitHubWebhook.ParseWorkflowJob, clock: s.clock, log: s.log,
		jobs: newWebhookJobs()}
}

// QueuedJobs takes in the deliveries stored since the last call (every replica's) and returns
// the jobs queued now, oldest first. A store error is returned with nothing lost: what was
// claimed and not acknowledged is claimed again after its lease.
func (d *GitHubDemand) QueuedJobs(ctx context.Context) ([]QueuedGitHubJob, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		now := d.clock.Now()
		ds, err := d.store.ClaimWebhookDeliveries(ctx, now, demandClaimBatch, demandLease)
		if err != nil {
			return nil, fmt.Errorf("github demand: %w", err)
		}
		for _, del := range ds {
			ev, err := d.parse(del.Body)
			if err != nil {
				// The intake parsed it before storing it: only a parser change gets here.
				d.log.Warn("dropping a GitHub delivery that does not parse", "delivery", del.ID, "err", err)
			} else if started, ok := d.jobs.apply(ev, del.ReceivedAt); ok && d.onStarted != nil {
				d.onStarted(started)
			}
			if err := d.store.AckWebhookDelivery(ctx, del.ID, now); err != nil {
				return nil, fmt.Errorf("github demand: %w", err)
			}
		}
		if len(ds) < demandClaimBatch {
			break
		}
	}
	return d.jobs.queuedAt(d.clock.Now()), nil
}

// StartedGitHubJob is a job a runner took, as its "in_progress" delivery said: GitHub's own
// times, so Wait is queued -> started whatever the deliveries' delays.
type StartedGitHubJob struct {
	ID         int64
	Labels     []string
	RunnerName string
	QueuedAt   time.Time
	StartedAt  time.Time
}

// Wait is how long the job waited for a runner.
func (j StartedGitHubJob) Wait() time.Duration { return j.StartedAt.Sub(j.QueuedAt) }

// recentStarted bounds the started jobs GitHubDemand remembers.
const recentStarted = 100

// Recent returns the last jobs runners took (at most 100), most recent first.
// Taken reports whether a delivery said the job is in progress or completed.
func (d *GitHubDemand) Taken(id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.jobs.taken[id]
	return ok
}

func (d *GitHubDemand) Recent() []StartedGitHubJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.jobs.started)
	slices.Reverse(out)
	return out
}

// webhookJobs folds workflow_job events, in any order, into the jobs queued now.
type webhookJobs struct {
	// started are the last jobs taken, oldest first (at most recentStarted).
	started []StartedGitHubJob
	queued  map[int64]QueuedGitHubJob
	// taken remembers the jobs a delivery said were in progress or completed, and when it
	// came: GitHub does not order deliveries, so a "queued" may come after them.
	taken map[int64]time.Time
}

func newWebhookJobs() webhookJobs {
	return webhookJobs{queued: map[int64]QueuedGitHubJob{}, taken: map[int64]time.Time{}}
}

// apply folds one event received at received; it returns the job a runner took, the first
// time an in_progress delivery says so with its times.
func (w *webhookJobs) apply(ev hashike.WorkflowJobEvent, received time.Time) (started StartedGitHubJob, ok bool) {
	switch ev.Action {
	case hashike.WorkflowJobQueued:
		if _, ok := w.taken[ev.JobID]; ok {
			return started, false
		}
		at := ev.CreatedAt
		if at.IsZero() {
			at = received
		}
		w.queued[ev.JobID] = QueuedGitHubJob{ID: ev.JobID, Labels: slices.Clone(ev.Labels), Repository: ev.Repository,
			Org: ev.Org, QueuedAt: at, DeliveredAt: received}
	case hashike.WorkflowJobInProgress, hashike.WorkflowJobCompleted:
		if _, seen := w.taken[ev.JobID]; !seen && ev.Action == hashike.WorkflowJobInProgress && !ev.CreatedAt.IsZero() && !ev.StartedAt.IsZero() {
			started, ok = StartedGitHubJob{ID: ev.JobID, Labels: slices.Clone(ev.Labels), RunnerName: ev.RunnerName,
				QueuedAt: ev.CreatedAt, StartedAt: ev.StartedAt}, true
			w.started = append(w.started, started)
			if len(w.started) > recentStarted {
				w.started = slices.Delete(w.started, 0, len(w.started)-recentStarted)
			}
		}
		delete(w.queued, ev.JobID)
		w.taken[ev.JobID] = received
	case hashike.WorkflowJobWaiting:
		// The job waits for an environment's approval and needs no runner yet; a "queued"
		// follows.
	}
	// Unknown actions are ignored.
	return started, ok
}

// queuedAt forgets what GitHub has given up on and returns the jobs queued at now, oldest
// first (then by ID).
func (w *webhookJobs) queuedAt(now time.Time) []QueuedGitHubJob {
	out := make([]QueuedGitHubJob, 0, len(w.queued))
	for id, j := range w.queued {
		if now.Sub(j.QueuedAt) >= githubQueueLimit {
			delete(w.queued, id)
			continue
		}
		out = append(out, j)
	}
	for id, at := range w.taken {
		if now.Sub(at) >= githubQueueLimit {
			delete(w.taken, id)
		}
	}
	slices.SortFunc(out, func(a, b QueuedGitHubJob) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return int(min(max(a.ID-b.ID, -1), 1))
	})
	return out
}
