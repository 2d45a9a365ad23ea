package github_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/githubfake"
	"github.com/hashike/hashike/runners"
)

// TestRunnerPort: the runner controller's port over the adapter, against the fake GitHub: a
// JIT runner is registered in the org's named runner group, listed with its state, a busy
// one is refused removal as runners.ErrRunnerBusy, and queued jobs are listed for a
// repository scope (an org scope lists none: its demand comes from webhooks).
func TestRunnerPort(t *testing.T) {
	f, c := newPAT(t, githubfake.Options{RunnerGroups: []githubfake.RunnerGroup{{ID: 3, Name: "ci"}}})
	p := &github.RunnerPort{Client: c}
	ctx := context.Background()
	org := runners.Scope{Level: runners.ScopeOrg, Name: "acme", RunnerGroup: "ci"}
	jit, err := p.GenerateJITConfig(ctx, org, "hashike-medium-1", []string{"self-hosted", "medium"})
	if err != nil || jit.RunnerID == 0 || jit.Config == "" {
		t.Fatalf("JIT: %v, %v", jit, err)
	}
	if r, ok := f.Runner(jit.RunnerID); !ok || r.GroupID != 3 {
		t.Fatalf("the runner is not in group ci (3): %+v", r)
	}
	if _, err := f.Register(jit.Config); err != nil {
		t.Fatal(err)
	}
	f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "medium"}})
	if _, err := f.WaitRunner(ctx, jit.RunnerID, func(r githubfake.Runner, ok bool) bool { return ok && r.Busy }); err != nil {
		t.Fatal(err)
	}
	rs, err := p.ListRunners(ctx, org)
	if err != nil || len(rs) != 1 || rs[0].Name != "hashike-medium-1" || !rs[0].Busy || !rs[0].Online || rs[0].Scope != org {
		t.Fatalf("runners %+v, %v", rs, err)
	}
	if err := p.RemoveRunner(ctx, org, jit.RunnerID); !errors.Is(err, runners.ErrRunnerBusy) {
		t.Fatalf("removing the busy runner: %v, want runners.ErrRunnerBusy", err)
	}
	f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"self-hosted", "large"}})
	qs, err := p.QueuedJobs(ctx, runners.Scope{Level: runners.ScopeRepo, Name: "acme/app"})
	if err != nil || len(qs) != 1 || len(qs[0].Labels) != 2 || qs[0].Labels[1] != "large" {
		t.Fatalf("queued jobs %+v, %v", qs, err)
	}
	if qs, err := p.QueuedJobs(ctx, org); err != nil || qs != nil {
		t.Fatalf("an org scope's queued jobs: %+v, %v", qs, err)
	}
}
