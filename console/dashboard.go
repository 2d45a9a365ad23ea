package console

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// The dashboard's sizes.
const (
	// dashFailures bounds the failures listed (the count says "at least" past it).
	dashFailures = 20
	// dashLongest is how many of the longest-running runs it lists, chosen among the
	// dashActiveScan oldest running ones.
	dashLongest    = 10
	dashActiveScan = 200
)

// failedStates are the states of a run that ended badly.
var failedStates = []hashike.RunState{hashike.StateFailed, hashike.StateStartFailed, hashike.StateTimedOut, hashike.StateLost}

// dashboard is /ui/: failures in the last 24 hours, the longest-running runs and the
// queues' backlog, refreshed every few seconds.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, s *session) error {
	now := c.opts.Now()
	failures, err := c.svc.ListRuns(r.Context(), hashike.RunFilter{States: failedStates, Since: now.Add(-24 * time.Hour), Limit: dashFailures})
	if err != nil {
		return err
	}
	longest, err := c.longestRunning(r)
	if err != nil {
		return err
	}
	queues, err := c.queueRows(r)
	if err != nil {
		return err
	}
	// The backlog: the queues holding the most waiting runs first, then the most running.
	slices.SortStableFunc(queues, func(a, b queueRow) int {
		return cmp.Or(cmp.Compare(b.Queued, a.Queued), cmp.Compare(b.Active, a.Active))
	})
	var queued, active, paused int
	for _, q := range queues {
		queued, active = queued+q.Queued, active+q.Active
		if q.Paused {
			paused++
		}
	}
	c.render(w, r, s, http.StatusOK, "dashboard", map[string]any{"Title": "Dashboard",
		"Failures": failures.Runs, "MoreFailures": failures.Next != "", "FailureLimit": dashFailures,
		"Longest": longest, "Queues": queues, "Queued": queued, "Active": active, "Paused": paused})
	return nil
}

// longestRunning is the running runs that started first: among the dashActiveScan oldest
// running runs (by creation: a run starts after it is created, so the longest-running are
// almost always among them), the dashLongest with the earliest start.
func (c *Console) longestRunning(r *http.Request) ([]api.RunView, error) {
	page, err := c.svc.ListRuns(r.Context(), hashike.RunFilter{States: []hashike.RunState{hashike.StateRunning},
		OldestFirst: true, Limit: dashActiveScan})
	if err != nil {
		return nil, err
	}
	runs := slices.DeleteFunc(page.Runs, func(v api.RunView) bool { return v.StartedAt == nil })
	slices.SortStableFunc(runs, func(a, b api.RunView) int { return a.StartedAt.Compare(*b.StartedAt) })
	return runs[:min(len(runs), dashLongest)], nil
}
