package cron

import (
	"time"
)

// Fire is one firing of a job's schedule.
type Fire struct {
	// At is the fire time, in the time zone of the expression that fired.
	At time.Time
	// Expr is the index of the expression in Spec.Expressions; when several fire at the same
	// instant, the lowest.
	Expr int
	// Missed: the fire was due more than the grace period before the tick that returned it.
	Missed bool
}

// MaxSuspendedInARow bounds the search for fires hidden by suspend windows: after that many
// suspended fires (each skipping a whole window) in a row, NextFires stops looking.
const MaxSuspendedInARow = 10000

// NextFires compiles spec and returns its next n fires after `after`; see Plan.NextFires.
func NextFires(spec Spec, after time.Time, n int) ([]Fire, error) {
	p, err := Compile(spec)
	if err != nil {
		return nil, err
	}
	return p.NextFires(after, n), nil
}

// Due compiles spec and returns the fires a tick must act on; see Plan.Due.
func Due(spec Spec, lastTick, now time.Time) ([]Fire, error) {
	p, err := Compile(spec)
	if err != nil {
		return nil, err
	}
	return p.Due(lastTick, now), nil
}

// NextFires returns the next n fires strictly after `after`, in order: every expression's
// fires merged, one Fire per instant, fires in suspend windows left out. It returns fewer when
// the schedule stops firing (see Schedule.Next) or MaxSuspendedInARow fires in a row are
// suspended, and none when the spec is Suspended.
func (p *Plan) NextFires(after time.Time, n int) []Fire {
	if p.spec.Suspended || n <= 0 {
		return nil
	}
	var out []Fire
	it := p.iter(after)
	for len(out) < n {
		f, ok := it.step(time.Time{})
		if !ok {
			break
		}
		out = append(out, f)
	}
	return out
}

// Due returns the fires a scheduler tick at `now` must act on, given that the previous tick
// handled everything up to lastTick: the fires in (lastTick, now], without suspended ones, after
// the catch-up policy. The caller then records now as its new lastTick.
//
// A fire at or after now-Grace is on time and always returned. An earlier one is missed
// (Fire.Missed): CatchUpNone drops it; CatchUpLatest returns the most recent missed fire when no
// fire is on time (an on-time run supersedes it); CatchUpAll returns the Max most recent ones.
// A zero lastTick means the job has no scheduling history: nothing counts as missed. Fires are
// returned oldest first; none when the spec is Suspended or now is not after lastTick.
func (p *Plan) Due(lastTick, now time.Time) []Fire {
	if p.spec.Suspended || !now.After(lastTick) {
		return nil
	}
	grace := time.Duration(p.spec.CatchUp.Grace)
	if grace == 0 {
		grace = DefaultGrace
	}
	// Fire instants are whole seconds; (from, now] holds the fires at or after now-grace.
	from := now.Add(-grace).Add(-time.Nanosecond)
	missedToo := !lastTick.IsZero() && lastTick.Before(from)
	if !lastTick.IsZero() && !missedToo {
		from = lastTick
	}
	var onTime []Fire
	it := p.iter(from)
	for f, ok := it.step(now); ok; f, ok = it.step(now) {
		onTime = append(onTime, f)
	}
	k := 0
	switch p.spec.CatchUp.Mode {
	case CatchUpNone: // k stays 0: missed fires are dropped
	case CatchUpLatest:
		if len(onTime) == 0 {
			k = 1
		}
	case CatchUpAll:
		k = p.spec.CatchUp.Max
		if k == 0 {
			k = DefaultCatchUpMax
		}
	}
	if !missedToo || k == 0 {
		return onTime
	}
	missed := p.lastFires(lastTick, from, k)
	for i := range missed {
		missed[i].Missed = true
	}
	return append(missed, onTime...)
}

// lastFires returns the last k fires in (lo, hi], oldest first. There is no Prev: it looks
// back over a window that doubles until the window holds k fires or reaches lo, so the work
// stays proportional to k, not to the length of the downtime.
func (p *Plan) lastFires(lo, hi time.Time, k int) []Fire {
	for w := 10 * time.Minute; ; w *= 2 {
		start := lo
		if w < 1<<61 && hi.Sub(lo) > w {
			start = hi.Add(-w)
		}
		var out []Fire
		it := p.iter(start)
		for f, ok := it.step(hi); ok; f, ok = it.step(hi) {
			if len(out) == k {
				copy(out, out[1:])
				out = out[:k-1]
			}
			out = append(out, f)
		}
		if len(out) == k || start.Equal(lo) {
			return out
		}
	}
}

// iter merges the expressions' fires and drops suspended ones.
type iter struct {
	p       *Plan
	next    []time.Time // each expression's next fire; zero when it never fires again
	skipped int
}

func (p *Plan) iter(after time.Time) *iter {
	it := &iter{p: p, next: make([]time.Time, len(p.exprs))}
	for i, e := range p.exprs {
		it.next[i] = e.sched.Next(after, e.loc)
	}
	return it
}

// step returns the next unsuspended fire, if there is one at or before limit (zero: no limit).
func (it *iter) step(limit time.Time) (Fire, bool) {
	for {
		i := -1
		for j, t := range it.next {
			if !t.IsZero() && (i < 0 || t.Before(it.next[i])) {
				i = j
			}
		}
		if i < 0 {
			return Fire{}, false
		}
		t := it.next[i]
		if !limit.IsZero() && t.After(limit) {
			return Fire{}, false
		}
		for j, e := range it.p.exprs {
			if it.next[j].Equal(t) {
				it.next[j] = e.sched.Next(t, e.loc)
			}
		}
		if until, ok := it.p.suspendedUntil(t); ok {
			if it.skipped++; it.skipped >= MaxSuspendedInARow {
				return Fire{}, false
			}
			for j, e := range it.p.exprs {
				if !it.next[j].IsZero() && it.next[j].Before(until) {
					it.next[j] = e.sched.Next(until.Add(-time.Nanosecond), e.loc)
				}
			}
			continue
		}
		it.skipped = 0
		return Fire{At: t, Expr: i}, true
	}
}

// suspendedUntil reports whether a suspend window holds t, and when the latest-ending such
// window closes.
func (p *Plan) suspendedUntil(t time.Time) (time.Time, bool) {
	var until time.Time
	for _, w := range p.windows {
		// The first opening after t-dur is the earliest window that could still be open at t.
		if o := w.sched.Next(t.Add(-w.dur), w.loc); !o.IsZero() && !o.After(t) {
			if end := o.Add(w.dur); end.After(until) {
				until = end
			}
		}
	}
	return until, !until.IsZero()
}

// Action is what to do with a fire, given the job's runs.
type Action string

const (
	ActionStart                   Action = "start"
	ActionSkip                    Action = "skip"
	ActionQueue                   Action = "queue"
	ActionCancelPreviousThenStart Action = "cancel_previous_then_start"
)

// Decide applies an overlap policy to a fire, given how many runs of the job are active
// (starting or running) and how many fires already wait in its queue:
//
//	allow            start
//	skip, ""         start if nothing is active, else skip
//	queue_one        start if nothing is active or queued; queue if runs are active and
//	                 nothing is queued; skip if a fire already waits
//	cancel_previous  start if nothing is active, else cancel the active runs, then start
//
// An unknown policy (which Validate refuses) behaves as skip.
func Decide(policy OverlapPolicy, active, queued int) Action {
	switch policy {
	case OverlapSkip: // below, with an unknown policy
	case OverlapAllow:
		return ActionStart
	case OverlapQueueOne:
		switch {
		case queued > 0:
			return ActionSkip
		case active > 0:
			return ActionQueue
		}
		return ActionStart
	case OverlapCancelPrevious:
		if active > 0 {
			return ActionCancelPreviousThenStart
		}
		return ActionStart
	}
	if active > 0 {
		return ActionSkip
	}
	return ActionStart
}

// InWindow reports whether one of the plan's windows (SuspendWindows) holds t and, if so,
// when the latest-ending of them closes. Warm runner pools use it for their schedules.
func (p *Plan) InWindow(t time.Time) (until time.Time, ok bool) {
	return p.suspendedUntil(t)
}
