package runners

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashike/hashike"
)

// The scale-set mode: GitHub keeps the demand. Each pool is one runner scale set; the leader
// holds the scale set's single listener session and long-polls its messages (jobs available,
// assigned, started, completed, and the scale set's statistics). No inbound endpoint is
// needed, which suits a GitHub Enterprise Server behind a firewall, and nothing is lost: the
// statistics carried by every message are GitHub's own count of the jobs waiting.

// ErrSessionTaken is in the chain of ScaleSets.Listen's error when another listener holds the
// scale set's session (GitHub allows one per scale set and answers 409 to a second).
var ErrSessionTaken = errors.New("the scale set has a listener session already")

// ScaleSets is the port to GitHub's runner scale-set API.
type ScaleSets interface {
	// EnsureScaleSet returns the ID of pool's scale set in its scope and runner group,
	// creating it with the pool's runner labels when it does not exist. Idempotent.
	EnsureScaleSet(ctx context.Context, pool *Pool) (int, error)
	// Listen opens the scale set's message session as owner. Another listener's open
	// session is ErrSessionTaken (wrapped).
	Listen(ctx context.Context, pool *Pool, scaleSetID int, owner string) (Session, error)
	// GenerateScaleSetJIT registers a runner of the scale set named name: only its runners
	// take the jobs it acquired.
	GenerateScaleSetJIT(ctx context.Context, pool *Pool, scaleSetID int, name string) (JIT, error)
}

// Session is one scale set's listener session; one goroutine uses it.
type Session interface {
	// Stats are the statistics GitHub sent when the session opened.
	Stats() (ScaleSetStats, bool)
	// Next long-polls the next message; ok is false when none came before GitHub ended
	// the poll. maxCapacity is how many more runners the listener could start. A message
	// comes again until acknowledged.
	Next(ctx context.Context, maxCapacity int) (m ScaleSetMessage, ok bool, err error)
	// Ack acknowledges (deletes) a handled message.
	Ack(ctx context.Context, m ScaleSetMessage) error
	// Acquire claims available jobs for the scale set; it returns those GitHub gave it.
	Acquire(ctx context.Context, requestIDs []int64) ([]int64, error)
	// Close ends the session, so that another listener may open one.
	Close(ctx context.Context) error
}

// ScaleSetStats are a scale set's counts as GitHub reports them.
type ScaleSetStats struct {
	// Available jobs wait to be acquired; Assigned were acquired by the scale set (Running
	// of them have a runner).
	Available, Acquired, Assigned, Running int
	Registered, Busy, Idle                 int
}

// Waiting is the scale set's jobs assigned to it and not yet running: its demand.
func (s ScaleSetStats) Waiting() int { return max(0, s.Assigned-s.Running) }

// ScaleSetJob is a job in a scale-set message. Times are zero until they happened.
type ScaleSetJob struct {
	RequestID          int64
	Labels             []string
	RunnerName         string
	QueueTime          time.Time
	ScaleSetAssignTime time.Time
	RunnerAssignTime   time.Time
	FinishTime         time.Time
}

// ScaleSetMessage is one message of a session: job events and the statistics then.
type ScaleSetMessage struct {
	ID    int
	Stats *ScaleSetStats
	// Available jobs may be acquired; Assigned were acquired by this scale set; Started
	// have a runner; Completed ended (or were canceled).
	Available, Assigned, Started, Completed []ScaleSetJob
}

// ScaleSetDemand is the scale-set mode's DemandSource: one listener per pool, each holding
// its scale set's session (Run). It acquires the jobs GitHub makes available, acknowledges
// every message, and reports as queued the jobs assigned to each scale set that no runner
// has started, as GitHub's statistics count them. A session GitHub drops, or that fails, is
// opened again after Backoff; a session another replica holds (409) is retried the same way,
// so only the replica that holds it (the leader) listens. It also registers the pools'
// runners (GenerateJITConfig): a scale set's jobs go only to its own runners.
type ScaleSetDemand struct {
	Plan  *Plan
	API   ScaleSets
	Clock hashike.Clock
	// Owner names the listener to GitHub (the replica).
	Owner  string
	Logger *slog.Logger
	// Backoff is the wait before a session is opened again (default 5s).
	Backoff time.Duration
	// Capacity is how many more runners a pool could start, told to GitHub with every poll
	// (default: the pool's Max less its running jobs).
	Capacity func(pool *Pool, stats ScaleSetStats) int
	// OnMessage, when set, sees every message of a pool after it was handled (metrics).
	OnMessage func(pool string, m ScaleSetMessage)

	once  sync.Once
	wake  chan struct{}
	mu    sync.Mutex
	state map[string]*listenerState
}

type listenerState struct {
	scaleSetID int
	session    bool // a session is open
	stats      *ScaleSetStats
	// acquired since the last statistics: GitHub counts them from its next message on.
	acquiredSince int
	// assigned are the jobs known assigned to the scale set and not started, by request ID.
	assigned map[int64]ScaleSetJob
	err      error
}

// ScaleSetStatus is one pool's listener as ScaleSetDemand.Status reports it.
type ScaleSetStatus struct {
	Pool       string
	ScaleSetID int
	// Session reports whether this replica holds the scale set's session now.
	Session bool
	Stats   *ScaleSetStats
	// Err is the last failure of the session, if the session is not open.
	Err error
}

const defaultScaleSetBackoff = 5 * time.Second

func (d *ScaleSetDemand) init() {
	d.once.Do(func() {
		d.wake = make(chan struct{}, 1)
		d.state = map[string]*listenerState{}
		for _, p := range d.Plan.Pools() {
			d.state[p.Name] = &listenerState{assigned: map[int64]ScaleSetJob{}}
		}
	})
}

func (d *ScaleSetDemand) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Wakeups receives a value when a message changed the demand: the controller's Wake.
func (d *ScaleSetDemand) Wakeups() <-chan struct{} {
	d.init()
	return d.wake
}

func (d *ScaleSetDemand) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Complete implements CompleteDemand: the statistics are GitHub's own state.
func (d *ScaleSetDemand) Complete() bool { return true }

// Run listens to every pool's scale set until ctx ends, then closes the sessions.
func (d *ScaleSetDemand) Run(ctx context.Context) error {
	d.init()
	var wg sync.WaitGroup
	for _, p := range d.Plan.Pools() {
		wg.Go(func() { d.listen(ctx, &p) })
	}
	wg.Wait()
	return ctx.Err()
}

func (d *ScaleSetDemand) st(pool string) *listenerState { return d.state[pool] }

// listen keeps pool's session open until ctx ends.
func (d *ScaleSetDemand) listen(ctx context.Context, p *Pool) {
	log := d.logger().With("pool", p.Name)
	for ctx.Err() == nil {
		err := d.session(ctx, p, log)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		st := d.st(p.Name)
		st.session, st.err = false, err
		d.mu.Unlock()
		if errors.Is(err, ErrSessionTaken) {
			log.Info("runners: another listener holds the scale set's session; retrying", "err", err)
		} else {
			log.Warn("runners: the scale-set session failed; opening it again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.Clock.After(cmp.Or(d.Backoff, defaultScaleSetBackoff)):
		}
	}
}

// session opens the scale set's session and handles its messages until one fails.
func (d *ScaleSetDemand) session(ctx context.Context, p *Pool, log *slog.Logger) error {
	d.mu.Lock()
	id := d.st(p.Name).scaleSetID
	d.mu.Unlock()
	if id == 0 {
		var err error
		if id, err = d.API.EnsureScaleSet(ctx, p); err != nil {
			return fmt.Errorf("scale set of pool %s: %w", p.Name, err)
		}
		d.mu.Lock()
		d.st(p.Name).scaleSetID = id
		d.mu.Unlock()
	}
	s, err := d.API.Listen(ctx, p, id, d.Owner)
	if err != nil {
		return fmt.Errorf("listen to scale set %d of pool %s: %w", id, p.Name, err)
	}
	defer func() {
		// A new context: the session must end even when ctx did, so that the next leader
		// can open it at once rather than after GitHub expires it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.Close(cctx); err != nil {
			log.Debug("runners: closing the scale-set session", "err", err)
		}
	}()
	d.mu.Lock()
	st := d.st(p.Name)
	st.session, st.err = true, nil
	if stats, ok := s.Stats(); ok {
		st.stats, st.acquiredSince = &stats, 0
	}
	d.mu.Unlock()
	log.Info("runners: listening to the pool's scale set", "scale_set", id, "owner", d.Owner)
	d.notify()
	for {
		m, ok, err := s.Next(ctx, d.capacity(p))
		if err != nil {
			return fmt.Errorf("scale set %d of pool %s: %w", id, p.Name, err)
		}
		if !ok {
			continue
		}
		if err := d.handle(ctx, p, s, m); err != nil {
			return fmt.Errorf("scale set %d of pool %s: %w", id, p.Name, err)
		}
		if err := s.Ack(ctx, m); err != nil {
			return fmt.Errorf("scale set %d of pool %s: %w", id, p.Name, err)
		}
		if d.OnMessage != nil {
			d.OnMessage(p.Name, m)
		}
		d.notify()
	}
}

func (d *ScaleSetDemand) capacity(p *Pool) int {
	d.mu.Lock()
	var stats ScaleSetStats
	if s := d.st(p.Name).stats; s != nil {
		stats = *s
	}
	d.mu.Unlock()
	if d.Capacity != nil {
		return max(0, d.Capacity(p, stats))
	}
	return max(0, p.Max-stats.Running)
}

// handle folds a message into the pool's state and acquires every job it makes available:
// GitHub offers a scale set the jobs its labels match, and its message is not repeated, so a
// job left unacquired would wait until another event. An acquired job waits for the pool's
// room like any queued job (Decide caps the pool at Max).
func (d *ScaleSetDemand) handle(ctx context.Context, p *Pool, s Session, m ScaleSetMessage) error {
	d.mu.Lock()
	st := d.st(p.Name)
	if m.Stats != nil {
		stats := *m.Stats
		st.stats, st.acquiredSince = &stats, 0
	}
	for _, j := range m.Assigned {
		st.assigned[j.RequestID] = j
	}
	for _, j := range slices.Concat(m.Started, m.Completed) {
		delete(st.assigned, j.RequestID)
	}
	d.mu.Unlock()
	if len(m.Available) == 0 {
		return nil
	}
	var ids []int64
	byID := map[int64]ScaleSetJob{}
	for _, j := range m.Available {
		ids = append(ids, j.RequestID)
		byID[j.RequestID] = j
	}
	if len(ids) == 0 {
		return nil
	}
	got, err := s.Acquire(ctx, ids)
	if err != nil {
		return fmt.Errorf("acquire %d jobs: %w", len(ids), err)
	}
	now := d.Clock.Now()
	d.mu.Lock()
	for _, id := range got {
		if _, known := st.assigned[id]; !known {
			j := byID[id]
			j.ScaleSetAssignTime = now
			st.assigned[id] = j
			st.acquiredSince++
		}
	}
	d.mu.Unlock()
	return nil
}

// QueuedJobs reports, per pool, the jobs assigned to its scale set and not started: as many
// as GitHub's last statistics count (plus what was acquired since), the jobs known by their
// messages first, oldest first. They carry the pool's labels: only its runners take them.
func (d *ScaleSetDemand) QueuedJobs(context.Context) ([]QueuedJob, error) {
	d.init()
	now := d.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []QueuedJob
	for _, p := range d.Plan.Pools() {
		st := d.st(p.Name)
		known := make([]ScaleSetJob, 0, len(st.assigned))
		for _, j := range st.assigned {
			known = append(known, j)
		}
		slices.SortFunc(known, func(a, b ScaleSetJob) int {
			return cmp.Or(a.QueueTime.Compare(b.QueueTime), cmp.Compare(a.RequestID, b.RequestID))
		})
		n := len(known)
		if st.stats != nil {
			n = st.stats.Waiting() + st.acquiredSince
		}
		for i := range n {
			j := QueuedJob{Labels: slices.Clone(p.Labels), QueuedAt: now}
			if i < len(known) {
				j.ID = known[i].RequestID
				if !known[i].QueueTime.IsZero() {
					j.QueuedAt = known[i].QueueTime
				}
			} else {
				// Counted by GitHub, not announced to this listener (assigned before it
				// took over): a stable ID of its own so that it counts as one arrival.
				j.ID = -int64(st.scaleSetID)*1_000_000 - int64(i)
			}
			out = append(out, j)
		}
	}
	return out, nil
}

// GenerateJITConfig implements PoolRegistrar: a runner of pool's scale set.
func (d *ScaleSetDemand) GenerateJITConfig(ctx context.Context, pool *Pool, name string) (JIT, error) {
	d.init()
	d.mu.Lock()
	id := d.st(pool.Name).scaleSetID
	d.mu.Unlock()
	if id == 0 {
		return JIT{}, hashike.Errorf(hashike.EUnavailable, "pool %s: its scale set is not known yet", pool.Name)
	}
	return d.API.GenerateScaleSetJIT(ctx, pool, id, name)
}

// Status reports each pool's listener.
func (d *ScaleSetDemand) Status() []ScaleSetStatus {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []ScaleSetStatus
	for _, p := range d.Plan.Pools() {
		st := d.st(p.Name)
		s := ScaleSetStatus{Pool: p.Name, ScaleSetID: st.scaleSetID, Session: st.session, Err: st.err}
		if st.stats != nil {
			stats := *st.stats
			s.Stats = &stats
		}
		out = append(out, s)
	}
	return out
}
