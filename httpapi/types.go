package httpapi

import (
	"github.com/hashike/hashike"
	"github.com/hashike/hashike/server"
)

// The bodies of the list routes: an object, so that a field (a cursor) can be added later
// without breaking a client.
type (
	jobList struct {
		Jobs []server.JobView `json:"jobs"`
	}
	versionList struct {
		Versions []server.JobView `json:"versions"`
	}
	queueList struct {
		Queues []hashike.QueueInfo `json:"queues"`
	}
	scheduleList struct {
		Schedules []server.ScheduleView `json:"schedules"`
	}
	tokenList struct {
		Tokens []hashike.Token `json:"tokens"`
	}
)
