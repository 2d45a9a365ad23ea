package server

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/autoscale"
)

// capacityLog is what an autoscaler keeps for GET /v1/capacity and the console: its
// cluster at the last observation, summarized, and its last decisions that acted or failed.
type capacityLog struct {
	mu        sync.Mutex
	policy    string
	view      *api.ClusterCapacity // nil before the first observation
	err       string
	decisions []api.ScalingDecisionView // newest first
}

// keep records a decision. The snapshot is the controller's: only a summary of it is kept.
func (l *capacityLog) keep(d autoscale.Decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.policy = d.Policy
	if d.Err != nil {
		l.err = d.Err.Error()
	} else {
		l.err = ""
		if d.Snapshot != nil {
			v := summarize(d.Snapshot, d.At)
			l.view = &v
		}
	}
	if d.Err == nil && len(d.Actions) == 0 {
		return
	}
	dv := api.ScalingDecisionView{At: d.At}
	if d.Err != nil {
		dv.Error = d.Err.Error()
	}
	for i, a := range d.Actions {
		av := api.ScalingActionView{Action: a.String(), Reason: a.Reason}
		if i < len(d.Errors) && d.Errors[i] != nil {
			av.Error = d.Errors[i].Error()
		}
		dv.Actions = append(dv.Actions, av)
	}
	l.decisions = slices.Insert(l.decisions, 0, dv)
	if len(l.decisions) > api.MaxScalingDecisions {
		l.decisions = l.decisions[:api.MaxScalingDecisions]
	}
}

// reset forgets the view and the decisions: a new term observes afresh.
func (l *capacityLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.view, l.err, l.decisions = nil, "", nil
}

// summarize is a snapshot as ClusterCapacity shows it: groups with their instances by state,
// the instances, the pending demand.
func summarize(s *autoscale.Snapshot, at time.Time) api.ClusterCapacity {
	v := api.ClusterCapacity{ObservedAt: &at, Groups: []api.CapacityGroupView{}, Instances: []api.InstanceView{},
		Pending: len(s.Pending), Running: s.Running}
	for _, p := range s.Pools {
		v.Groups = append(v.Groups, api.CapacityGroupView{Name: p.Name, InstanceTypes: slices.Clone(p.InstanceTypes), Min: p.Min, Max: p.Max})
	}
	for _, in := range s.Instances {
		iv := api.InstanceView{ID: in.ID, Group: in.Pool, Type: in.Type, Spot: in.Spot, State: string(in.State),
			LaunchedAt: in.LaunchedAt, CPU: in.CPU, MemoryMiB: in.MemoryMiB, CPUUsed: in.CPUUsed, MemoryUsed: in.MemoryUsed, Tasks: in.Tasks}
		if !in.ActiveAt.IsZero() {
			t := in.ActiveAt
			iv.ActiveAt = &t
		}
		if !in.InterruptionAt.IsZero() {
			t := in.InterruptionAt
			iv.InterruptionAt = &t
		}
		v.Instances = append(v.Instances, iv)
		i := slices.IndexFunc(v.Groups, func(g api.CapacityGroupView) bool { return g.Name == in.Pool })
		if i < 0 {
			v.Groups = append(v.Groups, api.CapacityGroupView{Name: in.Pool})
			i = len(v.Groups) - 1
		}
		switch in.State {
		case autoscale.InstanceLaunching:
			v.Groups[i].Launching++
		case autoscale.InstanceActive:
			v.Groups[i].Active++
		case autoscale.InstanceDraining:
			v.Groups[i].Draining++
		}
	}
	slices.SortStableFunc(v.Instances, func(a, b api.InstanceView) int {
		if a.Group != b.Group {
			if a.Group < b.Group {
				return -1
			}
			return 1
		}
		return a.LaunchedAt.Compare(b.LaunchedAt)
	})
	for i, t := range s.Pending {
		v.PendingCPU += t.CPU
		v.PendingMemoryMiB += t.MemoryMiB
		if i == 0 || t.SubmittedAt.Before(*v.OldestPendingAt) {
			at := t.SubmittedAt
			v.OldestPendingAt = &at
		}
	}
	return v
}

// CapacityStatus is each autoscaler's last view of its cluster and its recent decisions
// (GET /v1/capacity). ENotFound when the server runs no autoscaler; a follower answers with
// Leader false and the clusters' names only.
func (s *Server) CapacityStatus(context.Context) (api.CapacityStatus, error) {
	if len(s.cfg.Autoscalers) == 0 {
		return api.CapacityStatus{}, notFound("this server runs no cluster autoscaler (the config's autoscalers)")
	}
	out := api.CapacityStatus{Leader: s.Leader(), Clusters: []api.ClusterCapacity{}}
	for i, a := range s.cfg.Autoscalers {
		l := &s.autoscalers[i].capacity
		c := api.ClusterCapacity{Groups: []api.CapacityGroupView{}, Instances: []api.InstanceView{}, Decisions: []api.ScalingDecisionView{}}
		l.mu.Lock()
		if out.Leader && l.view != nil {
			c = *l.view
			c.Groups, c.Instances = slices.Clone(c.Groups), slices.Clone(c.Instances)
		}
		if out.Leader {
			c.Error = l.err
			c.Decisions = append(c.Decisions[:0:0], l.decisions...)
			if c.Decisions == nil {
				c.Decisions = []api.ScalingDecisionView{}
			}
		}
		c.Policy = l.policy
		l.mu.Unlock()
		c.Name = a.Name
		if c.Policy == "" && a.Policy != nil {
			c.Policy = a.Policy.Name()
		}
		out.Clusters = append(out.Clusters, c)
	}
	return out, nil
}
