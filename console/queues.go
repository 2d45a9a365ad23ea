package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

// queueRow is one line of the queues page.
type queueRow struct {
	hashike.QueueInfo
	// OldestQueuedAt is when the queue's oldest waiting run was created (nil: none waits).
	OldestQueuedAt *time.Time
	// Waiting is how long that run has waited, for reading.
	Waiting string
}

func (c *Console) queuesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	rows, err := c.queueRows(r)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "queues", map[string]any{"Title": "Queues", "Queues": rows})
	return nil
}

// queueRows reads every queue with its counts and, for those holding runs, the oldest
// waiting one (one store read per such queue: the oldest first, limit 1).
func (c *Console) queueRows(r *http.Request) ([]queueRow, error) {
	qs, err := c.svc.ListQueues(r.Context())
	if err != nil {
		return nil, err
	}
	now := c.opts.Now()
	rows := make([]queueRow, 0, len(qs))
	for _, q := range qs {
		row := queueRow{QueueInfo: q}
		if q.Queued > 0 {
			page, err := c.svc.ListRuns(r.Context(), hashike.RunFilter{States: []hashike.RunState{hashike.StateQueued},
				Queue: q.Name, OldestFirst: true, Limit: 1})
			if err != nil {
				return nil, err
			}
			if len(page.Runs) > 0 {
				at := page.Runs[0].CreatedAt
				row.OldestQueuedAt, row.Waiting = &at, humanDuration(now.Sub(at))
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// queue reads one queue's settings (ENotFound naming the known ones for another name).
func (c *Console) queue(r *http.Request, name string) (hashike.QueueInfo, error) {
	qs, err := c.svc.ListQueues(r.Context())
	if err != nil {
		return hashike.QueueInfo{}, err
	}
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
	}
	return hashike.QueueInfo{}, hashike.Errorf(hashike.ENotFound, "no queue %q", name)
}

// queueAction pauses, resumes or sets the concurrency of a queue (the form's "action"),
// keeping its other settings.
func (c *Console) queueAction(w http.ResponseWriter, r *http.Request, _ *session) error {
	q, err := c.queue(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	cfg := q.QueueConfig
	switch action := r.PostFormValue("action"); action {
	case "pause":
		cfg.Paused = true
	case "resume":
		cfg.Paused = false
	case "concurrency":
		n, err := concurrencyField(r.PostFormValue("maxConcurrency"))
		if err != nil {
			return err
		}
		cfg.MaxConcurrency = n
	default:
		return &hashike.Error{Code: hashike.EInvalid, Message: "queue action",
			Fields: []hashike.FieldError{{Path: "action", Message: fmt.Sprintf("unknown action %q: pause, resume or concurrency", action)}}}
	}
	if _, err := c.svc.PutQueue(r.Context(), cfg); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"queues", http.StatusSeeOther)
	return nil
}

// maxConcurrencyLimit bounds the form's field: beyond it, a cap means nothing.
const maxConcurrencyLimit = 100000

func concurrencyField(v string) (int, error) {
	v = strings.TrimSpace(v)
	n, err := strconv.Atoi(v)
	if v == "" || err != nil || n < 0 || n > maxConcurrencyLimit {
		return 0, &hashike.Error{Code: hashike.EInvalid, Message: "queue concurrency",
			Fields: []hashike.FieldError{{Path: "maxConcurrency", Message: fmt.Sprintf("%q is not a whole number from 0 (no cap) to %d", v, maxConcurrencyLimit)}}}
	}
	return n, nil
}
