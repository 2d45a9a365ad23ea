// Package leadership elects one leader among the processes that share a lease store, so that
// loops that must run once (the server's scheduler and reconciler, and the controllers after
// them) run on one process at a time, whatever the number of replicas.
//
// An Elector campaigns for one named lease (hashike.Leases) on behalf of one holder:
//
//   - Elect. Until it leads, it tries to take the lease every RenewInterval. A lease that is
//     free or expired is taken for TTL. A lease held by a holder that Config.Dead says is gone
//     (a process of this host that was killed, say) is released and taken at once, without
//     waiting for it to expire.
//   - Renew. While it leads, it renews the lease for TTL every RenewInterval.
//   - Step down. A leader whose renewal is refused (another holder has the lease) steps down at
//     once. A leader whose renewals fail (the store does not answer) keeps leading, retrying
//     every RenewInterval/5, until TTL-Margin after its last successful renewal (10 s with
//     the defaults: TTL 15 s, RenewInterval and Margin TTL/3), then steps down: the lease it took
//     at t is valid until t+TTL, so it stops acting Margin before another process can take
//     it, and two leaders never act at once. Margin must cover the time the subscribers take
//     to stop (and the clocks' skew between hosts). It then tries to release the lease.
//   - Resign. Stop (or the end of Start's context) makes a leader step down and release the
//     lease, so that a successor takes over at its next attempt instead of after TTL.
//
// Takeover is therefore bounded by RenewInterval after a resignation or the death of a holder
// that Dead recognises, and by TTL+RenewInterval after the death of any other holder.
//
// Subscribers are told of every change, in order, one call at a time: f(true) when this
// elector gains leadership (before Start returns, when its first attempt wins), f(false) when
// it loses it. f(false) must return only once the
// work that needs leadership has stopped, because the lease is released or left to expire
// right after; While makes such a subscriber out of loops.
//
// Time comes from a hashike.Clock; the package imports only the standard library and the
// root package.
package leadership

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashike/hashike"
)

// Defaults of Config.
const (
	DefaultTTL = 15 * time.Second
	// releaseTimeout bounds the release of a lease on resignation, which runs after the
	// elector's context ended.
	releaseTimeout = 5 * time.Second
	// retriesPerInterval is how many times a leader whose renewal failed retries per
	// RenewInterval until its deadline.
	retriesPerInterval = 5
)

// Config is what an Elector needs. Leases, Name, Holder and Clock are required.
type Config struct {
	Leases hashike.Leases
	// Name is the lease's name, the same for every process that campaigns for it.
	Name string
	// Holder names this process, unique among them.
	Holder string
	Clock  hashike.Clock
	Logger *slog.Logger
	// TTL is how long a lease is taken or renewed for (DefaultTTL).
	TTL time.Duration
	// RenewInterval is how often a leader renews and a follower tries to take the lease
	// (TTL/3).
	RenewInterval time.Duration
	// Margin is how long before its lease expires a leader that could not renew steps down
	// (TTL/3). RenewInterval must be shorter than TTL-Margin.
	Margin time.Duration
	// Dead reports whether a lease's holder is certainly gone, so that its lease may be
	// taken before it expires; nil: never.
	Dead func(holder string) bool
}

// Elector campaigns for a lease; see the package comment for its contract.
type Elector struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	subs []func(leader bool)

	leader atomic.Bool
	// deadline is when a leader that has not renewed since steps down; failing says its
	// last renewal failed (the elector's goroutine only).
	deadline time.Time
	failing  bool

	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg, fills its defaults and returns an Elector; Start runs it.
func New(cfg Config) (*Elector, error) {
	var missing []string
	if cfg.Leases == nil {
		missing = append(missing, "Leases")
	}
	if cfg.Name == "" {
		missing = append(missing, "Name")
	}
	if cfg.Holder == "" {
		missing = append(missing, "Holder")
	}
	if cfg.Clock == nil {
		missing = append(missing, "Clock")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("leadership: config lacks %s", strings.Join(missing, ", "))
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = cfg.TTL / 3
	}
	if cfg.Margin <= 0 {
		cfg.Margin = cfg.TTL / 3
	}
	if cfg.Margin >= cfg.TTL || cfg.RenewInterval >= cfg.TTL-cfg.Margin {
		return nil, fmt.Errorf("leadership: RenewInterval %s must be shorter than TTL %s minus Margin %s",
			cfg.RenewInterval, cfg.TTL, cfg.Margin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{cfg: cfg, log: cfg.Logger.With("lease", cfg.Name, "holder", cfg.Holder)}, nil
}

// Subscribe adds f to the functions told of leadership changes (see the package comment).
// Subscribe before Start: a subscriber added later is not told that the elector leads now.
func (e *Elector) Subscribe(f func(leader bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, f)
}

// Leader reports whether this elector leads now.
func (e *Elector) Leader() bool { return e.leader.Load() }

// Start makes a first attempt to take the lease (telling the subscribers when it does)
// before it returns, then campaigns in a goroutine until Stop or the end of ctx. Start once.
func (e *Elector) Start(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(ctx)
	e.done = make(chan struct{})
	e.step(ctx)
	go e.run(ctx)
}

// Stop ends the campaign: a leader steps down (its subscribers told and returned) and
// releases the lease. It returns once the elector's goroutine has ended. Stop without Start,
// or a second time, does nothing.
func (e *Elector) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
}

func (e *Elector) run(ctx context.Context) {
	defer close(e.done)
	for {
		wait := e.cfg.RenewInterval
		if e.leader.Load() {
			if e.failing {
				wait /= retriesPerInterval
			}
			// Wake by the deadline at the latest, to step down on time.
			wait = min(wait, e.deadline.Sub(e.cfg.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			e.resign()
			return
		case <-e.cfg.Clock.After(wait):
		}
		if ctx.Err() != nil {
			e.resign()
			return
		}
		e.step(ctx)
	}
}

// step makes one attempt: a follower tries to take the lease, a leader to renew it.
func (e *Elector) step(ctx context.Context) {
	now := e.cfg.Clock.Now()
	if !e.leader.Load() {
		ok, err := e.elect(ctx, now)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("leader election", "err", err)
			}
			return
		}
		if ok {
			e.deadline = now.Add(e.cfg.TTL - e.cfg.Margin)
			e.leader.Store(true)
			e.log.Info("leadership gained")
			e.notify(true)
		}
		return
	}
	if !now.Before(e.deadline) {
		e.stepDown(ctx, "the lease could not be renewed in time", true)
		return
	}
	// The renewal may not outlast the deadline: a leader steps down by then.
	rctx, cancel := context.WithTimeout(ctx, e.deadline.Sub(now))
	lease, ok, err := e.cfg.Leases.AcquireLease(rctx, e.cfg.Name, e.cfg.Holder, now, e.cfg.TTL)
	cancel()
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return // resigning
		}
		if !e.cfg.Clock.Now().Before(e.deadline) {
			e.log.Warn("renewing the leader lease", "err", err)
			e.stepDown(ctx, "the lease could not be renewed in time", true)
			return
		}
		e.failing = true
		e.log.Warn("renewing the leader lease; retrying until the deadline", "err", err, "deadline", e.deadline)
	case !ok:
		e.stepDown(ctx, "the lease is held by "+lease.Holder, false)
	default:
		e.failing = false
		e.deadline = now.Add(e.cfg.TTL - e.cfg.Margin)
	}
}

// elect tries to take the lease, and takes it from a holder that Dead says is gone.
func (e *Elector) elect(ctx context.Context, now time.Time) (bool, error) {
	lease, ok, err := e.cfg.Leases.AcquireLease(ctx, e.cfg.Name, e.cfg.Holder, now, e.cfg.TTL)
	if err != nil || ok || lease.Holder == e.cfg.Holder || e.cfg.Dead == nil || !e.cfg.Dead(lease.Holder) {
		return ok, err
	}
	e.log.Info("taking over the lease of a holder that is gone", "previous", lease.Holder)
	if err := e.cfg.Leases.ReleaseLease(ctx, e.cfg.Name, lease.Holder); err != nil {
		return false, err
	}
	_, ok, err = e.cfg.Leases.AcquireLease(ctx, e.cfg.Name, e.cfg.Holder, now, e.cfg.TTL)
	return ok, err
}

// stepDown tells the subscribers that leadership is lost (they return once their work has
// stopped), then, when release is set, gives the lease up so that a successor need not wait
// for it to expire.
func (e *Elector) stepDown(ctx context.Context, why string, release bool) {
	e.leader.Store(false)
	e.failing = false
	e.log.Info("leadership lost", "reason", why)
	e.notify(false)
	if release {
		e.release(ctx)
	}
}

// resign steps down on Stop, when leading.
func (e *Elector) resign() {
	if !e.leader.Load() {
		return
	}
	e.leader.Store(false)
	e.log.Info("leadership resigned")
	e.notify(false)
	e.release(context.Background())
}

// release gives the lease up, even while the elector's context ends: a successor then takes
// over at once. When it fails the lease expires after TTL instead.
func (e *Elector) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := e.cfg.Leases.ReleaseLease(ctx, e.cfg.Name, e.cfg.Holder); err != nil {
		e.log.Warn("releasing the leader lease; it expires instead", "err", err)
	}
}

func (e *Elector) notify(leader bool) {
	e.mu.Lock()
	subs := append([]func(bool){}, e.subs...)
	e.mu.Unlock()
	for _, f := range subs {
		f(leader)
	}
}

// While returns a subscriber that runs loops while the elector leads: on a gain each loop
// starts in its own goroutine with a context derived from ctx; on a loss that context is
// cancelled and the subscriber returns once every loop has returned. A loop returns when its
// context ends.
func While(ctx context.Context, loops ...func(ctx context.Context)) func(leader bool) {
	var (
		mu     sync.Mutex
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	return func(leader bool) {
		mu.Lock()
		defer mu.Unlock()
		if leader == (cancel != nil) {
			return // no change
		}
		if !leader {
			cancel()
			wg.Wait()
			cancel = nil
			return
		}
		var lctx context.Context
		lctx, cancel = context.WithCancel(ctx)
		for _, loop := range loops {
			wg.Go(func() { loop(lctx) })
		}
	}
}
