package autoscale

import (
	"cmp"
	"slices"
)

// bin is capacity tasks can be packed onto: an active instance's free capacity, a
// launching instance's reserved-but-unused capacity, or an instance to launch.
type bin struct {
	inst     *Instance // nil for an instance to launch
	pool     string
	typ      string
	cpu, mem int      // free
	tasks    []string // pending task IDs placed on it (a new instance's Launch.For)
	used     bool     // something (a task, a replacement or headroom) was placed on it
}

func (b *bin) fits(t Task) bool { return b.cpu >= t.CPU && b.mem >= t.MemoryMiB }

func (b *bin) put(t Task, real bool) {
	b.cpu -= t.CPU
	b.mem -= t.MemoryMiB
	b.used = true
	if real {
		b.tasks = append(b.tasks, t.ID)
	}
}

// packer packs tasks first-fit onto active instances, then launching ones, then instances
// it opens, choosing for each new instance the cheapest type that holds the task.
type packer struct {
	s         *Snapshot
	active    []*bin
	launching []*bin
	fresh     []*bin
	count     map[string]int // instances per pool, with the ones opened (what Max bounds)
	// avoid, when set, names the pool's types open takes only when no other can hold a
	// task (launches of them failed recently).
	avoid func(pool, typ string) bool
}

// newPacker gathers bins: active instances without an interruption notice, busy ones
// first, then idle ones most recently used first (so the longest idle stay empty and can be
// removed); launching instances oldest first. Ties by ID keep it deterministic.
func newPacker(s *Snapshot) *packer {
	p := &packer{s: s, count: map[string]int{}}
	for i := range s.Instances {
		in := &s.Instances[i]
		p.count[in.Pool]++
		if !in.InterruptionAt.IsZero() {
			continue
		}
		cpu, mem := in.Free()
		b := &bin{inst: in, pool: in.Pool, typ: in.Type, cpu: cpu, mem: mem}
		switch in.State {
		case InstanceActive:
			p.active = append(p.active, b)
		case InstanceLaunching:
			p.launching = append(p.launching, b)
		case InstanceDraining: // takes no new tasks
		}
	}
	slices.SortStableFunc(p.active, func(x, y *bin) int {
		xi, yi := x.inst.Tasks == 0, y.inst.Tasks == 0
		if xi != yi {
			if xi {
				return 1
			}
			return -1
		}
		if xi {
			return cmp.Or(idleSince(y.inst).Compare(idleSince(x.inst)), cmp.Compare(x.inst.ID, y.inst.ID))
		}
		return cmp.Compare(x.inst.ID, y.inst.ID)
	})
	slices.SortStableFunc(p.launching, func(x, y *bin) int {
		return cmp.Or(x.inst.LaunchedAt.Compare(y.inst.LaunchedAt), cmp.Compare(x.inst.ID, y.inst.ID))
	})
	return p
}

func firstFit(bins []*bin, t Task, real bool) bool {
	for _, b := range bins {
		if b.fits(t) {
			b.put(t, real)
			return true
		}
	}
	return false
}

// reserve places the pending tasks a launching instance was launched for (Instance.For) on
// that instance, so the task that caused a launch is never the cause of a second one. It
// returns the tasks not reserved.
func (p *packer) reserve(ts []Task) []Task {
	where := map[string]*bin{}
	for _, b := range p.launching {
		for _, id := range b.inst.For {
			where[id] = b
		}
	}
	var rest []Task
	for _, t := range ts {
		if b := where[t.ID]; b != nil && b.fits(t) {
			b.put(t, true)
			continue
		}
		rest = append(rest, t)
	}
	return rest
}

// open starts a new instance for t: over the pools with room under Max, in snapshot order,
// the type that can hold t with the lowest on-demand price per copy of t it fits (its
// CPU-and-memory fit); ties go to the earlier pool and type. Types avoid names are taken
// only when no other can hold t. It returns nil when none can.
func (p *packer) open(t Task) *bin {
	best := p.cheapest(t, false)
	if best == nil && p.avoid != nil {
		best = p.cheapest(t, true)
	}
	if best != nil {
		p.count[best.pool]++
		p.fresh = append(p.fresh, best)
	}
	return best
}

// cheapest is open's choice, among the avoided types too when avoided.
func (p *packer) cheapest(t Task, avoided bool) *bin {
	var best *bin
	bestScore := 0.0
	for _, pool := range p.s.Pools {
		if p.count[pool.Name] >= pool.Max {
			continue
		}
		for _, name := range pool.InstanceTypes {
			it, ok := p.s.Types[name]
			if !ok || it.CPU < t.CPU || it.MemoryMiB < t.MemoryMiB {
				continue
			}
			if p.avoid != nil && !avoided && p.avoid(pool.Name, name) {
				continue
			}
			fit := 1 << 20
			if t.CPU > 0 {
				fit = it.CPU / t.CPU
			}
			if t.MemoryMiB > 0 {
				fit = min(fit, it.MemoryMiB/t.MemoryMiB)
			}
			price := it.OnDemandPrice
			if price == 0 {
				price = it.SpotPrice
			}
			score := price / float64(max(fit, 1))
			if best == nil || score < bestScore {
				best = &bin{pool: pool.Name, typ: name, cpu: it.CPU, mem: it.MemoryMiB}
				bestScore = score
			}
		}
	}
	return best
}

// place packs t onto existing capacity, then onto instances opened already, then a new
// one when allowNew. real says t is a pending task (recorded in Launch.For).
func (p *packer) place(t Task, real, allowNew bool) bool {
	if firstFit(p.active, t, real) || firstFit(p.launching, t, real) || firstFit(p.fresh, t, real) {
		return true
	}
	if !allowNew {
		return false
	}
	b := p.open(t)
	if b == nil {
		return false
	}
	b.put(t, real)
	return true
}

// launches groups the opened instances into Launch actions by pool and type, in the order
// they were opened; spot gives each pool's purchase option (nil: the pool's split); reason
// is every launch's.
func (p *packer) launches(spot func(pool string) *bool, reason string) []Action {
	var acts []Action
	idx := map[[2]string]int{}
	for _, b := range p.fresh {
		k := [2]string{b.pool, b.typ}
		i, ok := idx[k]
		if !ok {
			i = len(acts)
			idx[k] = i
			acts = append(acts, launchAction(b.pool, b.typ, 0, spot(b.pool), nil, reason))
		}
		l := acts[i].Launch
		l.Count++
		l.For = append(l.For, b.tasks)
	}
	for _, a := range acts {
		if !slices.ContainsFunc(a.Launch.For, func(f []string) bool { return len(f) > 0 }) {
			a.Launch.For = nil
		}
	}
	return acts
}
