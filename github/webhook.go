package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

// Webhook limits. GitHub caps a payload at 25 MB, but a workflow_job or ping event is a few
// kilobytes: a body larger than MaxWebhookBody is not one of them and is refused unread.
const (
	MaxWebhookBody = 1 << 20
	// maxWebhookDepth bounds the nesting of a body's JSON (workflow_job's is 4 deep).
	maxWebhookDepth = 32
)

// Webhook event names (the X-GitHub-Event header) that hashike reads.
const (
	WebhookEventWorkflowJob = "workflow_job"
	WebhookEventPing        = "ping"
)

// Errors of VerifySignature. None of them says anything of the secret or of the expected
// signature: only which check failed.
var (
	// ErrNoSecret: no webhook secret is configured, so no delivery can be trusted.
	ErrNoSecret = errors.New("no webhook secret is configured")
	// ErrNoSignature: the request has no X-Hub-Signature-256 header.
	ErrNoSignature = errors.New("the X-Hub-Signature-256 header is missing")
	// ErrMalformedSignature: the header is not "sha256=" and 64 hex digits.
	ErrMalformedSignature = errors.New("the X-Hub-Signature-256 header is not sha256=<64 hex digits>")
	// ErrBadSignature: the header is well formed but does not sign the body with the secret.
	ErrBadSignature = errors.New("the X-Hub-Signature-256 signature does not match the body")
)

// VerifySignature checks header, an X-Hub-Signature-256 value ("sha256=" and the hex
// HMAC-SHA256 of the raw body keyed by the webhook's secret), against body. The comparison
// takes the same time wherever the signatures differ. It returns nil or one of the Err*
// errors above; an empty secret is ErrNoSecret (anyone can sign with an empty key).
func VerifySignature(secret, body []byte, header string) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	if header == "" {
		return ErrNoSignature
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrMalformedSignature
	}
	got := make([]byte, sha256.Size)
	if _, err := hex.Decode(got, []byte(hexSig)); err != nil {
		return ErrMalformedSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// SignWebhook returns the X-Hub-Signature-256 value of body under secret, as GitHub sends
// it (for fakes and tests that play GitHub).
func SignWebhook(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhook checks and reads the deliveries of one GitHub webhook (an App's or a
// repository's, organization's or enterprise's hook): server.GitHubWebhook.
type Webhook struct {
	secret []byte
}

// NewWebhook returns the Webhook whose deliveries are signed with secret.
func NewWebhook(secret []byte) *Webhook {
	return &Webhook{secret: bytes.Clone(secret)}
}

// Verify is VerifySignature with the webhook's secret.
func (w *Webhook) Verify(body []byte, signature string) error {
	return VerifySignature(w.secret, body, signature)
}

// ParseWorkflowJob is the package's ParseWorkflowJob.
func (w *Webhook) ParseWorkflowJob(body []byte) (hashike.WorkflowJobEvent, error) {
	return ParseWorkflowJob(body)
}

// The parts of a workflow_job event that hashike reads; encoding/json skips the rest.
// Pointers are what GitHub may send as null.
type workflowJobPayload struct {
	Action      *string `json:"action"`
	WorkflowJob *struct {
		ID              int64      `json:"id"`
		RunID           int64      `json:"run_id"`
		RunAttempt      int        `json:"run_attempt"`
		Name            string     `json:"name"`
		Labels          []string   `json:"labels"`
		Conclusion      *string    `json:"conclusion"`
		CreatedAt       *time.Time `json:"created_at"`
		StartedAt       *time.Time `json:"started_at"`
		CompletedAt     *time.Time `json:"completed_at"`
		RunnerID        *int64     `json:"runner_id"`
		RunnerName      *string    `json:"runner_name"`
		RunnerGroupID   *int64     `json:"runner_group_id"`
		RunnerGroupName *string    `json:"runner_group_name"`
	} `json:"workflow_job"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Organization *struct {
		Login string `json:"login"`
	} `json:"organization"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
}

// ParseWorkflowJob reads the body of a workflow_job event. It refuses a body over
// MaxWebhookBody or nested deeper than 32, one that is not a JSON object, or one without an
// action and a workflow_job with a positive id; fields it does not read are ignored. An
// action GitHub may add later is returned as sent (Action.Valid is false): the caller decides
// to skip it. Errors name the field, never the body.
func ParseWorkflowJob(body []byte) (hashike.WorkflowJobEvent, error) {
	var ev hashike.WorkflowJobEvent
	if err := checkBody(body); err != nil {
		return ev, fmt.Errorf("parse workflow_job event: %w", err)
	}
	var p workflowJobPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return ev, fmt.Errorf("parse workflow_job event: %w", err)
	}
	switch {
	case p.Action == nil || *p.Action == "":
		return ev, errors.New("parse workflow_job event: no action")
	case p.WorkflowJob == nil:
		return ev, errors.New("parse workflow_job event: no workflow_job")
	case p.WorkflowJob.ID <= 0:
		return ev, errors.New("parse workflow_job event: workflow_job.id is not a positive number")
	}
	j := p.WorkflowJob
	ev = hashike.WorkflowJobEvent{
		Action:        hashike.WorkflowJobAction(*p.Action),
		JobID:         j.ID,
		RunID:         j.RunID,
		RunAttempt:    j.RunAttempt,
		Name:          j.Name,
		Labels:        j.Labels,
		RunnerID:      deref(j.RunnerID),
		RunnerName:    deref(j.RunnerName),
		RunnerGroupID: deref(j.RunnerGroupID),
		Conclusion:    deref(j.Conclusion),
		CreatedAt:     derefTime(j.CreatedAt),
		StartedAt:     derefTime(j.StartedAt),
		CompletedAt:   derefTime(j.CompletedAt),
	}
	if p.Repository != nil {
		ev.Repository = p.Repository.FullName
	}
	if p.Organization != nil {
		ev.Org = p.Organization.Login
	}
	if p.Installation != nil {
		ev.InstallationID = p.Installation.ID
	}
	return ev, nil
}

// Ping is a ping event: GitHub sends one when a webhook is created, and on demand.
type Ping struct {
	Zen    string
	HookID int64
}

// ParsePing reads the body of a ping event, with ParseWorkflowJob's limits.
func ParsePing(body []byte) (Ping, error) {
	if err := checkBody(body); err != nil {
		return Ping{}, fmt.Errorf("parse ping event: %w", err)
	}
	var p struct {
		Zen    string `json:"zen"`
		HookID int64  `json:"hook_id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return Ping{}, fmt.Errorf("parse ping event: %w", err)
	}
	return Ping{Zen: p.Zen, HookID: p.HookID}, nil
}

// checkBody bounds a body before encoding/json reads it: its size, that it is an object, and
// its nesting (encoding/json's own limit is 10,000 levels).
func checkBody(body []byte) error {
	if len(body) > MaxWebhookBody {
		return fmt.Errorf("body of %d bytes is over the %d-byte limit", len(body), MaxWebhookBody)
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("body is not a JSON object")
	}
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > maxWebhookDepth {
				return fmt.Errorf("body is nested deeper than %d", maxWebhookDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func derefTime(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}
