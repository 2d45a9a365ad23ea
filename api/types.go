package api

import (
	"encoding/json"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/job"
)

// EnqueueRequest is the body of POST /v1/jobs/{name}/runs. Every field is optional.
type EnqueueRequest struct {
	// Payload is any JSON value, given to the run's containers as HASHIKE_PAYLOAD and (locally)
	// the file /hashike/payload.json. At most the job's (or the server's) MaxPayloadBytes.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Delay holds the run back this long from now; NotBefore until then. At most one of them.
	Delay     hashike.Duration `json:"delay,omitempty"`
	NotBefore *time.Time       `json:"notBefore,omitempty"`
	// Priority and Queue override the job's (-100..100; a queue name).
	Priority *int   `json:"priority,omitempty"`
	Queue    string `json:"queue,omitempty"`
	// IdempotencyKey: a second enqueue with the same key returns the first run (200), never a
	// second one. Also accepted as the Idempotency-Key header.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Version runs that version of the job; 0 the latest.
	Version int `json:"version,omitempty"`
	// Overrides change this run only, as ECS containerOverrides and hako's `oneshot CMD`
	// do; the run's retries keep them.
	Overrides *Overrides `json:"overrides,omitempty"`
}

// Overrides are one run's changes to one container of its job's definition.
type Overrides struct {
	// Container names the container; "" is the job's watched (essential) container.
	Container   string                 `json:"container,omitempty"`
	Command     []string               `json:"command,omitempty"`
	Environment []hashike.KeyValuePair `json:"environment,omitempty"`
	// Cpu in CPU units (1024 per vCPU) and Memory in MiB, the container's hard limit.
	Cpu    *int `json:"cpu,omitempty"`
	Memory *int `json:"memory,omitempty"`
	// Timeout replaces the job's timeout for this run ("10m").
	Timeout *hashike.Duration `json:"timeout,omitempty"`
	// Script is a shell script the container runs with /bin/sh instead of its command
	// (digdag's ecs_task.sh>): inline in the command when small, else stored in the object
	// store and mounted (local) or fetched by URL (ECS). Not with Command.
	Script string `json:"script,omitempty"`
}

// RerunRequest is the body of POST /v1/runs/{id}/rerun.
type RerunRequest struct {
	// Payload replaces the run's payload when present; absent keeps it.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Latest runs the job's latest version rather than the one the run used.
	Latest bool `json:"latest,omitempty"`
}

// CancelRequest is the (optional) body of POST /v1/runs/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RunView is a run as the API shows it: the run, where its enqueue stands across its tries
// (JobState), and (GET /v1/runs/{id} only) every try of the same enqueue, oldest first
// (Attempts includes the run itself).
type RunView struct {
	*hashike.Run
	// JobState is the state of the enqueue's latest try (LatestAttempt), so that a first try
	// that failed reads as queued or running while its retry is. A run's own State is
	// its try's. Both are empty for a run not made by the server (hashike run).
	JobState      hashike.RunState `json:"jobState,omitempty"`
	LatestAttempt int              `json:"latestAttempt,omitempty"`
	Attempts      []AttemptView    `json:"attempts,omitempty"`
	// Objects are the run's payload and script passed by reference and its result, as
	// recorded (GET /v1/runs/{id} only; README "Payloads and results").
	Objects []hashike.RunObject `json:"objects,omitempty"`
}

// AttemptView summarizes one try.
type AttemptView struct {
	ID         string              `json:"id"`
	Attempt    int                 `json:"attempt"`
	State      hashike.RunState    `json:"state"`
	Exit       *hashike.ExitStatus `json:"exit,omitempty"`
	CreatedAt  time.Time           `json:"createdAt"`
	StartedAt  *time.Time          `json:"startedAt,omitempty"`
	FinishedAt *time.Time          `json:"finishedAt,omitempty"`
}

// JobView is a registered job: its latest (or asked-for) version, decoded.
type JobView struct {
	Name       string          `json:"name"`
	Version    int             `json:"version"`
	Digest     string          `json:"digest"`
	CreatedAt  time.Time       `json:"createdAt"`
	Source     string          `json:"source,omitempty"`
	Definition *job.Definition `json:"definition"`
}

// ScheduleView is a job's schedule with its next fire times.
type ScheduleView struct {
	Job      string    `json:"job"`
	Version  int       `json:"version"`
	Schedule cron.Spec `json:"schedule"`
	// Next are the next five fire times (Fire.Suspended ones are skipped).
	Next []time.Time `json:"next"`
	// LastTick is the last time the scheduler acted on the schedule.
	LastTick *time.Time `json:"lastTick,omitempty"`
}

// RunPage is one page of runs; Next is the cursor of the next page ("" at the end).
type RunPage struct {
	Runs []RunView `json:"runs"`
	Next string    `json:"next,omitempty"`
}

// CreatedToken is a new token with its secret, shown once.
type CreatedToken struct {
	hashike.Token
	Secret string `json:"secret"`
}

// ResultInfo describes a run's result (README "Payloads and results").
type ResultInfo struct {
	RunID       string    `json:"runId"`
	Size        int64     `json:"size"`
	ContentType string    `json:"contentType,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// PruneRequest is the body of POST /v1/prune.
type PruneRequest struct {
	// DryRun reports what a pass would delete, and deletes nothing.
	DryRun bool `json:"dryRun,omitempty"`
}
