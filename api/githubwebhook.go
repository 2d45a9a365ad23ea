package api

import "errors"

// GitHubDelivery is one request to the GitHub webhook endpoint, as received.
type GitHubDelivery struct {
	ID        string // X-GitHub-Delivery
	Event     string // X-GitHub-Event
	Signature string // X-Hub-Signature-256
	Body      []byte // the raw body, what the signature covers
}

// WebhookOutcome says what ReceiveGitHubWebhook did with a delivery.
type WebhookOutcome string

const (
	// WebhookQueued: a workflow_job delivery was stored for the runner controller (202).
	WebhookQueued WebhookOutcome = "queued"
	// WebhookDuplicate: a delivery with this ID was stored already; nothing changed (200).
	WebhookDuplicate WebhookOutcome = "duplicate"
	// WebhookPong: a ping, answered and not stored (200).
	WebhookPong WebhookOutcome = "pong"
	// WebhookIgnored: an event the server does not read, verified and dropped unstored (202):
	// the App or hook may subscribe to more events than workflow_job.
	WebhookIgnored WebhookOutcome = "ignored"
)

// ErrWebhookSignature is the error of a delivery whose signature is missing or does not match:
// the HTTP API answers 401 with no detail.
var ErrWebhookSignature = errors.New("github webhook: signature missing or invalid")
