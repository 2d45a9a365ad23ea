package api

import "time"

// RunnersStatus is the body of GET /v1/runners: the leader's last decision per pool, its
// runners by state and the jobs queued now with how long they have waited.
type RunnersStatus struct {
	// Leader reports whether this replica runs the controller; a follower has no status.
	Leader    bool             `json:"leader"`
	DecidedAt *time.Time       `json:"decidedAt,omitempty"`
	Pools     []RunnerPoolView `json:"pools"`
	Runners   []RunnerView     `json:"runners"`
	Queued    []QueuedJobView  `json:"queued"`
	// Recent are the last jobs runners took (at most 100, most recent first), with their
	// wait, as the webhook's "in_progress" deliveries said.
	Recent []RecentJobView `json:"recent"`
	// LostWebhooks counts the jobs found queued that no webhook announced, this term.
	LostWebhooks int `json:"lostWebhooks"`
}

// RunnerPoolView is one pool's counts at the last decision.
type RunnerPoolView struct {
	Name     string `json:"name"`
	Job      string `json:"job"`
	Max      int    `json:"max"`
	Queued   int    `json:"queued"`
	Idle     int    `json:"idle"`
	Starting int    `json:"starting"`
	Busy     int    `json:"busy"`
	Offline  int    `json:"offline"`
	Desired  int    `json:"desired"`
	MinIdle  int    `json:"minIdle"`
	// MinIdleReason says where MinIdle comes from (base, a schedule, the SLO).
	MinIdleReason string `json:"minIdleReason,omitempty"`
}

// RunnerView is one runner of the controller's, from its run and its registration.
type RunnerView struct {
	Name     string     `json:"name"`
	Pool     string     `json:"pool"`
	State    string     `json:"state"`
	RunID    string     `json:"runId,omitempty"`
	GitHubID int64      `json:"githubId,omitempty"`
	Created  *time.Time `json:"created,omitempty"`
}

// QueuedJobView is a job queued at GitHub, as the webhook intake knows it.
type QueuedJobView struct {
	ID       int64     `json:"id"`
	Labels   []string  `json:"labels"`
	Pool     string    `json:"pool,omitempty"`
	QueuedAt time.Time `json:"queuedAt"`
	// WaitSeconds is how long it has waited so far.
	WaitSeconds float64 `json:"waitSeconds"`
}

// RecentJobView is a job a runner took: queued -> started by GitHub's times.
type RecentJobView struct {
	ID          int64     `json:"id"`
	Labels      []string  `json:"labels"`
	Pool        string    `json:"pool,omitempty"`
	Runner      string    `json:"runner,omitempty"`
	QueuedAt    time.Time `json:"queuedAt"`
	StartedAt   time.Time `json:"startedAt"`
	WaitSeconds float64   `json:"waitSeconds"`
}
