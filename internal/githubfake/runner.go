package githubfake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Errors of the runner side.
var (
	ErrBadJITConfig = errors.New("githubfake: unknown or used JIT config")
	ErrNoRunner     = errors.New("githubfake: runner not registered")
)

// Assignment is the job given to a runner.
type Assignment struct {
	JobID    int64         `json:"job_id"`
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// DecodeJITConfig reads the fake's encoded_jit_config.
func DecodeJITConfig(encoded string) (JITConfig, error) {
	var c JITConfig
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return c, ErrBadJITConfig
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Secret == "" {
		return c, ErrBadJITConfig
	}
	return c, nil
}

// Register connects a runner with its encoded JIT config: it goes online and idle and may be
// given a job at once. A JIT config works once.
func (f *Fake) Register(encoded string) (int64, error) {
	c, err := DecodeJITConfig(encoded)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	f.sweep(now)
	id, ok := f.jitSecrets[c.Secret]
	r := f.runners[id]
	if !ok || r == nil || r.Registered {
		return 0, ErrBadJITConfig
	}
	r.Registered, r.Online, r.OfflineAt = true, true, time.Time{}
	f.assign(now)
	return id, nil
}

// runnerBySecret finds a registered runner by its credential.
func (f *Fake) runnerBySecret(secret string) *Runner {
	r := f.runners[f.jitSecrets[secret]]
	if r == nil || !r.Registered {
		return nil
	}
	return r
}

// Acquire waits until the runner with this JIT config is given a job, ctx ends (false), or the
// runner is removed (ErrNoRunner).
func (f *Fake) Acquire(ctx context.Context, encoded string) (Assignment, bool, error) {
	c, err := DecodeJITConfig(encoded)
	if err != nil {
		return Assignment{}, false, err
	}
	for {
		f.mu.Lock()
		r := f.runnerBySecret(c.Secret)
		if r == nil || !r.Online {
			f.mu.Unlock()
			return Assignment{}, false, ErrNoRunner
		}
		if r.Busy {
			j := f.jobs[r.JobID]
			f.mu.Unlock()
			return Assignment{JobID: j.ID, Name: j.Name, Duration: j.Duration}, true, nil
		}
		ch, ok := f.assigned[r.ID]
		if !ok {
			ch = make(chan struct{})
			f.assigned[r.ID] = ch
		}
		r.Polling = true
		f.jobChanged()
		f.mu.Unlock()
		var done bool
		select {
		case <-ch:
		case <-ctx.Done():
			done = true
		}
		f.mu.Lock()
		if x := f.runners[r.ID]; x != nil {
			x.Polling = false
		}
		f.mu.Unlock()
		if done {
			return Assignment{}, false, nil
		}
	}
}

// Complete reports the runner's job done with conclusion ("success" when empty). The runner is
// ephemeral: GitHub removes it.
func (f *Fake) Complete(encoded, conclusion string) error {
	c, err := DecodeJITConfig(encoded)
	if err != nil {
		return err
	}
	if conclusion == "" {
		conclusion = "success"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	r := f.runnerBySecret(c.Secret)
	if r == nil || !r.Busy {
		return ErrNoRunner
	}
	f.complete(f.jobs[r.JobID], conclusion, now)
	f.removeRunner(r)
	return nil
}

// Exit is a runner process going away without completing: it stays listed offline (a ghost)
// until deleted or GhostTTL passes; a job it was running fails.
func (f *Fake) Exit(encoded string) error {
	c, err := DecodeJITConfig(encoded)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	r := f.runnerBySecret(c.Secret)
	if r == nil {
		return ErrNoRunner
	}
	f.disconnect(r, now)
	return nil
}

// disconnect takes a runner offline as when its process dies: a job it was running fails.
// Called under f.mu.
func (f *Fake) disconnect(r *Runner, now time.Time) {
	defer f.jobChanged()
	if r.Busy {
		f.complete(f.jobs[r.JobID], "failure", now)
		r.Busy, r.JobID = false, 0
	}
	r.Online, r.OfflineAt = false, now
	if ch, ok := f.assigned[r.ID]; ok {
		close(ch)
		delete(f.assigned, r.ID)
	}
	if ch, ok := f.released[r.ID]; ok {
		close(ch)
		delete(f.released, r.ID)
	}
}

// connectionLost is a runner's connection dropping: if it is still online (and, for a held
// connection, still on job), it goes offline as its process died.
func (f *Fake) connectionLost(secret string, jobID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.runnerBySecret(secret)
	if r == nil || !r.Online || (jobID != 0 && r.JobID != jobID) {
		return
	}
	f.disconnect(r, f.opts.Now())
}

// WaitRunner waits until runner id's state satisfies cond (ok is false once it is not listed).
func (f *Fake) WaitRunner(ctx context.Context, id int64, cond func(r Runner, ok bool) bool) (Runner, error) {
	for {
		f.mu.Lock()
		f.sweep(f.opts.Now())
		var r Runner
		p := f.runners[id]
		if p != nil {
			r = *p
		}
		ch := f.changed
		f.mu.Unlock()
		if cond(r, p != nil) {
			return r, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
}

// WaitJob waits until job id's state satisfies cond (or ctx ends): the fake changes some
// state on its own (a runner's dropped connection), so tests await it.
func (f *Fake) WaitJob(ctx context.Context, id int64, cond func(Job) bool) (Job, error) {
	for {
		f.mu.Lock()
		f.sweep(f.opts.Now())
		var j Job
		if p := f.jobs[id]; p != nil {
			j = *p
		}
		ch := f.changed
		f.mu.Unlock()
		if j.ID != 0 && cond(j) {
			return j, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return j, ctx.Err()
		}
	}
}

// The fake runner's HTTP protocol: POST a JSON body {"jit_config": "...", "conclusion": "..."}
// to /_fake/runner/{register,acquire,hold,complete,exit}. acquire long-polls up to 20 s and
// answers 200 with an Assignment or 204 when none came; 410 means the runner is gone. hold is
// kept open while the runner runs its job: 200 at once, the body ends when the runner is removed. As
// GitHub notices a runner that stopped talking, a connection that drops during acquire or
// hold (the process was killed) takes the runner offline and fails its job.

type runnerRequest struct {
	JITConfig  string `json:"jit_config"`
	Conclusion string `json:"conclusion"`
}

func readRunnerRequest(w http.ResponseWriter, r *http.Request) (runnerRequest, bool) {
	var req runnerRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad body")
		return req, false
	}
	return req, true
}

func runnerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrBadJITConfig):
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, ErrNoRunner):
		writeError(w, http.StatusGone, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (f *Fake) runnerRegister(w http.ResponseWriter, r *http.Request) {
	req, ok := readRunnerRequest(w, r)
	if !ok {
		return
	}
	id, err := f.Register(req.JITConfig)
	if err != nil {
		runnerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"runner_id": id})
}

func (f *Fake) runnerAcquire(w http.ResponseWriter, r *http.Request) {
	req, ok := readRunnerRequest(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	a, got, err := f.Acquire(ctx, req.JITConfig)
	switch {
	case err != nil:
		runnerError(w, err)
	case !got && r.Context().Err() != nil:
		if c, err := DecodeJITConfig(req.JITConfig); err == nil {
			f.connectionLost(c.Secret, 0)
		}
	case !got:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, a)
	}
}

func (f *Fake) runnerHold(w http.ResponseWriter, r *http.Request) {
	req, ok := readRunnerRequest(w, r)
	if !ok {
		return
	}
	c, err := DecodeJITConfig(req.JITConfig)
	if err != nil {
		runnerError(w, err)
		return
	}
	f.mu.Lock()
	rn := f.runnerBySecret(c.Secret)
	if rn == nil || !rn.Busy {
		f.mu.Unlock()
		runnerError(w, ErrNoRunner)
		return
	}
	jobID := rn.JobID
	ch, ok := f.released[rn.ID]
	if !ok {
		ch = make(chan struct{})
		f.released[rn.ID] = ch
	}
	f.mu.Unlock()
	// The status line goes out at once: the runner knows its connection is held.
	w.WriteHeader(http.StatusOK)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	select {
	case <-ch:
	case <-r.Context().Done():
		f.connectionLost(c.Secret, jobID)
	}
}

func (f *Fake) runnerComplete(w http.ResponseWriter, r *http.Request) {
	req, ok := readRunnerRequest(w, r)
	if !ok {
		return
	}
	if err := f.Complete(req.JITConfig, req.Conclusion); err != nil {
		runnerError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) runnerExit(w http.ResponseWriter, r *http.Request) {
	req, ok := readRunnerRequest(w, r)
	if !ok {
		return
	}
	if err := f.Exit(req.JITConfig); err != nil {
		runnerError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
