package api

import (
	"context"
	"io"

	"github.com/hashike/hashike"
)

// Jobs registers and reads job definitions.
type Jobs interface {
	// RegisterJob records doc (a job file, YAML or JSON) as the job's next version, or
	// returns the latest with created=false when it is unchanged. EInvalid with Fields (Pos
	// like "request:3:5") for a bad document.
	RegisterJob(ctx context.Context, name string, doc []byte) (JobView, bool, error)
	// GetJob returns a version of a job; version 0 is the latest.
	GetJob(ctx context.Context, name string, version int) (JobView, error)
	ListJobs(ctx context.Context) ([]JobView, error)
	ListJobVersions(ctx context.Context, name string) ([]JobView, error)
}

// Runs enqueues, reads and acts on runs.
type Runs interface {
	// Enqueue queues a run of the job; created=false when req's idempotency key names an
	// existing run, which is returned. ETooLarge for a payload over the job's limit.
	Enqueue(ctx context.Context, name string, req EnqueueRequest) (*hashike.Run, bool, error)
	GetRun(ctx context.Context, id string) (RunView, error)
	// ListRuns returns a page of runs, newest first; RunPage.Next is f.Before for the next
	// page. Over HTTP only States, Job, Queue, RootID, Before and Limit can be asked for
	// (EInvalid for another field).
	ListRuns(ctx context.Context, f hashike.RunFilter) (RunPage, error)
	Cancel(ctx context.Context, id string, req CancelRequest) (*hashike.Run, error)
	Rerun(ctx context.Context, id string, req RerunRequest) (*hashike.Run, error)
	// FollowLogs calls fn for each log entry of the run, in order. With follow it returns once
	// the run has ended and all its output was sent; without, once the stored output was
	// sent. An error of fn stops it and is returned.
	FollowLogs(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error
	// RunResult opens the result the run's container wrote; the caller closes it. ENotFound
	// when it wrote none; ETooLarge, saying so, when it was over the server's limit and not
	// kept.
	RunResult(ctx context.Context, id string) (ResultInfo, io.ReadCloser, error)
}

// Queues reads and configures queues.
type Queues interface {
	ListQueues(ctx context.Context) ([]hashike.QueueInfo, error)
	PutQueue(ctx context.Context, q hashike.QueueConfig) (hashike.QueueInfo, error)
}

// Schedules reads, suspends and triggers jobs' schedules.
type Schedules interface {
	ListSchedules(ctx context.Context) ([]ScheduleView, error)
	GetSchedule(ctx context.Context, job string) (ScheduleView, error)
	SetSuspended(ctx context.Context, job string, suspended bool) (ScheduleView, error)
	// Trigger runs a scheduled job now, by hand.
	Trigger(ctx context.Context, job string) (*hashike.Run, error)
}

// Tokens manages API tokens.
type Tokens interface {
	CreateToken(ctx context.Context, name string, scope hashike.Scope) (CreatedToken, error)
	ListTokens(ctx context.Context) ([]hashike.Token, error)
	RevokeToken(ctx context.Context, id string) error
}

// Runners reads the runner controller's state.
type Runners interface {
	// RunnersStatus is the runner controller's last view (pools, runners by state, jobs
	// queued); ENotFound when the server runs no runner pools. Only the leader has one
	// (Leader false elsewhere).
	RunnersStatus(ctx context.Context) (RunnersStatus, error)
}

// Capacity reads the cluster autoscalers' state.
type Capacity interface {
	// CapacityStatus is each autoscaler's last view of its cluster and its recent decisions;
	// ENotFound when the server runs no autoscaler. Only the leader has a view (Leader false
	// elsewhere).
	CapacityStatus(ctx context.Context) (CapacityStatus, error)
}

// Logs searches the archive of the runs' output.
type Logs interface {
	// SearchLogs calls fn for every archived line q selects, as the server finds them (runs
	// whose output is not archived yet are not searched). EInvalid with Fields for a bad
	// query; ENotFound when the server keeps no log archive. An error of fn stops the search.
	SearchLogs(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error
}

// Retention prunes what the retention policy lets go.
type Retention interface {
	// Prune makes one retention pass now (the leader makes one every interval anyway): the
	// logs, archived logs and runs past their retention are deleted, logs archived first.
	// With req.DryRun nothing is deleted and the report says what would be.
	Prune(ctx context.Context, req PruneRequest) (hashike.PruneReport, error)
}

// Operations is what a caller can ask of hashike server, in the same process or over HTTP:
// *server.Server and *httpapi.Client both implement it, so the CLI's client mode and the
// console are written once against it.
type Operations interface {
	Jobs
	Runs
	Queues
	Schedules
	Tokens
	Runners
	Capacity
	Logs
	Retention
}

// Service is what the server's transports serve: the Operations plus what only a transport
// in front of the server needs (authenticating a caller, the health probe, GitHub's webhook,
// the payload limit). *server.Server implements it. Errors are *hashike.Error with a code;
// the JSON API turns the code into a status.
type Service interface {
	Operations
	// Authenticate returns the token whose secret this is; ENotFound for an unknown or
	// revoked one.
	Authenticate(ctx context.Context, secret string) (hashike.Token, error)
	// Health checks the dependencies the server cannot serve without (the database). It
	// answers within a few seconds, naming what is down, never how to reach it.
	Health(ctx context.Context) Health
	// ReceiveGitHubWebhook takes one delivery of GitHub's webhook: ErrWebhookSignature for a
	// missing or wrong signature; otherwise it stores a workflow_job event (deduped by the
	// delivery ID) and returns at once, never acting on it in the request.
	ReceiveGitHubWebhook(ctx context.Context, d GitHubDelivery) (WebhookOutcome, error)
	// MaxPayloadBytes is the server-wide limit of an enqueue's payload; no job's is larger.
	// A transport refuses a body larger than it plus an envelope's room unread.
	MaxPayloadBytes() int
}
