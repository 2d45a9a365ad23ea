package hashike

import (
	"testing"
	"time"
)

func TestRunUpdateValidate(t *testing.T) {
	at := time.Unix(1, 0)
	for _, tc := range []struct {
		u  RunUpdate
		ok bool
	}{
		{RunUpdate{At: at, State: StateRunning}, true},
		{RunUpdate{Reason: "no state change needs no time"}, true},
		{RunUpdate{At: at, State: "sleeping"}, false},
		{RunUpdate{State: StateRunning}, false},
		{RunUpdate{SetOwner: &Owner{PID: 1}, ClearOwner: true}, false},
	} {
		if err := tc.u.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tc.u, err, tc.ok)
		}
	}
}

func TestRunUpdateCheck(t *testing.T) {
	me, other := &Owner{Host: "h", PID: 1, Start: "1"}, &Owner{Host: "h", PID: 2, Start: "2"}
	for _, tc := range []struct {
		name      string
		u         RunUpdate
		state     RunState
		cause     StopCause
		owner     *Owner
		setCause  bool
		conflicts bool
	}{
		{"legal move", RunUpdate{State: StateRunning}, StatePending, "", nil, false, false},
		{"illegal move", RunUpdate{State: StateRunning}, StateSucceeded, "", nil, false, true},
		{"first stop cause wins", RunUpdate{StopCause: StopUser}, StateRunning, StopTimeout, nil, false, false},
		{"stop cause stored when none", RunUpdate{StopCause: StopUser}, StateRunning, "", nil, true, false},
		{"owner matches", RunUpdate{IfOwner: &OwnerMatch{Owner: me}}, StateRunning, "", me, false, false},
		{"owner differs", RunUpdate{IfOwner: &OwnerMatch{Owner: me}}, StateRunning, "", other, false, true},
		{"expects no owner", RunUpdate{IfOwner: &OwnerMatch{}}, StateRunning, "", me, false, true},
		{"no owner as expected", RunUpdate{IfOwner: &OwnerMatch{}}, StateRunning, "", nil, false, false},
		{"stop cause as expected", RunUpdate{IfStopCause: ptr(StopNone)}, StateRunning, "", nil, false, false},
		{"stop cause recorded meanwhile", RunUpdate{IfStopCause: ptr(StopNone)}, StateRunning, StopUser, nil, false, true},
		{"other stop cause", RunUpdate{IfStopCause: ptr(StopTimeout), StopCause: StopUser}, StateStopping, StopUser, nil, false, true},
	} {
		set, err := tc.u.Check("r1", tc.state, tc.cause, tc.owner)
		if got := ErrorCodeOf(err) == EConflict; got != tc.conflicts || (err != nil && !tc.conflicts) {
			t.Errorf("%s: err %v, want conflict=%v", tc.name, err, tc.conflicts)
		}
		if set != tc.setCause {
			t.Errorf("%s: setStopCause %v, want %v", tc.name, set, tc.setCause)
		}
	}
}

func ptr[T any](v T) *T { return &v }
