package runners

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SimJob is one workflow job of a simulated workload.
type SimJob struct {
	Submit   time.Duration // from SimConfig.Start
	Duration time.Duration
	Labels   []string
}

// SimConfig sets up Simulate.
type SimConfig struct {
	Plan  *Plan
	Start time.Time
	// Interval is the controller's pass interval (default DefaultInterval); every arrival
	// also triggers a pass, as its webhook would.
	Interval time.Duration
	// StartMin and StartMean: a runner comes online StartMin plus an exponential of mean
	// StartMean after it is requested.
	StartMin, StartMean time.Duration
	Seed                uint64
}

// SimResult is what Simulate measured.
type SimResult struct {
	Jobs, Unserved int
	// Wait is queued -> started (a runner took the job).
	WaitP50, WaitP95, WaitMax time.Duration
	// IdleRunnerHours is the time runners spent online and not busy; StartingRunnerHours
	// the time between their request and coming online.
	IdleRunnerHours, StartingRunnerHours float64
	RunnersStarted                       int
}

func (r SimResult) String() string {
	return fmt.Sprintf("%d jobs: wait p50 %v p95 %v max %v; idle %.1f runner-h, starting %.1f runner-h, %d runners",
		r.Jobs, r.WaitP50, r.WaitP95, r.WaitMax, r.IdleRunnerHours, r.StartingRunnerHours, r.RunnersStarted)
}

// Simulate replays jobs against the plan's pools in virtual time with the real Decide and
// MinIdle (schedules and SLO sizing from the same History and Latencies the Controller
// keeps). GitHub is modelled as this package's tests model it: a job goes to any idle runner
// whose labels are a superset; a runner takes one job and exits. It is deterministic for a
// seed.
func Simulate(cfg SimConfig, jobs []SimJob) SimResult {
	s := &simState{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x7275_6e6e)), hist: map[string]*History{}, lat: map[string]*Latencies{}}
	interval := cmp.Or(cfg.Interval, DefaultInterval)
	for i := range jobs {
		s.push(simEvent{at: jobs[i].Submit, kind: evArrive, job: i})
	}
	var end time.Duration
	if len(jobs) > 0 {
		end = jobs[len(jobs)-1].Submit + 2*time.Hour
	}
	s.push(simEvent{at: 0, kind: evTick})
	s.jobs = jobs
	s.waits = make([]time.Duration, 0, len(jobs))
	for s.events.Len() > 0 {
		e := heap.Pop(&s.events).(simEvent)
		if e.at > end {
			break
		}
		s.advance(e.at)
		switch e.kind {
		case evArrive:
			s.arrive(e.job)
			s.pass()
		case evTick:
			s.pass()
			s.push(simEvent{at: e.at + interval, kind: evTick})
		case evOnline:
			s.online(e.runner)
		case evDone:
			s.done(e.runner)
		}
	}
	s.advance(end)
	var r SimResult
	r.Jobs, r.Unserved, r.RunnersStarted = len(jobs), s.unserved, s.started
	slices.Sort(s.waits)
	q := func(p float64) time.Duration {
		if len(s.waits) == 0 {
			return 0
		}
		return s.waits[min(len(s.waits)-1, int(math.Ceil(p*float64(len(s.waits))))-1)]
	}
	r.WaitP50, r.WaitP95 = q(0.5), q(0.95)
	if n := len(s.waits); n > 0 {
		r.WaitMax = s.waits[n-1]
	}
	r.IdleRunnerHours, r.StartingRunnerHours = s.idleSec/3600, s.startingSec/3600
	return r
}

type evKind int

const (
	evArrive evKind = iota
	evOnline
	evDone
	evTick
)

type simEvent struct {
	at     time.Duration
	kind   evKind
	job    int
	runner int
	seq    int
}

type eventHeap []simEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].kind != h[j].kind {
		return h[i].kind < h[j].kind
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type simRunner struct {
	pool      string
	labels    []string // normalized
	requested time.Duration
	state     State
	gone      bool
}

type simState struct {
	cfg       SimConfig
	rng       *rand.Rand
	events    eventHeap
	seq       int
	now       time.Duration
	jobs      []SimJob
	queued    []int // job indexes, oldest first
	runners   []*simRunner
	live      []int // indexes of runners not gone
	waits     []time.Duration
	hist      map[string]*History
	lat       map[string]*Latencies
	unserved  int
	started   int
	idleSec   float64
	idle, stg int
	// startingSec accumulates starting runner-seconds.
	startingSec float64
}

func (s *simState) push(e simEvent) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.events, e)
}

func (s *simState) advance(t time.Duration) {
	if dt := (t - s.now).Seconds(); dt > 0 {
		s.idleSec += dt * float64(s.idle)
		s.startingSec += dt * float64(s.stg)
	}
	s.now = t
}

func (s *simState) wall() time.Time { return s.cfg.Start.Add(s.now) }

func (s *simState) arrive(i int) {
	p, err := s.cfg.Plan.Match(s.jobs[i].Labels)
	if err != nil {
		s.unserved++
		return
	}
	h := s.hist[p.Name]
	if h == nil {
		h = &History{Bucket: time.Minute}
		s.hist[p.Name] = h
	}
	h.Add(s.wall(), 1)
	want := normalize(s.jobs[i].Labels)
	for _, ri := range s.live {
		if r := s.runners[ri]; r.state == Idle && superset(r.labels, want) {
			s.take(ri, i)
			return
		}
	}
	s.queued = append(s.queued, i)
}

func (s *simState) take(ri, job int) {
	r := s.runners[ri]
	r.state = Busy
	s.idle--
	s.waits = append(s.waits, s.now-s.jobs[job].Submit)
	s.push(simEvent{at: s.now + s.jobs[job].Duration, kind: evDone, runner: ri})
}

func (s *simState) online(ri int) {
	r := s.runners[ri]
	if r.gone {
		return
	}
	s.stg--
	s.idle++
	r.state = Idle
	l := s.lat[r.pool]
	if l == nil {
		l = &Latencies{}
		s.lat[r.pool] = l
	}
	l.Add(s.now - r.requested)
	for k, j := range s.queued {
		if superset(r.labels, normalize(s.jobs[j].Labels)) {
			s.queued = slices.Delete(s.queued, k, k+1)
			s.take(ri, j)
			return
		}
	}
}

func (s *simState) done(ri int) {
	s.runners[ri].gone = true
	s.dropLive(ri)
}

func (s *simState) dropLive(ri int) {
	if k := slices.Index(s.live, ri); k >= 0 {
		s.live = slices.Delete(s.live, k, k+1)
	}
}

func (s *simState) pass() {
	now := s.wall()
	in := Input{Plan: s.cfg.Plan, Now: now, Observed: map[string]Observed{}}
	counts := map[string]int{}
	var keys []string
	for _, j := range s.queued {
		k := LabelKey(s.jobs[j].Labels)
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	for _, k := range keys {
		in.Demand = append(in.Demand, Demand{Labels: splitKey(k), Queued: counts[k]})
	}
	byName := map[string]int{}
	for _, ri := range s.live {
		r := s.runners[ri]
		name := fmt.Sprintf("r%d", ri)
		byName[name] = ri
		in.Runners = append(in.Runners, Runner{Name: name, Pool: r.pool, State: r.state, Created: s.cfg.Start.Add(r.requested), RunID: name, RunActive: true})
	}
	for _, p := range s.cfg.Plan.pools {
		o := Observed{Bucket: time.Minute}
		if h := s.hist[p.Name]; h != nil {
			o.Arrivals = h.At(now)
		}
		if l := s.lat[p.Name]; l != nil && p.SLO != nil {
			o.StartLatency = l.Quantile(p.SLO.quantile())
		}
		in.Observed[p.Name] = o
	}
	for _, a := range Decide(in).Actions {
		switch a.Kind {
		case Start:
			p, _ := s.cfg.Plan.Pool(a.Pool)
			labels := normalize(p.Labels)
			for range a.Count {
				ri := len(s.runners)
				s.runners = append(s.runners, &simRunner{pool: p.Name, labels: labels, requested: s.now, state: Starting})
				s.live = append(s.live, ri)
				s.stg++
				s.started++
				d := s.cfg.StartMin + time.Duration(s.rng.ExpFloat64()*float64(s.cfg.StartMean))
				s.push(simEvent{at: s.now + d.Round(time.Millisecond), kind: evOnline, runner: ri})
			}
		case Remove:
			ri := byName[a.Runner.Name]
			r := s.runners[ri]
			switch r.state {
			case Idle:
				s.idle--
			case Starting:
				s.stg--
			case Busy:
				continue // never: Decide does not remove busy runners
			case Offline: // the simulated runners are never offline: nothing to count
			}
			r.gone = true
			s.dropLive(ri)
		}
	}
}

func splitKey(k string) []string {
	if k == "" {
		return nil
	}
	var out []string
	for start, i := 0, 0; i <= len(k); i++ {
		if i == len(k) || k[i] == ',' {
			out = append(out, k[start:i])
			start = i + 1
		}
	}
	return out
}
