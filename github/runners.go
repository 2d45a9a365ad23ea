package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/hashike/hashike"
)

// ScopeKind is where runners are registered.
type ScopeKind string

const (
	// ScopeRepo registers runners to one repository ("owner/repo").
	ScopeRepo ScopeKind = "repo"
	// ScopeOrg registers runners to an organization.
	ScopeOrg ScopeKind = "org"
	// ScopeEnterprise registers runners to an enterprise (PAT only).
	ScopeEnterprise ScopeKind = "enterprise"
)

// Scope is a runner registration scope: Kind and Name ("owner/repo", the org or the enterprise).
type Scope struct {
	Kind ScopeKind
	Name string
}

func (s Scope) String() string { return string(s.Kind) + ":" + s.Name }

// Validate reports a malformed scope as EInvalid.
func (s Scope) Validate() error {
	switch s.Kind {
	case ScopeRepo:
		o, r, ok := strings.Cut(s.Name, "/")
		if !ok || o == "" || r == "" || strings.Contains(r, "/") {
			return hashike.Errorf(hashike.EInvalid, "github: repository scope %q is not owner/repo", s.Name)
		}
	case ScopeOrg, ScopeEnterprise:
		if s.Name == "" || strings.Contains(s.Name, "/") {
			return hashike.Errorf(hashike.EInvalid, "github: %s scope name %q is invalid", s.Kind, s.Name)
		}
	default:
		return hashike.Errorf(hashike.EInvalid, "github: unknown scope kind %q (repo, org or enterprise)", s.Kind)
	}
	return nil
}

// JITConfig is an encoded just-in-time runner configuration: a single-use credential that
// registers one runner. It prints as [REDACTED]; Reveal gives the value to pass to the runner
// (ACTIONS_RUNNER_INPUT_JITCONFIG or run.sh --jitconfig).
type JITConfig struct{ value string }

// Reveal returns the encoded config.
func (j JITConfig) Reveal() string { return j.value }

// Empty reports whether there is no config.
func (j JITConfig) Empty() bool { return j.value == "" }

func (JITConfig) String() string               { return "[REDACTED]" }
func (JITConfig) GoString() string             { return "[REDACTED]" }
func (JITConfig) LogValue() slog.Value         { return slog.StringValue("[REDACTED]") }
func (JITConfig) MarshalJSON() ([]byte, error) { return json.Marshal("[REDACTED]") }

// JITRequest asks for one runner's JIT config.
type JITRequest struct {
	// Name must be unique within the scope (GitHub answers 409 otherwise).
	Name   string
	Labels []string
	// RunnerGroupID is the runner group; 1 (Default) when zero.
	RunnerGroupID int64
	// WorkFolder is the runner's work directory; "_work" when empty.
	WorkFolder string
}

// JIT is a generated runner: its id (listed offline until it connects) and its config.
type JIT struct {
	RunnerID int64
	Name     string
	Config   JITConfig
}

// Runner is a self-hosted runner as GitHub lists it.
type Runner struct {
	ID      int64
	Name    string
	Labels  []string
	Online  bool
	Busy    bool
	GroupID int64
}

// Idle is registered, online and not busy.
func (r Runner) Idle() bool { return r.Online && !r.Busy }

func runnerOf(r *gh.Runner) Runner {
	out := Runner{ID: r.GetID(), Name: r.GetName(), Online: r.GetStatus() == "online", Busy: r.GetBusy(), GroupID: r.GetRunnerGroupID()}
	for _, l := range r.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}

// GenerateJITConfig creates a runner registration at scope and returns its JIT config: one API
// call (POST .../actions/runners/generate-jitconfig, 5 secondary-limit points). Not idempotent:
// a name already taken is EConflict. Errors never contain the config.
func (c *Client) GenerateJITConfig(ctx context.Context, scope Scope, req JITRequest) (JIT, error) {
	if err := scope.Validate(); err != nil {
		return JIT{}, err
	}
	if req.Name == "" || len(req.Labels) == 0 {
		return JIT{}, hashike.Errorf(hashike.EInvalid, "github: a JIT runner needs a name and at least one label")
	}
	body := gh.CreateJITConfigRequest{Name: req.Name, Labels: req.Labels, RunnerGroupID: req.RunnerGroupID}
	if body.RunnerGroupID == 0 {
		body.RunnerGroupID = 1
	}
	if req.WorkFolder != "" {
		body.WorkFolder = &req.WorkFolder
	}
	var out *gh.JITRunnerConfig
	op := fmt.Sprintf("generate JIT config for runner %s at %s", req.Name, scope)
	err := c.call(ctx, op, func() (resp *gh.Response, err error) {
		switch scope.Kind {
		case ScopeRepo:
			o, r, _ := strings.Cut(scope.Name, "/")
			out, resp, err = c.gh.Actions.CreateRepoJITConfig(ctx, o, r, body)
		case ScopeOrg:
			out, resp, err = c.gh.Actions.CreateOrgJITConfig(ctx, scope.Name, body)
		case ScopeEnterprise:
			out, resp, err = c.gh.Enterprise.CreateJITConfig(ctx, scope.Name, body)
		}
		return resp, err
	})
	if err != nil {
		return JIT{}, err
	}
	if out == nil || out.GetEncodedJITConfig() == "" || out.Runner == nil {
		return JIT{}, fmt.Errorf("%s: GitHub returned no config", op)
	}
	return JIT{RunnerID: out.Runner.GetID(), Name: out.Runner.GetName(), Config: JITConfig{out.GetEncodedJITConfig()}}, nil
}

// RunnerFilter selects runners: by name prefix and/or one label (both when both are set).
type RunnerFilter struct {
	NamePrefix string
	Label      string
}

func (f RunnerFilter) match(r Runner) bool {
	if !strings.HasPrefix(r.Name, f.NamePrefix) {
		return false
	}
	if f.Label == "" {
		return true
	}
	for _, l := range r.Labels {
		if strings.EqualFold(l, f.Label) {
			return true
		}
	}
	return false
}

// ListRunners lists the runners at scope that match filter, following every page (100 a page:
// one API call per 100 runners). It is for sweeps, not the per-job hot path.
func (c *Client) ListRunners(ctx context.Context, scope Scope, filter RunnerFilter) ([]Runner, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	opts := &gh.ListRunnersOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	var out []Runner
	for {
		var page *gh.Runners
		var resp *gh.Response
		err := c.call(ctx, fmt.Sprintf("list runners at %s (page %d)", scope, max(1, opts.Page)), func() (r *gh.Response, err error) {
			switch scope.Kind {
			case ScopeRepo:
				o, n, _ := strings.Cut(scope.Name, "/")
				page, resp, err = c.gh.Actions.ListRunners(ctx, o, n, opts)
			case ScopeOrg:
				page, resp, err = c.gh.Actions.ListOrganizationRunners(ctx, scope.Name, opts)
			case ScopeEnterprise:
				page, resp, err = c.gh.Enterprise.ListRunners(ctx, scope.Name, opts)
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range page.Runners {
			if rr := runnerOf(r); filter.match(rr) {
				out = append(out, rr)
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// GetRunner returns one runner; ENotFound when GitHub does not list it (never registered and
// removed, completed and removed, or deleted).
func (c *Client) GetRunner(ctx context.Context, scope Scope, id int64) (Runner, error) {
	if err := scope.Validate(); err != nil {
		return Runner{}, err
	}
	var r *gh.Runner
	err := c.call(ctx, fmt.Sprintf("get runner %d at %s", id, scope), func() (resp *gh.Response, err error) {
		switch scope.Kind {
		case ScopeRepo:
			o, n, _ := strings.Cut(scope.Name, "/")
			r, resp, err = c.gh.Actions.GetRunner(ctx, o, n, id)
		case ScopeOrg:
			r, resp, err = c.gh.Actions.GetOrganizationRunner(ctx, scope.Name, id)
		case ScopeEnterprise:
			r, resp, err = c.gh.Enterprise.GetRunner(ctx, scope.Name, id)
		}
		return resp, err
	})
	if err != nil {
		return Runner{}, err
	}
	return runnerOf(r), nil
}

// ErrRunnerBusy is in the chain of RemoveRunner's error when the runner is running a job.
var ErrRunnerBusy = errors.New("runner is running a job")

// RemoveRunner deregisters a runner. Idempotent: a runner GitHub does not know (404) is
// success. A busy runner is refused with an EConflict error wrapping ErrRunnerBusy; callers
// retry after its job ends (GitHub then removes an ephemeral runner itself).
func (c *Client) RemoveRunner(ctx context.Context, scope Scope, id int64) error {
	if err := scope.Validate(); err != nil {
		return err
	}
	op := fmt.Sprintf("remove runner %d at %s", id, scope)
	var status int
	err := c.call(ctx, op, func() (resp *gh.Response, err error) {
		switch scope.Kind {
		case ScopeRepo:
			o, n, _ := strings.Cut(scope.Name, "/")
			resp, err = c.gh.Actions.RemoveRunner(ctx, o, n, id)
		case ScopeOrg:
			resp, err = c.gh.Actions.RemoveOrganizationRunner(ctx, scope.Name, id)
		case ScopeEnterprise:
			resp, err = c.gh.Enterprise.RemoveRunner(ctx, scope.Name, id)
		}
		status = statusOf(resp)
		return resp, err
	})
	switch {
	case err == nil, hashike.ErrorCodeOf(err) == hashike.ENotFound:
		return nil
	case status == http.StatusUnprocessableEntity:
		return &hashike.Error{Code: hashike.EConflict, Message: op, Err: ErrRunnerBusy}
	}
	return err
}

// QueuedJob is a workflow job still waiting for a runner.
type QueuedJob struct {
	ID        int64
	RunID     int64
	Repo      string
	Name      string
	Labels    []string
	CreatedAt time.Time
}

// QueuedJobs lists the jobs of repo ("owner/repo") still queued: the rescan that makes a lost
// webhook only a delay. Costly: it lists queued and in-progress workflow runs (a run with one
// job started still has queued ones), then each run's jobs, 100 a page.
func (c *Client) QueuedJobs(ctx context.Context, repo string) ([]QueuedJob, error) {
	if err := (Scope{Kind: ScopeRepo, Name: repo}).Validate(); err != nil {
		return nil, err
	}
	owner, name, _ := strings.Cut(repo, "/")
	var runIDs []int64
	for _, status := range []string{"queued", "in_progress"} {
		opts := &gh.ListWorkflowRunsOptions{Status: status, ListOptions: gh.ListOptions{PerPage: 100}}
		for {
			var runs *gh.WorkflowRuns
			var resp *gh.Response
			err := c.call(ctx, fmt.Sprintf("list %s workflow runs of %s", status, repo), func() (r *gh.Response, err error) {
				runs, resp, err = c.gh.Actions.ListRepositoryWorkflowRuns(ctx, owner, name, opts)
				return resp, err
			})
			if err != nil {
				return nil, err
			}
			for _, r := range runs.WorkflowRuns {
				runIDs = append(runIDs, r.GetID())
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
	}
	var out []QueuedJob
	for _, runID := range runIDs {
		opts := &gh.ListWorkflowJobsOptions{Filter: "latest", ListOptions: gh.ListOptions{PerPage: 100}}
		for {
			var jobs *gh.Jobs
			var resp *gh.Response
			err := c.call(ctx, fmt.Sprintf("list jobs of workflow run %d of %s", runID, repo), func() (r *gh.Response, err error) {
				jobs, resp, err = c.gh.Actions.ListWorkflowJobs(ctx, owner, name, runID, opts)
				return resp, err
			})
			if hashike.ErrorCodeOf(err) == hashike.ENotFound {
				break // the run went away between the two calls
			}
			if err != nil {
				return nil, err
			}
			for _, j := range jobs.Jobs {
				if j.GetStatus() != "queued" {
					continue
				}
				out = append(out, QueuedJob{ID: j.GetID(), RunID: j.GetRunID(), Repo: repo, Name: j.GetName(),
					Labels: j.Labels, CreatedAt: j.GetCreatedAt().Time})
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
	}
	return out, nil
}

// FetchRateLimit asks GitHub for the primary budget and the runner-registration bucket (one
// call that does not count against the primary budget).
func (c *Client) FetchRateLimit(ctx context.Context) (core, registration RateLimit, err error) {
	var rl *gh.RateLimits
	err = c.call(ctx, "get rate limit", func() (resp *gh.Response, err error) {
		rl, resp, err = c.gh.RateLimit.Get(ctx)
		return resp, err
	})
	if err != nil {
		return core, registration, err
	}
	conv := func(r *gh.Rate) RateLimit {
		if r == nil {
			return RateLimit{}
		}
		return RateLimit{Limit: r.Limit, Remaining: r.Remaining, Reset: r.Reset.Time, Known: true}
	}
	return conv(rl.Core), conv(rl.ActionsRunnerRegistration), nil
}

// RunnerGroupID resolves a runner group's name at an org or enterprise scope (JIT configs take
// the id). ENotFound when there is no such group; repository runners have only the Default
// group (id 1), so a repo scope is EInvalid. One API call per 100 groups: resolve once at start.
func (c *Client) RunnerGroupID(ctx context.Context, scope Scope, name string) (int64, error) {
	if err := scope.Validate(); err != nil {
		return 0, err
	}
	if scope.Kind == ScopeRepo {
		return 0, hashike.Errorf(hashike.EInvalid, "github: runner groups belong to orgs and enterprises, not to repository %s", scope.Name)
	}
	lo := gh.ListOptions{PerPage: 100}
	for {
		var names []string
		var ids []int64
		var resp *gh.Response
		err := c.call(ctx, fmt.Sprintf("list runner groups at %s", scope), func() (r *gh.Response, err error) {
			if scope.Kind == ScopeOrg {
				var gs *gh.RunnerGroups
				gs, resp, err = c.gh.Actions.ListOrganizationRunnerGroups(ctx, scope.Name, &gh.ListOrgRunnerGroupOptions{ListOptions: lo})
				if gs != nil {
					for _, g := range gs.RunnerGroups {
						names, ids = append(names, g.GetName()), append(ids, g.GetID())
					}
				}
			} else {
				var gs *gh.EnterpriseRunnerGroups
				gs, resp, err = c.gh.Enterprise.ListRunnerGroups(ctx, scope.Name, &gh.ListEnterpriseRunnerGroupOptions{ListOptions: lo})
				if gs != nil {
					for _, g := range gs.RunnerGroups {
						names, ids = append(names, g.GetName()), append(ids, g.GetID())
					}
				}
			}
			return resp, err
		})
		if err != nil {
			return 0, err
		}
		for i, n := range names {
			if n == name {
				return ids[i], nil
			}
		}
		if resp.NextPage == 0 {
			return 0, hashike.Errorf(hashike.ENotFound, "github: no runner group %q at %s", name, scope)
		}
		lo.Page = resp.NextPage
	}
}

// Job is a workflow job's state as GitHub reports it.
type Job struct {
	ID          int64
	RunID       int64
	Repo        string
	Name        string
	Labels      []string
	Status      string // queued | in_progress | completed (or waiting, pending, requested)
	Conclusion  string // when completed: success, failure, cancelled, skipped, timed_out, ...
	RunnerID    int64
	RunnerName  string
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
}

// Queued reports whether the job still waits for a runner.
func (j Job) Queued() bool { return j.Status == "queued" }

// GetJob returns one job of repo ("owner/repo"): the cheap "is it still queued?" check (one
// API call) for a job a webhook announced. ENotFound when GitHub does not know it.
func (c *Client) GetJob(ctx context.Context, repo string, id int64) (Job, error) {
	if err := (Scope{Kind: ScopeRepo, Name: repo}).Validate(); err != nil {
		return Job{}, err
	}
	owner, name, _ := strings.Cut(repo, "/")
	var j *gh.WorkflowJob
	err := c.call(ctx, fmt.Sprintf("get job %d of %s", id, repo), func() (resp *gh.Response, err error) {
		j, resp, err = c.gh.Actions.GetWorkflowJobByID(ctx, owner, name, id)
		return resp, err
	})
	if err != nil {
		return Job{}, err
	}
	return Job{ID: j.GetID(), RunID: j.GetRunID(), Repo: repo, Name: j.GetName(), Labels: j.Labels, Status: j.GetStatus(),
		Conclusion: j.GetConclusion(), RunnerID: j.GetRunnerID(), RunnerName: j.GetRunnerName(),
		CreatedAt: j.GetCreatedAt().Time, StartedAt: j.GetStartedAt().Time, CompletedAt: j.GetCompletedAt().Time}, nil
}
