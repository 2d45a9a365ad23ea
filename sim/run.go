package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
)

// Failure reasons of jobs (Metrics.FailureReasons) and launches.
const (
	ReasonTooLarge            = "no instance type fits the task"
	ReasonInterrupted         = "stopped too often: spot interruption"
	ReasonKilled              = "stopped too often: instance terminated"
	ReasonProvisioningTimeout = "stopped too often: provisioning timed out"
	ReasonHorizon             = "not finished by the horizon"
)

type jobStatus uint8

const (
	jobFuture jobStatus = iota
	jobPending
	jobStarting // placed; pulling the image, starting the container
	jobRunning
	jobDone
	jobFailed
)

type jobState struct {
	status       jobStatus
	gen          uint64 // bumped whenever the job's task stops, so its events go stale
	inst         *instance
	provisioning bool
	provGen      uint64
	lastFailure  string
	started      bool
	firstStart   time.Duration
	end          time.Duration
	lastInst     string
	attempts     int
	failReason   string
	fresh        bool // not tried by RunTask since it (re)entered the queue
}

type instance struct {
	a        autoscale.Instance
	pool     int
	typ      autoscale.InstanceType
	launched time.Duration
	active   time.Duration
	dead     bool
	billed   bool
	cache    map[string]time.Duration // image -> ready at
	warmEnd  time.Duration            // when its warm-up pulls end (warmup.go)
	tasks    []int
	slot     int // its index in sim.remaining
}

type sim struct {
	cfg Config
	// arrivalBase is the start of the first arrival bucket (the start truncated to
	// ArrivalBucket), arrivals counts tasks submitted per bucket from there.
	arrivalBase time.Duration
	wl          Workload
	p           autoscale.Policy
	rng         *rand.Rand
	h           eventHeap
	now         time.Duration
	events      int

	jobs    []jobState
	ids     []string
	tasks   []autoscale.Task // per job, for snapshots
	pending []int            // job indexes, oldest submit first; entries of jobs no longer pending are stale
	live    int              // pending jobs
	queueOf map[shape]*shapeQueue
	queues  []*shapeQueue // in creation order, for a deterministic pass
	fresh   []int
	next    int // next arrival
	closed  int // jobs done or failed

	dispatchDue     bool
	dispatchResume  time.Duration // after a throttled RunTask: no pass before then
	capacityChanged bool
	provCount       int
	pendingCPU      int
	pendingMem      int
	running         int
	minCPU, minMem  int // the workload's smallest task

	instances []*instance
	// remaining is, for placement, what each of instances has left (-1: tasks may not go on
	// it; instance.slot is its index); placeFresh says it is up to date: a change to an
	// instance updates its entry, an instance's end clears placeFresh.
	remaining  []autoscale.Remaining
	placeFresh bool
	seq        int
	types      map[string]autoscale.InstanceType
	pools      []autoscale.Pool
	fitsAny    func(cpu, mem int) bool

	regCPU, regMem, resCPU, resMem float64
	lastT                          time.Duration
	areaReg, areaRes               [2]float64 // cpu, mem

	arrivals []int
	// recent counts the jobs submitted per image in the last WarmWindow, from job
	// recentFrom on (warmup.go).
	recent     map[string]int
	recentFrom int

	// runTaskB, scalingB and launchB are the API rate limits (Config.RunTaskRate,
	// ScalingRate, InstanceLaunchRate); iceUntil is, per pool, the end of its current
	// insufficient-capacity spell; launchErrors the failed launches of the last
	// launchErrorWindow, for snapshots.
	runTaskB, scalingB, launchB *bucket
	iceUntil                    []time.Duration
	launchErrors                []autoscale.LaunchError

	m      Metrics
	series []Sample
	ctl    autoscale.Controller
	ctx    context.Context
}

// The simulator is an autoscale.Cluster in virtual time, and its own clock.
var (
	_ autoscale.Cluster = (*sim)(nil)
	_ hashike.Clock     = virtualClock{}
)

// virtualClock is the simulator's time as a hashike.Clock. The simulator steps the
// controller on its own tick events, so After is never waited on: its channel never fires.
type virtualClock struct{ s *sim }

func (c virtualClock) Now() time.Time                     { return c.s.cfg.Start.Add(c.s.now) }
func (virtualClock) After(time.Duration) <-chan time.Time { return nil }

// Run replays wl against the cluster cfg describes, stepping an autoscale.Controller over p
// every p.Interval(), and returns the metrics. It resets p first, so the same arguments give
// the same Result, byte for byte; p is the run's until it returns.
func Run(cfg Config, wl Workload, p autoscale.Policy, seed uint64) (*Result, error) {
	s, horizon, err := newSim(cfg, wl, p, seed)
	if err != nil {
		return nil, err
	}
	for s.closed < len(wl.Jobs) && s.h.len() > 0 {
		e := s.h.pop()
		if e.at > horizon {
			break
		}
		s.advance(e.at)
		s.events++
		s.handle(e)
		if s.events&0xffff == 0 && s.cfg.Progress != nil {
			s.cfg.Progress(s.closed, len(wl.Jobs))
		}
	}
	if s.closed < len(wl.Jobs) {
		s.advance(max(s.now, horizon))
		for i := range s.jobs {
			if st := s.jobs[i].status; st != jobDone && st != jobFailed {
				s.fail(i, ReasonHorizon)
			}
		}
	}
	if s.cfg.Progress != nil {
		s.cfg.Progress(s.closed, len(wl.Jobs))
	}
	return s.result(), nil
}

// newSim sets up a run at time zero: the pools' initial instances and the first events.
// It returns the horizon.
func newSim(cfg Config, wl Workload, p autoscale.Policy, seed uint64) (*sim, time.Duration, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, 0, fmt.Errorf("sim config: %w", err)
	}
	if p.Interval() <= 0 {
		return nil, 0, fmt.Errorf("policy %s: interval %v must be > 0", p.Name(), p.Interval())
	}
	if !slices.IsSortedFunc(wl.Jobs, func(a, b Job) int { return cmp.Compare(a.Submit, b.Submit) }) {
		return nil, 0, errors.New("workload: jobs not ordered by submit")
	}
	p.Reset()
	s := &sim{cfg: cfg, wl: wl, p: p, rng: newRand(seed), ctx: context.Background()}
	s.ctl = autoscale.Controller{Cluster: s, Policy: p, Clock: virtualClock{s}}
	s.m.Policy, s.m.Workload, s.m.Seed, s.m.Latency, s.m.Jobs = p.Name(), wl.Name, seed, cfg.Latency.Name, len(wl.Jobs)
	s.types = map[string]autoscale.InstanceType{}
	for _, t := range cfg.Types {
		s.types[t.Name] = t
	}
	for _, pc := range cfg.Pools {
		s.pools = append(s.pools, pc.Pool)
	}
	s.jobs = make([]jobState, len(wl.Jobs))
	s.ids = make([]string, len(wl.Jobs))
	s.tasks = make([]autoscale.Task, len(wl.Jobs))
	s.queueOf = map[shape]*shapeQueue{}
	s.minCPU, s.minMem = math.MaxInt, math.MaxInt
	for i, j := range wl.Jobs {
		s.minCPU, s.minMem = min(s.minCPU, j.CPU), min(s.minMem, j.MemoryMiB)
		s.ids[i] = "job-" + strconv.Itoa(i)
		s.tasks[i] = autoscale.Task{ID: s.ids[i], CPU: j.CPU, MemoryMiB: j.MemoryMiB, SubmittedAt: cfg.Start.Add(j.Submit), Image: j.Image}
	}
	s.arrivalBase = cfg.Start.Sub(cfg.Start.Truncate(cfg.ArrivalBucket))
	horizon := cfg.Horizon
	if horizon == 0 {
		horizon = 24 * time.Hour
		if n := len(wl.Jobs); n > 0 {
			horizon += wl.Jobs[n-1].Submit
		}
	}

	s.runTaskB, s.scalingB, s.launchB = newBucket(cfg.RunTaskRate), newBucket(cfg.ScalingRate), newBucket(cfg.InstanceLaunchRate)
	s.iceUntil = make([]time.Duration, len(cfg.Pools))
	for pi, pc := range cfg.Pools {
		for range pc.Initial {
			in := s.newInstance(pi, pc.InstanceTypes[0], s.chooseSpot(pi), nil)
			s.register(in)
		}
		s.keepMin(pi)
		if pc.ReclaimsPerDay > 0 {
			s.h.push(event{at: s.expAfter(pc.ReclaimsPerDay / 86400), kind: evPoolReclaim, pool: pi})
		}
		if pc.InsufficientCapacityEpisodesPerDay > 0 {
			s.h.push(event{at: s.expAfter(pc.InsufficientCapacityEpisodesPerDay / 86400), kind: evCapacityEpisode, pool: pi})
		}
	}
	if len(wl.Jobs) > 0 {
		s.h.push(event{at: wl.Jobs[0].Submit, kind: evArrival, job: 0})
	}
	s.h.push(event{at: 0, kind: evTick})
	s.h.push(event{at: 0, kind: evSample})
	return s, horizon, nil
}

func (s *sim) expAfter(ratePerSec float64) time.Duration {
	return s.now + time.Duration(s.rng.ExpFloat64()/ratePerSec*float64(time.Second))
}

// advance integrates the registered and reserved capacity up to t.
func (s *sim) advance(t time.Duration) {
	dt := (t - s.lastT).Seconds()
	s.areaReg[0] += dt * s.regCPU
	s.areaReg[1] += dt * s.regMem
	s.areaRes[0] += dt * s.resCPU
	s.areaRes[1] += dt * s.resMem
	s.lastT, s.now = t, t
}

func (s *sim) handle(e event) {
	switch e.kind {
	case evArrival:
		s.arrive(e.job)
	case evDispatch:
		s.dispatch()
	case evTaskStart:
		j := &s.jobs[e.job]
		if j.gen != e.gen || j.status != jobStarting {
			return
		}
		j.status = jobRunning
		if !j.started {
			j.started, j.firstStart = true, s.now
		}
		s.h.push(event{at: s.now + s.wl.Jobs[e.job].Duration, kind: evTaskEnd, job: e.job, gen: j.gen})
	case evTaskEnd:
		j := &s.jobs[e.job]
		if j.gen != e.gen || j.status != jobRunning {
			return
		}
		in := j.inst
		s.release(e.job)
		j.status, j.end = jobDone, s.now
		s.closed++
		s.m.Completed++
		if in.a.State == autoscale.InstanceDraining && in.a.Tasks == 0 {
			s.kill(in, false)
		}
	case evRegistered:
		if !e.inst.dead {
			s.warm(e.inst)
		}
	case evWarmed:
		if !e.inst.dead {
			s.register(e.inst)
		}
	case evLaunchFailed:
		if in := e.inst; !in.dead {
			s.m.LaunchFailures++
			if !in.billed { // insufficient capacity: Auto Scaling reports it
				// As the live adapter reports it: a pool of several types is a mixed
				// instances group that tried them all, so the failure names none.
				typ := in.a.Type
				if len(s.pools[in.pool].InstanceTypes) > 1 {
					typ = ""
				}
				s.launchErrors = append(s.launchErrors, autoscale.LaunchError{At: s.cfg.Start.Add(s.now),
					Pool: in.a.Pool, Type: typ, Spot: in.a.Spot, Code: autoscale.LaunchErrorInsufficientCapacity})
			}
			s.die(in)
		}
	case evCapacityEpisode:
		pc := s.cfg.Pools[e.pool]
		spell := time.Duration(s.rng.ExpFloat64() * float64(pc.InsufficientCapacityEpisode))
		s.iceUntil[e.pool] = max(s.iceUntil[e.pool], s.now+spell)
		s.m.InsufficientCapacityEpisodes++
		s.h.push(event{at: s.expAfter(pc.InsufficientCapacityEpisodesPerDay / 86400), kind: evCapacityEpisode, pool: e.pool})
	case evSpotNotice:
		if !e.inst.dead {
			s.notice(e.inst)
		}
	case evReclaim:
		if !e.inst.dead {
			s.m.SpotReclaims++
			s.kill(e.inst, true)
		}
	case evPoolReclaim:
		for _, in := range slices.Clone(s.instances) {
			if in.pool == e.pool && in.a.Spot && in.a.InterruptionAt.IsZero() {
				s.notice(in)
			}
		}
		s.h.push(event{at: s.expAfter(s.cfg.Pools[e.pool].ReclaimsPerDay / 86400), kind: evPoolReclaim, pool: e.pool})
	case evProvisioningTimeout:
		j := &s.jobs[e.job]
		if j.status != jobPending || !j.provisioning || j.provGen != e.gen {
			return
		}
		j.provisioning = false
		s.provCount--
		s.retryAll() // a PROVISIONING slot freed: the queue retries every task
		s.m.ProvisioningTimeouts++
		j.attempts++
		if j.attempts >= s.cfg.MaxAttempts {
			s.fail(e.job, ReasonProvisioningTimeout)
			return
		}
		j.fresh = true
		s.fresh = append(s.fresh, e.job)
		s.wantDispatch()
	case evTick:
		s.tick()
		s.h.push(event{at: s.now + s.p.Interval(), kind: evTick})
	case evSample:
		s.sample()
		s.h.push(event{at: s.now + s.cfg.SampleStep, kind: evSample})
	}
}

// arrivalBucket is the index into arrivals of the bucket holding t (from the start).
func (s *sim) arrivalBucket(t time.Duration) int {
	return int((s.arrivalBase + t) / s.cfg.ArrivalBucket)
}

// arrivalsThrough returns the arrival counts, grown with zeros to hold bucket b.
func (s *sim) arrivalsThrough(b int) []int {
	if n := b + 1 - len(s.arrivals); n > 0 {
		s.arrivals = append(s.arrivals, make([]int, n)...)
	}
	return s.arrivals
}

func (s *sim) arrive(i int) {
	job := s.wl.Jobs[i]
	b := s.arrivalBucket(job.Submit)
	s.arrivalsThrough(b)[b]++
	s.submitted(job)
	if s.next = i + 1; s.next < len(s.wl.Jobs) {
		s.h.push(event{at: s.wl.Jobs[s.next].Submit, kind: evArrival, job: s.next})
	}
	if !s.fits(job.CPU, job.MemoryMiB) {
		s.fail(i, ReasonTooLarge)
		return
	}
	s.enqueue(i)
}

// fits reports whether some pool's instance type could ever hold the task.
func (s *sim) fits(cpu, mem int) bool {
	for _, p := range s.pools {
		for _, tn := range p.InstanceTypes {
			if t := s.types[tn]; t.CPU >= cpu && t.MemoryMiB >= mem {
				return true
			}
		}
	}
	return false
}

// before orders jobs by submit, then workload index: the queue's order.
func (s *sim) before(a, b int) int {
	if c := cmp.Compare(s.wl.Jobs[a].Submit, s.wl.Jobs[b].Submit); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

// insert puts job i into a list in queue order; a stale entry of i (from before it was
// placed) takes it back.
func (s *sim) insert(list []int, i int) ([]int, int) {
	at, found := slices.BinarySearchFunc(list, i, s.before)
	if !found {
		list = slices.Insert(list, at, i)
	}
	return list, at
}

// enqueue puts job i into hashike's queue: the global list (oldest first) and its shape's.
func (s *sim) enqueue(i int) {
	j := &s.jobs[i]
	j.status, j.fresh, j.inst = jobPending, true, nil
	s.pending, _ = s.insert(s.pending, i)
	q := s.queue(shapeOf(&s.wl.Jobs[i]))
	var at int
	q.ids, at = s.insert(q.ids, i)
	q.head = min(q.head, at)
	s.live++
	s.fresh = append(s.fresh, i)
	s.pendingCPU += s.wl.Jobs[i].CPU
	s.pendingMem += s.wl.Jobs[i].MemoryMiB
	s.wantDispatch()
}

func (s *sim) dequeue(i int) {
	s.live--
	s.pendingCPU -= s.wl.Jobs[i].CPU
	s.pendingMem -= s.wl.Jobs[i].MemoryMiB
	if j := &s.jobs[i]; j.provisioning {
		j.provisioning = false
		s.provCount--
		s.retryAll()
	}
}

func (s *sim) fail(i int, reason string) {
	j := &s.jobs[i]
	if j.status == jobPending {
		s.dequeue(i)
	}
	j.status, j.failReason, j.end = jobFailed, reason, s.now
	s.closed++
	s.m.JobsFailed++
	if s.m.FailureReasons == nil {
		s.m.FailureReasons = map[string]int{}
	}
	s.m.FailureReasons[reason]++
}

// retryAll has the next dispatch pass try every waiting task, not only the fresh ones:
// capacity or a PROVISIONING slot freed.
func (s *sim) retryAll() {
	s.capacityChanged = true
	s.wantDispatch()
}

func (s *sim) wantDispatch() {
	if !s.dispatchDue {
		s.dispatchDue = true
		s.h.push(event{at: s.now, kind: evDispatch})
	}
}

// placeable reports whether tasks may go on the instance.
func (s *sim) placeable(in *instance) bool {
	return in.a.State == autoscale.InstanceActive && (!s.cfg.SpotDraining || in.a.InterruptionAt.IsZero())
}

// maxFree returns the most free CPU and memory of any placeable instance, and whether some
// instance could take the workload's smallest task.
func (s *sim) maxFree() (cpu, mem int, room bool) {
	for _, in := range s.instances {
		if s.placeable(in) {
			c, m := in.a.Free()
			cpu, mem = max(cpu, c), max(mem, m)
			room = room || (c >= s.minCPU && m >= s.minMem)
		}
	}
	return cpu, mem, room
}

// dispatch is hashike's queue calling RunTask for the waiting tasks, oldest first, with
// consecutive tasks of one shape and image batched up to RunTaskBatch per call. When no
// capacity freed since the last pass, only the fresh tasks (new or requeued) are tried.
// When it did, the waiting tasks are tried oldest first across per-shape queues: a shape
// that fails is not tried again in the pass (capacity only shrinks within it), and the pass
// ends when no shape is left or no instance has room for the workload's smallest task. The
// fresh tasks not reached are then tried, so each has a failure reason, and free
// PROVISIONING slots go to the oldest tasks not yet provisioning.
func (s *sim) dispatch() {
	if s.now < s.dispatchResume {
		return // throttled: the pass due at dispatchResume (dispatchDue stays set) does it
	}
	s.dispatchDue = false
	fresh := s.fresh
	s.fresh = nil
	slices.SortFunc(fresh, s.before)
	all := s.capacityChanged
	s.capacityChanged = false
	d := pass{}
	d.maxCPU, d.maxMem, d.room = s.maxFree()
	if all {
		s.dispatchAll(&d)
	}
	for _, i := range fresh {
		if s.jobs[i].fresh {
			s.runTask(&d, i)
		}
	}
	if s.cfg.CapacityProvider && s.provCount < s.cfg.ProvisioningLimit && s.live > s.provCount {
		for _, i := range s.pending {
			if s.provCount >= s.cfg.ProvisioningLimit || d.throttled {
				break
			}
			if j := &s.jobs[i]; j.status == jobPending && !j.provisioning {
				if !s.runTaskB.take(s.now) {
					d.throttled = true
					s.m.RunTaskThrottled++
					break
				}
				s.m.RunTaskCalls++
				s.provision(i)
			}
		}
	}
	if d.throttled {
		// RunTask was throttled: the tasks not tried wait for the next token, the whole
		// queue again if this pass was to try it.
		for _, i := range fresh {
			if s.jobs[i].fresh && s.jobs[i].status == jobPending {
				s.fresh = append(s.fresh, i)
			}
		}
		s.capacityChanged = s.capacityChanged || all
		s.dispatchDue = true
		s.dispatchResume = max(s.runTaskB.next(s.now), s.now+throttleBackoff)
		s.h.push(event{at: s.dispatchResume, kind: evDispatch})
	}
	if len(s.pending) > 2*s.live+1024 {
		stale := func(i int) bool { return s.jobs[i].status != jobPending }
		s.pending = slices.DeleteFunc(s.pending, stale)
		for _, q := range s.queues {
			q.ids, q.head = slices.DeleteFunc(q.ids, stale), 0
		}
	}
}

// dispatchAll is a pass over every waiting task, merging the shape queues by age.
func (s *sim) dispatchAll(d *pass) {
	cur := make([]int, len(s.queues))
	done := make([]bool, len(s.queues))
	for qi, q := range s.queues {
		for q.head < len(q.ids) && s.jobs[q.ids[q.head]].status != jobPending {
			q.head++
		}
		cur[qi] = q.head
	}
	for d.room && !d.throttled {
		best, bestJob := -1, 0
		for qi, q := range s.queues {
			if done[qi] {
				continue
			}
			for cur[qi] < len(q.ids) && s.jobs[q.ids[cur[qi]]].status != jobPending {
				cur[qi]++
			}
			if cur[qi] == len(q.ids) {
				done[qi] = true
				continue
			}
			if i := q.ids[cur[qi]]; best < 0 || s.before(i, bestJob) < 0 {
				best, bestJob = qi, i
			}
		}
		if best < 0 {
			return
		}
		cur[best]++
		s.runTask(d, bestJob)
		if _, failed := d.failed[s.queues[best].k]; failed {
			done[best] = true
		}
	}
}

type shape struct{ cpu, mem int }

func shapeOf(j *Job) shape { return shape{j.CPU, j.MemoryMiB} }

// shapeQueue is the waiting jobs of one shape, oldest first (with stale entries); those
// before head are all stale.
type shapeQueue struct {
	k    shape
	ids  []int
	head int
}

func (s *sim) queue(k shape) *shapeQueue {
	if q, ok := s.queueOf[k]; ok {
		return q
	}
	q := &shapeQueue{k: k}
	s.queueOf[k] = q
	s.queues = append(s.queues, q)
	return q
}

// provision puts a task the capacity provider could not place in PROVISIONING.
func (s *sim) provision(i int) {
	j := &s.jobs[i]
	j.provisioning = true
	j.provGen++
	s.provCount++
	s.h.push(event{at: s.now + s.cfg.ProvisioningTimeout, kind: evProvisioningTimeout, job: i, gen: j.provGen})
}

// pass is one dispatch pass's state.
type pass struct {
	maxCPU, maxMem int
	room           bool
	throttled      bool             // RunTask was throttled: the pass ends
	failed         map[shape]string // shapes that failed this pass, with the reason
	batch          int
	prev           *Job
}

// runTask is one task's RunTask in a pass: placed, or given a RESOURCE:* reason (and
// PROVISIONING when a capacity provider has a slot).
func (s *sim) runTask(d *pass, i int) {
	j := &s.jobs[i]
	if j.status != jobPending || d.throttled {
		return
	}
	job := &s.wl.Jobs[i]
	// A PROVISIONING task is ECS's to place when capacity registers: no RunTask call.
	if !j.provisioning {
		if p := d.prev; p == nil || d.batch == s.cfg.RunTaskBatch || job.CPU != p.CPU || job.MemoryMiB != p.MemoryMiB || job.Image != p.Image {
			if !s.runTaskB.take(s.now) {
				d.throttled = true
				s.m.RunTaskThrottled++
				return
			}
			s.m.RunTaskCalls++
			d.batch = 0
		}
		d.batch++
		d.prev = job
	}
	j.fresh = false
	// Within a pass capacity only shrinks, so a shape that failed fails again.
	k := shapeOf(job)
	var in *instance
	reason, failed := d.failed[k]
	switch {
	case failed:
	case job.CPU <= d.maxCPU && job.MemoryMiB <= d.maxMem:
		in, reason = s.binpack(job.CPU, job.MemoryMiB)
	default:
		// No instance has the CPU, or none the memory: the same reason without a scan, from
		// the most any instance has left.
		_, reason = autoscale.Binpack([]autoscale.Remaining{{CPU: d.maxCPU, MemoryMiB: d.maxMem}}, job.CPU, job.MemoryMiB, s.cfg.Binpack)
	}
	if in == nil {
		if !failed {
			if d.failed == nil {
				d.failed = map[shape]string{}
			}
			d.failed[k] = reason
		}
		j.lastFailure = reason
		if s.cfg.CapacityProvider && !j.provisioning && s.provCount < s.cfg.ProvisioningLimit {
			s.provision(i)
		}
		return
	}
	s.place(i, in)
	d.maxCPU, d.maxMem, d.room = s.maxFree()
}

// binpack places a task with ECS's placement (autoscale.Binpack on Config.Binpack) over
// the placeable instances, oldest first, or returns the RESOURCE:* reason it failed with.
// With no placeable instance it answers RESOURCE:CPU where ECS fails the call (so a policy
// scaling from zero sees a resource failure).
func (s *sim) binpack(cpu, mem int) (*instance, string) {
	if !s.placeFresh {
		s.remaining = s.remaining[:0]
		for k, in := range s.instances {
			in.slot = k
			s.remaining = append(s.remaining, s.remainingOf(in))
		}
		s.placeFresh = true
	}
	i, reason := autoscale.Binpack(s.remaining, cpu, mem, s.cfg.Binpack)
	switch {
	case i >= 0:
		return s.instances[i], ""
	case reason == "":
		return nil, autoscale.ReasonResourceCPU
	}
	return nil, reason
}

// remainingOf is the instance's entry in s.remaining: its free CPU and memory, or -1 (no
// task fits) when tasks may not go on it.
func (s *sim) remainingOf(in *instance) autoscale.Remaining {
	if !s.placeable(in) {
		return autoscale.Remaining{CPU: -1, MemoryMiB: -1}
	}
	c, m := in.a.Free()
	return autoscale.Remaining{CPU: c, MemoryMiB: m}
}

// touch updates the instance's entry in s.remaining after a change to it.
func (s *sim) touch(in *instance) {
	if s.placeFresh {
		s.remaining[in.slot] = s.remainingOf(in)
	}
}

func (s *sim) place(i int, in *instance) {
	j := &s.jobs[i]
	job := &s.wl.Jobs[i]
	if j.provisioning {
		j.provisioning = false
		s.provCount--
		s.retryAll()
	}
	j.status, j.inst, j.lastFailure, j.lastInst = jobStarting, in, "", in.a.ID
	s.live--
	s.pendingCPU -= job.CPU
	s.pendingMem -= job.MemoryMiB
	in.a.CPUUsed += job.CPU
	in.a.MemoryUsed += job.MemoryMiB
	s.touch(in)
	in.a.Tasks++
	in.a.IdleSince = time.Time{}
	in.tasks = append(in.tasks, i)
	s.resCPU += float64(job.CPU)
	s.resMem += float64(job.MemoryMiB)
	s.running++

	ready, ok := in.cache[job.Image]
	if !ok {
		from := s.now
		if s.cfg.WarmSequential {
			from = max(from, in.warmEnd) // after the warm-up's pulls (their bandwidth)
		}
		ready = from + s.pullTime(job.Image)
		in.cache[job.Image] = ready
	}
	start := max(ready, s.now) + s.cfg.ContainerStartMin
	if d := s.cfg.ContainerStartMax - s.cfg.ContainerStartMin; d > 0 {
		start += time.Duration(s.rng.Int64N(int64(d)))
	}
	s.h.push(event{at: start, kind: evTaskStart, job: i, gen: j.gen})
}

// release frees job i's reservation on its instance.
func (s *sim) release(i int) {
	j := &s.jobs[i]
	in := j.inst
	job := &s.wl.Jobs[i]
	in.a.CPUUsed -= job.CPU
	in.a.MemoryUsed -= job.MemoryMiB
	s.touch(in)
	in.a.Tasks--
	if at := slices.Index(in.tasks, i); at >= 0 {
		in.tasks[at] = in.tasks[len(in.tasks)-1]
		in.tasks = in.tasks[:len(in.tasks)-1]
	}
	if in.a.Tasks == 0 {
		in.a.IdleSince = s.cfg.Start.Add(s.now)
	}
	s.resCPU -= float64(job.CPU)
	s.resMem -= float64(job.MemoryMiB)
	s.running--
	j.inst = nil
	j.gen++
	s.capacityChanged = true
	s.wantDispatch()
}

// chooseSpot applies the pool's on-demand base and percentage above base to the next
// instance.
func (s *sim) chooseSpot(pi int) bool {
	p := s.pools[pi]
	od, total := 0, 0
	for _, in := range s.instances {
		if in.pool == pi {
			total++
			if !in.a.Spot {
				od++
			}
		}
	}
	if od < p.OnDemandBase {
		return false
	}
	above, odAbove := total-min(od, p.OnDemandBase), od-min(od, p.OnDemandBase)
	return odAbove*100 >= p.OnDemandPercentAboveBase*(above+1)
}

func (s *sim) newInstance(pi int, typ string, spot bool, forTasks []string) *instance {
	s.seq++
	t := s.types[typ]
	in := &instance{pool: pi, typ: t, launched: s.now, billed: true, cache: map[string]time.Duration{}}
	in.a = autoscale.Instance{
		ID: fmt.Sprintf("i-%06d", s.seq), Pool: s.pools[pi].Name, Type: typ, Spot: spot,
		State: autoscale.InstanceLaunching, LaunchedAt: s.cfg.Start.Add(s.now),
		CPU: t.CPU, MemoryMiB: t.MemoryMiB, For: forTasks,
	}
	s.instances = append(s.instances, in)
	if s.placeFresh {
		in.slot = len(s.remaining)
		s.remaining = append(s.remaining, s.remainingOf(in))
	}
	return in
}

func (s *sim) register(in *instance) {
	in.a.State = autoscale.InstanceActive
	s.touch(in)
	in.active = s.now
	in.a.ActiveAt = s.cfg.Start.Add(s.now)
	s.regCPU += float64(in.typ.CPU)
	s.regMem += float64(in.typ.MemoryMiB)
	if h := s.cfg.Pools[in.pool].SpotHazardPerHour; in.a.Spot && h > 0 {
		s.h.push(event{at: s.expAfter(h / 3600), kind: evSpotNotice, inst: in})
	}
	s.capacityChanged = true
	s.wantDispatch()
}

func (s *sim) notice(in *instance) {
	if !in.a.InterruptionAt.IsZero() {
		return
	}
	in.a.InterruptionAt = s.cfg.Start.Add(s.now + s.cfg.SpotNotice)
	if s.cfg.SpotDraining && in.a.State == autoscale.InstanceActive {
		in.a.State = autoscale.InstanceDraining
	}
	s.touch(in)
	s.h.push(event{at: s.now + s.cfg.SpotNotice, kind: evReclaim, inst: in})
}

// kill ends an instance and its tasks; the tasks are requeued (or fail after MaxAttempts).
func (s *sim) kill(in *instance, interrupted bool) {
	for _, i := range slices.Clone(in.tasks) {
		s.release(i)
		j := &s.jobs[i]
		j.attempts++
		reason := ReasonKilled
		if interrupted {
			s.m.Interruptions++
			reason = ReasonInterrupted
		} else {
			s.m.KilledByTerminate++
		}
		s.m.Reruns++
		if j.attempts >= s.cfg.MaxAttempts {
			j.status = jobFailed // not queued: fail only counts it
			j.failReason, j.end = reason, s.now
			s.closed++
			s.m.JobsFailed++
			if s.m.FailureReasons == nil {
				s.m.FailureReasons = map[string]int{}
			}
			s.m.FailureReasons[reason]++
			continue
		}
		s.enqueue(i)
	}
	s.die(in)
}

// die removes the instance and bills it.
func (s *sim) die(in *instance) {
	in.dead = true
	if in.a.State != autoscale.InstanceLaunching {
		s.regCPU -= float64(in.typ.CPU)
		s.regMem -= float64(in.typ.MemoryMiB)
		s.capacityChanged = true
	}
	s.bill(in)
	s.m.Terminations++
	s.instances = slices.DeleteFunc(s.instances, func(x *instance) bool { return x == in })
	s.placeFresh = false
	s.keepMin(in.pool)
}

// keepMin is the Auto Scaling group replacing instances below its Min (of its first type).
func (s *sim) keepMin(pi int) {
	n := 0
	for _, in := range s.instances {
		if in.pool == pi {
			n++
		}
	}
	for ; n < s.pools[pi].Min; n++ {
		s.launch(pi, s.pools[pi].InstanceTypes[0], s.chooseSpot(pi), nil)
	}
}

// MinBilled is EC2's minimum charge per instance launch: Linux instances are billed per
// second with a minimum of 60 seconds.
const MinBilled = 60 * time.Second

// bill charges the instance from its launch request to now (at least MinBilled): the time it
// spent launching, before it could run a task, is billed too.
func (s *sim) bill(in *instance) {
	if !in.billed {
		return
	}
	in.billed = false
	if s.now < in.launched {
		return // ended while it waited for EC2's launch rate: never launched
	}
	h := max(s.now-in.launched, MinBilled).Hours()
	if in.a.Spot {
		s.m.InstanceHours.Spot += h
		s.m.CostUSD += h * in.typ.SpotPrice
	} else {
		s.m.InstanceHours.OnDemand += h
		s.m.CostUSD += h * in.typ.OnDemandPrice
	}
}

func (s *sim) find(id string) *instance {
	for _, in := range s.instances {
		if in.a.ID == id {
			return in
		}
	}
	return nil
}

// tick is a policy decision: the same autoscale.Controller.Step a live autoscaler runs.
// Refused actions are counted (RejectedActions) by Apply; nothing else fails here.
func (s *sim) tick() {
	_ = s.ctl.Step(s.ctx)
}

// Snapshot is the cluster as a policy sees it now (autoscale.Cluster).
func (s *sim) Snapshot(context.Context) (*autoscale.Snapshot, error) { return s.snapshot(), nil }

// Apply carries out a policy's action (autoscale.Cluster): unknown pools, types and
// instances are refused and counted (RejectedActions); a launch above the pool's Max
// launches what fits under it.
func (s *sim) Apply(_ context.Context, a autoscale.Action) error { return s.apply(a) }

func (s *sim) snapshot() *autoscale.Snapshot {
	snap := &autoscale.Snapshot{
		Now: s.cfg.Start.Add(s.now), Types: maps.Clone(s.types), Pools: slices.Clone(s.pools),
		Instances: make([]autoscale.Instance, len(s.instances)),
		Pending:   make([]autoscale.Task, 0, s.live),
		Running:   s.running, ArrivalBucket: s.cfg.ArrivalBucket,
	}
	for k, in := range s.instances {
		snap.Instances[k] = in.a
		if in.warmEnd > s.now && in.a.State == autoscale.InstanceActive && in.a.Tasks == 0 {
			// Warming and idle: the policy sees it launching (once a task is placed on it,
			// it is in service and shown active, as the live adapter does).
			snap.Instances[k].State, snap.Instances[k].ActiveAt = autoscale.InstanceLaunching, time.Time{}
		}
	}
	for _, i := range s.pending {
		if s.jobs[i].status != jobPending {
			continue
		}
		t := s.tasks[i]
		t.Provisioning = s.jobs[i].provisioning
		t.LastFailure = s.jobs[i].lastFailure
		snap.Pending = append(snap.Pending, t)
	}
	// A week of completed buckets and the one in progress, shared read-only (a copy per
	// tick would cost more than the rest of a long trace's run): the bucket in progress
	// keeps counting, so a policy reads it during Decide and does not keep it.
	last := s.arrivalBucket(s.now)
	first := max(0, last-int(7*24*time.Hour/s.cfg.ArrivalBucket))
	snap.Arrivals = s.arrivalsThrough(last)[first : last+1 : last+1]
	if s.cfg.Future {
		snap.Future = s.tasks[s.next:]
	}
	cut := 0
	for cut < len(s.launchErrors) && s.now-s.launchErrors[cut].At.Sub(s.cfg.Start) > launchErrorWindow {
		cut++
	}
	s.launchErrors = s.launchErrors[cut:]
	snap.LaunchErrors = slices.Clone(s.launchErrors)
	return snap
}

// throttled counts a scaling call refused for the rate limit.
func (s *sim) throttled(call string) error {
	s.m.ScalingThrottled++
	return fmt.Errorf("%s: %w", call, autoscale.ErrThrottled)
}

// throttleBackoff is how long hashike's queue waits after a throttled RunTask before it
// tries again (the AWS SDKs back off about a second on their first retry).
const throttleBackoff = time.Second

// launchErrorWindow is how far back Snapshot.LaunchErrors go.
const launchErrorWindow = 10 * time.Minute

func (s *sim) reject() error {
	s.m.RejectedActions++
	return autoscale.ErrUnknown
}

func (s *sim) apply(a autoscale.Action) error {
	switch {
	case a.Launch != nil:
		l := a.Launch
		pi := slices.IndexFunc(s.pools, func(p autoscale.Pool) bool { return p.Name == l.Pool })
		if pi < 0 {
			return s.reject()
		}
		typ := l.Type
		if typ == "" {
			typ = s.pools[pi].InstanceTypes[0]
		} else if !slices.Contains(s.pools[pi].InstanceTypes, typ) {
			return s.reject()
		}
		if !s.scalingB.take(s.now) {
			return s.throttled("SetDesiredCapacity")
		}
		inPool := 0
		for _, in := range s.instances {
			if in.pool == pi {
				inPool++
			}
		}
		n := min(l.Count, s.pools[pi].Max-inPool)
		for k := range max(n, 0) {
			spot := s.chooseSpot(pi)
			if l.Spot != nil {
				spot = *l.Spot
			}
			var forTasks []string
			if k < len(l.For) {
				forTasks = l.For[k]
			}
			s.launch(pi, typ, spot, forTasks)
		}
		if n < l.Count {
			return fmt.Errorf("%d of %d launched: %w", max(n, 0), l.Count, autoscale.ErrAtMax)
		}
	case a.Drain != nil:
		in := s.find(a.Drain.Instance)
		if in == nil {
			return s.reject()
		}
		if in.a.State == autoscale.InstanceLaunching || in.a.Tasks == 0 {
			if !s.scalingB.take(s.now) {
				return s.throttled("TerminateInstanceInAutoScalingGroup")
			}
			s.kill(in, false)
			return nil
		}
		in.a.State = autoscale.InstanceDraining
		s.touch(in)
	case a.Terminate != nil:
		in := s.find(a.Terminate.Instance)
		if in == nil {
			return s.reject()
		}
		if !s.scalingB.take(s.now) {
			return s.throttled("TerminateInstanceInAutoScalingGroup")
		}
		s.kill(in, false)
	}
	return nil
}

// launch is the group launching one instance: when EC2's instance launch bucket has a
// token for it (it is launching, and billed, from then), failing with insufficient capacity
// by chance or during the pool's spell without capacity.
func (s *sim) launch(pi int, typ string, spot bool, forTasks []string) {
	s.m.Launches++
	in := s.newInstance(pi, typ, spot, forTasks)
	if at := s.launchB.reserve(s.now); at > s.now {
		s.m.LaunchesDelayed++
		in.launched = at
	}
	pc := s.cfg.Pools[pi]
	if s.rng.Float64() < pc.InsufficientCapacity || in.launched < s.iceUntil[pi] {
		in.billed = false
		s.m.InsufficientCapacity++
		s.h.push(event{at: in.launched + s.cfg.InsufficientCapacityDelay, kind: evLaunchFailed, inst: in})
		return
	}
	at := in.launched + s.cfg.Latency.Sample(s.rng)
	kind := evRegistered
	if s.rng.Float64() < pc.LaunchFailure {
		kind = evLaunchFailed
	}
	s.h.push(event{at: at, kind: kind, inst: in})
}

func (s *sim) sample() {
	x := Sample{T: s.now.Seconds(), Pending: s.live, Provisioning: s.provCount, Running: s.running,
		RegisteredCPU: int(s.regCPU), ReservedCPU: int(s.resCPU), DemandCPU: int(s.resCPU) + s.pendingCPU,
		RegisteredMemoryMiB: int(s.regMem), ReservedMemoryMiB: int(s.resMem), DemandMemoryMiB: int(s.resMem) + s.pendingMem}
	for _, in := range s.instances {
		switch in.a.State {
		case autoscale.InstanceLaunching:
			x.Launching++
			x.LaunchingCPU += in.typ.CPU
			x.LaunchingMemoryMiB += in.typ.MemoryMiB
		case autoscale.InstanceActive:
			x.Active++
		case autoscale.InstanceDraining:
			x.Draining++
		}
	}
	s.series = append(s.series, x)
}

func (s *sim) result() *Result {
	for _, in := range s.instances {
		s.bill(in)
	}
	m := s.m
	m.Events = s.events
	m.SimulatedSeconds = s.now.Seconds()
	m.InstanceHours.Total = m.InstanceHours.OnDemand + m.InstanceHours.Spot
	if s.areaReg[0] > 0 {
		m.CPUUtilization = s.areaRes[0] / s.areaReg[0]
	}
	if s.areaReg[1] > 0 {
		m.MemoryUtilization = s.areaRes[1] / s.areaReg[1]
	}
	var waits []float64
	res := &Result{Series: s.series}
	for i, j := range s.jobs {
		job := s.wl.Jobs[i]
		if j.started {
			waits = append(waits, (j.firstStart - job.Submit).Seconds())
		}
		if !s.cfg.OmitRecords {
			r := JobRecord{ID: s.ids[i], Submit: job.Submit.Seconds(), Start: -1, End: j.end.Seconds(), Instance: j.lastInst, Attempts: j.attempts + 1, Failed: j.failReason}
			if j.started {
				r.Start = j.firstStart.Seconds()
			}
			res.Records = append(res.Records, r)
		}
	}
	slices.Sort(waits)
	if n := len(waits); n > 0 {
		sum := 0.0
		for _, w := range waits {
			sum += w
		}
		m.WaitMean = sum / float64(n)
		m.WaitP50, m.WaitP95, m.WaitP99, m.WaitMax = quantile(waits, 0.5), quantile(waits, 0.95), quantile(waits, 0.99), waits[n-1]
	}
	res.Metrics = m
	return res
}

// quantile is the nearest-rank quantile of sorted xs.
func quantile(xs []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }
