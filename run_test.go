package hashike

import (
	"strings"
	"testing"
	"time"
)

func TestTransitionTableEveryPair(t *testing.T) {
	legal := map[[2]RunState]bool{}
	for _, from := range []RunState{StatePending, StateRunning, StateStopping} {
		for _, to := range terminal {
			legal[[2]RunState{from, to}] = true
		}
	}
	legal[[2]RunState{StatePending, StateRunning}] = true
	legal[[2]RunState{StatePending, StateStopping}] = true
	legal[[2]RunState{StateRunning, StateStopping}] = true
	// A queued run is either dispatched or canceled before it starts.
	legal[[2]RunState{StateQueued, StatePending}] = true
	legal[[2]RunState{StateQueued, StateCanceled}] = true
	for _, from := range RunStates {
		for _, to := range RunStates {
			if got, want := CanTransition(from, to), legal[[2]RunState{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		if from.Terminal() != (len(Transitions[from]) == 0) {
			t.Errorf("%s: Terminal() = %v but it has %d moves out", from, from.Terminal(), len(Transitions[from]))
		}
	}
}

func code(v int) *int { return &v }

func TestOutcome(t *testing.T) {
	cases := []struct {
		name      string
		cause     StopCause
		watched   ContainerStatus
		task      TaskStatus
		state     RunState
		exit      int
		reasonHas string
	}{
		{"success", StopNone, ContainerStatus{Name: "app", ExitCode: code(0)}, TaskStatus{}, StateSucceeded, 0, "exited 0"},
		{"failure code propagated", StopNone, ContainerStatus{Name: "app", ExitCode: code(3)}, TaskStatus{}, StateFailed, 3, "exited 3"},
		{"oom", StopNone, ContainerStatus{Name: "app", ExitCode: code(137), OOMKilled: true}, TaskStatus{}, StateFailed, ExitOOM, "OOM-killed"},
		{"sigkill", StopNone, ContainerStatus{Name: "app", ExitCode: code(137)}, TaskStatus{}, StateFailed, 137, "SIGKILL"},
		{"never started", StopNone, ContainerStatus{Name: "app", Reason: "CannotStartContainerError: exec"}, TaskStatus{}, StateStartFailed, ExitStartFailed, "CannotStartContainerError"},
		{"never started, task reason", StopNone, ContainerStatus{Name: "app"}, TaskStatus{StoppedReason: "Essential container x"}, StateStartFailed, ExitStartFailed, "Essential container x"},
		{"timeout wins over exit 0", StopTimeout, ContainerStatus{Name: "app", ExitCode: code(0)}, TaskStatus{}, StateTimedOut, ExitTimeout, "timeout of 5s"},
		{"sigint", StopInterrupt, ContainerStatus{Name: "app", ExitCode: code(143)}, TaskStatus{}, StateCanceled, ExitSIGINT, "SIGINT"},
		{"sigterm", StopTerminate, ContainerStatus{Name: "app", ExitCode: code(0)}, TaskStatus{}, StateCanceled, ExitSIGTERM, "SIGTERM"},
		{"hashike stop", StopUser, ContainerStatus{Name: "app"}, TaskStatus{}, StateCanceled, ExitSIGTERM, "hashike stop"},
		{"stopped ahead of a spot interruption", StopInterruption, ContainerStatus{Name: "app", ExitCode: code(143)},
			TaskStatus{StoppedReason: "spot interruption of i-1"}, StateLost, ExitStartFailed, "spot interruption of i-1"},
		{"killed by a spot reclaim", StopNone, ContainerStatus{Name: "app", ExitCode: code(137)},
			TaskStatus{StopCode: StopCodeSpotInterruption, StoppedReason: "Your Spot Task was interrupted."}, StateLost, ExitStartFailed, "SpotInterruption"},
		{"stopped by the standalone autoscaler", StopNone, ContainerStatus{Name: "app", ExitCode: code(143)},
			TaskStatus{StopCode: "UserInitiated", StoppedReason: StoppedReasonInterruption + "EC2 Spot Instance Interruption Warning for i-1"}, StateLost, ExitStartFailed, "Spot Instance Interruption"},
		{"instance terminated under it", StopNone, ContainerStatus{Name: "app"},
			TaskStatus{StopCode: StopCodeTerminationNotice, StoppedReason: "Host EC2 (instance i-1) terminated."}, StateLost, ExitStartFailed, "terminated"},
	}
	for _, tc := range cases {
		state, exit := Outcome(tc.cause, 5*time.Second, tc.watched, tc.task)
		if state != tc.state || exit.Code != tc.exit || !strings.Contains(exit.Reason, tc.reasonHas) {
			t.Errorf("%s: got %s %d %q, want %s %d containing %q", tc.name, state, exit.Code, exit.Reason, tc.state, tc.exit, tc.reasonHas)
		}
	}
}

func TestNewRunIDSortsByTime(t *testing.T) {
	zero := strings.NewReader(strings.Repeat("\x00", 20))
	ones := strings.NewReader(strings.Repeat("\xff", 20))
	a, _ := NewRunID(time.UnixMilli(1_700_000_000_000), ones)
	b, _ := NewRunID(time.UnixMilli(1_700_000_000_001), zero)
	if len(a) != 26 || len(b) != 26 || !(a < b) {
		t.Fatalf("ids %q, %q: want 26 characters, ordered by time", a, b)
	}
	if _, err := NewRunID(time.Now(), strings.NewReader("short")); err == nil {
		t.Fatal("a short random source must be an error")
	}
}

func TestLogCursorCountsBytesPerStream(t *testing.T) {
	c := LogCursor{}
	c.Advance(LogEntry{Container: "app", Stream: Stdout, Data: []byte("hello\n")})
	c.Advance(LogEntry{Container: "app", Stream: Stderr, Data: []byte("e\n")})
	if got := c.Read("app", Stdout); got != 6 {
		t.Fatalf("stdout read %d", got)
	}
	if got := c.Unseen("app", Stdout, 0, []byte("hello\n")); got != nil {
		t.Fatalf("seen entry returned %q", got)
	}
	if got := string(c.Unseen("app", Stdout, 3, []byte("lo\nnext\n"))); got != "next\n" {
		t.Fatalf("straddling entry returned %q", got)
	}
	if got := string(c.Unseen("app", Stderr, 2, []byte("x\n"))); got != "x\n" {
		t.Fatalf("unseen entry returned %q", got)
	}
	d := c.Clone()
	d.Advance(LogEntry{Container: "app", Stream: Stdout, Data: []byte("x")})
	if c.Read("app", Stdout) != 6 {
		t.Fatal("Clone shares state")
	}
}
