package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// Defaults of the GitHub webhook's Config fields.
const (
	// DefaultGitHubDeliveryRetention is how long a GitHub delivery is kept (and its ID
	// remembered for dedupe): a job still queued after 24 h fails, so no delivery matters
	// after that; three days leave room for an operator's manual redelivery.
	DefaultGitHubDeliveryRetention = 72 * time.Hour
	// githubPruneInterval is how often the leader prunes GitHub deliveries.
	githubPruneInterval = time.Hour
)

// GitHub webhook event names the server tells apart (X-GitHub-Event).
const (
	githubEventWorkflowJob = "workflow_job"
	githubEventPing        = "ping"
)

// GitHubWebhook checks and reads GitHub's webhook deliveries: package github's Webhook, which
// holds the webhook's secret (cmd/hashike reads it from HASHIKE_GITHUB_WEBHOOK_SECRET).
type GitHubWebhook interface {
	// Verify returns nil when signature, the X-Hub-Signature-256 header, signs body with the
	// webhook's secret; otherwise an error saying which check failed, never the secret.
	Verify(body []byte, signature string) error
	// ParseWorkflowJob reads a workflow_job event's body; an error for one that is not.
	ParseWorkflowJob(body []byte) (hashike.WorkflowJobEvent, error)
}

// ReceiveGitHubWebhook takes one delivery of GitHub's webhook: it checks the signature over
// the raw body (ErrWebhookSignature, wrapping the reason), then stores a workflow_job event
// in the ServerStore's WebhookDeliveries (deduped by d.ID) and wakes the runner controller
// (GitHubWakeups); it never acts on the event itself, so it returns in the time of one store
// write. A ping is answered; other events are dropped. ENotFound when no webhook is
// configured; EInvalid for a workflow_job without a delivery ID or with a body that does not
// parse.
func (s *Server) ReceiveGitHubWebhook(ctx context.Context, d api.GitHubDelivery) (api.WebhookOutcome, error) {
	wh := s.cfg.GitHubWebhook
	if wh == nil {
		return "", hashike.Errorf(hashike.ENotFound, "no GitHub webhook is configured on this server")
	}
	if err := wh.Verify(d.Body, d.Signature); err != nil {
		return "", fmt.Errorf("%w: %w", api.ErrWebhookSignature, err)
	}
	switch d.Event {
	case githubEventPing:
		return api.WebhookPong, nil
	case githubEventWorkflowJob:
	default:
		return api.WebhookIgnored, nil
	}
	if d.ID == "" {
		return "", invalid("X-GitHub-Delivery", "a workflow_job delivery needs its delivery ID")
	}
	if _, err := wh.ParseWorkflowJob(d.Body); err != nil {
		return "", invalid("body", "%v", err)
	}
	created, err := s.store.SaveWebhookDelivery(ctx, hashike.WebhookDelivery{
		ID: d.ID, Event: d.Event, Body: d.Body, ReceivedAt: s.clock.Now(),
	})
	if err != nil {
		return "", fmt.Errorf("store GitHub delivery %s: %w", d.ID, err)
	}
	if !created {
		return api.WebhookDuplicate, nil
	}
	select {
	case s.githubWake <- struct{}{}:
	default:
	}
	return api.WebhookQueued, nil
}

// GitHubWakeups receives a value (coalesced: at most one waits) whenever this replica stored a
// new workflow_job delivery: the runner controller selects on it to claim at once rather than
// at its next tick. A delivery another replica stored wakes that replica, not this one, so
// the controller polls too.
func (s *Server) GitHubWakeups() <-chan struct{} { return s.githubWake }

// pruneGitHubDeliveries deletes the deliveries older than the retention (leader only).
func (s *Server) pruneGitHubDeliveries(ctx context.Context) {
	n, err := s.store.PruneWebhookDeliveries(ctx, s.clock.Now().Add(-s.cfg.GitHubDeliveryRetention))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("pruning GitHub webhook deliveries", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Info("pruned GitHub webhook deliveries", "count", n)
	}
}
