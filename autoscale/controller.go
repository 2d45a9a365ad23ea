package autoscale

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashike/hashike"
)

// Errors a Cluster's Apply wraps, so a controller (and the conformance suite) can tell a
// refusal from a failure.
var (
	// ErrUnknown: the action names a pool, instance type or instance the cluster does not
	// have (an instance that has ended included). Nothing was done.
	ErrUnknown = errors.New("unknown pool, instance type or instance")
	// ErrAtMax: a launch would take its pool above Max. The instances under Max were
	// launched; the rest were not.
	ErrAtMax = errors.New("pool at its max")
	// ErrThrottled: the cloud's API refused the call for its rate limit (Auto Scaling's
	// "Rate exceeded", ECS's ThrottlingException). Nothing was done; a later step may retry.
	ErrThrottled = errors.New("rate exceeded")
)

// Cluster is what a Controller drives: capacity it can observe and change. The simulator
// (package sim) implements it in virtual time; a live adapter implements it over ECS and
// Auto Scaling. Package clustertest is the suite every implementation passes.
type Cluster interface {
	// Snapshot observes the cluster. The Snapshot is the caller's: changing it changes
	// nothing in the cluster. Snapshot.Now is when it was observed.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Apply carries out one action. A Launch is asynchronous: its instances are in the
	// next Snapshot as launching, and active once registered. Drain is idempotent: draining
	// a draining instance does nothing; a drained instance ends once its tasks have, and
	// its tasks are never stopped by the drain (draining a launching or idle instance ends
	// it at once). Terminate ends an idle instance now; what an instance running tasks gets
	// is the cluster's: the live adapter (ecsscale) refuses it, so that no job is ever killed
	// by scale-in, and the simulator ends the instance with its tasks, counting them killed,
	// so a policy must drain first. Refusals wrap ErrUnknown, ErrAtMax or ErrThrottled; other
	// errors are the cluster's own failures.
	Apply(ctx context.Context, a Action) error
}

// Decision is one Step: what the policy saw and asked for, and what came of it.
type Decision struct {
	// At is when the decision was made (the Controller's Clock).
	At     time.Time
	Policy string
	// Actions are the policy's, each with its Reason; Errors[i] is Apply's answer to
	// Actions[i] (nil: done). Errors is nil when every action was applied.
	Actions []Action
	Errors  []error
	// Err is set when the cluster could not be observed; nothing was decided.
	Err error
	// Snapshot is what the policy decided from (nil when Err is set). It is the
	// Controller's: an Observe that keeps it must not change it.
	Snapshot *Snapshot
}

// Controller runs a Policy over a Cluster: observe a Snapshot, let the policy decide at the
// Clock's now, apply the actions. The simulator calls Step in virtual time; a live
// autoscaler calls Run. A Controller is one goroutine's.
type Controller struct {
	Cluster Cluster
	Policy  Policy
	Clock   hashike.Clock
	// Observe, when set, is given every decision once applied (to log it, count it, or
	// keep it: the reasons of every action are in it).
	Observe func(Decision)
	// Wake, when set, makes Run decide at once, off the policy's interval, whenever it
	// receives: new demand (a run queued that may need capacity; ecsscale.Cluster.Demand)
	// need not wait for the next interval. Senders should not block (a channel of capacity
	// 1 and a send in a select with a default coalesces a burst into one value).
	Wake <-chan struct{}
	// MinSpacing is the least time between the starts of two decisions Run makes on a
	// wake-up or a policy's early decision (0: one second), so a storm of enqueues does not
	// become a storm of API calls: wake-ups within it are coalesced into one decision.
	MinSpacing time.Duration
}

// EarlyDecider is a Policy that can ask for a decision before its next interval: a
// policy holding work back for a moment (hashike's batching window) says when the wait is
// over. Run honours it; the simulator, stepping on the interval, does not.
type EarlyDecider interface {
	// NextDecision returns when the policy wants to decide next, from the state of its last
	// decision; zero: on its interval.
	NextDecision() time.Time
}

// Step is one decision. It returns the observation's error, or the actions' errors
// joined; an action that fails does not keep the others from being applied.
func (c *Controller) Step(ctx context.Context) error {
	now := c.Clock.Now()
	d := Decision{At: now, Policy: c.Policy.Name()}
	snap, err := c.Cluster.Snapshot(ctx)
	if err != nil {
		d.Err = fmt.Errorf("observe cluster: %w", err)
		c.observe(d)
		return d.Err
	}
	d.Snapshot = snap
	d.Actions = c.Policy.Decide(snap, now)
	var errs []error
	for i, a := range d.Actions {
		if err := c.Cluster.Apply(ctx, a); err != nil {
			if d.Errors == nil {
				d.Errors = make([]error, len(d.Actions))
			}
			d.Errors[i] = err
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
	}
	c.observe(d)
	return errors.Join(errs...)
}

func (c *Controller) observe(d Decision) {
	if c.Observe != nil {
		c.Observe(d)
	}
}

// Run steps at once and then every Policy.Interval() on the Clock until ctx is done, and
// returns ctx's error. It also steps on a value from Wake and when an EarlyDecider policy
// asks to, never sooner than MinSpacing after the previous step began. A failed step does
// not end it: the cluster may come back; the failure is in the Decision given to Observe.
func (c *Controller) Run(ctx context.Context) error {
	every := c.Policy.Interval()
	if every <= 0 {
		return fmt.Errorf("policy %s: interval %v must be > 0", c.Policy.Name(), every)
	}
	spacing := c.MinSpacing
	if spacing <= 0 {
		spacing = time.Second
	}
	for {
		// A wake-up that came before this step's snapshot is answered by it.
		select {
		case <-c.Wake:
		default:
		}
		began := c.Clock.Now()
		_ = c.Step(ctx) // Observe has it
		wait := every
		if p, ok := c.Policy.(EarlyDecider); ok {
			if at := p.NextDecision(); !at.IsZero() {
				wait = min(wait, max(at.Sub(c.Clock.Now()), spacing-c.Clock.Now().Sub(began)))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Clock.After(wait):
		case <-c.Wake:
			if d := spacing - c.Clock.Now().Sub(began); d > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-c.Clock.After(d):
				}
			}
		}
	}
}

// String names an action for errors and logs: "launch 2 m6i.large in jobs",
// "drain i-1", "terminate i-1".
func (a Action) String() string {
	switch {
	case a.Launch != nil:
		typ := a.Launch.Type
		if typ == "" {
			typ = "instances"
		}
		return fmt.Sprintf("launch %d %s in %s", a.Launch.Count, typ, a.Launch.Pool)
	case a.Drain != nil:
		return "drain " + a.Drain.Instance
	case a.Terminate != nil:
		return "terminate " + a.Terminate.Instance
	}
	return "no action"
}
