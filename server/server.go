// Package server is the control plane of `hashike server`: the job registry, enqueueing, the
// dispatcher that claims queued runs and supervises them, retries, cron schedules,
// notifications and the reconciler that adopts the runs of a replica that died.
//
// Every replica dispatches: claiming a queued run is atomic in the ServerStore, so a run is
// claimed by one replica only and a queue's concurrency cap holds across replicas. The loops
// that must run once (the scheduler's ticks, the reconciler, the cluster autoscalers, the retention pruner) run on the replica holding the
// "leader" lease (package leadership elects it: they start when this replica gains the lease
// and have stopped before it lets the lease go); a replica proves it is alive by renewing its own "replica:" lease, and a
// run whose owner's lease expired (or, on the same host, whose owner process is gone) is
// adopted by the leader, which reattaches to its task (the backend finds it by the run ID:
// labels locally, the RunTask client token on ECS) instead of starting a second one.
//
// GitHub's workflow_job webhook deliveries are verified and stored in a durable inbox in the
// request (ReceiveGitHubWebhook) and read later, on the leader, as runner demand
// (GitHubDemand); the leader prunes the inbox.
//
// The package does not speak HTTP (httpapi does), SQL (the stores) or Docker (the backends);
// cmd/hashike wires them. Time comes from the Clock, randomness from Random.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/leadership"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/usage"
)

// Defaults of Config.
const (
	DefaultMaxPayloadBytes   = job.PayloadLimit // what HASHIKE_PAYLOAD can carry: a payload, not a data transfer
	DefaultMaxConcurrentRuns = 500
	DefaultPollInterval      = 200 * time.Millisecond
	DefaultLeaseTTL          = 15 * time.Second
	DefaultScheduleInterval  = time.Second
	DefaultReconcileInterval = 5 * time.Second
	// ClaimBatch bounds the runs one ClaimRuns call takes.
	ClaimBatch = 100
	// LeaderLease names the lease of the replica that runs the scheduler and reconciler.
	LeaderLease = "leader"
)

// Config is what a Server needs. Store, Backend, Clock, Random, Self, Alive and
// ParseDefinition are required.
type Config struct {
	Store hashike.ServerStore
	// Logs keeps the runs' output (written by supervisions, read by the API); nil: Store's own
	// LogStore role. With a log archive, it reads the archive once the database's copy is gone.
	Logs hashike.LogStore
	// LogSearch searches the log archive (SearchLogs); nil: the server keeps none.
	LogSearch hashike.LogSearcher
	// LeaderLoops are more loops the leader runs, each until its context ends (the log
	// archiver's).
	LeaderLoops []func(ctx context.Context)
	// Backend returns the backend of a run ("local", "ecs").
	Backend func(name string) (hashike.Backend, error)
	Clock   hashike.Clock
	Logger  *slog.Logger
	// Random feeds run IDs, token secrets and backoff jitter.
	Random io.Reader
	// Self is this replica as a run owner; Alive tells whether a process on this host lives.
	Self  hashike.Owner
	Alive func(hashike.Owner) bool
	// ParseDefinition reads a job definition sent through the API (no templates: the server's
	// environment is not the client's).
	ParseDefinition func(name string, doc []byte) (*job.Definition, error)
	// Secrets resolves the secrets a run's spec names, for backends that inject them (local);
	// nil: none.
	Secrets func(spec *hashike.JobSpec) (map[string]string, error)
	// Secret resolves one secret by name (webhook signing keys); nil: none.
	Secret func(name string) (string, error)
	// Deliver sends one notification; Permanent says whether its error is not worth retrying.
	// nil Deliver: notifications are queued and never sent.
	Deliver   func(ctx context.Context, d hashike.Delivery) error
	Permanent func(error) bool
	// RetryAfter is the delay a failed delivery's endpoint asked for (0: none); nil: none.
	RetryAfter func(error) time.Duration

	// MaxPayloadBytes bounds an enqueue's payload (default job.PayloadLimit, what one
	// environment variable carries); above that only with Objects, up to
	// job.MaxPayloadByReference.
	MaxPayloadBytes int
	// Objects keeps payloads passed by reference and runs' results; nil: payloads are inline
	// only and results are not kept.
	Objects hashike.ObjectStore
	// ObjectURLs presigns URLs of Objects for containers on ECS (an S3 store); nil: runs on
	// ECS get no payload by reference and no result URL.
	ObjectURLs hashike.ObjectURLs
	// InlinePayloadBytes: a payload up to this size is passed inline (HASHIKE_PAYLOAD, and
	// locally /hashike/payload.json); a larger one by reference (default job.PayloadLimit;
	// on ECS at most ECSInlinePayloadBytes).
	InlinePayloadBytes int
	// MaxResultBytes bounds a run's result (default DefaultMaxResultBytes).
	MaxResultBytes int64
	// URLMargin is added to a run's timeout for the validity of its URLs (default
	// DefaultURLMargin).
	URLMargin         time.Duration
	MaxConcurrentRuns int
	PollInterval      time.Duration
	LeaseTTL          time.Duration
	ScheduleInterval  time.Duration
	ReconcileInterval time.Duration
	// NoLeader makes this replica act as leader without a lease (one replica, tests).
	NoLeader bool
	// Autoscalers are the cluster autoscalers the leader runs (see Autoscaler); none: the
	// server scales nothing.
	Autoscalers []Autoscaler

	// GitHubWebhook verifies and reads the deliveries of GitHub's workflow_job webhook
	// (ReceiveGitHubWebhook); nil: the server has no webhook endpoint (404).
	GitHubWebhook GitHubWebhook
	// GitHubDeliveryRetention is how long the leader keeps stored GitHub deliveries, and so
	// how long a redelivered ID is known as a duplicate (default 72 h).
	GitHubDeliveryRetention time.Duration
	// Runners, when set, is the runner controller the leader runs (GitHub Actions runner
	// pools, woken by the webhook's deliveries when GitHubWebhook is set); nil: none.
	Runners *RunnerPools
	// Usage, when set, samples the CPU and memory of the runs this replica supervises, on
	// backends that measure them (hashike.UsageSampler); each run's summary is recorded with
	// its end, and Usage.Running feeds the per-task gauges.
	Usage *usage.Monitor
	// Metrics is told what this replica does (see Metrics); nil: nothing is measured.
	Metrics Metrics

	// Pruner, when set, is run by the leader every PruneInterval (default 1 h) with the
	// Retention default and each job's own retention; nil: nothing is pruned.
	Pruner        *retention.Pruner
	Retention     hashike.Retention
	PruneInterval time.Duration
}

// Server is one replica of `hashike server`.
type Server struct {
	cfg     Config
	store   hashike.ServerStore
	logs    hashike.LogStore
	clock   hashike.Clock
	log     *slog.Logger
	metrics Metrics
	holder  string // this replica's lease holder name

	rndMu sync.Mutex
	rnd   *rand.Rand

	wake chan struct{} // a run was enqueued or a slot freed
	// githubWake: a GitHub delivery was stored (GitHubWakeups).
	githubWake chan struct{}
	inflight   atomic.Int64
	leader     atomic.Bool
	elector    *leadership.Elector // nil with NoLeader
	// leaderLoops starts the leader-only loops (true) or stops them and waits (false).
	leaderLoops func(leader bool)

	mu         sync.Mutex
	supervised map[string]bool   // runs this replica supervises now
	defs       map[string]jobDef // by name@version: versions never change
	holds      map[string]holds  // by job name

	autoscalers []*autoscalerState // by index in cfg.Autoscalers
	// runnerSecrets: the JIT configs of runner runs created here, until they started.
	runnerSecrets runnerSecrets
	runnerState   runnerState

	runCtx  context.Context // supervisions: ended by Shutdown
	endRuns context.CancelFunc
	wg      sync.WaitGroup
	loops   sync.WaitGroup
	stop    context.CancelFunc
}

// New checks cfg and returns a Server; Start runs its loops.
func New(cfg Config) (*Server, error) {
	var missing []string
	for name, ok := range map[string]bool{
		"Store": cfg.Store != nil, "Backend": cfg.Backend != nil, "Clock": cfg.Clock != nil,
		"Random": cfg.Random != nil, "Alive": cfg.Alive != nil, "ParseDefinition": cfg.ParseDefinition != nil,
		"Self": cfg.Self.PID != 0,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("server: config lacks %s", strings.Join(missing, ", "))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxPayloadBytes, DefaultMaxPayloadBytes)
	if cfg.MaxPayloadBytes > job.PayloadLimit && cfg.Objects == nil {
		return nil, fmt.Errorf("server: MaxPayloadBytes %d is above %d, the most a payload can be without an object store: it is passed as the environment variable %s, and Linux refuses an environment string over 128 KiB (MAX_ARG_STRLEN)",
			cfg.MaxPayloadBytes, job.PayloadLimit, EnvPayload)
	}
	if cfg.MaxPayloadBytes > job.MaxPayloadByReference {
		return nil, fmt.Errorf("server: MaxPayloadBytes %d is above %d, the most a payload can be", cfg.MaxPayloadBytes, job.MaxPayloadByReference)
	}
	def(&cfg.InlinePayloadBytes, job.PayloadLimit)
	if cfg.InlinePayloadBytes > job.PayloadLimit {
		return nil, fmt.Errorf("server: InlinePayloadBytes %d is above %d, what the environment variable %s can carry", cfg.InlinePayloadBytes, job.PayloadLimit, EnvPayload)
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = DefaultMaxResultBytes
	}
	if cfg.URLMargin <= 0 {
		cfg.URLMargin = DefaultURLMargin
	}
	def(&cfg.MaxConcurrentRuns, DefaultMaxConcurrentRuns)
	defd(&cfg.PollInterval, DefaultPollInterval)
	defd(&cfg.LeaseTTL, DefaultLeaseTTL)
	defd(&cfg.ScheduleInterval, DefaultScheduleInterval)
	defd(&cfg.ReconcileInterval, DefaultReconcileInterval)
	defd(&cfg.GitHubDeliveryRetention, DefaultGitHubDeliveryRetention)
	defd(&cfg.PruneInterval, DefaultPruneInterval)
	var seed [16]byte
	if _, err := io.ReadFull(cfg.Random, seed[:]); err != nil {
		return nil, fmt.Errorf("server: seed: %w", err)
	}
	if cfg.Logs == nil {
		cfg.Logs = cfg.Store
	}
	s := &Server{
		cfg: cfg, store: cfg.Store, logs: cfg.Logs, clock: cfg.Clock, log: cfg.Logger, metrics: cfg.Metrics,
		holder:     holderName(cfg.Self),
		rnd:        rand.New(rand.NewPCG(beUint64(seed[:8]), beUint64(seed[8:]))),
		wake:       make(chan struct{}, 1),
		githubWake: make(chan struct{}, 1),
		supervised: map[string]bool{},
		defs:       map[string]jobDef{},
		holds:      map[string]holds{},
	}
	for range cfg.Autoscalers {
		s.autoscalers = append(s.autoscalers, &autoscalerState{wake: make(chan struct{}, 1)})
	}
	if !cfg.NoLeader {
		var err error
		s.elector, err = leadership.New(leadership.Config{
			Leases: cfg.Store, Name: LeaderLease, Holder: s.holder, Clock: cfg.Clock, Logger: cfg.Logger,
			TTL: cfg.LeaseTTL, RenewInterval: cfg.LeaseTTL / 3, Margin: cfg.LeaseTTL / 3,
			Dead: s.deadHere,
		})
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	return s, nil
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// holderName names a replica in leases: host, PID and process start time, as an Owner does.
func holderName(o hashike.Owner) string {
	return o.Host + "/" + strconv.Itoa(o.PID) + "/" + o.Start
}

// ownerOf reads a holder name back.
func ownerOf(holder string) (hashike.Owner, bool) {
	host, rest, ok1 := strings.Cut(holder, "/")
	pid, start, ok2 := strings.Cut(rest, "/")
	n, err := strconv.Atoi(pid)
	if !ok1 || !ok2 || err != nil {
		return hashike.Owner{}, false
	}
	return hashike.Owner{Host: host, PID: n, Start: start}, true
}

func (s *Server) random() float64 {
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.Float64()
}

// MaxPayloadBytes is the server-wide payload limit.
func (s *Server) MaxPayloadBytes() int { return s.cfg.MaxPayloadBytes }

// Leader reports whether this replica runs the scheduler and reconciler now.
func (s *Server) Leader() bool { return s.leader.Load() }

// Start runs the loops until Shutdown: the dispatcher, the heartbeat, leader election, the
// scheduler and reconciler (while leader) and the notification sender. The first attempt at
// the leases is made before Start returns.
func (s *Server) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	s.runCtx, s.endRuns = context.WithCancel(context.WithoutCancel(ctx))
	s.heartbeat(ctx) // take the replica lease before the first tick
	s.goLoop(func() { s.every(ctx, s.cfg.LeaseTTL/3, s.heartbeat) })
	s.goLoop(func() { s.dispatchLoop(ctx) })
	s.goLoop(func() { s.deliveryLoop(ctx) })
	leaderLoops := append([]func(context.Context){
		func(ctx context.Context) { s.every(ctx, s.cfg.ScheduleInterval, s.scheduleTick) },
		func(ctx context.Context) {
			s.reconcile(ctx) // a new leader adopts orphaned runs at once
			s.every(ctx, s.cfg.ReconcileInterval, s.reconcile)
		}}, s.autoscalerLoops()...)
	if s.cfg.GitHubWebhook != nil {
		leaderLoops = append(leaderLoops, func(ctx context.Context) {
			s.pruneGitHubDeliveries(ctx)
			s.every(ctx, githubPruneInterval, s.pruneGitHubDeliveries)
		})
	}
	if s.cfg.Runners != nil {
		leaderLoops = append(leaderLoops, s.runnerLoop)
	}
	leaderLoops = append(leaderLoops, s.cfg.LeaderLoops...)
	if s.cfg.Pruner != nil {
		leaderLoops = append(leaderLoops, func(ctx context.Context) {
			s.pruneTick(ctx)
			s.every(ctx, s.cfg.PruneInterval, s.pruneTick)
		})
	}
	s.leaderLoops = leadership.While(ctx, leaderLoops...)
	if s.elector == nil {
		s.setLeader(true)
		return
	}
	s.elector.Subscribe(s.setLeader)
	s.elector.Start(ctx)
}

// setLeader starts the leader-only loops on a gain; on a loss it returns once they ended.
func (s *Server) setLeader(leader bool) {
	if leader {
		s.leader.Store(true)
		s.leaderLoops(true)
		return
	}
	s.leaderLoops(false)
	s.leader.Store(false)
}

func (s *Server) goLoop(f func()) {
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		f()
	}()
}

// Shutdown stops claiming and the loops, resigns the leadership (the leader lease is
// released once the leader-only loops ended, so that another replica takes over at once),
// then releases the runs this replica supervises (their tasks keep running; the next leader
// adopts them) and its replica lease. It returns when every goroutine has ended or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.loops.Wait()
	if s.elector != nil {
		s.elector.Stop()
	} else {
		s.setLeader(false)
	}
	s.endRuns()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("server: shutdown: %d supervisions still ending: %w", s.inflight.Load(), ctx.Err())
	}
	return errors.Join(err, s.store.ReleaseLease(context.WithoutCancel(ctx), "replica:"+s.holder, s.holder))
}

// every calls f now and then every d until ctx ends.
func (s *Server) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(d):
		}
		f(ctx)
	}
}

// heartbeat renews this replica's lease: other replicas tell by it that this one lives.
func (s *Server) heartbeat(ctx context.Context) {
	if _, _, err := s.store.AcquireLease(ctx, "replica:"+s.holder, s.holder, s.clock.Now(), s.cfg.LeaseTTL); err != nil && ctx.Err() == nil {
		s.log.Warn("renewing the replica lease", "err", err)
	}
}

// deadHere reports whether a lease holder is a process of this host that is gone (a replica
// killed and restarted): its leader lease is taken at once rather than after it expires.
func (s *Server) deadHere(holder string) bool {
	o, parsed := ownerOf(holder)
	return parsed && o.Host == s.cfg.Self.Host && !s.cfg.Alive(o)
}

// alive tells whether a run's owner still supervises it: on this host, whether its process
// lives; elsewhere, whether its replica lease is current.
func (s *Server) alive(ctx context.Context, o hashike.Owner) bool {
	if o.Host == s.cfg.Self.Host {
		return s.cfg.Alive(o)
	}
	lease, err := s.store.GetLease(ctx, "replica:"+holderName(o))
	if err != nil {
		return hashike.ErrorCodeOf(err) != hashike.ENotFound // unsure: leave it be
	}
	return lease.Holder == holderName(o) && lease.ExpiresAt.After(s.clock.Now())
}

// poke wakes the dispatcher.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.wakeAutoscalers()
}

// jobDef is a job version with its decoded definition.
type jobDef struct {
	def *job.Definition
	v   hashike.JobVersion
}

// definition returns a job version's definition (version 0: the latest), cached: versions
// never change, so only the latest needs the store.
func (s *Server) definition(ctx context.Context, name string, version int) (*job.Definition, hashike.JobVersion, error) {
	if version > 0 {
		s.mu.Lock()
		c, ok := s.defs[name+"@"+strconv.Itoa(version)]
		s.mu.Unlock()
		if ok {
			return c.def, c.v, nil
		}
	}
	v, err := s.store.GetJob(ctx, name, version)
	if err != nil {
		return nil, v, err
	}
	key := name + "@" + strconv.Itoa(v.Version)
	s.mu.Lock()
	c, ok := s.defs[key]
	s.mu.Unlock()
	if ok {
		return c.def, v, nil
	}
	d, err := job.Decode(v)
	if err != nil {
		return nil, v, err
	}
	s.mu.Lock()
	s.defs[key] = jobDef{def: d, v: v}
	s.mu.Unlock()
	return d, v, nil
}

var _ api.Service = (*Server)(nil)
