package dispatch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashike/hashike"
)

// Limits of a RetryStrategy. The first three are AWS Batch's.
const (
	MaxAttempts       = 10  // Batch: attempts is 1-10
	MaxEvaluateOnExit = 5   // Batch: at most 5 evaluateOnExit rules
	MaxPatternLen     = 512 // Batch: each pattern is at most 512 characters

	// DefaultInfrastructureAttempts is used when InfrastructureAttempts is 0: a run may end in
	// an infrastructure failure three times (two retries) before the job gives up.
	DefaultInfrastructureAttempts = 3
)

// Actions of an EvaluateOnExit rule. Decide and Validate compare them case-insensitively, as
// Batch does.
const (
	ActionRetry = "RETRY"
	ActionExit  = "EXIT"
)

// Jitter modes of a Backoff.
const (
	JitterNone  = "none"  // the delay as computed; also what "" means
	JitterFull  = "full"  // rnd * delay: spreads retries the most
	JitterEqual = "equal" // delay/2 + rnd * delay/2: never less than half the delay
)

// RetryStrategy says when a failed run is tried again. Its JSON names are AWS Batch's
// RetryStrategy's, plus backoff and infrastructureAttempts; the package comment states the
// rules Decide applies. The zero value retries infrastructure failures only, immediately.
type RetryStrategy struct {
	// Attempts is how many tries may end in an application failure, the first included
	// (1-10). 0 means 1: application failures are not retried.
	Attempts int `json:"attempts,omitempty"`
	// EvaluateOnExit are tried in order; the first matching rule's action applies.
	EvaluateOnExit []EvaluateOnExit `json:"evaluateOnExit,omitempty"`
	// Backoff spaces the retries out.
	Backoff Backoff `json:"backoff,omitzero"`
	// InfrastructureAttempts is how many tries may end in an infrastructure failure (1-10);
	// 0 means DefaultInfrastructureAttempts. They do not use up Attempts.
	InfrastructureAttempts int `json:"infrastructureAttempts,omitempty"`
}

// EvaluateOnExit is one rule: if every condition given matches, Action applies. Conditions
// are globs (see MatchGlob); an empty condition is not checked, so a rule with none matches
// every failure.
type EvaluateOnExit struct {
	// OnExitCode matches the container exit code in decimal: digits, `*` and `?` ("137",
	// "1*"). It never matches a run without an exit code.
	OnExitCode string `json:"onExitCode,omitempty"`
	// OnReason matches the watched container's reason ("CannotPullContainerError: ...").
	OnReason string `json:"onReason,omitempty"`
	// OnStatusReason matches the task's stopped reason ("Host EC2 (instance i-0123) terminated.").
	OnStatusReason string `json:"onStatusReason,omitempty"`
	// Action is RETRY or EXIT, in any case.
	Action string `json:"action"`
}

// Backoff is barbeque's retry delay: doubling from BaseDelay up to MaxDelay, with jitter.
type Backoff struct {
	BaseDelay hashike.Duration `json:"baseDelay,omitempty"`
	// MaxDelay caps the delay before jitter; 0 means no cap.
	MaxDelay hashike.Duration `json:"maxDelay,omitempty"`
	// Jitter is "none" (or ""), "full" or "equal".
	Jitter string `json:"jitter,omitempty"`
}

// Kind is the kind of a failure; each kind has its own attempt budget.
type Kind string

const (
	// NotFailed: the run succeeded, was canceled or has not ended; nothing to retry.
	NotFailed Kind = ""
	// Application: the job's own program failed (an exit code, a timeout).
	Application Kind = "application"
	// Infrastructure: the platform failed the run before or around the program: it never
	// started (image pull, capacity timeout) or was lost with its host.
	Infrastructure Kind = "infrastructure"
)

// Outcome is how one run ended, as Decide needs it.
type Outcome struct {
	State hashike.RunState
	// Exit is the run's exit status; nil when none was recorded.
	Exit *hashike.ExitStatus
	// StatusReason is the task's stopped reason, matched by onStatusReason. Empty means
	// Exit.StoppedReason.
	StatusReason string
	// ContainerReason is the watched container's reason, matched by onReason.
	ContainerReason string
}

func (o Outcome) exitCode() (int, bool) {
	if o.Exit == nil || o.Exit.ContainerExitCode == nil {
		return 0, false
	}
	return *o.Exit.ContainerExitCode, true
}

func (o Outcome) statusReason() string {
	if o.StatusReason == "" && o.Exit != nil {
		return o.Exit.StoppedReason
	}
	return o.StatusReason
}

// History counts the job's earlier tries by how they failed, not counting the one being
// decided.
type History struct {
	Application    int
	Infrastructure int
}

// Decision is what to do after a run ended.
type Decision struct {
	// Retry: enqueue another run, not before NotBefore.
	Retry     bool
	Kind      Kind
	NotBefore time.Time
	// Rule is the index of the evaluateOnExit rule that matched, -1 when none did.
	Rule int
	// Reason is one line for people: why the run is or is not retried.
	Reason string
}

// Classify says what kind of failure an outcome is: NotFailed for succeeded, canceled and
// runs that have not ended; Infrastructure for lost runs and for start_failed runs without a
// container exit code; Application otherwise.
func Classify(o Outcome) Kind {
	switch o.State {
	case hashike.StateSucceeded, hashike.StateCanceled,
		hashike.StateQueued, hashike.StatePending, hashike.StateRunning, hashike.StateStopping:
		return NotFailed
	case hashike.StateFailed, hashike.StateTimedOut:
		return Application
	case hashike.StateLost:
		return Infrastructure
	case hashike.StateStartFailed:
		if _, ok := o.exitCode(); ok {
			return Application
		}
		return Infrastructure
	}
	if !o.State.Terminal() {
		return NotFailed
	}
	return Application
}

// Matches reports whether every condition of the rule holds for the outcome.
func (e EvaluateOnExit) Matches(o Outcome) bool {
	if e.OnExitCode != "" {
		code, ok := o.exitCode()
		if !ok || !MatchGlob(e.OnExitCode, strconv.Itoa(code)) {
			return false
		}
	}
	if e.OnReason != "" && !MatchGlob(e.OnReason, o.ContainerReason) {
		return false
	}
	if e.OnStatusReason != "" && !MatchGlob(e.OnStatusReason, o.statusReason()) {
		return false
	}
	return true
}

// Decide says whether to retry the run that ended with o, and not before when. h counts the
// job's earlier failed tries; rnd returns values in [0, 1), as math/rand's Float64, and is
// only called for "full" and "equal" jitter (nil means no jitter). The package comment
// states the rules. rs should have passed Validate; an action other than EXIT acts as RETRY.
func Decide(rs RetryStrategy, h History, o Outcome, now time.Time, rnd func() float64) Decision {
	d := Decision{Rule: -1}
	switch {
	case !o.State.Terminal():
		d.Reason = fmt.Sprintf("the run has not ended (%s)", o.State)
		return d
	case o.State == hashike.StateSucceeded:
		d.Reason = "the run succeeded"
		return d
	case o.State == hashike.StateCanceled:
		d.Reason = "the run was canceled; canceled runs are never retried"
		return d
	}
	d.Kind = Classify(o)
	what := describe(d.Kind, o)

	action := ""
	for i, rule := range rs.EvaluateOnExit {
		if rule.Matches(o) {
			d.Rule = i
			action = strings.ToUpper(rule.Action)
			what += fmt.Sprintf("; evaluateOnExit[%d] matched (%s)", i, action)
			break
		}
	}
	if action == ActionExit {
		d.Reason = what + "; not retried"
		return d
	}

	used, limit, label := h.Application, rs.Attempts, "attempt"
	if limit <= 0 {
		limit = 1
	}
	if d.Kind == Infrastructure {
		used, limit, label = h.Infrastructure, rs.InfrastructureAttempts, "infrastructure attempt"
		if limit <= 0 {
			limit = DefaultInfrastructureAttempts
		}
	}
	n := max(used, 0) + 1 // this try's number among the tries of its kind
	if n >= limit {
		d.Reason = fmt.Sprintf("%s; %s %d of %d: no attempts left", what, label, n, limit)
		return d
	}
	delay := rs.Backoff.Delay(n, rnd)
	d.Retry = true
	d.NotBefore = now.Add(delay)
	d.Reason = fmt.Sprintf("%s; %s %d of %d: retrying", what, label, n, limit)
	if delay > 0 {
		d.Reason += " in " + delay.String()
	}
	return d
}

func describe(k Kind, o Outcome) string {
	s := fmt.Sprintf("%s failure (%s", k, o.State)
	if code, ok := o.exitCode(); ok {
		s += fmt.Sprintf(", exit code %d", code)
	}
	return s + ")"
}

// Delay is the wait before retry n (n >= 1; smaller n counts as 1):
// min(MaxDelay, BaseDelay * 2^(n-1)), then jittered with rnd (see Backoff.Jitter). It never
// exceeds MaxDelay when MaxDelay is set, and saturates instead of overflowing.
func (b Backoff) Delay(n int, rnd func() float64) time.Duration {
	d := time.Duration(b.BaseDelay)
	if d <= 0 {
		return 0
	}
	limit := time.Duration(b.MaxDelay)
	if limit <= 0 {
		limit = math.MaxInt64
	}
	for i := 1; i < n && d < limit; i++ {
		if d > limit/2 {
			d = limit
			break
		}
		d *= 2
	}
	d = min(d, limit)
	if rnd == nil {
		return d
	}
	switch strings.ToLower(b.Jitter) {
	case JitterFull:
		return scale(d, unit(rnd()))
	case JitterEqual:
		half := d / 2
		return half + scale(d-half, unit(rnd()))
	}
	return d
}

// unit clamps r into [0, 1], so a misbehaving source cannot stretch the delay.
func unit(r float64) float64 {
	if !(r > 0) { // also NaN
		return 0
	}
	return min(r, 1)
}

func scale(d time.Duration, r float64) time.Duration {
	x := float64(d) * r
	if x >= float64(d) { // float64(d) may round up past MaxInt64
		return d
	}
	return time.Duration(x)
}

// Validate reports every problem of the strategy at once, with paths under "retryStrategy"
// ("retryStrategy.evaluateOnExit[1].onExitCode").
func (rs RetryStrategy) Validate() []hashike.FieldError {
	var errs []hashike.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, hashike.FieldError{Path: "retryStrategy." + path, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError})
	}
	if rs.Attempts < 0 || rs.Attempts > MaxAttempts {
		add("attempts", "must be between 1 and %d (0 or absent means 1), got %d", MaxAttempts, rs.Attempts)
	}
	if rs.InfrastructureAttempts < 0 || rs.InfrastructureAttempts > MaxAttempts {
		add("infrastructureAttempts", "must be between 1 and %d (0 or absent means %d), got %d",
			MaxAttempts, DefaultInfrastructureAttempts, rs.InfrastructureAttempts)
	}
	if len(rs.EvaluateOnExit) > MaxEvaluateOnExit {
		add("evaluateOnExit", "at most %d rules, got %d", MaxEvaluateOnExit, len(rs.EvaluateOnExit))
	}
	for i, rule := range rs.EvaluateOnExit {
		p := fmt.Sprintf("evaluateOnExit[%d].", i)
		if msg := checkExitCodePattern(rule.OnExitCode); msg != "" {
			add(p+"onExitCode", "%s", msg)
		}
		if msg := checkTextPattern(rule.OnReason); msg != "" {
			add(p+"onReason", "%s", msg)
		}
		if msg := checkTextPattern(rule.OnStatusReason); msg != "" {
			add(p+"onStatusReason", "%s", msg)
		}
		switch strings.ToUpper(rule.Action) {
		case ActionRetry, ActionExit:
		case "":
			add(p+"action", "is required: RETRY or EXIT")
		default:
			add(p+"action", "must be RETRY or EXIT, got %q", rule.Action)
		}
	}
	b := rs.Backoff
	if b.BaseDelay < 0 {
		add("backoff.baseDelay", "must not be negative")
	}
	if b.MaxDelay < 0 {
		add("backoff.maxDelay", "must not be negative")
	}
	if b.MaxDelay > 0 && b.MaxDelay < b.BaseDelay {
		add("backoff.maxDelay", "must not be less than baseDelay (%s)", time.Duration(b.BaseDelay))
	}
	switch strings.ToLower(b.Jitter) {
	case "", JitterNone, JitterFull, JitterEqual:
	default:
		add("backoff.jitter", "must be none, full or equal, got %q", b.Jitter)
	}
	return errs
}

func checkExitCodePattern(p string) string {
	if utf8.RuneCountInString(p) > MaxPatternLen {
		return fmt.Sprintf("at most %d characters", MaxPatternLen)
	}
	for _, r := range p {
		if (r < '0' || r > '9') && r != '*' && r != '?' {
			return fmt.Sprintf("may contain only digits, * and ?, got %q", p)
		}
	}
	return ""
}

// checkTextPattern allows any printable text and tabs: wider than Batch's letters, digits,
// periods, colons and spaces, because real reasons carry parentheses, dashes and slashes.
func checkTextPattern(p string) string {
	if !utf8.ValidString(p) {
		return "must be valid UTF-8"
	}
	if utf8.RuneCountInString(p) > MaxPatternLen {
		return fmt.Sprintf("at most %d characters", MaxPatternLen)
	}
	for _, r := range p {
		if r != '\t' && !unicode.IsPrint(r) && r != ' ' {
			return fmt.Sprintf("may not contain control characters, got %q", p)
		}
	}
	return ""
}
