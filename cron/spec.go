package cron

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashike/hashike"
)

// Spec is a job's schedule, in kuroko2's model.
type Spec struct {
	// Expressions fire the job; when two fire at the same instant the job runs once. A Spec
	// without expressions never fires (a job that only runs by hand).
	Expressions []Expr `json:"expressions,omitempty"`
	// SuspendWindows hold back every fire that falls inside one of them.
	SuspendWindows []Window `json:"suspendWindows,omitempty"`
	// Suspended holds back every fire; fires during a suspension are dropped, not caught up.
	Suspended bool          `json:"suspended,omitempty"`
	Overlap   OverlapPolicy `json:"overlap,omitempty"`
	CatchUp   CatchUpPolicy `json:"catchUp,omitempty"`
}

// Expr is one cron expression evaluated in a time zone.
type Expr struct {
	Cron string `json:"cron"`
	// TimeZone is an IANA name ("Asia/Tokyo"); empty means UTC.
	TimeZone string `json:"timeZone,omitempty"`
}

// Window is a recurring period during which fires are suspended: it opens at each fire time of
// Cron (in TimeZone) and stays open for Duration. A fire at t is suspended when a window opened
// at o with o <= t < o+Duration. A zero Duration means one minute, so a window's Cron can
// also list the suspended minutes themselves, as kuroko2's suspend schedules do:
// {Cron: "* 0-5 * * *"} and {Cron: "0 0 * * *", Duration: 6h} both suspend 00:00-05:59, and
// {Cron: "0 22 * * *", Duration: 8h} suspends 22:00-06:00 across midnight.
type Window struct {
	Cron     string           `json:"cron"`
	Duration hashike.Duration `json:"duration,omitempty"`
	TimeZone string           `json:"timeZone,omitempty"`
}

// OverlapPolicy says what a fire does while earlier runs of the job are active.
type OverlapPolicy string

const (
	// OverlapSkip (the default, "") drops the fire while a run is active.
	OverlapSkip OverlapPolicy = "skip"
	// OverlapAllow starts a run regardless.
	OverlapAllow OverlapPolicy = "allow"
	// OverlapQueueOne queues the fire until the active runs finish; at most one fire waits,
	// later ones are dropped.
	OverlapQueueOne OverlapPolicy = "queue_one"
	// OverlapCancelPrevious cancels the active runs, then starts.
	OverlapCancelPrevious OverlapPolicy = "cancel_previous"
)

// CatchUpMode says what happens to fires the scheduler missed (it was down or late).
type CatchUpMode string

const (
	// CatchUpNone (the default, "") drops missed fires.
	CatchUpNone CatchUpMode = "none"
	// CatchUpLatest runs the most recent missed fire, unless a fire is on time anyway.
	CatchUpLatest CatchUpMode = "latest"
	// CatchUpAll runs every missed fire, at most Max of them (the most recent ones).
	CatchUpAll CatchUpMode = "all"
)

const (
	// DefaultGrace is how late a fire may be acted on and still count as on time.
	DefaultGrace = time.Minute
	// DefaultCatchUpMax is CatchUpAll's limit when Max is 0.
	DefaultCatchUpMax = 100
	// MaxCatchUpMax is the largest Max accepted.
	MaxCatchUpMax = 10000
)

// CatchUpPolicy: a fire more than Grace before the tick that sees it is missed (Fire.Missed),
// and Mode decides whether it still runs.
type CatchUpPolicy struct {
	Mode CatchUpMode `json:"mode,omitempty"`
	// Max bounds CatchUpAll: 0 means DefaultCatchUpMax.
	Max int `json:"max,omitempty"`
	// Grace: 0 means DefaultGrace. It should exceed the scheduler's tick interval, or fires
	// between ticks count as missed.
	Grace hashike.Duration `json:"grace,omitempty"`
}

// Validate reports every problem with the spec at once, with paths like
// "expressions[1].cron" and messages naming the cron field ("hour: 25 is out of range 0-23").
func (s *Spec) Validate() []hashike.FieldError {
	_, errs := compile(s)
	return errs
}

// Plan is a valid Spec with its expressions parsed and its time zones loaded: what a scheduler
// keeps per job so that a tick does not parse or load anything. It is immutable.
type Plan struct {
	spec    Spec
	exprs   []compiled
	windows []window
}

type compiled struct {
	sched *Schedule
	loc   *time.Location
}

type window struct {
	compiled
	dur time.Duration
}

// Compile validates spec and prepares it for NextFires and Due. The error is a *hashike.Error
// with code EInvalid listing every problem.
func Compile(spec Spec) (*Plan, error) {
	p, errs := compile(&spec)
	if len(errs) > 0 {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid schedule", Fields: errs}
	}
	return p, nil
}

func compile(s *Spec) (*Plan, []hashike.FieldError) {
	var errs []hashike.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, hashike.FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError})
	}
	p := &Plan{spec: *s}
	parse := func(path, expr, tz string) compiled {
		var c compiled
		sched, err := Parse(expr)
		var pe *ParseError
		switch {
		case errors.As(err, &pe) && pe.Field != "":
			add(path+".cron", "%s: %s", pe.Field, pe.Msg)
		case errors.As(err, &pe):
			add(path+".cron", "%s", pe.Msg)
		case err != nil:
			add(path+".cron", "%v", err)
		}
		c.sched = sched
		if c.loc, err = loadLocation(tz); err != nil {
			add(path+".timeZone", "%v", err)
		}
		return c
	}
	for i, e := range s.Expressions {
		p.exprs = append(p.exprs, parse(fmt.Sprintf("expressions[%d]", i), e.Cron, e.TimeZone))
	}
	for i, w := range s.SuspendWindows {
		path := fmt.Sprintf("suspendWindows[%d]", i)
		c := parse(path, w.Cron, w.TimeZone)
		dur := time.Duration(w.Duration)
		if dur < 0 {
			add(path+".duration", "%v is negative", dur)
		} else if dur == 0 {
			dur = time.Minute
		}
		p.windows = append(p.windows, window{c, dur})
	}
	switch s.Overlap {
	case "", OverlapSkip, OverlapAllow, OverlapQueueOne, OverlapCancelPrevious:
	default:
		add("overlap", "unknown policy %q (use %q, %q, %q or %q)", s.Overlap,
			OverlapSkip, OverlapAllow, OverlapQueueOne, OverlapCancelPrevious)
	}
	switch s.CatchUp.Mode {
	case "", CatchUpNone, CatchUpLatest, CatchUpAll:
	default:
		add("catchUp.mode", "unknown mode %q (use %q, %q or %q)", s.CatchUp.Mode, CatchUpNone, CatchUpLatest, CatchUpAll)
	}
	if m := s.CatchUp.Max; m < 0 || m > MaxCatchUpMax {
		add("catchUp.max", "%d is out of range 0-%d", m, MaxCatchUpMax)
	}
	if g := time.Duration(s.CatchUp.Grace); g < 0 {
		add("catchUp.grace", "%v is negative", g)
	}
	return p, errs
}

func loadLocation(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		// The server's zone would make a job's fire times depend on the host.
		return nil, errors.New(`"Local" is not allowed: name the zone ("Asia/Tokyo")`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}
