package console

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

// pageRoutes registers the jobs, queues, schedules, capacity and runners pages and the
// dashboard, with the scope each action needs (the JSON API's for the same action).
func (c *Console) pageRoutes(m *http.ServeMux) {
	m.Handle("GET /ui/jobs", c.page(hashike.ScopeRead, c.jobsPage))
	m.Handle("GET /ui/jobs/{name}", c.page(hashike.ScopeRead, c.jobPage))
	m.Handle("GET /ui/jobs/{name}/diff", c.page(hashike.ScopeRead, c.jobDiffPage))

	m.Handle("GET /ui/queues", c.page(hashike.ScopeRead, c.queuesPage))
	m.Handle("POST /ui/queues/{name}", c.page(hashike.ScopeAdmin, c.queueAction))

	m.Handle("GET /ui/schedules", c.page(hashike.ScopeRead, c.schedulesPage))
	m.Handle("POST /ui/schedules/{job}/suspend", c.page(hashike.ScopeAdmin, c.suspendSchedule))
	m.Handle("POST /ui/schedules/{job}/resume", c.page(hashike.ScopeAdmin, c.resumeSchedule))
	m.Handle("POST /ui/schedules/{job}/trigger", c.page(hashike.ScopeSubmit, c.triggerSchedule))

	m.Handle("GET /ui/capacity", c.page(hashike.ScopeRead, c.capacityPage))
	m.Handle("GET /ui/runners", c.page(hashike.ScopeRead, c.runnersPage))
}

// pageFuncs are the template helpers of these pages.
func (c *Console) pageFuncs() template.FuncMap {
	return template.FuncMap{
		"zoned":    zoned,
		"zoneName": zoneName,
		"dur":      func(d hashike.Duration) string { return shortDuration(time.Duration(d)) },
		"seconds":  func(f float64) string { return humanDuration(time.Duration(f * float64(time.Second))) },
		"pct": func(used, total int) int {
			if total <= 0 {
				return 0
			}
			return used * 100 / total
		},
		// dict builds a partial's data from pairs: (dict "S" . "Session" $.Session).
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, errors.New("dict: a key is not a string")
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

// shortDuration is a configured duration as people write it: 24h, 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
