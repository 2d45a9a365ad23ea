package main

// The fake GitHub Actions runner: what the official runner image does with its JIT config,
// against the fake GitHub (internal/githubfake), so the runner controller's tests can run
// "runners" in containers FROM scratch.
//
//	gh-runner [CONCLUSION]   read ACTIONS_RUNNER_INPUT_JITCONFIG, register, wait for one job,
//	                         "run" it for the job's duration, report it (success by default)
//	                         and go on with the script (the runner is ephemeral: one job)
//	gh-crash                 register, then drop offline without a job and exit 1 (a ghost)
//
// The JIT config names the fake's URL; HASHIKE_FAKE_GITHUB_URL overrides it (a container
// reaches the host under another address).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// jitEnv is the variable the official runner image reads its JIT config from.
const jitEnv = "ACTIONS_RUNNER_INPUT_JITCONFIG"

type fakeJIT struct {
	URL string `json:"url"`
}

type ghRunner struct {
	url    string
	jit    string
	client *http.Client
	// hold is kept open for the whole job: no timeout, the context ends it.
	hold  *http.Client
	sleep func(context.Context, time.Duration) error
	log   io.Writer
}

func newGHRunner(getenv func(string) string, log io.Writer) (*ghRunner, error) {
	jit := strings.TrimSpace(getenv(jitEnv))
	if jit == "" {
		return nil, fmt.Errorf("%s is not set", jitEnv)
	}
	raw, err := base64.StdEncoding.DecodeString(jit)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64", jitEnv)
	}
	var c fakeJIT
	if err := json.Unmarshal(raw, &c); err != nil || c.URL == "" {
		return nil, fmt.Errorf("%s is not a fake GitHub JIT config", jitEnv)
	}
	if u := getenv("HASHIKE_FAKE_GITHUB_URL"); u != "" {
		c.URL = u
	}
	return &ghRunner{url: strings.TrimRight(c.URL, "/"), jit: jit, client: &http.Client{Timeout: 60 * time.Second}, hold: &http.Client{}, log: log,
		sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}, nil
}

var errGone = errors.New("the runner was removed")

// call posts to the fake runner endpoint; the JIT config goes in the body, never in a log line.
func (r *ghRunner) call(ctx context.Context, op, conclusion string, out any) (int, error) {
	body, _ := json.Marshal(map[string]string{"jit_config": r.jit, "conclusion": conclusion})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/_fake/runner/"+op, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusGone:
		return resp.StatusCode, fmt.Errorf("%s: %w", op, errGone)
	case resp.StatusCode >= 300:
		return resp.StatusCode, fmt.Errorf("%s: status %d", op, resp.StatusCode)
	case out != nil && resp.StatusCode == http.StatusOK:
		return resp.StatusCode, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
	}
	return resp.StatusCode, nil
}

// run registers, takes one job, runs it for its duration and reports conclusion.
func (r *ghRunner) run(ctx context.Context, conclusion string) error {
	var reg struct {
		RunnerID int64 `json:"runner_id"`
	}
	if _, err := r.call(ctx, "register", "", &reg); err != nil {
		return err
	}
	fmt.Fprintf(r.log, "runner %d registered, waiting for a job\n", reg.RunnerID)
	var job struct {
		JobID    int64         `json:"job_id"`
		Name     string        `json:"name"`
		Duration time.Duration `json:"duration_ns"`
	}
	for {
		status, err := r.call(ctx, "acquire", "", &job)
		if err != nil {
			return err
		}
		if status == http.StatusOK {
			break
		}
	}
	fmt.Fprintf(r.log, "running job %d (%s) for %s\n", job.JobID, job.Name, job.Duration)
	// The held connection is how the fake notices this process dying mid-job, as GitHub
	// notices a runner that stops talking; it ends after the completion is reported.
	holdCtx, stopHold := context.WithCancel(ctx)
	body, _ := json.Marshal(map[string]string{"jit_config": r.jit})
	req, err := http.NewRequestWithContext(holdCtx, http.MethodPost, r.url+"/_fake/runner/hold", bytes.NewReader(body))
	if err != nil {
		stopHold()
		return err
	}
	resp, err := r.hold.Do(req)
	if err != nil {
		stopHold()
		return fmt.Errorf("hold: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		stopHold()
		return fmt.Errorf("hold: status %d", resp.StatusCode)
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	defer func() { stopHold(); <-held }()
	if err := r.sleep(ctx, job.Duration); err != nil {
		return err
	}
	if _, err := r.call(ctx, "complete", conclusion, nil); err != nil {
		return err
	}
	fmt.Fprintf(r.log, "job %d completed: %s\n", job.JobID, conclusion)
	return nil
}

// crash registers and drops offline without a job.
func (r *ghRunner) crash(ctx context.Context) error {
	if _, err := r.call(ctx, "register", "", nil); err != nil {
		return err
	}
	_, err := r.call(ctx, "exit", "", nil)
	return err
}

func ghRunnerStep(step, conclusion string) {
	r, err := newGHRunner(os.Getenv, os.Stdout)
	if err != nil {
		fail("%s: %v", step, err)
	}
	ctx := context.Background()
	if step == "gh-crash" {
		if err := r.crash(ctx); err != nil {
			fail("gh-crash: %v", err)
		}
		fmt.Println("runner crashed after registering")
		os.Exit(1)
	}
	if conclusion == "" {
		conclusion = "success"
	}
	if err := r.run(ctx, conclusion); err != nil {
		fail("gh-runner: %v", err)
	}
}
