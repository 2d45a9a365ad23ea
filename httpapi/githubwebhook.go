package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/hashike/hashike/api"
)

// webhookReceipt is the body of a webhook delivery's answer.
type webhookReceipt struct {
	Outcome api.WebhookOutcome `json:"outcome"`
}

// githubWebhook receives a delivery of GitHub's webhook: the service verifies and stores it;
// the answer is 202 for a delivery stored (or an event dropped), 200 for a ping or a
// duplicate, 401 without detail for a bad signature (the reason goes to the log only).
func (h *handler) githubWebhook(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	body, err := readBody(w, r, maxGitHubWebhookBytes)
	if err != nil {
		return err
	}
	d := api.GitHubDelivery{
		ID:        r.Header.Get("X-GitHub-Delivery"),
		Event:     r.Header.Get("X-GitHub-Event"),
		Signature: r.Header.Get("X-Hub-Signature-256"),
		Body:      body,
	}
	out, err := h.svc.ReceiveGitHubWebhook(r.Context(), d)
	if errors.Is(err, api.ErrWebhookSignature) {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "GitHub webhook delivery refused",
			slog.String("delivery", d.ID), slog.String("event", d.Event), slog.String("remote", r.RemoteAddr),
			slog.String("reason", err.Error()))
		// Written here rather than returned as an AuthError: no WWW-Authenticate challenge,
		// since no bearer token would help.
		noteError(r.Context(), err)
		return reply(w, http.StatusUnauthorized, errorBody{Error: wireError{Code: codeUnauthorized,
			Message: "the X-Hub-Signature-256 signature is missing or invalid"}})
	}
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if out == api.WebhookDuplicate || out == api.WebhookPong {
		status = http.StatusOK
	}
	return reply(w, status, webhookReceipt{Outcome: out})
}
