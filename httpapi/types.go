package httpapi

import (
	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// The bodies of the list routes: an object, so that a field (a cursor) can be added later
// without breaking a client.
type (
	jobList struct {
		Jobs []api.JobView `json:"jobs"`
	}
	versionList struct {
		Versions []api.JobView `json:"versions"`
	}
	queueList struct {
		Queues []hashike.QueueInfo `json:"queues"`
	}
	scheduleList struct {
		Schedules []api.ScheduleView `json:"schedules"`
	}
	tokenList struct {
		Tokens []hashike.Token `json:"tokens"`
	}
)
