package github

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// The example from GitHub's "Validating webhook deliveries" page: secret, payload and the
// signature GitHub documents for them.
const (
	docSecret    = "It's a Secret to Everybody"
	docPayload   = "Hello, World!"
	docSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestVerifySignatureGitHubExample(t *testing.T) {
	if err := VerifySignature([]byte(docSecret), []byte(docPayload), docSignature); err != nil {
		t.Fatalf("GitHub's documented example: %v", err)
	}
	if got := SignWebhook([]byte(docSecret), []byte(docPayload)); got != docSignature {
		t.Errorf("SignWebhook = %s, want %s", got, docSignature)
	}
}

func TestVerifySignatureRefusals(t *testing.T) {
	secret, body := []byte(docSecret), []byte(docPayload)
	good := SignWebhook(secret, body)
	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"no secret configured", nil, body, good, ErrNoSecret},
		{"no header", secret, body, "", ErrNoSignature},
		{"sha1 header", secret, body, "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6", ErrMalformedSignature},
		{"no prefix", secret, body, strings.TrimPrefix(good, "sha256="), ErrMalformedSignature},
		{"short", secret, body, good[:len(good)-2], ErrMalformedSignature},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), ErrMalformedSignature},
		{"upper-case prefix", secret, body, "SHA256=" + good[7:], ErrMalformedSignature},
		{"other secret", []byte("another secret"), body, good, ErrBadSignature},
		{"body changed", secret, []byte("Hello, World?"), good, ErrBadSignature},
		{"body with a trailing newline", secret, append(bytes.Clone(body), '\n'), good, ErrBadSignature},
		{"one digit off", secret, body, good[:len(good)-1] + "0", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.body, tt.header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			expected := SignWebhook(tt.secret, tt.body)
			for _, leak := range []string{docSecret, "another secret", expected[7:]} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q reveals %q", err, leak)
				}
			}
		})
	}
}

func TestVerifySignatureUpperCaseHex(t *testing.T) {
	// hex.Decode accepts either case; GitHub sends lower case, and an upper-case copy of a
	// good signature is still that signature.
	h := SignWebhook([]byte(docSecret), []byte(docPayload))
	if err := VerifySignature([]byte(docSecret), []byte(docPayload), "sha256="+strings.ToUpper(h[7:])); err != nil {
		t.Errorf("upper-case hex: %v", err)
	}
}

func TestWebhookVerifyKeepsItsOwnSecret(t *testing.T) {
	secret := []byte(docSecret)
	w := NewWebhook(secret)
	secret[0] = 'x' // the caller reusing its buffer must not change the webhook's secret
	if err := w.Verify([]byte(docPayload), docSignature); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseWorkflowJobQueued(t *testing.T) {
	ev, err := ParseWorkflowJob(readTestdata(t, "workflow_job_queued.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := hashike.WorkflowJobEvent{
		Action:         hashike.WorkflowJobQueued,
		JobID:          29679449,
		RunID:          1234567890,
		RunAttempt:     1,
		Name:           "build (arm64)",
		Labels:         []string{"self-hosted", "linux", "arm64", "medium"},
		Repository:     "octo-org/example",
		Org:            "octo-org",
		InstallationID: 4242,
		CreatedAt:      time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		StartedAt:      time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
}

func TestParseWorkflowJobCompleted(t *testing.T) {
	ev, err := ParseWorkflowJob(readTestdata(t, "workflow_job_completed.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := hashike.WorkflowJobEvent{
		Action:         hashike.WorkflowJobCompleted,
		JobID:          29679449,
		RunID:          1234567890,
		RunAttempt:     2,
		Name:           "build (arm64)",
		Labels:         []string{"self-hosted", "linux", "arm64", "medium"},
		RunnerID:       88,
		RunnerName:     "hashike-medium-arm64-01jsq2",
		RunnerGroupID:  1,
		Repository:     "octo-org/example",
		Org:            "octo-org",
		InstallationID: 4242,
		CreatedAt:      time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		StartedAt:      time.Date(2026, 3, 2, 9, 0, 12, 0, time.UTC),
		CompletedAt:    time.Date(2026, 3, 2, 9, 4, 51, 0, time.UTC),
		Conclusion:     "success",
	}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
}

func TestParseWorkflowJobActions(t *testing.T) {
	for _, a := range []string{"queued", "waiting", "in_progress", "completed", "some_future_action"} {
		ev, err := ParseWorkflowJob([]byte(`{"action":"` + a + `","workflow_job":{"id":1,"labels":["x"]}}`))
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if string(ev.Action) != a || ev.Action.Valid() != (a != "some_future_action") {
			t.Errorf("%s: action %q, valid %v", a, ev.Action, ev.Action.Valid())
		}
	}
}

func TestParseWorkflowJobRefusals(t *testing.T) {
	deep := `{"action":"queued","workflow_job":{"id":1},"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
	big := `{"action":"queued","workflow_job":{"id":1},"pad":"` + strings.Repeat("a", MaxWebhookBody) + `"}`
	tests := []struct{ name, body, want string }{
		{"empty", ``, "not a JSON object"},
		{"array", `[{"action":"queued"}]`, "not a JSON object"},
		{"malformed", `{"action":"queued",`, "unexpected end"},
		{"no action", `{"workflow_job":{"id":1}}`, "no action"},
		{"null action", `{"action":null,"workflow_job":{"id":1}}`, "no action"},
		{"no job", `{"action":"queued"}`, "no workflow_job"},
		{"no job id", `{"action":"queued","workflow_job":{"labels":["a"]}}`, "workflow_job.id"},
		{"labels not strings", `{"action":"queued","workflow_job":{"id":1,"labels":[1]}}`, "labels"},
		{"bad time", `{"action":"queued","workflow_job":{"id":1,"created_at":"yesterday"}}`, "parsing time"},
		{"too deep", deep, "nested deeper than 32"},
		{"too large", big, "over the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWorkflowJob([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestParseWorkflowJobBracketsInStrings(t *testing.T) {
	// Brackets and escaped quotes inside strings are not nesting.
	name := strings.Repeat(`[{\"`, 50)
	ev, err := ParseWorkflowJob([]byte(`{"action":"queued","workflow_job":{"id":7,"name":"` + name + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != strings.Repeat(`[{"`, 50) {
		t.Errorf("name %q", ev.Name)
	}
}

func TestParsePing(t *testing.T) {
	p, err := ParsePing([]byte(`{"zen":"Design for failure.","hook_id":109948940,"hook":{"type":"App","events":["workflow_job"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p != (Ping{Zen: "Design for failure.", HookID: 109948940}) {
		t.Errorf("got %+v", p)
	}
	if _, err := ParsePing([]byte(`"zen"`)); err == nil {
		t.Error("a ping that is not an object parsed")
	}
}

func FuzzParseWorkflowJob(f *testing.F) {
	for _, name := range []string{"workflow_job_queued.json", "workflow_job_completed.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"action":"queued","workflow_job":{"id":1,"name":"\"[{"}}`))
	f.Add([]byte(`{"action":"waiting","workflow_job":{"id":9,"runner_id":null,"labels":[]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseWorkflowJob(body)
		if err != nil {
			return
		}
		if ev.Action == "" || ev.JobID <= 0 {
			t.Fatalf("accepted an event without an action or a job id: %+v", ev)
		}
		if len(body) > MaxWebhookBody {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
		// A signature over the body verifies, and over anything else does not.
		sig := SignWebhook([]byte("s"), body)
		if err := VerifySignature([]byte("s"), body, sig); err != nil {
			t.Fatalf("own signature: %v", err)
		}
		if err := VerifySignature([]byte("s"), append(bytes.Clone(body), ' '), sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature of another body: %v", err)
		}
	})
}
