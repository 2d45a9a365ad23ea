package github

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"github.com/hashike/hashike/runners"
)

// ScaleSetPort is the runners.ScaleSets port over the scale-set API: one scale set per pool,
// named ScaleSetName(pool), in the pool's scope and runner group, carrying the pool's runner
// labels. A client per scope is built on first use.
type ScaleSetPort struct {
	// Config is the connection; its ConfigURL is set per scope.
	Config ScaleSetConfig
	// ServerURL is GitHub's web address: https://github.com ("" too) or a GitHub
	// Enterprise Server's https://HOST.
	ServerURL string

	mu      sync.Mutex
	clients map[string]*ScaleSets
}

var _ runners.ScaleSets = (*ScaleSetPort)(nil)

// ScaleSetName is the name of a pool's scale set.
func ScaleSetName(p *runners.Pool) string { return "hashike-" + p.Name }

// ServerURLOf returns GitHub's web address for an API base URL: https://HOST for a GitHub
// Enterprise Server's https://HOST/api/v3, https://github.com for "" (GitHub.com).
func ServerURLOf(apiURL string) string {
	if apiURL == "" {
		return "https://github.com"
	}
	u, err := url.Parse(apiURL)
	if err != nil {
		return apiURL
	}
	u.Path, u.RawQuery = "", ""
	return u.String()
}

// ConfigURL is the scale-set config URL of a scope: SERVER/ORG, SERVER/OWNER/REPO or
// SERVER/enterprises/ENT.
func ConfigURL(server string, s runners.Scope) string {
	server = strings.TrimSuffix(server, "/")
	if server == "" {
		server = "https://github.com"
	}
	if s.Level == runners.ScopeEnterprise {
		return server + "/enterprises/" + s.Name
	}
	return server + "/" + s.Name
}

func (p *ScaleSetPort) client(s runners.Scope) (*ScaleSets, error) {
	u := ConfigURL(p.ServerURL, s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[u]; ok {
		return c, nil
	}
	cfg := p.Config
	cfg.ConfigURL = u
	c, err := NewScaleSets(cfg)
	if err != nil {
		return nil, err
	}
	if p.clients == nil {
		p.clients = map[string]*ScaleSets{}
	}
	p.clients[u] = c
	return c, nil
}

// EnsureScaleSet returns the pool's scale set, creating it.
func (p *ScaleSetPort) EnsureScaleSet(ctx context.Context, pool *runners.Pool) (int, error) {
	c, err := p.client(pool.Scope)
	if err != nil {
		return 0, err
	}
	s, err := c.Ensure(ctx, ScaleSetName(pool), pool.RunnerLabels(), pool.Scope.RunnerGroup)
	if err != nil {
		return 0, err
	}
	return s.ID, nil
}

// Listen opens the scale set's session.
func (p *ScaleSetPort) Listen(ctx context.Context, pool *runners.Pool, scaleSetID int, owner string) (runners.Session, error) {
	c, err := p.client(pool.Scope)
	if err != nil {
		return nil, err
	}
	s, err := c.Listen(ctx, scaleSetID, owner)
	if err != nil {
		return nil, err
	}
	return portSession{s}, nil
}

// GenerateScaleSetJIT registers a runner of the scale set.
func (p *ScaleSetPort) GenerateScaleSetJIT(ctx context.Context, pool *runners.Pool, scaleSetID int, name string) (runners.JIT, error) {
	c, err := p.client(pool.Scope)
	if err != nil {
		return runners.JIT{}, err
	}
	jit, err := c.GenerateJITConfig(ctx, scaleSetID, name)
	if err != nil {
		return runners.JIT{}, err
	}
	return runners.JIT{RunnerID: jit.RunnerID, Config: jit.Config.Reveal()}, nil
}

// portSession is a Session in the runners package's types.
type portSession struct{ s *Session }

func (s portSession) Stats() (runners.ScaleSetStats, bool) {
	st, ok := s.s.Stats()
	return runners.ScaleSetStats(st), ok
}

func jobsOf(es []JobEvent) []runners.ScaleSetJob {
	out := make([]runners.ScaleSetJob, 0, len(es))
	for _, e := range es {
		out = append(out, runners.ScaleSetJob{RequestID: e.RequestID, Labels: e.Labels, RunnerName: e.RunnerName,
			QueueTime: e.QueueTime, ScaleSetAssignTime: e.ScaleSetAssignTime, RunnerAssignTime: e.RunnerAssignTime, FinishTime: e.FinishTime})
	}
	return out
}

func (s portSession) Next(ctx context.Context, maxCapacity int) (runners.ScaleSetMessage, bool, error) {
	b, ok, err := s.s.Next(ctx, maxCapacity)
	if err != nil || !ok {
		return runners.ScaleSetMessage{}, ok, err
	}
	m := runners.ScaleSetMessage{ID: b.ID, Available: jobsOf(b.Available), Assigned: jobsOf(b.Assigned),
		Started: jobsOf(b.Started), Completed: jobsOf(b.Completed)}
	if b.HasStats {
		st := runners.ScaleSetStats(b.Stats)
		m.Stats = &st
	}
	return m, true, nil
}

func (s portSession) Ack(ctx context.Context, m runners.ScaleSetMessage) error {
	return s.s.Ack(ctx, Batch{ID: m.ID})
}

func (s portSession) Acquire(ctx context.Context, requestIDs []int64) ([]int64, error) {
	return s.s.Acquire(ctx, requestIDs)
}

func (s portSession) Close(ctx context.Context) error { return s.s.Close(ctx) }
