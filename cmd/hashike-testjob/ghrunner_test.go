package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/githubfake"
)

func jitFor(t *testing.T, f *githubfake.Fake, name string, labels ...string) github.JIT {
	t.Helper()
	c, err := github.New(github.Config{APIURL: f.URL(), Token: "pat"})
	if err != nil {
		t.Fatal(err)
	}
	jit, err := c.GenerateJITConfig(context.Background(), github.Scope{Kind: github.ScopeOrg, Name: "acme"}, github.JITRequest{Name: name, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return jit
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestGHRunnerTakesOneJobAndReportsIt(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}})
	defer f.Close()
	jit := jitFor(t, f, "hk-medium-1", "self-hosted", "medium")
	var log bytes.Buffer
	r, err := newGHRunner(env(map[string]string{jitEnv: jit.Config.Reveal()}), &log)
	if err != nil {
		t.Fatal(err)
	}
	var slept time.Duration
	r.sleep = func(_ context.Context, d time.Duration) error { slept = d; return nil }
	done := make(chan error, 1)
	go func() { done <- r.run(context.Background(), "success") }()

	job := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "medium"}, Duration: 3 * time.Second})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := f.Job(job.ID)
	if got.Status != "completed" || got.Conclusion != "success" || got.RunnerID != jit.RunnerID {
		t.Fatalf("job = %+v", got)
	}
	if slept != 3*time.Second {
		t.Fatalf("ran the job for %s, want its 3s", slept)
	}
	if _, ok := f.Runner(jit.RunnerID); ok {
		t.Fatal("the ephemeral runner is still listed after its job")
	}
	if strings.Contains(log.String(), jit.Config.Reveal()) {
		t.Fatal("the runner printed its JIT config")
	}
	// The config is single use.
	if _, err := f.Register(jit.Config.Reveal()); !errors.Is(err, githubfake.ErrBadJITConfig) {
		t.Fatalf("second registration: %v", err)
	}
}

func TestGHRunnerURLOverride(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}, RunnerURL: "http://unreachable.invalid"})
	defer f.Close()
	jit := jitFor(t, f, "hk-1", "small")
	r, err := newGHRunner(env(map[string]string{jitEnv: jit.Config.Reveal(), "HASHIKE_FAKE_GITHUB_URL": f.ServerURL()}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.crash(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A runner that registered and died stays listed offline: a ghost until deleted.
	rn, ok := f.Runner(jit.RunnerID)
	if !ok || rn.Online || !rn.Registered {
		t.Fatalf("crashed runner = %+v, %v; want listed offline", rn, ok)
	}
}

func TestGHRunnerNeedsItsConfig(t *testing.T) {
	for _, v := range []string{"", "not base64!", "e30="} {
		if _, err := newGHRunner(env(map[string]string{jitEnv: v}), &bytes.Buffer{}); err == nil {
			t.Errorf("config %q accepted", v)
		}
	}
}

func FuzzGHRunnerConfig(f *testing.F) {
	f.Add("eyJ1cmwiOiJodHRwOi8veCJ9")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := newGHRunner(env(map[string]string{jitEnv: s}), &bytes.Buffer{})
		if err == nil && r.url == "" {
			t.Fatal("accepted a config without a URL")
		}
	})
}

func TestGHRunnerKilledMidJobFailsItsJob(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}})
	defer f.Close()
	jit := jitFor(t, f, "hk-1", "small")
	r, err := newGHRunner(env(map[string]string{jitEnv: jit.Config.Reveal()}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	r.sleep = func(ctx context.Context, _ time.Duration) error { close(running); <-ctx.Done(); return ctx.Err() }
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.run(ctx, "success") }()
	job := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"small"}, Duration: time.Hour})
	<-running
	kill() // the container is killed during the job
	<-done
	// The fake sees the held connection drop: the job fails, the runner is a ghost.
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := f.WaitJob(wctx, job.ID, func(j githubfake.Job) bool { return j.Status == "completed" })
	if err != nil {
		t.Fatalf("job %+v: %v", got, err)
	}
	rn, listed := f.Runner(jit.RunnerID)
	if got.Status != "completed" || got.Conclusion != "failure" || !listed || rn.Online {
		t.Fatalf("job %+v runner %+v listed %v: want the job failed and the runner listed offline", got, rn, listed)
	}
}
