package github

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashike/hashike/runners"
)

// RunnerPort is the runners.GitHub port over a Client: the runner controller's view of
// GitHub in its own types. Runner group names are resolved to IDs once per scope and group.
type RunnerPort struct {
	Client *Client

	mu     sync.Mutex
	groups map[string]int64 // "scope/group" -> ID
}

var _ runners.GitHub = (*RunnerPort)(nil)

func scopeOf(s runners.Scope) Scope {
	return Scope{Kind: ScopeKind(s.Level), Name: s.Name}
}

// GenerateJITConfig registers an ephemeral runner in the scope's runner group.
func (p *RunnerPort) GenerateJITConfig(ctx context.Context, scope runners.Scope, name string, labels []string) (runners.JIT, error) {
	group, err := p.groupID(ctx, scope)
	if err != nil {
		return runners.JIT{}, err
	}
	jit, err := p.Client.GenerateJITConfig(ctx, scopeOf(scope), JITRequest{Name: name, Labels: labels, RunnerGroupID: group})
	if err != nil {
		return runners.JIT{}, err
	}
	return runners.JIT{RunnerID: jit.RunnerID, Config: jit.Config.Reveal()}, nil
}

// groupID resolves the scope's runner group (0: the default group).
func (p *RunnerPort) groupID(ctx context.Context, scope runners.Scope) (int64, error) {
	if scope.RunnerGroup == "" || scope.Level == runners.ScopeRepo {
		return 0, nil
	}
	key := scope.String() + "/" + scope.RunnerGroup
	p.mu.Lock()
	id, ok := p.groups[key]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := p.Client.RunnerGroupID(ctx, scopeOf(scope), scope.RunnerGroup)
	if err != nil {
		return 0, fmt.Errorf("runner group %q of %s: %w", scope.RunnerGroup, scope, err)
	}
	p.mu.Lock()
	if p.groups == nil {
		p.groups = map[string]int64{}
	}
	p.groups[key] = id
	p.mu.Unlock()
	return id, nil
}

// ListRunners lists every runner registered in the scope.
func (p *RunnerPort) ListRunners(ctx context.Context, scope runners.Scope) ([]runners.GitHubRunner, error) {
	rs, err := p.Client.ListRunners(ctx, scopeOf(scope), RunnerFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]runners.GitHubRunner, 0, len(rs))
	for _, r := range rs {
		out = append(out, runners.GitHubRunner{ID: r.ID, Name: r.Name, Online: r.Online, Busy: r.Busy, Labels: r.Labels, Scope: scope})
	}
	return out, nil
}

// RemoveRunner deregisters a runner: gone already is success, busy is runners.ErrRunnerBusy.
func (p *RunnerPort) RemoveRunner(ctx context.Context, scope runners.Scope, id int64) error {
	err := p.Client.RemoveRunner(ctx, scopeOf(scope), id)
	if errors.Is(err, ErrRunnerBusy) {
		return fmt.Errorf("%w: %w", runners.ErrRunnerBusy, err)
	}
	return err
}

// QueuedJobs lists the queued jobs of a repository scope. GitHub lists queued workflow runs
// per repository only, so an organization or enterprise scope reports none here: its demand
// comes from the webhook (or the scale-set session).
func (p *RunnerPort) QueuedJobs(ctx context.Context, scope runners.Scope) ([]runners.QueuedJob, error) {
	if scope.Level != runners.ScopeRepo {
		return nil, nil
	}
	js, err := p.Client.QueuedJobs(ctx, scope.Name)
	if err != nil {
		return nil, err
	}
	out := make([]runners.QueuedJob, 0, len(js))
	for _, j := range js {
		out = append(out, runners.QueuedJob{ID: j.ID, Labels: j.Labels, QueuedAt: j.CreatedAt})
	}
	return out, nil
}
