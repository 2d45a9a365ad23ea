package httpapi

import (
	"context"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/server"
)

// Service is what the API serves: *server.Server implements it. Errors are *hashike.Error
// with a code; the handler turns the code into a status (statusOf).
type Service interface {
	// RegisterJob records doc (a job file, YAML or JSON) as the job's next version, or
	// returns the latest with created=false when it is unchanged. EInvalid with Fields (Pos
	// like "request:3:5") for a bad document.
	RegisterJob(ctx context.Context, name string, doc []byte) (server.JobView, bool, error)
	// GetJob returns a version of a job; version 0 is the latest.
	GetJob(ctx context.Context, name string, version int) (server.JobView, error)
	ListJobs(ctx context.Context) ([]server.JobView, error)
	ListJobVersions(ctx context.Context, name string) ([]server.JobView, error)
	// Enqueue queues a run of the job; created=false when req's idempotency key names an
	// existing run, which is returned. ETooLarge for a payload over the job's limit.
	Enqueue(ctx context.Context, name string, req server.EnqueueRequest) (*hashike.Run, bool, error)
	GetRun(ctx context.Context, id string) (server.RunView, error)
	// ListRuns returns a page of runs; RunPage.Next is f.Before for the next page.
	ListRuns(ctx context.Context, f hashike.RunFilter) (server.RunPage, error)
	Cancel(ctx context.Context, id string, req server.CancelRequest) (*hashike.Run, error)
	Rerun(ctx context.Context, id string, req server.RerunRequest) (*hashike.Run, error)
	// FollowLogs calls fn for each log entry of the run, in order. With follow it returns once
	// the run has ended and all its output was sent; without, once the stored output was
	// sent. An error of fn stops it and is returned.
	FollowLogs(ctx context.Context, id string, follow bool, fn func(hashike.LogEntry) error) error
	ListQueues(ctx context.Context) ([]hashike.QueueInfo, error)
	PutQueue(ctx context.Context, q hashike.QueueConfig) (hashike.QueueInfo, error)
	ListSchedules(ctx context.Context) ([]server.ScheduleView, error)
	GetSchedule(ctx context.Context, job string) (server.ScheduleView, error)
	SetSuspended(ctx context.Context, job string, suspended bool) (server.ScheduleView, error)
	// Trigger runs a scheduled job now, by hand.
	Trigger(ctx context.Context, job string) (*hashike.Run, error)
	CreateToken(ctx context.Context, name string, scope hashike.Scope) (server.CreatedToken, error)
	ListTokens(ctx context.Context) ([]hashike.Token, error)
	RevokeToken(ctx context.Context, id string) error
	// Authenticate returns the token whose secret this is; ENotFound for an unknown or
	// revoked one.
	Authenticate(ctx context.Context, secret string) (hashike.Token, error)
	// Health checks the dependencies the server cannot serve without (the database). It
	// answers within a few seconds, naming what is down, never how to reach it.
	Health(ctx context.Context) server.Health
	// ReceiveGitHubWebhook takes one delivery of GitHub's webhook: server.ErrWebhookSignature
	// for a missing or wrong signature; otherwise it stores a workflow_job event (deduped by
	// the delivery ID) and returns at once, never acting on it in the request.
	ReceiveGitHubWebhook(ctx context.Context, d server.GitHubDelivery) (server.WebhookOutcome, error)
	// RunnersStatus is the runner controller's last view (pools, runners by state, jobs
	// queued); ENotFound when the server runs no runner pools. Only the leader has one
	// (Leader false elsewhere).
	RunnersStatus(ctx context.Context) (server.RunnersStatus, error)
	// MaxPayloadBytes is the server-wide limit of an enqueue's payload; no job's is larger.
	// The handler refuses a body larger than it plus an envelope's room (413) unread.
	MaxPayloadBytes() int
}
