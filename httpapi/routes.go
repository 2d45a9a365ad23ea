package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

// The routes' handlers, in the order of routes. Each returns its error for wrap to write.

// health answers 200 when the server can serve, else 503; the body names each dependency's
// state either way, so that a probe or an operator sees which one is down.
func (h *handler) health(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	health := h.svc.Health(r.Context())
	status := http.StatusOK
	if !health.Healthy() {
		status = http.StatusServiceUnavailable
	}
	return reply(w, status, health)
}

func (h *handler) runners(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	st, err := h.svc.RunnersStatus(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, st)
}

func (h *handler) capacity(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	st, err := h.svc.CapacityStatus(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, st)
}

// prune makes a retention pass; an empty body is {} (a real pass).
func (h *handler) prune(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	data, err := readBody(w, r, maxSmallBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodePrune(data)
	if err != nil {
		return err
	}
	rep, err := h.svc.Prune(r.Context(), req)
	if err != nil {
		return err
	}
	rep.Scopes = orEmpty(rep.Scopes)
	return reply(w, http.StatusOK, rep)
}

func (h *handler) openAPI(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
	return nil
}

func (h *handler) listJobs(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	jobs, err := h.svc.ListJobs(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, jobList{Jobs: orEmpty(jobs)})
}

func (h *handler) putJob(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	doc, err := readBody(w, r, maxDefinitionBytes)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	v, created, err := h.svc.RegisterJob(r.Context(), name, doc)
	if err != nil {
		return err
	}
	return replyMaybeCreated(w, created, "/v1/jobs/"+url.PathEscape(name), v)
}

func (h *handler) getJob(w http.ResponseWriter, r *http.Request, q url.Values) error {
	version, err := queryVersion(q)
	if err != nil {
		return err
	}
	v, err := h.svc.GetJob(r.Context(), r.PathValue("name"), version)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, v)
}

func (h *handler) listJobVersions(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	vs, err := h.svc.ListJobVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, versionList{Versions: orEmpty(vs)})
}

func (h *handler) enqueue(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	data, err := readBody(w, r, h.payloadBodyLimit())
	if err != nil {
		return err
	}
	req, err := decodeEnqueue(data, r.Header.Values("Idempotency-Key"))
	if err != nil {
		return err
	}
	run, created, err := h.svc.Enqueue(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return err
	}
	return replyMaybeCreated(w, created, "/v1/runs/"+url.PathEscape(run.ID), run)
}

// payloadBodyLimit bounds a body that carries a payload: the server's payload limit and room
// for the other fields.
func (h *handler) payloadBodyLimit() int64 {
	return int64(max(h.svc.MaxPayloadBytes(), 0)) + envelopeBytes
}

func (h *handler) listRuns(w http.ResponseWriter, r *http.Request, q url.Values) error {
	rq, err := parseRunQuery(q)
	if err != nil {
		return err
	}
	page, err := h.svc.ListRuns(r.Context(), rq.filter())
	if err != nil {
		return err
	}
	page.Runs = orEmpty(page.Runs)
	return reply(w, http.StatusOK, page)
}

func (h *handler) getRun(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	v, err := h.svc.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, v)
}

// result sends a run's result as it was stored, with its content type.
func (h *handler) result(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	info, rc, err := h.svc.RunResult(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	ctype := info.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set("X-Hashike-Result-Created", info.CreatedAt.UTC().Format(time.RFC3339Nano))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc) // the status is sent: a failure midway shows as a short body
	return nil
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	data, err := readBody(w, r, maxSmallBodyBytes)
	if err != nil {
		return err
	}
	req, err := decodeCancel(data)
	if err != nil {
		return err
	}
	run, err := h.svc.Cancel(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, run)
}

func (h *handler) rerun(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	data, err := readBody(w, r, h.payloadBodyLimit())
	if err != nil {
		return err
	}
	req, err := decodeRerun(data)
	if err != nil {
		return err
	}
	run, err := h.svc.Rerun(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return replyMaybeCreated(w, true, "/v1/runs/"+url.PathEscape(run.ID), run)
}

func (h *handler) listQueues(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	qs, err := h.svc.ListQueues(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, queueList{Queues: orEmpty(qs)})
}

func (h *handler) putQueue(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	data, err := readBody(w, r, maxSmallBodyBytes)
	if err != nil {
		return err
	}
	qc, err := decodeQueue(r.PathValue("name"), data)
	if err != nil {
		return err
	}
	info, err := h.svc.PutQueue(r.Context(), qc)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, info)
}

func (h *handler) pauseQueue(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	return h.setPaused(w, r, true)
}

func (h *handler) resumeQueue(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	return h.setPaused(w, r, false)
}

// setPaused changes only Paused of a queue's settings; an unknown queue is ENotFound. Two admins changing the same queue at
// once may lose one's change; queue settings are rare enough for that.
func (h *handler) setPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	name := r.PathValue("name")
	qs, err := h.svc.ListQueues(r.Context())
	if err != nil {
		return err
	}
	var known []string
	var qc *hashike.QueueConfig
	for _, q := range qs {
		if q.Name == name {
			qc = &q.QueueConfig
		}
		known = append(known, q.Name)
	}
	if qc == nil {
		// A typo must not make a paused queue that no job uses.
		return &hashike.Error{Code: hashike.ENotFound, Message: fmt.Sprintf(
			"no queue %q; known queues: %s (a queue exists when a job definition names it or PUT /v1/queues/{name} creates it)",
			name, strings.Join(known, ", "))}
	}
	qc.Paused = paused
	info, err := h.svc.PutQueue(r.Context(), *qc)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, info)
}

func (h *handler) listSchedules(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	ss, err := h.svc.ListSchedules(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, scheduleList{Schedules: orEmpty(ss)})
}

func (h *handler) getSchedule(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	s, err := h.svc.GetSchedule(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, s)
}

func (h *handler) suspend(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	return h.setSuspended(w, r, true)
}

func (h *handler) resume(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	return h.setSuspended(w, r, false)
}

func (h *handler) setSuspended(w http.ResponseWriter, r *http.Request, suspended bool) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	s, err := h.svc.SetSuspended(r.Context(), r.PathValue("name"), suspended)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, s)
}

func (h *handler) trigger(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	run, err := h.svc.Trigger(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return replyMaybeCreated(w, true, "/v1/runs/"+url.PathEscape(run.ID), run)
}

func (h *handler) listTokens(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	ts, err := h.svc.ListTokens(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, tokenList{Tokens: orEmpty(ts)})
}

func (h *handler) createToken(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	data, err := readBody(w, r, maxSmallBodyBytes)
	if err != nil {
		return err
	}
	b, err := decodeToken(data)
	if err != nil {
		return err
	}
	t, err := h.svc.CreateToken(r.Context(), b.Name, b.Scope)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the secret is shown once
	return replyMaybeCreated(w, true, "/v1/tokens/"+url.PathEscape(t.ID), t)
}

func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request, _ url.Values) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	if err := h.svc.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noBody refuses a body on a route that takes none (an empty object is none).
func noBody(w http.ResponseWriter, r *http.Request) error {
	data, err := readBody(w, r, maxSmallBodyBytes)
	if err != nil {
		return err
	}
	return decodeJSON(data, &struct{}{}, true)
}

// replyMaybeCreated answers 201 with a Location when something was made, else 200.
func replyMaybeCreated(w http.ResponseWriter, created bool, location string, v any) error {
	if !created {
		return reply(w, http.StatusOK, v)
	}
	w.Header().Set("Location", location)
	return reply(w, http.StatusCreated, v)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
