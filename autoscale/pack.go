package autoscale

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// findPool returns the pool named name, or the snapshot's first pool when name is "".
func findPool(s *Snapshot, name string) (Pool, bool) {
	for _, p := range s.Pools {
		if name == "" || p.Name == name {
			return p, true
		}
	}
	return Pool{}, false
}

// poolType returns the pool's first instance type the snapshot knows: the type the
// single-type baselines binpack onto.
func poolType(s *Snapshot, p Pool) (InstanceType, bool) {
	for _, n := range p.InstanceTypes {
		if t, ok := s.Types[n]; ok {
			return t, true
		}
	}
	return InstanceType{}, false
}

// poolCounts counts a pool's instances: all of them (what Max bounds), launching ones,
// and live ones (launching or active: what ECS calls N and what Min bounds).
func poolCounts(s *Snapshot, pool string) (all, launching, live int) {
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Pool != pool {
			continue
		}
		all++
		switch in.State {
		case InstanceLaunching:
			launching++
			live++
		case InstanceActive:
			live++
		case InstanceDraining: // counted, neither launching nor live
		}
	}
	return all, launching, live
}

// idleSince is when an instance without tasks became idle.
func idleSince(in *Instance) time.Time {
	switch {
	case !in.IdleSince.IsZero():
		return in.IdleSince
	case !in.ActiveAt.IsZero():
		return in.ActiveAt
	}
	return in.LaunchedAt
}

// sortFFD orders tasks for first-fit decreasing: by CPU, then memory, largest first; ties
// by submission then ID so the packing is deterministic.
func sortFFD(ts []Task) {
	slices.SortStableFunc(ts, func(a, b Task) int {
		return cmp.Or(
			cmp.Compare(b.CPU, a.CPU),
			cmp.Compare(b.MemoryMiB, a.MemoryMiB),
			a.SubmittedAt.Compare(b.SubmittedAt),
			cmp.Compare(a.ID, b.ID),
		)
	})
}

// binpackCount is how many empty instances of cpu x mem the tasks need, first-fit
// decreasing. A task larger than the instance counts one instance of its own (it asks for
// capacity even though it will not fit; ECS behaves the same).
func binpackCount(tasks []Task, cpu, mem int) int {
	ts := slices.Clone(tasks)
	sortFFD(ts)
	type free struct{ cpu, mem int }
	var bins []free
	n := 0
next:
	for _, t := range ts {
		if t.CPU > cpu || t.MemoryMiB > mem {
			n++
			continue
		}
		for i := range bins {
			if bins[i].cpu >= t.CPU && bins[i].mem >= t.MemoryMiB {
				bins[i].cpu -= t.CPU
				bins[i].mem -= t.MemoryMiB
				continue next
			}
		}
		bins = append(bins, free{cpu - t.CPU, mem - t.MemoryMiB})
	}
	return n + len(bins)
}

// provisioning returns the pending tasks in the PROVISIONING state.
func provisioning(s *Snapshot) []Task {
	var ts []Task
	for _, t := range s.Pending {
		if t.Provisioning {
			ts = append(ts, t)
		}
	}
	return ts
}

func launchAction(pool, typ string, count int, spot *bool, forLists [][]string, reason string) Action {
	return Action{Launch: &Launch{Pool: pool, Type: typ, Count: count, Spot: spot, For: forLists}, Reason: reason}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// The seasons ExpectedArrivals looks back by, longest first: the same time last week, then
// yesterday, then an hour ago (hourly cron schedules).
var seasons = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour}

// arrivalsAt returns the count of the completed bucket holding t, if Arrivals has it.
func (s *Snapshot) arrivalsAt(t time.Time) (int, bool) {
	b := s.ArrivalBucket
	last := s.Now.Truncate(b)
	if !t.Before(last) {
		return 0, false // the bucket in progress, or the future
	}
	i := len(s.Arrivals) - 1 - int(last.Sub(t.Truncate(b))/b)
	if i < 0 {
		return 0, false
	}
	return s.Arrivals[i], true
}

// ExpectedArrivals is the forecast count of tasks submitted in [from, from+d), a seasonal
// naive forecast: each bucket of the window is expected to see what the same bucket saw one
// week earlier, or, when Arrivals does not reach that far back, one day earlier, or one hour
// earlier; buckets are weighted by their overlap with the window, and the bucket in
// progress expects only what it has not seen yet. With no history it is 0.
func (s *Snapshot) ExpectedArrivals(from time.Time, d time.Duration) float64 {
	b := s.ArrivalBucket
	if len(s.Arrivals) == 0 || b <= 0 || d <= 0 {
		return 0
	}
	// The longest season the history covers decides for the whole window, so a forecast
	// does not mix last week's Monday with yesterday's Sunday.
	var season time.Duration
	for _, p := range seasons {
		if _, ok := s.arrivalsAt(from.Add(-p)); ok {
			season = p
			break
		}
	}
	if season == 0 {
		return 0
	}
	sum := 0.0
	for t, end := from, from.Add(d); t.Before(end); {
		next := t.Truncate(b).Add(b)
		if next.After(end) {
			next = end
		}
		step := next.Sub(t)
		n, ok := s.arrivalsAt(t.Add(-season))
		switch {
		case !ok:
		case t.Truncate(b).Equal(s.Now.Truncate(b)) && !t.Before(s.Now):
			// The bucket in progress: what it has not seen yet, spread over what is left of it
			// (a burst that came already is not expected again).
			if left := float64(n - s.Arrivals[len(s.Arrivals)-1]); left > 0 {
				sum += left * float64(step) / float64(t.Truncate(b).Add(b).Sub(s.Now))
			}
		default:
			sum += float64(n) * float64(step) / float64(b)
		}
		t = t.Add(step)
	}
	return sum
}

// RecentArrivals is the count of tasks submitted in the last d (up to Now), from Arrivals:
// the bucket in progress in full, earlier buckets weighted by their overlap.
func (s *Snapshot) RecentArrivals(d time.Duration) float64 {
	b := s.ArrivalBucket
	if len(s.Arrivals) == 0 || b <= 0 || d <= 0 {
		return 0
	}
	last := len(s.Arrivals) - 1
	sum := float64(s.Arrivals[last])
	left := d - s.Now.Sub(s.Now.Truncate(b))
	for i := last - 1; i >= 0 && left > 0; i-- {
		sum += float64(s.Arrivals[i]) * float64(min(left, b)) / float64(b)
		left -= b
	}
	return sum
}

// headroomTasks sizes warm headroom: with m expected arrivals in the window, keep room for
// ceil(m + sigma*sqrt(m)) tasks (sigma 1 is about the 84th percentile of a Poisson count).
func headroomTasks(m, sigma float64) int {
	if m <= 0 {
		return 0
	}
	return int(math.Ceil(m + sigma*math.Sqrt(m) - 1e-9))
}
