package dispatch_test

import (
	"encoding/json"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/dispatch"
)

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything at all", true},
		{"137", "137", true},
		{"137", "1370", false},
		{"137", "13", false},
		{"1*", "1", true},
		{"1*", "143", true},
		{"1*", "21", false},
		{"1??", "137", true},
		{"1??", "13", false},
		{"CannotPullContainerError*", "CannotPullContainerError: ref docker.io/library/x:1 not found", true},
		{"CannotPullContainerError*", "cannotpullcontainererror: x", false}, // case-sensitive
		{"Host EC2*", "Host EC2 (instance i-0123) terminated.", true},
		{"*terminated.", "Host EC2 (instance i-0123) terminated.", true},
		{"Host * (instance *) terminated.", "Host EC2 (instance i-0123) terminated.", true},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"a*a*a*a*b", strings.Repeat("a", 60), false},
		{"*/*", "docker.io/x", true}, // unlike path.Match, * crosses /
		{"[ab]", "[ab]", true},       // no classes: [ is literal
		{"[ab]", "a", false},
		{`a\*`, `a\b`, true}, // no escapes: \ is literal and * still a wildcard
		{"?", "é", true},     // ? is one character, not one byte
		{"??", "é", false},
		{"é*", "été", true},
	}
	for _, tt := range tests {
		if got := dispatch.MatchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// globRegexp is the reference: the same language written as a regular expression.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

func FuzzMatchGlob(f *testing.F) {
	f.Add("1*", "137")
	f.Add("Host EC2*", "Host EC2 (instance i-0123) terminated.")
	f.Add("*a?b*", "xaxbx")
	f.Add("a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("é?", "éé")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := dispatch.MatchGlob(pattern, s) // must not panic, whatever the bytes
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return
		}
		if want := globRegexp(pattern).MatchString(s); got != want {
			t.Fatalf("MatchGlob(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
		// Where path.Match's language is the same (no /, no classes, no escapes), agree with it.
		if !strings.ContainsAny(pattern+s, `/[]\`) {
			if want, err := path.Match(pattern, s); err == nil && got != want {
				t.Fatalf("MatchGlob(%q, %q) = %v, path.Match says %v", pattern, s, got, want)
			}
		}
		if got && !dispatch.MatchGlob(pattern+"*", s) {
			t.Fatalf("%q matches %q but %q does not", pattern, s, pattern+"*")
		}
	})
}

// A strategy that passes Validate is safe to use: Decide neither panics nor waits longer than
// MaxDelay nor retries beyond its budgets.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"attempts":3,"evaluateOnExit":[{"onExitCode":"137","action":"RETRY"},{"onReason":"CannotPullContainerError*","action":"EXIT"}],"backoff":{"baseDelay":"1s","maxDelay":"1m","jitter":"full"}}`), 2, 1, 137, "Host EC2 terminated", 0.5)
	f.Add([]byte(`{"attempts":11,"evaluateOnExit":[{"onExitCode":"1-","action":"again"}],"infrastructureAttempts":-2}`), 0, 0, 1, "", 0.0)
	f.Add([]byte(`{"backoff":{"baseDelay":"2562047h","jitter":"equal"}}`), 9, 9, -1, "x", 0.999)
	f.Fuzz(func(t *testing.T, data []byte, app, infra, exit int, reason string, r float64) {
		var rs dispatch.RetryStrategy
		if json.Unmarshal(data, &rs) != nil {
			return
		}
		if len(rs.Validate()) > 0 {
			return
		}
		h := dispatch.History{Application: app % 20, Infrastructure: infra % 20}
		for _, o := range []dispatch.Outcome{
			{State: hashike.StateFailed, Exit: &hashike.ExitStatus{ContainerExitCode: &exit}, ContainerReason: reason, StatusReason: reason},
			{State: hashike.StateStartFailed, ContainerReason: reason},
			{State: hashike.StateLost, StatusReason: reason},
			{State: hashike.StateTimedOut},
		} {
			d := dispatch.Decide(rs, h, o, t0, func() float64 { return r })
			if d.Reason == "" || d.Rule < -1 || d.Rule >= len(rs.EvaluateOnExit) {
				t.Fatalf("%+v: bad decision %+v", o, d)
			}
			if !d.Retry {
				continue
			}
			delay := d.NotBefore.Sub(t0)
			if delay < 0 || (rs.Backoff.MaxDelay > 0 && delay > time.Duration(rs.Backoff.MaxDelay)) {
				t.Fatalf("%+v: delay %v outside [0, %v]", o, delay, time.Duration(rs.Backoff.MaxDelay))
			}
			used, limit := h.Application, max(rs.Attempts, 1)
			if d.Kind == dispatch.Infrastructure {
				used, limit = h.Infrastructure, rs.InfrastructureAttempts
				if limit == 0 {
					limit = dispatch.DefaultInfrastructureAttempts
				}
			}
			if max(used, 0)+1 >= limit {
				t.Fatalf("%+v with history %+v: retried beyond %d %s attempts", o, h, limit, d.Kind)
			}
		}
	})
}
