package hashike

import (
	"errors"
	"fmt"
)

// Validate reports what is wrong with u on its own, before any stored run is read: an unknown
// state, a state change without the time it happened, both SetOwner and ClearOwner. Stores
// return it as EInvalid.
func (u RunUpdate) Validate() error {
	switch {
	case u.State != "" && !u.State.Valid():
		return fmt.Errorf("unknown state %q", u.State)
	case u.State != "" && u.At.IsZero():
		return errors.New("a state change needs the time it happened")
	case u.SetOwner != nil && u.ClearOwner:
		return errors.New("both SetOwner and ClearOwner")
	case u.Usage != nil:
		return u.Usage.Validate()
	}
	return nil
}

// Check decides u against what is stored for run id (its state, stop cause and owner), by the
// rules every Store applies in the same transaction as the write: the owner and stop cause
// preconditions and the transition's legality (EConflict when one fails). setStopCause says
// whether u's stop cause is to be stored: the first cause wins.
func (u RunUpdate) Check(id string, state RunState, stopCause StopCause, owner *Owner) (setStopCause bool, err error) {
	if u.IfOwner != nil && !sameOwner(owner, u.IfOwner.Owner) {
		return false, Errorf(EConflict, "run %s is owned by %s, not %s", id, describeOwner(owner), describeOwner(u.IfOwner.Owner))
	}
	if u.IfStopCause != nil && stopCause != *u.IfStopCause {
		return false, Errorf(EConflict, "run %s has stop cause %q, not %q", id, stopCause, *u.IfStopCause)
	}
	if u.State != "" && !CanTransition(state, u.State) {
		return false, Errorf(EConflict, "run %s is %s: it cannot become %s", id, state, u.State)
	}
	return u.StopCause != StopNone && stopCause == StopNone, nil
}

func sameOwner(a, b *Owner) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func describeOwner(o *Owner) string {
	if o == nil {
		return "nobody"
	}
	return fmt.Sprintf("pid %d on %s (started %s)", o.PID, o.Host, o.Start)
}

// ValidateNew reports what makes run unfit for Store.CreateRun (EInvalid): no ID, a state
// other than pending or queued, or a queued run without a queue.
func (r *Run) ValidateNew() error {
	if r == nil || r.ID == "" {
		return Errorf(EInvalid, "create run: no run ID")
	}
	// Every other state, known or not, is refused.
	//exhaustive:ignore
	switch r.State {
	case "", StatePending:
	case StateQueued:
		if r.Queue == "" {
			return Errorf(EInvalid, "create run %s: a queued run needs a queue", r.ID)
		}
	default:
		return Errorf(EInvalid, "create run %s: a new run is %s or %s, not %s", r.ID, StatePending, StateQueued, r.State)
	}
	return nil
}
