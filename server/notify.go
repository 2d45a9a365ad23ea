package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/dispatch"
	"github.com/hashike/hashike/job"
)

// Delivery of notifications.
const (
	// MaxDeliveryAttempts: a delivery failing this many times is given up (Failed).
	MaxDeliveryAttempts = 10
	// deliveryLease is how long a claimed delivery is hidden from other replicas.
	deliveryLease   = time.Minute
	deliveryBatch   = 20
	deliveryTimeout = 10 * time.Second
)

// deliveryBackoff spaces a delivery's attempts: 5 s doubling up to 10 min, full jitter.
var deliveryBackoff = dispatch.Backoff{BaseDelay: hashike.Duration(5 * time.Second), MaxDelay: hashike.Duration(10 * time.Minute), Jitter: dispatch.JitterFull}

// Event is the JSON body of a webhook notification.
type Event struct {
	Event      string              `json:"event"` // failure, recovery, overdue
	Job        string              `json:"job"`
	JobVersion int                 `json:"jobVersion"`
	RunID      string              `json:"runId"`
	RootID     string              `json:"rootId"`
	Attempt    int                 `json:"attempt"`
	State      hashike.RunState    `json:"state"`
	Exit       *hashike.ExitStatus `json:"exit,omitempty"`
	Reason     string              `json:"reason"`
	Trigger    string              `json:"trigger,omitempty"`
	CreatedAt  time.Time           `json:"createdAt"`
	StartedAt  *time.Time          `json:"startedAt,omitempty"`
	FinishedAt *time.Time          `json:"finishedAt,omitempty"`
	SentAt     time.Time           `json:"sentAt"`
}

// notify queues one delivery per endpoint of the job that wants event.
func (s *Server) notify(ctx context.Context, run *hashike.Run, def *job.Definition, event, reason string) error {
	now := s.clock.Now()
	ev := Event{Event: event, Job: run.Job, JobVersion: run.JobVersion, RunID: run.ID, RootID: run.RootID, Attempt: run.Attempt,
		State: run.State, Exit: run.Exit, Reason: reason, Trigger: run.Trigger, CreatedAt: run.CreatedAt,
		StartedAt: run.StartedAt, FinishedAt: run.FinishedAt, SentAt: now}
	var ds []hashike.Delivery
	for i, n := range def.Notifications {
		if !n.Wants(event) {
			continue
		}
		var body []byte
		var err error
		if n.Type == job.KindSlack {
			body, err = json.Marshal(map[string]string{"text": slackText(ev)})
		} else {
			body, err = json.Marshal(ev)
		}
		if err != nil {
			return err
		}
		ds = append(ds, hashike.Delivery{ID: fmt.Sprintf("%s/%s/%d", run.ID, event, i), RunID: run.ID, Event: event,
			Kind: n.Type, URL: n.URL, Secret: n.Secret, Body: body, CreatedAt: now, NextAt: now})
	}
	if len(ds) == 0 {
		return nil
	}
	return s.store.AddDeliveries(ctx, ds)
}

func slackText(ev Event) string {
	icon := map[string]string{job.EventFailure: ":x:", job.EventRecovery: ":white_check_mark:", job.EventOverdue: ":hourglass:"}[ev.Event]
	what := map[string]string{job.EventFailure: "failed", job.EventRecovery: "is back to normal", job.EventOverdue: "is overdue"}[ev.Event]
	return fmt.Sprintf("%s hashike job *%s* %s: run `%s` (attempt %d) %s: %s", icon, ev.Job, what, ev.RunID, ev.Attempt, ev.State, ev.Reason)
}

// deliveryLoop sends due notifications, a few at a time, apart from dispatching: a slow or
// dead endpoint delays its own retries only.
func (s *Server) deliveryLoop(ctx context.Context) {
	if s.cfg.Deliver == nil {
		return
	}
	for ctx.Err() == nil {
		ds, err := s.store.ClaimDeliveries(ctx, s.clock.Now(), deliveryBatch, deliveryLease)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("notifications: claiming deliveries", "err", err)
		}
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.deliver(ctx, d)
			}()
		}
		wg.Wait()
		if len(ds) == deliveryBatch {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.clock.After(time.Second):
		}
	}
}

func (s *Server) deliver(ctx context.Context, d hashike.Delivery) {
	sendCtx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	err := s.cfg.Deliver(sendCtx, d)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the lease runs out and another attempt follows
	}
	now := s.clock.Now()
	d.Attempts++
	switch {
	case err == nil:
		d.DeliveredAt, d.LastError = &now, ""
	case d.Attempts >= MaxDeliveryAttempts || (s.cfg.Permanent != nil && s.cfg.Permanent(err)):
		d.Failed, d.LastError = true, err.Error()
		s.log.Warn("notifications: giving up a delivery", "delivery", d.ID, "url", d.URL, "attempts", d.Attempts, "err", err)
	default:
		d.LastError = err.Error()
		wait := deliveryBackoff.Delay(d.Attempts, s.random)
		if s.cfg.RetryAfter != nil {
			wait = max(wait, s.cfg.RetryAfter(err))
		}
		d.NextAt = now.Add(wait)
	}
	if err := s.store.UpdateDelivery(context.WithoutCancel(ctx), d); err != nil {
		s.log.Warn("notifications: recording a delivery", "delivery", d.ID, "err", err)
	}
}
