package autoscale

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// replacePrefix marks the stand-in task for an interrupted instance's load.
const replacePrefix = "replace:"

// SLO is the service level hashike's policy keeps: the p95 of the time from a task's
// submission to its start.
type SLO struct {
	WaitP95 time.Duration `json:"waitP95"`
}

// HashikeConfig configures hashike's own policy. Zero fields take the defaults noted.
type HashikeConfig struct {
	// SLO is the target the policy meets at the least cost (0: a p95 wait of 30 s).
	SLO SLO
	// BatchIdle holds pending tasks younger than it (0: 2 s) so a burst is packed together,
	// unless the oldest pending task is older than BatchMax (0: 10 s, at most a third of
	// the SLO).
	BatchIdle time.Duration
	BatchMax  time.Duration
	// MinIdle is the least time an instance is idle before it may be removed (0: 10 s,
	// one decision, so hashike's queue has had a chance to place on it); whether it is
	// removed then is the break-even rule's (see Hashike).
	MinIdle time.Duration
	// SpotAvoid is how long a pool's spot is avoided after an interruption notice in it
	// (0: 5 minutes).
	SpotAvoid time.Duration
	// CapacityAvoid is how long a pool's type is avoided after a launch of it failed
	// (Snapshot.LaunchErrors; 0: 3 minutes, as Karpenter skips an offering after an
	// insufficient-capacity error).
	CapacityAvoid time.Duration
	// LaunchLatency is the launch-to-registered time assumed until launches have been
	// seen (0: 90 s, the "typical" preset's median); the policy then learns it from the
	// instances that register.
	LaunchLatency time.Duration
	// NoHeadroom turns warm headroom off (every instance is removed once idle MinIdle).
	NoHeadroom bool
}

func (c HashikeConfig) withDefaults() HashikeConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SLO.WaitP95, 30*time.Second)
	def(&c.BatchIdle, 2*time.Second)
	def(&c.BatchMax, min(10*time.Second, c.SLO.WaitP95/3))
	def(&c.MinIdle, hashikeInterval)
	def(&c.SpotAvoid, 5*time.Minute)
	def(&c.CapacityAvoid, 3*time.Minute)
	def(&c.LaunchLatency, 90*time.Second)
	return c
}

const hashikeInterval = 10 * time.Second

// minBilled is EC2's per-second billing minimum for an instance (Linux): a launch costs at
// least a minute.
const minBilled = 60 * time.Second

type hashikeState struct {
	// AvoidSpot maps a pool to when its spot may be used again.
	AvoidSpot map[string]time.Time
	// Interrupted lists the instances whose interruption notice was handled (drained, their
	// replacement launched), so it is done once.
	Interrupted []string
	// Last is the previous decision's time (zero before the first).
	Last time.Time
	// Latency is the launch-to-registered time learned from the instances that registered
	// (a moving average of Samples of them, at most 100; 0 until one did).
	Latency    time.Duration
	LatencyVar float64 // its variance, in s²
	Samples    int
	// Running is a moving average of the running tasks (30-minute time constant), for
	// Little's law.
	Running float64
	// Reserved sums the CPU, memory and count of the running tasks over the decisions of
	// about the last hour: its ratios are the mean task shape, weighted by duration.
	Reserved [3]float64
	// Shapes weighs the (CPU, memory) shapes of the tasks seen pending, decaying with a
	// one-hour time constant.
	Shapes map[Shape]float64
	// Arrived and Missed count the tasks submitted and those seen still pending past the
	// SLO's wait, decaying with a two-hour time constant (but kept to about 500 tasks at
	// least); Counted is the arrival bucket counted last.
	Arrived, Missed float64
	Counted         time.Time
	// Slack multiplies the probabilities headroom is kept and launched at: it grows
	// (up to 4, by 1% a decision interval) while fewer than a quarter of the SLO's 5% miss
	// it, and shrinks back to 1 (by 5% an interval) once more than half do, so capacity the
	// SLO does not need is not paid for.
	Slack float64
	// Due is when a task held by the batching window leaves it (zero: none held): the
	// policy wants a decision then (NextDecision), not an interval later.
	Due time.Time
}

// Shape is a task's CPU and memory.
type Shape struct{ CPU, MemoryMiB int }

// Hashike is hashike's policy, every 10 s, driven by an SLO (HashikeConfig.SLO, a p95 wait
// of 30 s by default): it keeps the least capacity that meets it.
//
//  1. Spot: an instance with an interruption notice is drained and capacity for what it
//     runs (its reserved CPU and memory) is placed at once, on-demand: the pool's spot is
//     avoided for SpotAvoid (Launch.Spot false) since reclaims of a pool are correlated.
//  2. Packing, first-fit decreasing by CPU then memory (Karpenter's): pending tasks onto
//     active instances' free capacity; then each launching instance takes the tasks it was
//     launched for (Instance.For; Karpenter's double launch, karpenter#3121, is what this
//     prevents); then other tasks onto launching instances' unused capacity; then new
//     instances, each of the cheapest type (on-demand price per copy of the task it fits)
//     in a pool under its Max, skipping a pool's type whose launch failed within
//     CapacityAvoid (Snapshot.LaunchErrors; a failure naming no type skips the whole pool)
//     unless no other pool can hold the task. A batching window holds tasks younger than BatchIdle from
//     causing a launch unless the oldest pending task is older than BatchMax.
//  3. Warm headroom, sized by a break-even rule. Arrivals over a window W are forecast by
//     blending a seasonal forecast (last week, else yesterday, else an hour ago at this
//     time) with a recent rate (a moving average over minutes, carried over the mean launch
//     latency only), each weighted by the inverse square of its error over the last 3
//     hours; the running tasks expected to end within W plus the SLO's wait come off
//     (Little's law: mean duration = running tasks / arrival rate over the last hour). W is
//     how far ahead a forecast burst is launched for so that 95% of it starts within the
//     SLO: the learned launch latency's 95th percentile less the SLO's wait, plus 30 s a task
//     waits besides, never less than the mean latency, plus a decision. A spare task slot is
//     worth keeping when the probability that it is needed within W times what a relaunch
//     costs exceeds what keeping it idle over W costs. A relaunch costs its billed boot (per
//     second, at least 60 s) and, when the launch takes longer than the SLO's wait, a task
//     that misses the SLO: the SLO allows 5% of tasks to, so a slot is kept while
//     P(needed) >= 5% and launched for while P(needed) >= 20% (the hysteresis keeps churn
//     down); when a launch is within the SLO only the billed boot counts, and a slot is kept
//     while P(needed) x max(W, 70 s) > W. Sparse arrivals keep a first slot while a burst (a
//     run of minutes with arrivals) is that likely within W. Both probabilities are
//     multiplied by a slack that grows up to 4 while few recent tasks wait past the SLO
//     (hashikeState.Slack). Slots are in the shapes of the tasks seen pending (weighted by
//     frequency over the last hour; else the running tasks' mean shape), so a 64-vCPU
//     workload keeps room for a 64-vCPU task, but no more of them than hold what as many
//     tasks of the running tasks' mean shape reserve.
//  4. Job-aware scale-in: it terminates only active instances with no task, idle for
//     MinIdle and billed their first minute, that nothing was packed onto (not a held
//     task, not headroom), and an instance never used not before the forecast it was
//     launched for is due, never taking a pool below its Min. It never stops a running
//     job.
type Hashike struct {
	cfg   HashikeConfig
	state hashikeState
}

// NewHashike returns hashike's policy with cfg's zero fields defaulted.
func NewHashike(cfg HashikeConfig) *Hashike { return &Hashike{cfg: cfg.withDefaults()} }

// Config returns the policy's configuration, defaults applied.
func (p *Hashike) Config() HashikeConfig { return p.cfg }

func (*Hashike) Name() string            { return "hashike" }
func (*Hashike) Interval() time.Duration { return hashikeInterval }
func (p *Hashike) Reset()                { p.state = hashikeState{} }

// NextDecision is when a task held by the batching window leaves it (zero: no task is
// held): a live Controller decides then rather than an interval later, so a task's launch
// waits BatchIdle, not BatchIdle plus up to an interval. The policy decides correctly at
// any time: its moving averages and counts are weighted by the time between decisions, so
// an extra decision counts nothing twice.
func (p *Hashike) NextDecision() time.Time { return p.state.Due }

var _ EarlyDecider = (*Hashike)(nil)

func (p *Hashike) Decide(s *Snapshot, now time.Time) []Action {
	var acts []Action
	acts, p.state = p.decide(s, now, p.state)
	return acts
}

// decide is Decide as a pure function of the state.
func (p *Hashike) decide(s *Snapshot, now time.Time, old hashikeState) ([]Action, hashikeState) {
	cfg := p.cfg
	st := hashikeState{AvoidSpot: map[string]time.Time{}, Last: now, Latency: old.Latency, LatencyVar: old.LatencyVar, Samples: old.Samples, Running: old.Running,
		Arrived: old.Arrived, Missed: old.Missed, Counted: old.Counted, Slack: max(old.Slack, 1)}
	for pool, until := range old.AvoidSpot {
		if now.Before(until) {
			st.AvoidSpot[pool] = until
		}
	}
	st.learn(s, now, old)
	st.feedback(s, now, old, cfg.SLO)
	var acts []Action
	pk := newPacker(s)
	avoided := avoidLaunchErrors(s, now, cfg.CapacityAvoid)
	if len(avoided) > 0 {
		pk.avoid = func(pool, typ string) bool { return avoided[[2]string{pool, ""}] || avoided[[2]string{pool, typ}] }
	}

	// 1. Interruption notices.
	var replace []Task
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.InterruptionAt.IsZero() {
			continue
		}
		if slices.Contains(old.Interrupted, in.ID) {
			st.Interrupted = append(st.Interrupted, in.ID)
			continue
		}
		st.Interrupted = append(st.Interrupted, in.ID)
		if in.State != InstanceDraining {
			acts = append(acts, Action{Drain: &Drain{Instance: in.ID}, Reason: fmt.Sprintf("spot interruption notice: reclaimed at %s", in.InterruptionAt.Format(time.RFC3339))})
		}
		if in.Spot {
			st.AvoidSpot[in.Pool] = now.Add(cfg.SpotAvoid)
		}
		if in.CPUUsed > 0 || in.MemoryUsed > 0 {
			replace = append(replace, Task{ID: replacePrefix + in.ID, CPU: in.CPUUsed, MemoryMiB: in.MemoryUsed})
		}
	}
	slices.Sort(st.Interrupted)

	// 2. Packing.
	pending := slices.Clone(s.Pending)
	sortFFD(pending)
	var rest []Task
	for _, t := range pending {
		if !firstFit(pk.active, t, true) {
			rest = append(rest, t)
		}
	}
	rest = pk.reserve(rest)
	var unplaced []Task
	for _, t := range rest {
		if !firstFit(pk.launching, t, true) {
			unplaced = append(unplaced, t)
		}
	}
	flush := false
	var oldest time.Time
	for _, t := range s.Pending {
		if now.Sub(t.SubmittedAt) >= cfg.BatchMax {
			flush = true
		}
		if oldest.IsZero() || t.SubmittedAt.Before(oldest) {
			oldest = t.SubmittedAt
		}
	}
	grow := slices.Clone(replace)
	held := 0
	for _, t := range unplaced {
		if flush || now.Sub(t.SubmittedAt) >= cfg.BatchIdle {
			grow = append(grow, t)
			continue
		}
		held++
		due := t.SubmittedAt.Add(cfg.BatchIdle)
		if flushAt := oldest.Add(cfg.BatchMax); flushAt.Before(due) {
			due = flushAt
		}
		if st.Due.IsZero() || due.Before(st.Due) {
			st.Due = due
		}
	}
	sortFFD(grow)
	for _, t := range grow {
		pk.place(t, !strings.HasPrefix(t.ID, replacePrefix), true)
	}
	forPending := len(pk.fresh)

	// 3. Warm headroom.
	var hr headroom
	if !cfg.NoHeadroom {
		hr = p.headroom(s, now, &st)
		for i, slot := range hr.Slots {
			pk.place(slot, false, i < hr.Launch) // a slot no pool holds is skipped
		}
	}

	spot := func(pool string) *bool {
		if _, ok := st.AvoidSpot[pool]; ok {
			f := false
			return &f
		}
		return nil
	}
	fresh := pk.fresh
	pk.fresh = fresh[:forPending]
	acts = append(acts, pk.launches(spot, fmt.Sprintf("packing: %d pending tasks (%d held by the batching window) and %d interrupted instances' load fit no active or launching instance%s",
		len(grow)-len(replace), held, len(replace), avoidedString(avoided)))...)
	pk.fresh = fresh[forPending:]
	acts = append(acts, pk.launches(spot, "headroom: "+hr.why())...)
	pk.fresh = fresh

	// 4. Scale-in.
	live := map[string]int{}
	for pool := range maps.Keys(pk.count) {
		_, _, live[pool] = poolCounts(s, pool)
	}
	mins := map[string]int{}
	for _, p := range s.Pools {
		mins[p.Name] = p.Min
	}
	var idle []*Instance
	for _, b := range pk.active {
		in := b.inst
		if b.used || in.Tasks > 0 || in.CPUUsed > 0 || now.Sub(idleSince(in)) < cfg.MinIdle || now.Sub(in.LaunchedAt) < minBilled {
			continue
		}
		if in.IdleSince.IsZero() && now.Sub(in.LaunchedAt) < hr.Window+hashikeInterval {
			continue // never used, launched for a forecast that may not be due yet
		}
		idle = append(idle, in)
	}
	slices.SortFunc(idle, func(x, y *Instance) int {
		return cmp.Or(idleSince(x).Compare(idleSince(y)), cmp.Compare(x.ID, y.ID))
	})
	for _, in := range idle {
		if live[in.Pool] <= mins[in.Pool] {
			continue
		}
		live[in.Pool]--
		acts = append(acts, Action{Terminate: &Terminate{Instance: in.ID}, Reason: fmt.Sprintf("break-even scale-in: idle since %s, no pending task and no headroom slot on it (%s)",
			idleSince(in).Format(time.RFC3339), hr.why())})
	}
	return acts, st
}

// learn updates the learned launch latency, the running-task average and the task shapes
// from s.
func (st *hashikeState) learn(s *Snapshot, now time.Time, old hashikeState) {
	dt := time.Duration(0)
	if !old.Last.IsZero() && now.After(old.Last) {
		dt = now.Sub(old.Last)
	}
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.ActiveAt.IsZero() || (!old.Last.IsZero() && !in.ActiveAt.After(old.Last)) || in.ActiveAt.After(now) {
			continue
		}
		// The mean of the samples, then a moving average of about the last 100: instances
		// launched together register fastest first, so a short average would learn the tail.
		st.Samples = min(st.Samples+1, 100)
		l := in.ActiveAt.Sub(in.LaunchedAt)
		dev := (l - st.Latency).Seconds()
		st.Latency += (l - st.Latency) / time.Duration(st.Samples)
		st.LatencyVar += (dev*dev - st.LatencyVar) / float64(st.Samples)
	}
	if old.Last.IsZero() {
		st.Running = float64(s.Running)
	} else {
		a := 1 - math.Exp(-dt.Seconds()/1800)
		st.Running += a * (float64(s.Running) - st.Running)
	}
	// The reserved CPU and memory per running task, summed over an hour's decisions.
	cpu, mem, n := 0, 0, 0
	for i := range s.Instances {
		in := &s.Instances[i]
		cpu, mem, n = cpu+in.CPUUsed, mem+in.MemoryUsed, n+in.Tasks
	}
	// Each decision weighs by the time since the previous one, in decision intervals, so
	// an extra decision (a wake-up on new demand) counts its snapshot no twice.
	keep, w := 1.0, 1.0
	if !old.Last.IsZero() {
		keep = math.Exp(-dt.Seconds() / 3600)
		w = float64(dt) / float64(hashikeInterval)
	}
	st.Reserved = [3]float64{old.Reserved[0]*keep + w*float64(cpu), old.Reserved[1]*keep + w*float64(mem), old.Reserved[2]*keep + w*float64(n)}
	decay := math.Exp(-dt.Seconds() / 3600)
	st.Shapes = map[Shape]float64{}
	for sh, w := range old.Shapes {
		if w *= decay; w >= 0.01 {
			st.Shapes[sh] = w
		}
	}
	for _, t := range s.Pending {
		if old.Last.IsZero() || !t.SubmittedAt.Before(old.Last) {
			st.Shapes[Shape{t.CPU, t.MemoryMiB}]++
		}
	}
}

// sloMiss is the share of tasks the SLO lets wait longer than its wait (a p95).
const sloMiss = 0.05

// feedback counts arrivals and SLO misses and adapts Slack.
func (st *hashikeState) feedback(s *Snapshot, now time.Time, old hashikeState, slo SLO) {
	if old.Last.IsZero() || !now.After(old.Last) {
		st.Counted = now
		if s.ArrivalBucket > 0 {
			st.Counted = now.Truncate(s.ArrivalBucket)
		}
		return
	}
	dt := now.Sub(old.Last)
	// Two hours of memory, but at least about 500 tasks' worth, so a sparse workload's
	// share is not a handful of tasks.
	decay := math.Exp(-dt.Seconds() / 7200)
	if st.Arrived > 0 {
		decay = min(1, max(decay, 500/st.Arrived))
	}
	st.Arrived *= decay
	st.Missed *= decay
	if b := s.ArrivalBucket; b > 0 && len(s.Arrivals) > 1 {
		cur := now.Truncate(b)
		k := min(int(cur.Sub(old.Counted)/b), len(s.Arrivals)-1)
		for _, n := range s.Arrivals[len(s.Arrivals)-1-k : len(s.Arrivals)-1] {
			st.Arrived += float64(n)
		}
		st.Counted = cur
	}
	for _, t := range s.Pending {
		if age := now.Sub(t.SubmittedAt); age >= slo.WaitP95 && age < slo.WaitP95+dt {
			st.Missed++
		}
	}
	if st.Arrived < 20 {
		return
	}
	// Per decision interval, so extra decisions change it no faster.
	k := float64(dt) / float64(hashikeInterval)
	switch frac := st.Missed / st.Arrived; {
	case frac < sloMiss/4:
		st.Slack = min(4, st.Slack*math.Pow(1.01, k))
	case frac > sloMiss/2:
		st.Slack = max(1, st.Slack/math.Pow(1.05, k))
	}
}

// headroom is the warm headroom of one decision and its numbers.
type headroom struct {
	forecast
	// PLaunch and PKeep are the probabilities of being needed within the window above
	// which a slot is launched for and kept.
	PLaunch, PKeep float64
	// Slack is hashikeState.Slack; MissRate the recent share of tasks past the SLO.
	Slack, MissRate float64
	// BurstRate is the rate of bursts over the last hour (per second; Snapshot.burstRate);
	// PBurst the chance one comes within the window.
	BurstRate, PBurst float64
	// Slots to place, largest first: the first Launch may launch instances; the rest only
	// keep existing capacity.
	Slots  []Task
	Launch int
	Mix    string
	// Scale is the share of the slots kept for the mix's bias to larger shapes.
	Scale float64
}

func (h headroom) why() string {
	if h.Window == 0 {
		return "headroom off"
	}
	return fmt.Sprintf("headroom for %d tasks, %d of them launched for (%s, scaled x%.2f to the running tasks' mean shape): arrivals forecast over %s %.1f (seasonal %.1f weight %.2f, recent rate %.1f), departures %.1f (mean duration %s), bursts %.0f an hour (P(one within the window) %.3f); launch while P(needed) >= %.3f, keep while >= %.3f (slack x%.2f: %.1f%% of recent tasks waited past the SLO)",
		len(h.Slots), h.Launch, h.Mix, h.Scale, h.Window.Round(time.Second), h.Arrivals, h.Seasonal, h.WSeasonal, h.Recent, h.Departures, h.Duration.Round(time.Second), h.BurstRate*3600, h.PBurst, h.PLaunch, h.PKeep, h.Slack, 100*h.MissRate)
}

// headroom sizes warm headroom (rule 3 of Hashike).
func (p *Hashike) headroom(s *Snapshot, now time.Time, st *hashikeState) headroom {
	// The window is how far ahead capacity for a forecast must be launched so that 95% of
	// the tasks it is for start within the SLO: the 95th percentile of the launch latency
	// (mean + 1.645 sigma, learned) less the SLO's wait, plus what a task waits besides
	// (a decision, the batching window, the image pull and container start: 30 s); never
	// less than the mean latency.
	lat := st.Latency
	if lat == 0 {
		lat = p.cfg.LaunchLatency
	}
	q95 := lat + time.Duration(1.645*math.Sqrt(st.LatencyVar)*float64(time.Second))
	mean := lat
	lat = max(lat, q95-p.cfg.SLO.WaitP95+3*hashikeInterval)
	w := lat + hashikeInterval
	var h headroom
	h.Window = w
	h.Seasonal, h.Recent, h.WSeasonal = s.blend(now, w)
	// The recent rate is carried over the mean latency only: a burst that does not repeat
	// is not expected to last the longer window a timed one is launched ahead by.
	h.Recent *= float64(mean+hashikeInterval) / float64(w)
	h.Arrivals = h.WSeasonal*h.Seasonal + (1-h.WSeasonal)*h.Recent
	if rate := s.meanRate(time.Hour); rate > 0 && st.Running > 0 {
		h.Duration = time.Duration(st.Running / rate * float64(time.Second))
		h.Departures = float64(s.Running) * min(1, float64(w+p.cfg.SLO.WaitP95)/float64(h.Duration))
	}
	// Break-even: keep a slot while P(needed within w) x relaunch cost > idle cost over w.
	if lat > p.cfg.SLO.WaitP95 {
		h.PKeep = sloMiss // a relaunch makes a task miss the SLO; the SLO allows 5% to
	} else {
		h.PKeep = float64(w) / float64(max(w, minBilled+hashikeInterval)) // billed boot only
	}
	h.Slack, h.MissRate = st.Slack, st.Missed/max(st.Arrived, 1)
	h.PKeep = min(1, h.PKeep*st.Slack)
	h.PLaunch = min(1, 4*h.PKeep)
	d := int(math.Floor(h.Departures))
	keep := max(0, poissonQuantile(h.Arrivals, 1-h.PKeep)-d)
	launch := max(0, poissonQuantile(h.Arrivals, 1-h.PLaunch)-d)
	// Sparse arrivals: the rate of the last hour's bursts says whether the first slot is
	// needed, where a moving average of minutes has forgotten the last arrival.
	h.BurstRate = s.burstRate(time.Hour)
	h.PBurst = 1 - math.Exp(-h.BurstRate*w.Seconds())
	if h.PBurst >= h.PKeep {
		keep = max(keep, 1)
	}
	if h.PBurst >= h.PLaunch {
		launch = max(launch, 1)
	}
	if h.PKeep >= 1 {
		keep = 0
	}
	if h.PLaunch >= 1 {
		launch = 0
	}
	mix := st.mix(s)
	h.Mix = mixString(mix)
	// Tasks placed at once are never seen pending, so the mix leans to the larger shapes:
	// count no more slots than hold what as many tasks of the mean shape reserve (at least
	// one, so the largest task seen still finds room).
	if r := st.Reserved; r[2] > 0 {
		var mc, mm, tw float64
		for _, w := range mix {
			mc, mm, tw = mc+w.W*float64(w.CPU), mm+w.W*float64(w.MemoryMiB), tw+w.W
		}
		ratio := 1.0
		if mc > 0 && mm > 0 {
			ratio = min(1, max(r[0]/r[2]/(mc/tw), r[1]/r[2]/(mm/tw)))
		}
		h.Scale = ratio
		scale := func(n int) int {
			if n == 0 {
				return 0
			}
			return max(1, int(math.Ceil(float64(n)*ratio)))
		}
		keep, launch = scale(keep), scale(launch)
	}
	h.Slots = spread(mix, keep)
	h.Launch = launch
	// The slots launched for are the first launch of the same mix: spread keeps the order of
	// the shapes, so reorder so that spread(mix, launch) comes first.
	if launch > 0 && launch < keep {
		h.Slots = append(spread(mix, launch), subtract(spread(mix, keep), spread(mix, launch))...)
	}
	return h
}

type weighted struct {
	Shape
	W float64
}

// mix is the shapes headroom is counted in: those of the tasks seen pending, by weight
// (each decays with a one-hour time constant), else the mean shape of the running tasks,
// else 1 vCPU x 2 GiB. Tasks placed at once are never seen pending, so the mix leans to
// the shapes that had to wait: the larger ones, which is the side to err on for an SLO.
func (st *hashikeState) mix(s *Snapshot) []weighted {
	var ws []weighted
	for sh, w := range st.Shapes {
		ws = append(ws, weighted{sh, w})
	}
	if len(ws) == 0 {
		cpu, mem, n := 0, 0, 0
		for i := range s.Instances {
			in := &s.Instances[i]
			cpu, mem, n = cpu+in.CPUUsed, mem+in.MemoryUsed, n+in.Tasks
		}
		sh := Shape{1024, 2048}
		if n > 0 {
			sh = Shape{ceilDiv(cpu, n), ceilDiv(mem, n)}
		}
		ws = append(ws, weighted{sh, 1})
	}
	slices.SortFunc(ws, func(a, b weighted) int {
		return cmp.Or(cmp.Compare(b.W, a.W), cmp.Compare(b.CPU, a.CPU), cmp.Compare(b.MemoryMiB, a.MemoryMiB))
	})
	return ws
}

func mixString(ws []weighted) string {
	total := 0.0
	for _, w := range ws {
		total += w.W
	}
	var b strings.Builder
	for i, w := range ws {
		if i == 3 {
			fmt.Fprintf(&b, ", %d more shapes", len(ws)-3)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d%% %dx%d", int(math.Round(100*w.W/total)), w.CPU, w.MemoryMiB)
	}
	return b.String()
}

// spread divides n slots among the shapes in proportion to their weights (largest
// remainder; ties to the heavier shape) and returns them largest first.
func spread(ws []weighted, n int) []Task {
	if n <= 0 || len(ws) == 0 {
		return nil
	}
	total := 0.0
	for _, w := range ws {
		total += w.W
	}
	counts := make([]int, len(ws))
	rem := make([]float64, len(ws))
	left := n
	for i, w := range ws {
		x := float64(n) * w.W / total
		counts[i] = int(x)
		rem[i] = x - float64(counts[i])
		left -= counts[i]
	}
	for ; left > 0; left-- {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		counts[best]++
		rem[best] = -1
	}
	var ts []Task
	for i, w := range ws {
		for range counts[i] {
			ts = append(ts, Task{CPU: w.CPU, MemoryMiB: w.MemoryMiB})
		}
	}
	sortFFD(ts)
	return ts
}

// subtract removes from all one slot of each shape in some (both largest first).
func subtract(all, some []Task) []Task {
	var out []Task
	j := 0
	for _, t := range all {
		if j < len(some) && some[j].CPU == t.CPU && some[j].MemoryMiB == t.MemoryMiB {
			j++
			continue
		}
		out = append(out, t)
	}
	return out
}
