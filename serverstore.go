package hashike

import (
	"context"
	"encoding/json"
	"time"
)

// ServerStore is what `hashike server` keeps beyond the run history: the job registry, the
// queues and their runs, leases for leader election and replica liveness, API tokens, the
// notification outbox and the inbox of GitHub's webhook deliveries. Several server replicas
// may share one ServerStore (PostgreSQL); every method is atomic on its own. Implementations run storetest's conformance suite.
type ServerStore interface {
	Store

	// PutJob records def as the job's next version when its Digest differs from the job's
	// latest version (versions count from 1), and returns the latest version with
	// created=true; when the digest is the latest's, nothing is written and created=false.
	// EInvalid for a bad name or an empty definition.
	PutJob(ctx context.Context, def JobVersion) (latest JobVersion, created bool, err error)
	// GetJob returns one version of a job; version 0 is the latest. ENotFound when the job or
	// that version does not exist.
	GetJob(ctx context.Context, name string, version int) (JobVersion, error)
	// ListJobs returns the latest version of every job, by name.
	ListJobs(ctx context.Context) ([]JobVersion, error)
	// ListJobVersions returns every version of a job, newest first; ENotFound for no job.
	ListJobVersions(ctx context.Context, name string) ([]JobVersion, error)

	// ClaimRuns dispatches queued runs: it picks at most limit runs that dispatch.Next would
	// pick from every queued run (not before now; queue not paused; the queue's
	// MaxConcurrency minus its active runs, counted across every replica; priority, then FIFO)
	// and moves each to StatePending with owner as its Owner and a transition "dispatched",
	// all in one transaction. A queued run is claimed by exactly one caller, however many
	// replicas claim at once. Runs come back in dispatch order.
	ClaimRuns(ctx context.Context, now time.Time, limit int, owner Owner) ([]*Run, error)
	// PutQueue creates or changes a queue's settings. A run may name a queue that was never
	// put: it has no concurrency cap and is not paused.
	PutQueue(ctx context.Context, q QueueConfig) error
	// ListQueues returns every queue that was put or has runs queued or active, by name, with
	// its counts.
	ListQueues(ctx context.Context) ([]QueueInfo, error)

	Leases

	// ScheduleTick returns the last tick the scheduler acted on for the job (zero: never).
	ScheduleTick(ctx context.Context, job string) (time.Time, error)
	// SetScheduleTick records the last tick acted on for the job.
	SetScheduleTick(ctx context.Context, job string, tick time.Time) error

	// CreateToken stores an API token (its hash only). EConflict when the ID or hash exists.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the unrevoked token with this hash; ENotFound otherwise.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// ListTokens returns every token, revoked ones included, by creation.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes a token at now; ENotFound for an unknown ID. Idempotent.
	RevokeToken(ctx context.Context, id string, now time.Time) error

	// AddDeliveries queues notifications; a delivery whose ID exists is skipped, so the
	// caller may add the same event's deliveries again after a crash.
	AddDeliveries(ctx context.Context, ds []Delivery) error
	// ClaimDeliveries leases at most limit undelivered deliveries due at now (NextAt <= now,
	// oldest first) to the caller by moving their NextAt to now+lease, and returns them.
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// UpdateDelivery records an attempt's result: Attempts, LastError, NextAt, DeliveredAt
	// and Failed are written as given. ENotFound for an unknown ID.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// ListDeliveries returns the deliveries of a run, oldest first (for the API and tests).
	ListDeliveries(ctx context.Context, runID string) ([]Delivery, error)

	WebhookDeliveries
	Snapshots
	RunObjects
	Backlog
}

// Snapshots keep small documents a leader publishes for every replica to read, such as the
// runner controller's last status (GET /v1/runners on a follower): one per name, replaced
// whole by each put.
type Snapshots interface {
	// PutSnapshot stores s under its name, replacing the one there. EInvalid for an empty
	// name or a body over MaxSnapshotBytes.
	PutSnapshot(ctx context.Context, s Snapshot) error
	// GetSnapshot returns the named snapshot; ENotFound when none was put.
	GetSnapshot(ctx context.Context, name string) (Snapshot, error)
}

// Snapshot is a named document and when it was taken.
type Snapshot struct {
	Name string
	Body []byte
	// TakenAt is when its publisher took it (its clock).
	TakenAt time.Time
}

// MaxSnapshotBytes bounds a snapshot's body.
const MaxSnapshotBytes = 4 << 20

// Leases are named, expiring claims: how replicas elect a leader (package leadership) and tell
// that another replica is alive. It is the ServerStore's role that an elector needs.
type Leases interface {
	// AcquireLease takes or renews the lease name for holder until now+ttl, when it is free,
	// expired or already holder's; it returns the lease as it now stands and whether holder
	// has it.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, bool, error)
	// ReleaseLease gives the lease up if holder has it (a graceful shutdown); otherwise it
	// does nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
	// GetLease returns the lease; ENotFound when it was never taken or was released.
	GetLease(ctx context.Context, name string) (Lease, error)
}

// JobVersion is one version of a registered job. Definition is the job definition as JSON
// (job.Definition's encoding), kept as a document so that the store does not depend on what
// a definition holds.
type JobVersion struct {
	Name       string          `json:"name"`
	Version    int             `json:"version"`
	Definition json.RawMessage `json:"definition"`
	// Digest identifies the definition's content; PutJob makes a version only when it changes.
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"createdAt"`
	// Source says where the version came from: "api", or the file it was read from.
	Source string `json:"source,omitempty"`
}

// QueueConfig is a queue's settings.
type QueueConfig struct {
	Name string `json:"name"`
	// MaxConcurrency caps the queue's active (pending, running, stopping) runs across every
	// replica; 0 means no cap.
	MaxConcurrency int  `json:"maxConcurrency"`
	Paused         bool `json:"paused"`
}

// QueueInfo is a queue with its counts.
type QueueInfo struct {
	QueueConfig
	// Queued counts runs waiting (StateQueued); Active those dispatched and not ended.
	Queued int `json:"queued"`
	Active int `json:"active"`
}

// Lease is a named, expiring claim.
type Lease struct {
	Name      string    `json:"name"`
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Scope is what a token may do. Each scope includes the ones before it.
type Scope string

const (
	ScopeRead   Scope = "read"   // list and read runs, jobs, logs, schedules
	ScopeSubmit Scope = "submit" // enqueue, cancel, rerun, trigger
	ScopeAdmin  Scope = "admin"  // register jobs, change queues and schedules, manage tokens
)

// Allows reports whether a token with scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool {
	rank := map[Scope]int{ScopeRead: 1, ScopeSubmit: 2, ScopeAdmin: 3}
	return rank[s] > 0 && rank[s] >= rank[need]
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeRead || s == ScopeSubmit || s == ScopeAdmin }

// Token is an API bearer token as stored: never the secret itself, only its SHA-256.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Hash      string     `json:"-"` // hex SHA-256 of the secret
	Scope     Scope      `json:"scope"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// Delivery is one notification to one endpoint, kept until delivered or given up.
type Delivery struct {
	// ID is unique per (event, endpoint): adding it again is a no-op.
	ID    string `json:"id"`
	RunID string `json:"runId"`
	// Event is "failure", "recovery" or "overdue".
	Event string `json:"event"`
	// Kind is "webhook" or "slack"; URL is where it goes; Secret names the secret that signs a
	// webhook (empty: unsigned).
	Kind   string `json:"kind"`
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
	// Body is the JSON document to send.
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"createdAt"`
	// NextAt is when the next attempt is due.
	NextAt      time.Time  `json:"nextAt"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"lastError,omitempty"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
	// Failed: given up after the last attempt; never tried again.
	Failed bool `json:"failed,omitempty"`
}
