package autoscale

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// policy adapts a decide function to Policy.
type policy struct {
	name     string
	interval time.Duration
	decide   func(s *Snapshot, state any) ([]Action, any)
}

func (p policy) Name() string                                  { return p.name }
func (p policy) Interval() time.Duration                       { return p.interval }
func (p policy) Decide(s *Snapshot, state any) ([]Action, any) { return p.decide(s, state) }

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

func launchAction(pool, typ string, count int, spot *bool, forLists [][]string) Action {
	return Action{Launch: &Launch{Pool: pool, Type: typ, Count: count, Spot: spot, For: forLists}}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// week is the period of Snapshot.Arrivals.
const week = 7 * 24 * time.Hour

// ArrivalIndex is the index into Arrivals of the bucket holding t: buckets of
// ArrivalBucket count from Sunday 00:00 UTC, wrapping around len(Arrivals) (so a history
// shorter than a week repeats). It returns -1 when there is no history.
func (s *Snapshot) ArrivalIndex(t time.Time) int {
	if len(s.Arrivals) == 0 || s.ArrivalBucket <= 0 {
		return -1
	}
	return int(weekOffset(t)/s.ArrivalBucket) % len(s.Arrivals)
}

func weekOffset(t time.Time) time.Duration {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return time.Duration(t.Weekday())*24*time.Hour + t.Sub(day)
}

// ExpectedArrivals is the forecast count of tasks submitted in [from, from+d): the
// Arrivals means integrated over the window, each bucket weighted by its overlap.
func (s *Snapshot) ExpectedArrivals(from time.Time, d time.Duration) float64 {
	if s.ArrivalIndex(from) < 0 || d <= 0 {
		return 0
	}
	b := s.ArrivalBucket
	sum := 0.0
	off := weekOffset(from)
	for left := d; left > 0; {
		i := int(off/b) % len(s.Arrivals)
		step := min(left, b-off%b)
		sum += s.Arrivals[i] * float64(step) / float64(b)
		left -= step
		off = (off + step) % week
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
