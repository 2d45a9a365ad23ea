package githubfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// WebhookOptions say where workflow_job deliveries go.
type WebhookOptions struct {
	URL    string
	Secret string
	// InstallationID is sent as installation.id.
	InstallationID int64
}

// Fate is what the fake does with one delivery.
type Fate int

const (
	// Deliver sends it once.
	Deliver Fate = iota
	// Lose never sends it (GitHub does not redeliver on its own).
	Lose
	// Duplicate sends it twice with the same X-GitHub-Delivery.
	Duplicate
	// Hold keeps it until ReleaseHeld, so later deliveries overtake it.
	Hold
)

// Delivery is one workflow_job webhook delivery.
type Delivery struct {
	ID     string // X-GitHub-Delivery
	Action string // queued | in_progress | completed
	JobID  int64
	Body   []byte
}

// Sent is the outcome of one delivery attempt.
type Sent struct {
	Delivery
	Status int // the receiver's HTTP status; 0 when the request failed
	Err    error
}

type hookSender struct {
	opts   WebhookOptions
	client *http.Client

	mu       sync.Mutex
	cond     *sync.Cond
	policy   func(Delivery) Fate
	queue    []Delivery
	held     []Delivery
	busy     bool
	sent     []Sent
	lost     []Delivery
	seq      int
	closed   bool
	done     chan struct{}
	ctx      context.Context
	cancelFn context.CancelFunc
}

func newHookSender(opts WebhookOptions, client *http.Client) *hookSender {
	h := &hookSender{opts: opts, client: client, done: make(chan struct{})}
	h.cond = sync.NewCond(&h.mu)
	h.ctx, h.cancelFn = context.WithCancel(context.Background())
	go h.loop()
	return h
}

func (h *hookSender) close() {
	h.mu.Lock()
	h.closed = true
	h.cond.Broadcast()
	h.mu.Unlock()
	h.cancelFn()
	<-h.done
}

// send queues a delivery unless the policy loses or holds it. Called under the fake's lock,
// so it never blocks on the network.
func (h *hookSender) send(d Delivery) {
	if h.opts.URL == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	fate := Deliver
	if h.policy != nil {
		fate = h.policy(d)
	}
	switch fate {
	case Lose:
		h.lost = append(h.lost, d)
	case Hold:
		h.held = append(h.held, d)
	case Duplicate:
		h.queue = append(h.queue, d, d)
	case Deliver:
		h.queue = append(h.queue, d)
	}
	h.cond.Broadcast()
}

func (h *hookSender) loop() {
	defer close(h.done)
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for len(h.queue) == 0 && !h.closed {
			h.cond.Wait()
		}
		if h.closed {
			return
		}
		d := h.queue[0]
		h.queue = h.queue[1:]
		h.busy = true
		h.mu.Unlock()
		status, err := h.post(d)
		h.mu.Lock()
		h.busy = false
		h.sent = append(h.sent, Sent{Delivery: d, Status: status, Err: err})
		h.cond.Broadcast()
	}
}

func (h *hookSender) post(d Delivery) (int, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.opts.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, []byte(h.opts.Secret))
	mac.Write(d.Body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/fake")
	req.Header.Set("X-GitHub-Event", "workflow_job")
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// SetDeliveryPolicy decides the fate of each later delivery (nil: deliver all).
func (f *Fake) SetDeliveryPolicy(p func(Delivery) Fate) {
	f.hooks.mu.Lock()
	defer f.hooks.mu.Unlock()
	f.hooks.policy = p
}

// ReleaseHeld sends the held deliveries now, after those already queued: out of order.
func (f *Fake) ReleaseHeld() {
	h := f.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queue = append(h.queue, h.held...)
	h.held = nil
	h.cond.Broadcast()
}

// Redeliver sends a delivery again with the same id, as GitHub's redeliver API does.
func (f *Fake) Redeliver(d Delivery) {
	h := f.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queue = append(h.queue, d)
	h.cond.Broadcast()
}

// Settle waits until every queued delivery has been attempted (held ones excepted).
func (f *Fake) Settle(ctx context.Context) error {
	h := f.hooks
	stop := context.AfterFunc(ctx, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	defer stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for (len(h.queue) > 0 || h.busy) && !h.closed {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.cond.Wait()
	}
	return nil
}

// SentDeliveries lists the delivery attempts made, in order.
func (f *Fake) SentDeliveries() []Sent {
	f.hooks.mu.Lock()
	defer f.hooks.mu.Unlock()
	return append([]Sent(nil), f.hooks.sent...)
}

// LostDeliveries lists the deliveries the policy lost.
func (f *Fake) LostDeliveries() []Delivery {
	f.hooks.mu.Lock()
	defer f.hooks.mu.Unlock()
	return append([]Delivery(nil), f.hooks.lost...)
}

// jobEvent builds the workflow_job delivery for j's current state. Called under f.mu.
func (f *Fake) jobEvent(action string, j *Job) Delivery {
	h := f.hooks
	owner, _, _ := strings.Cut(j.Repo, "/")
	body, _ := json.Marshal(map[string]any{
		"action":       action,
		"workflow_job": f.jobJSON(j),
		"repository":   repoJSON(j.Repo),
		"organization": map[string]any{"login": owner},
		"installation": map[string]any{"id": h.opts.InstallationID},
		"sender":       map[string]any{"login": "github-actions[bot]"},
	})
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", h.seq)
	h.mu.Unlock()
	return Delivery{ID: id, Action: action, JobID: j.ID, Body: body}
}
