package console

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// capacityPage shows each cluster autoscaler's last view: groups, instances, pending demand
// and recent decisions; "not configured" when the server runs none.
func (c *Console) capacityPage(w http.ResponseWriter, r *http.Request, s *session) error {
	st, err := c.svc.CapacityStatus(r.Context())
	data := map[string]any{"Title": "Capacity"}
	switch {
	case hashike.ErrorCodeOf(err) == hashike.ENotFound:
		data["NotConfigured"] = true
	case err != nil:
		return err
	default:
		data["Status"] = st
		waits := map[string]string{}
		for _, cl := range st.Clusters {
			if cl.OldestPendingAt != nil {
				waits[cl.Name] = humanDuration(c.opts.Now().Sub(*cl.OldestPendingAt))
			}
		}
		data["Waits"] = waits
	}
	c.render(w, r, s, http.StatusOK, "capacity", data)
	return nil
}

// poolWait is a runner pool's queued -> started times over the jobs runners took lately.
type poolWait struct {
	Jobs          int
	Median, Worst string
}

// runnersPage shows the runner pools: runners idle, busy and starting per pool, the jobs
// queued at GitHub and how long jobs waited to start; "not configured" when the server
// runs no pools.
func (c *Console) runnersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	st, err := c.svc.RunnersStatus(r.Context())
	data := map[string]any{"Title": "Runners"}
	switch {
	case hashike.ErrorCodeOf(err) == hashike.ENotFound:
		data["NotConfigured"] = true
	case err != nil:
		return err
	default:
		data["Status"] = st
		data["Waits"] = poolWaits(st.Recent)
		runners := slices.Clone(st.Runners)
		slices.SortStableFunc(runners, func(a, b api.RunnerView) int {
			return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.State, b.State), cmp.Compare(a.Name, b.Name))
		})
		data["Runners"] = runners
	}
	c.render(w, r, s, http.StatusOK, "runners", data)
	return nil
}

// poolWaits is each pool's median and worst wait, queued -> started, over recent jobs.
func poolWaits(recent []api.RecentJobView) map[string]poolWait {
	by := map[string][]float64{}
	for _, j := range recent {
		by[j.Pool] = append(by[j.Pool], j.WaitSeconds)
	}
	out := map[string]poolWait{}
	for pool, ws := range by {
		slices.Sort(ws)
		sec := func(f float64) string { return humanDuration(time.Duration(f * float64(time.Second))) }
		out[pool] = poolWait{Jobs: len(ws), Median: sec(ws[len(ws)/2]), Worst: sec(ws[len(ws)-1])}
	}
	return out
}
