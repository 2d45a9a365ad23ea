package hashike

import (
	"context"
	"time"
)

// WorkflowJobAction is what a workflow_job webhook says happened to a GitHub Actions job.
type WorkflowJobAction string

const (
	// WorkflowJobQueued: the job waits for a runner whose labels are a superset of its own.
	WorkflowJobQueued WorkflowJobAction = "queued"
	// WorkflowJobWaiting: the job waits for an environment's protection rules (GitHub may
	// send it twice); it needs no runner yet.
	WorkflowJobWaiting WorkflowJobAction = "waiting"
	// WorkflowJobInProgress: a runner took the job (RunnerID and RunnerName are set).
	WorkflowJobInProgress WorkflowJobAction = "in_progress"
	// WorkflowJobCompleted: the job ended (Conclusion says how); its ephemeral runner exits.
	WorkflowJobCompleted WorkflowJobAction = "completed"
)

// Valid reports whether a is one of the actions GitHub documents.
func (a WorkflowJobAction) Valid() bool {
	switch a {
	case WorkflowJobQueued, WorkflowJobWaiting, WorkflowJobInProgress, WorkflowJobCompleted:
		return true
	}
	return false
}

// WorkflowJobEvent is what the runner controller needs of a workflow_job webhook: demand (a
// queued job and its labels) and the runner that took or finished it. Zero values are what
// GitHub leaves null: no runner while queued, no StartedAt before in_progress.
type WorkflowJobEvent struct {
	Action     WorkflowJobAction
	JobID      int64
	RunID      int64
	RunAttempt int
	Name       string
	// Labels are the job's runs-on labels, as GitHub sent them.
	Labels []string
	// RunnerID, RunnerName and RunnerGroupID name the runner that took the job (0 or "" while
	// queued or waiting).
	RunnerID      int64
	RunnerName    string
	RunnerGroupID int64
	// Repository is "owner/name"; Org is the organization's login ("" for a user's
	// repository); InstallationID is the GitHub App installation that received the event.
	Repository     string
	Org            string
	InstallationID int64
	CreatedAt      time.Time
	StartedAt      time.Time
	CompletedAt    time.Time
	// Conclusion is success, failure, cancelled, skipped, timed_out, ... once completed.
	Conclusion string
}

// WebhookDelivery is one webhook request GitHub sent, stored as received once its signature
// checked out, until the runner controller has acted on it.
type WebhookDelivery struct {
	// ID is the X-GitHub-Delivery header: the same for GitHub's redelivery of an event, so
	// it is the dedupe key.
	ID string
	// Event is the X-GitHub-Event header ("workflow_job").
	Event string
	// Body is the request body, byte for byte (what the signature covers).
	Body       []byte
	ReceivedAt time.Time
	// Attempts counts the claims so far (ClaimWebhookDeliveries increments it).
	Attempts int
	// AckedAt is when a consumer acknowledged it; nil while it waits.
	AckedAt *time.Time
}

// WebhookDeliveries is the durable inbox of GitHub's webhook deliveries: the HTTP handler
// saves a delivery and answers at once; the runner controller claims, acts and acknowledges.
// A consumer that dies between claim and ack loses nothing: the delivery is claimed again
// once its lease ran out. Every method is atomic on its own, across replicas sharing a store.
type WebhookDeliveries interface {
	// SaveWebhookDelivery stores d with Attempts 0 and no AckedAt, whatever d says, and
	// returns created=true; when a delivery with d.ID is stored (GitHub redelivered it, or
	// sent it twice), it writes nothing and returns created=false. EInvalid for an empty ID
	// or Event.
	SaveWebhookDelivery(ctx context.Context, d WebhookDelivery) (created bool, err error)
	// ClaimWebhookDeliveries leases to the caller at most limit unacknowledged deliveries that
	// no one holds a lease on at now, the earliest received first (then by ID), until
	// now+lease, counting one more attempt on each, and returns them as they now stand. A
	// delivery is held by one caller per lease however many claim at once.
	ClaimWebhookDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]WebhookDelivery, error)
	// AckWebhookDelivery records that the delivery was acted on at now: it is never claimed
	// again. Acknowledging it again keeps the first time. ENotFound for an unknown ID.
	AckWebhookDelivery(ctx context.Context, id string, now time.Time) error
	// PruneWebhookDeliveries deletes the deliveries received before before, acknowledged or
	// not, and returns how many. Their IDs are forgotten: a delivery saved again after its
	// pruning is new, so keep them longer than GitHub may redeliver (hours; a queued job
	// fails after 24 h anyway).
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
}
