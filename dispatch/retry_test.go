package dispatch_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/dispatch"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func code(n int) *int { return &n }

func failed(exit int) dispatch.Outcome {
	return dispatch.Outcome{State: hashike.StateFailed, Exit: &hashike.ExitStatus{ContainerExitCode: code(exit), Code: exit}}
}

func startFailed(containerReason string) dispatch.Outcome {
	return dispatch.Outcome{State: hashike.StateStartFailed, Exit: &hashike.ExitStatus{Code: hashike.ExitStartFailed, Reason: containerReason},
		ContainerReason: containerReason}
}

func constant(r float64) func() float64 { return func() float64 { return r } }

// The rules Batch's documentation shows, in the order a job file would list them.
var batchRules = []dispatch.EvaluateOnExit{
	{OnExitCode: "137", Action: "RETRY"},
	{OnReason: "CannotPullContainerError*", Action: "EXIT"},
	{OnStatusReason: "Host EC2*", Action: "retry"},
	{OnReason: "*", Action: "Exit"},
}

func TestDecide(t *testing.T) {
	type want struct {
		retry bool
		kind  dispatch.Kind
		rule  int
		delay time.Duration
	}
	noDelay := func(retry bool, kind dispatch.Kind, rule int) want { return want{retry, kind, rule, 0} }
	three := dispatch.RetryStrategy{Attempts: 3}
	batch := dispatch.RetryStrategy{Attempts: 3, EvaluateOnExit: batchRules}
	hostGone := dispatch.Outcome{State: hashike.StateFailed,
		Exit: &hashike.ExitStatus{ContainerExitCode: code(143), StoppedReason: "Host EC2 (instance i-0123) terminated."}}

	tests := []struct {
		name string
		rs   dispatch.RetryStrategy
		h    dispatch.History
		o    dispatch.Outcome
		want want
	}{
		// Outcomes that are never retried.
		{"succeeded", three, dispatch.History{}, dispatch.Outcome{State: hashike.StateSucceeded, Exit: &hashike.ExitStatus{ContainerExitCode: code(0)}},
			noDelay(false, dispatch.NotFailed, -1)},
		{"canceled", three, dispatch.History{}, dispatch.Outcome{State: hashike.StateCanceled, Exit: &hashike.ExitStatus{Code: hashike.ExitSIGTERM}},
			noDelay(false, dispatch.NotFailed, -1)},
		{"canceled even when a rule says RETRY", dispatch.RetryStrategy{Attempts: 3, EvaluateOnExit: []dispatch.EvaluateOnExit{{Action: "RETRY"}}},
			dispatch.History{}, dispatch.Outcome{State: hashike.StateCanceled}, noDelay(false, dispatch.NotFailed, -1)},
		{"still running", three, dispatch.History{}, dispatch.Outcome{State: hashike.StateRunning}, noDelay(false, dispatch.NotFailed, -1)},

		// Application failures without rules: retried while attempts remain.
		{"zero strategy: one attempt", dispatch.RetryStrategy{}, dispatch.History{}, failed(1), noDelay(false, dispatch.Application, -1)},
		{"first of three", three, dispatch.History{}, failed(1), noDelay(true, dispatch.Application, -1)},
		{"second of three", three, dispatch.History{Application: 1}, failed(1), noDelay(true, dispatch.Application, -1)},
		{"third of three", three, dispatch.History{Application: 2}, failed(1), noDelay(false, dispatch.Application, -1)},
		{"timed out is an application failure", three, dispatch.History{},
			dispatch.Outcome{State: hashike.StateTimedOut, Exit: &hashike.ExitStatus{ContainerExitCode: code(143), Code: hashike.ExitTimeout}},
			noDelay(true, dispatch.Application, -1)},
		{"timed out uses application attempts", three, dispatch.History{Application: 2, Infrastructure: 0},
			dispatch.Outcome{State: hashike.StateTimedOut}, noDelay(false, dispatch.Application, -1)},
		{"start_failed with an exit code is an application failure", three, dispatch.History{Infrastructure: 5},
			dispatch.Outcome{State: hashike.StateStartFailed, Exit: &hashike.ExitStatus{ContainerExitCode: code(1)}},
			noDelay(true, dispatch.Application, -1)},

		// Batch's examples.
		{"onExitCode 137 RETRY", batch, dispatch.History{}, failed(137), noDelay(true, dispatch.Application, 0)},
		{"onExitCode 137 RETRY, no attempts left", batch, dispatch.History{Application: 2}, failed(137), noDelay(false, dispatch.Application, 0)},
		{"onReason CannotPullContainerError* EXIT", batch, dispatch.History{},
			startFailed("CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"),
			noDelay(false, dispatch.Infrastructure, 1)},
		{"onStatusReason Host EC2* RETRY", batch, dispatch.History{}, hostGone, noDelay(true, dispatch.Application, 2)},
		{"status reason falls back to ExitStatus.StoppedReason only when empty", batch, dispatch.History{},
			dispatch.Outcome{State: hostGone.State, Exit: hostGone.Exit, StatusReason: "Essential container in task exited"},
			noDelay(false, dispatch.Application, 3)},
		{"catch-all EXIT", batch, dispatch.History{}, failed(1), noDelay(false, dispatch.Application, 3)},

		// Order of rules: the first match wins.
		{"first match wins: EXIT before RETRY", dispatch.RetryStrategy{Attempts: 5, EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "1*", Action: "EXIT"}, {OnExitCode: "137", Action: "RETRY"}}},
			dispatch.History{}, failed(137), noDelay(false, dispatch.Application, 0)},
		{"first match wins: RETRY before EXIT", dispatch.RetryStrategy{Attempts: 5, EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "137", Action: "RETRY"}, {OnExitCode: "1*", Action: "EXIT"}}},
			dispatch.History{}, failed(137), noDelay(true, dispatch.Application, 0)},
		{"every condition of a rule must hold", dispatch.RetryStrategy{Attempts: 5, EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "137", OnStatusReason: "Host EC2*", Action: "EXIT"}}},
			dispatch.History{}, failed(137), noDelay(true, dispatch.Application, -1)},
		{"no rule matches: retried while attempts remain", dispatch.RetryStrategy{Attempts: 2, EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "2", Action: "EXIT"}}},
			dispatch.History{}, failed(1), noDelay(true, dispatch.Application, -1)},
		{"no rule matches, no attempts left", dispatch.RetryStrategy{Attempts: 2, EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "2", Action: "EXIT"}}},
			dispatch.History{Application: 1}, failed(1), noDelay(false, dispatch.Application, -1)},
		{"onExitCode never matches a run without exit code", dispatch.RetryStrategy{EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "*", Action: "EXIT"}}},
			dispatch.History{}, startFailed("boom"), noDelay(true, dispatch.Infrastructure, -1)},

		// Infrastructure failures: their own budget; application attempts untouched.
		{"lost is retried with attempts 1", dispatch.RetryStrategy{Attempts: 1}, dispatch.History{},
			dispatch.Outcome{State: hashike.StateLost, Exit: &hashike.ExitStatus{Code: hashike.ExitStartFailed}}, noDelay(true, dispatch.Infrastructure, -1)},
		{"capacity timeout is infrastructure", dispatch.RetryStrategy{}, dispatch.History{Application: 9},
			startFailed("capacity timeout: no room for the task in cluster c within 10m0s"), noDelay(true, dispatch.Infrastructure, -1)},
		{"default infrastructure attempts: third failure is the last", dispatch.RetryStrategy{Attempts: 10}, dispatch.History{Infrastructure: 2},
			dispatch.Outcome{State: hashike.StateLost}, noDelay(false, dispatch.Infrastructure, -1)},
		{"infrastructure attempts set", dispatch.RetryStrategy{InfrastructureAttempts: 5}, dispatch.History{Infrastructure: 3},
			dispatch.Outcome{State: hashike.StateLost}, noDelay(true, dispatch.Infrastructure, -1)},
		{"infrastructure attempts 1: never retried", dispatch.RetryStrategy{Attempts: 10, InfrastructureAttempts: 1}, dispatch.History{},
			dispatch.Outcome{State: hashike.StateLost}, noDelay(false, dispatch.Infrastructure, -1)},
		{"infrastructure failures do not consume attempts", three, dispatch.History{Application: 1, Infrastructure: 2},
			failed(1), noDelay(true, dispatch.Application, -1)},
		{"a RETRY rule on an infrastructure failure uses the infrastructure budget", dispatch.RetryStrategy{Attempts: 10,
			EvaluateOnExit: []dispatch.EvaluateOnExit{{OnReason: "*", Action: "RETRY"}}},
			dispatch.History{Infrastructure: 2}, startFailed("x"), noDelay(false, dispatch.Infrastructure, 0)},

		// Backoff, deterministic.
		{"backoff: first retry waits base delay", dispatch.RetryStrategy{Attempts: 5, Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(10 * time.Second)}},
			dispatch.History{}, failed(1), want{true, dispatch.Application, -1, 10 * time.Second}},
		{"backoff: third retry waits 4x", dispatch.RetryStrategy{Attempts: 5, Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(10 * time.Second)}},
			dispatch.History{Application: 2, Infrastructure: 7}, failed(1), want{true, dispatch.Application, -1, 40 * time.Second}},
		{"backoff: capped", dispatch.RetryStrategy{Attempts: 10, Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(10 * time.Second), MaxDelay: hashike.Duration(time.Minute)}},
			dispatch.History{Application: 8}, failed(1), want{true, dispatch.Application, -1, time.Minute}},
		{"backoff: full jitter", dispatch.RetryStrategy{Attempts: 5, Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(10 * time.Second), Jitter: "full"}},
			dispatch.History{Application: 1}, failed(1), want{true, dispatch.Application, -1, 5 * time.Second}}, // 0.25 * 20s
		{"backoff: equal jitter", dispatch.RetryStrategy{Attempts: 5, Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(10 * time.Second), Jitter: "EQUAL"}},
			dispatch.History{Application: 1}, failed(1), want{true, dispatch.Application, -1, 12500 * time.Millisecond}}, // 10s + 0.25*10s
		{"backoff: infrastructure counts its own retries", dispatch.RetryStrategy{InfrastructureAttempts: 5, Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(time.Second)}},
			dispatch.History{Application: 3, Infrastructure: 1}, dispatch.Outcome{State: hashike.StateLost}, want{true, dispatch.Infrastructure, -1, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dispatch.Decide(tt.rs, tt.h, tt.o, t0, constant(0.25))
			var delay time.Duration
			if d.Retry {
				delay = d.NotBefore.Sub(t0)
			} else if !d.NotBefore.IsZero() {
				t.Errorf("NotBefore = %v on a decision not to retry", d.NotBefore)
			}
			got := want{d.Retry, d.Kind, d.Rule, delay}
			if got != tt.want {
				t.Errorf("Decide = %+v (%s), want %+v", got, d.Reason, tt.want)
			}
			if d.Reason == "" {
				t.Error("empty Reason")
			}
		})
	}
}

func TestDecideReason(t *testing.T) {
	rs := dispatch.RetryStrategy{Attempts: 3, EvaluateOnExit: batchRules[:1], Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(30 * time.Second)}}
	d := dispatch.Decide(rs, dispatch.History{Application: 1}, failed(137), t0, nil)
	want := "application failure (failed, exit code 137); evaluateOnExit[0] matched (RETRY); attempt 2 of 3: retrying in 1m0s"
	if d.Reason != want {
		t.Errorf("Reason = %q, want %q", d.Reason, want)
	}
	d = dispatch.Decide(dispatch.RetryStrategy{}, dispatch.History{Infrastructure: 2}, dispatch.Outcome{State: hashike.StateLost}, t0, nil)
	want = "infrastructure failure (lost); infrastructure attempt 3 of 3: no attempts left"
	if d.Reason != want {
		t.Errorf("Reason = %q, want %q", d.Reason, want)
	}
}

// Walks a job through a sequence of outcomes as the server would, counting history.
func TestDecideSequence(t *testing.T) {
	rs := dispatch.RetryStrategy{Attempts: 2, InfrastructureAttempts: 2}
	var h dispatch.History
	outcomes := []dispatch.Outcome{{State: hashike.StateLost}, failed(1), {State: hashike.StateLost}, failed(1)}
	wantRetry := []bool{true, true, false, false}
	for i, o := range outcomes {
		d := dispatch.Decide(rs, h, o, t0, nil)
		if d.Retry != wantRetry[i] {
			t.Fatalf("try %d (%s): Retry = %v, want %v: %s", i+1, o.State, d.Retry, wantRetry[i], d.Reason)
		}
		switch d.Kind {
		case dispatch.Application:
			h.Application++
		case dispatch.Infrastructure:
			h.Infrastructure++
		}
	}
}

func TestClassify(t *testing.T) {
	for _, s := range hashike.RunStates {
		noCode := dispatch.Classify(dispatch.Outcome{State: s})
		withCode := dispatch.Classify(dispatch.Outcome{State: s, Exit: &hashike.ExitStatus{ContainerExitCode: code(3)}})
		var want, wantCode dispatch.Kind
		switch s {
		case hashike.StateFailed, hashike.StateTimedOut:
			want, wantCode = dispatch.Application, dispatch.Application
		case hashike.StateStartFailed:
			want, wantCode = dispatch.Infrastructure, dispatch.Application
		case hashike.StateLost:
			want, wantCode = dispatch.Infrastructure, dispatch.Infrastructure
		}
		if noCode != want || withCode != wantCode {
			t.Errorf("%s: Classify = %q without exit code, %q with; want %q, %q", s, noCode, withCode, want, wantCode)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	s := func(n int) hashike.Duration { return hashike.Duration(time.Duration(n) * time.Second) }
	tests := []struct {
		b    dispatch.Backoff
		n    int
		rnd  float64
		want time.Duration
	}{
		{dispatch.Backoff{}, 1, 0.5, 0},
		{dispatch.Backoff{BaseDelay: s(1)}, 0, 0.5, time.Second},
		{dispatch.Backoff{BaseDelay: s(1)}, 1, 0.5, time.Second},
		{dispatch.Backoff{BaseDelay: s(1)}, 4, 0.5, 8 * time.Second},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5)}, 4, 0.5, 5 * time.Second},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5), Jitter: "none"}, 100, 0.5, 5 * time.Second},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5), Jitter: "full"}, 100, 0.5, 2500 * time.Millisecond},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5), Jitter: "full"}, 100, 0, 0},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5), Jitter: "equal"}, 100, 0, 2500 * time.Millisecond},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5), Jitter: "equal"}, 100, 0.5, 3750 * time.Millisecond},
		{dispatch.Backoff{BaseDelay: s(1), MaxDelay: s(5), Jitter: "full"}, 100, 7, 5 * time.Second}, // rnd out of range is clamped
		{dispatch.Backoff{BaseDelay: s(1), Jitter: "full"}, 100, -1, 0},
		{dispatch.Backoff{BaseDelay: s(1 << 30)}, 200, 0.5, time.Duration(1<<63 - 1)}, // saturates
	}
	for _, tt := range tests {
		if got := tt.b.Delay(tt.n, constant(tt.rnd)); got != tt.want {
			t.Errorf("%+v.Delay(%d, %v) = %v, want %v", tt.b, tt.n, tt.rnd, got, tt.want)
		}
	}
}

// Property: the delay never exceeds MaxDelay (jittered or not), never goes negative, and
// without jitter never decreases from one retry to the next.
func TestBackoffProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := dispatch.Backoff{
			BaseDelay: hashike.Duration(r.Int64N(int64(time.Hour))),
			MaxDelay:  hashike.Duration(r.Int64N(int64(24 * time.Hour))),
			Jitter:    []string{"", "none", "full", "equal"}[r.IntN(4)],
		}
		if r.IntN(10) == 0 {
			b.MaxDelay = 0
		}
		if r.IntN(20) == 0 {
			b.BaseDelay = hashike.Duration(r.Int64())
		}
		var prev time.Duration
		for n := 1; n <= 80; n++ {
			plain := b.Delay(n, nil)
			jittered := b.Delay(n, r.Float64)
			if plain < prev {
				t.Fatalf("%+v: Delay(%d) = %v < Delay(%d) = %v", b, n, plain, n-1, prev)
			}
			if plain < 0 || jittered < 0 || jittered > plain {
				t.Fatalf("%+v: Delay(%d) = %v, jittered %v", b, n, plain, jittered)
			}
			if b.MaxDelay > 0 && plain > time.Duration(b.MaxDelay) {
				t.Fatalf("%+v: Delay(%d) = %v exceeds MaxDelay", b, n, plain)
			}
			prev = plain
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", dispatch.MaxPatternLen+1)
	tests := []struct {
		name string
		rs   dispatch.RetryStrategy
		want []string // paths
	}{
		{"zero", dispatch.RetryStrategy{}, nil},
		{"batch rules", dispatch.RetryStrategy{Attempts: 10, EvaluateOnExit: batchRules}, nil},
		{"full", dispatch.RetryStrategy{Attempts: 1, InfrastructureAttempts: 10, Backoff: dispatch.Backoff{
			BaseDelay: hashike.Duration(time.Second), MaxDelay: hashike.Duration(time.Second), Jitter: "Full"}}, nil},
		{"glob extensions and printable text", dispatch.RetryStrategy{EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "1?*", OnReason: "Essential container (app) exited: *", OnStatusReason: "Task\tfailed ?", Action: "exit"}}}, nil},
		{"attempts", dispatch.RetryStrategy{Attempts: 11, InfrastructureAttempts: -1}, []string{"retryStrategy.attempts", "retryStrategy.infrastructureAttempts"}},
		{"negative attempts", dispatch.RetryStrategy{Attempts: -1}, []string{"retryStrategy.attempts"}},
		{"too many rules", dispatch.RetryStrategy{EvaluateOnExit: append(batchRules, batchRules[:2]...)}, []string{"retryStrategy.evaluateOnExit"}},
		{"rule fields", dispatch.RetryStrategy{EvaluateOnExit: []dispatch.EvaluateOnExit{
			{OnExitCode: "137", Action: "RETRY"},
			{OnExitCode: "-1", OnReason: "bad\nline", OnStatusReason: long, Action: "again"},
			{OnExitCode: long[:dispatch.MaxPatternLen], OnStatusReason: long[:dispatch.MaxPatternLen]},
		}}, []string{
			"retryStrategy.evaluateOnExit[1].onExitCode", "retryStrategy.evaluateOnExit[1].onReason",
			"retryStrategy.evaluateOnExit[1].onStatusReason", "retryStrategy.evaluateOnExit[1].action",
			"retryStrategy.evaluateOnExit[2].onExitCode", "retryStrategy.evaluateOnExit[2].action",
		}},
		{"backoff", dispatch.RetryStrategy{Backoff: dispatch.Backoff{BaseDelay: -1, MaxDelay: -1, Jitter: "decorrelated"}},
			[]string{"retryStrategy.backoff.baseDelay", "retryStrategy.backoff.maxDelay", "retryStrategy.backoff.jitter"}},
		{"max below base", dispatch.RetryStrategy{Backoff: dispatch.Backoff{BaseDelay: hashike.Duration(time.Minute), MaxDelay: hashike.Duration(time.Second)}},
			[]string{"retryStrategy.backoff.maxDelay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range tt.rs.Validate() {
				if e.Severity != hashike.SeverityError || e.Message == "" {
					t.Errorf("%s: severity %q, message %q", e.Path, e.Severity, e.Message)
				}
				got = append(got, e.Path)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("paths = %q, want %q", got, tt.want)
			}
		})
	}
}

// Job files carry the strategy with Batch's field names.
func TestRetryStrategyJSON(t *testing.T) {
	in := `{"attempts":3,"evaluateOnExit":[{"onExitCode":"137","action":"RETRY"},{"onReason":"CannotPullContainerError*","action":"EXIT"},` +
		`{"onStatusReason":"Host EC2*","action":"RETRY"}],"backoff":{"baseDelay":"10s","maxDelay":"5m0s","jitter":"full"},"infrastructureAttempts":5}`
	var rs dispatch.RetryStrategy
	if err := json.Unmarshal([]byte(in), &rs); err != nil {
		t.Fatal(err)
	}
	want := dispatch.RetryStrategy{Attempts: 3, InfrastructureAttempts: 5,
		EvaluateOnExit: []dispatch.EvaluateOnExit{batchRules[0], batchRules[1], {OnStatusReason: "Host EC2*", Action: "RETRY"}},
		Backoff:        dispatch.Backoff{BaseDelay: hashike.Duration(10 * time.Second), MaxDelay: hashike.Duration(5 * time.Minute), Jitter: "full"}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("decoded %+v, want %+v", rs, want)
	}
	out, err := json.Marshal(rs)
	if err != nil || string(out) != in {
		t.Errorf("encoded %s (%v), want %s", out, err, in)
	}
	out, _ = json.Marshal(dispatch.RetryStrategy{})
	if string(out) != `{}` {
		t.Errorf("zero strategy encodes as %s", out)
	}
}
