package api

import "time"

// Health states of GET /healthz.
const (
	HealthOK          = "ok"
	HealthUnavailable = "unavailable"
	// CheckUp and CheckDown are a dependency's state in Health.Checks.
	CheckUp   = "ok"
	CheckDown = "down"
)

// Health is the body of GET /healthz: whether the replica can serve, and the state of each
// dependency it cannot serve without, by name ("database").
type Health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	// Autoscalers, by cluster, say when each autoscaler last decided and why its last
	// observation of the cluster failed, if it did (only the leader runs them: a follower
	// has no decision). An autoscaler's error does not make the replica unhealthy: it
	// still serves, and the autoscaler retries every interval.
	Autoscalers map[string]AutoscalerHealth `json:"autoscalers,omitempty"`
	// Runners is the runner controller (when the server runs runner pools), as Autoscalers:
	// its errors do not make the replica unhealthy.
	Runners *RunnerHealth `json:"runners,omitempty"`
}

// Healthy reports whether every dependency is up.
func (h Health) Healthy() bool { return h.Status == HealthOK }

// AutoscalerHealth is one autoscaler in Health: when it last decided (on this replica, the
// leader) and the error of its last observation of the cluster ("" when it succeeded).
type AutoscalerHealth struct {
	LastDecision *time.Time `json:"lastDecision,omitempty"`
	Error        string     `json:"error,omitempty"`
}

// RunnerHealth is the runner controller in Health: when it last decided (on the leader),
// and why its last pass failed, if it did ("" otherwise).
type RunnerHealth struct {
	LastDecision *time.Time `json:"lastDecision,omitempty"`
	Error        string     `json:"error,omitempty"`
	// LostWebhooks counts the queued jobs a re-scan of GitHub found that no webhook announced
	// (lost or late deliveries), since this replica became leader.
	LostWebhooks int `json:"lostWebhooks"`
}
