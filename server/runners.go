package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/runners"
)

// The runner runs of GitHub Actions runner pools (the runners.Runs port).
const (
	// TriggerRunner is the trigger of a runner run: one ephemeral GitHub Actions runner of a
	// pool, started by the runner controller. It is never retried (the controller starts a
	// new runner instead).
	TriggerRunner = "runner"
	// EnvRunnerJITConfig is the secret environment variable carrying a runner's JIT config.
	EnvRunnerJITConfig = "ACTIONS_RUNNER_INPUT_JITCONFIG"
	// runnerJITRef is the valueFrom of the JIT config's secret reference in a runner run's
	// spec, a held secret (hashike.HeldSecretPrefix): the value is never stored, only held in
	// the memory of the replica that created the run, which supervises it and gives it to the
	// backend (on ECS: a RunTask containerOverrides environment variable).
	runnerJITRef = hashike.HeldSecretPrefix + "runner-jit-config"
	// runnerKeyPrefix starts a runner run's idempotency key, "runner/<pool>/<name>" (an
	// enqueue's keys start with "job/": they never collide).
	runnerKeyPrefix = "runner/"
	// runnerRunsRecent is how far back ListRunnerRuns lists ended runner runs;
	// runnerRunsLimit bounds each of its store queries.
	runnerRunsRecent = time.Hour
	runnerRunsLimit  = 2000
	// ReasonRunnerJITLost is the start_failed reason of a runner run whose JIT config is gone.
	ReasonRunnerJITLost = "the runner's JIT config was lost (the replica that created this run restarted before starting it; it is never stored): the runner controller replaces the runner"
)

// runnerSecrets holds the JIT configs of the runner runs this replica created and has not
// started yet, by run ID.
type runnerSecrets struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *runnerSecrets) put(id, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]string{}
	}
	r.m[id] = v
}

func (r *runnerSecrets) get(id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[id]
	return v, ok
}

func (r *runnerSecrets) drop(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
}

var _ runners.Runs = (*Server)(nil)

// StartRunner implements runners.Runs: it creates a run of the pool's job (the job's latest
// version), owned by this replica and supervised here at once (never claimed by another
// replica, which would not have the JIT config), idempotent by the runner's name. The run's
// containers get the JIT config as the secret ACTIONS_RUNNER_INPUT_JITCONFIG: its spec holds
// only a reference, the value stays in this replica's memory until the task started (and
// is masked in the run's logs). A second call with the same name returns the first run.
func (s *Server) StartRunner(ctx context.Context, req runners.StartRequest) (string, error) {
	if req.JITConfig == "" {
		return "", hashike.Errorf(hashike.EInvalid, "start runner %s: no JIT config", req.Name)
	}
	run, err := s.runnerRun(ctx, req)
	if err != nil {
		return "", err
	}
	// Held before the run exists: the reconciler may adopt it as soon as it is stored.
	s.runnerSecrets.put(run.ID, req.JITConfig)
	stored, created, err := s.createRun(ctx, run)
	if err != nil || !created {
		s.runnerSecrets.drop(run.ID)
	}
	if err != nil {
		return "", fmt.Errorf("start runner %s: create its run: %w", req.Name, err)
	}
	if !created {
		return stored.ID, nil
	}
	s.log.Info("runner run created", "run", stored.ID, "pool", req.Pool, "runner", req.Name, "job", req.Job)
	s.supervise(stored, true)
	return stored.ID, nil
}

// runnerRun makes the pending run of one runner, owned by this replica, its first essential
// container given a reference to the JIT config secret.
func (s *Server) runnerRun(ctx context.Context, req runners.StartRequest) (*hashike.Run, error) {
	if req.Pool == "" || req.Name == "" || req.Job == "" {
		return nil, hashike.Errorf(hashike.EInvalid, "start runner: pool, name and job are required")
	}
	def, v, err := s.definition(ctx, req.Job, 0)
	if err != nil {
		return nil, fmt.Errorf("start runner %s: job %s: %w", req.Name, req.Job, err)
	}
	spec := def.JobSpec.Clone()
	if s.cfg.Runners != nil && s.cfg.Runners.Plan != nil {
		if p, ok := s.cfg.Runners.Plan.Pool(req.Pool); ok {
			if err := poolFits(p, backendOf(def), &spec); err != nil {
				return nil, hashike.Errorf(hashike.EInvalid, "start runner %s: job %s: %v", req.Name, req.Job, err)
			}
		}
	}
	if len(spec.TaskDefinition.ContainerDefinitions) == 0 {
		return nil, hashike.Errorf(hashike.EInvalid, "start runner %s: job %s has no container", req.Name, req.Job)
	}
	// The runner's container is the first essential one (the first if none is).
	idx := 0
	for i, c := range spec.TaskDefinition.ContainerDefinitions {
		if c.IsEssential() {
			idx = i
			break
		}
	}
	c := &spec.TaskDefinition.ContainerDefinitions[idx]
	c.Secrets = append(slices.DeleteFunc(c.Secrets, func(sec hashike.Secret) bool { return sec.Name == EnvRunnerJITConfig }),
		hashike.Secret{Name: EnvRunnerJITConfig, ValueFrom: runnerJITRef})
	run, err := s.newRun(s.clock.Now(), newRunOpts{job: req.Job, version: v.Version, def: def, spec: &spec, queue: def.QueueName(),
		priority: def.Priority, trigger: TriggerRunner, key: runnerKeyPrefix + req.Pool + "/" + req.Name})
	if err != nil {
		return nil, fmt.Errorf("start runner %s: %w", req.Name, err)
	}
	self := s.cfg.Self
	run.State, run.Owner = hashike.StatePending, &self
	return run, nil
}

// ecsArch is runtimePlatform's cpuArchitecture of each pool architecture.
var ecsArch = map[string]string{runners.ArchAMD64: "X86_64", runners.ArchARM64: "ARM64"}

// poolFits checks that the pool's job runs on the pool's backend (which the pool's
// architecture was checked against) and, on ECS, sets the task definition's
// runtimePlatform.cpuArchitecture to the pool's architecture (amd64 when it names none),
// refusing a job whose definition asks for the other one.
func poolFits(p *runners.Pool, backend string, spec *hashike.JobSpec) error {
	want := p.Backend
	if want == "" {
		want = "local"
	}
	if backend != want {
		return fmt.Errorf("pool %s runs its runners on backend %q but the job runs on %q", p.Name, want, backend)
	}
	if backend != "ecs" {
		return nil
	}
	arch := p.Arch
	if arch == "" {
		arch = runners.ArchAMD64
	}
	cpu, ok := ecsArch[arch]
	if !ok {
		return fmt.Errorf("pool %s: unknown architecture %q", p.Name, p.Arch)
	}
	td := &spec.TaskDefinition
	if td.Extra == nil {
		td.Extra = map[string]any{}
	}
	rp := map[string]any{}
	if v, ok := td.Extra["runtimePlatform"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("runtimePlatform is not an object")
		}
		rp = maps.Clone(m)
	}
	if have, ok := rp["cpuArchitecture"]; ok && have != nil && !strings.EqualFold(fmt.Sprint(have), cpu) {
		return fmt.Errorf("pool %s is %s but the job's task definition sets runtimePlatform.cpuArchitecture %v", p.Name, arch, have)
	}
	rp["cpuArchitecture"] = cpu
	td.Extra["runtimePlatform"] = rp
	return nil
}

// runnerOf reads a runner run's pool and runner name from its idempotency key.
func runnerOf(r *hashike.Run) (pool, name string, ok bool) {
	if r.Trigger != TriggerRunner {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(r.IdempotencyKey, runnerKeyPrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

// isRunnerJITRef reports whether a secret reference is a runner's JIT config.
func isRunnerJITRef(sec hashike.Secret) bool { return sec.ValueFrom == runnerJITRef }

// runnerSpecSecrets splits a run's spec: whether it needs a runner's JIT config, and the spec
// without that reference (what Config.Secrets resolves).
func runnerSpecSecrets(spec *hashike.JobSpec) (bool, *hashike.JobSpec) {
	needs := false
	for _, c := range spec.TaskDefinition.ContainerDefinitions {
		if slices.ContainsFunc(c.Secrets, isRunnerJITRef) {
			needs = true
		}
	}
	if !needs {
		return false, spec
	}
	out := spec.Clone()
	for i := range out.TaskDefinition.ContainerDefinitions {
		c := &out.TaskDefinition.ContainerDefinitions[i]
		c.Secrets = slices.DeleteFunc(c.Secrets, isRunnerJITRef)
	}
	return true, &out
}

// ListRunnerRuns implements runners.Runs: the active runner runs and those created in the
// last hour (of the pools' jobs when the server runs runner pools), each query bounded, with
// their pool and runner name. Waiting is set while a run has no container yet.
func (s *Server) ListRunnerRuns(ctx context.Context) ([]runners.RunnerRun, error) {
	var jobs []string
	if s.cfg.Runners != nil {
		for _, p := range s.cfg.Runners.Plan.Pools() {
			if !slices.Contains(jobs, p.Job) {
				jobs = append(jobs, p.Job)
			}
		}
	}
	return s.listRunnerRuns(ctx, jobs)
}

func (s *Server) listRunnerRuns(ctx context.Context, jobs []string) ([]runners.RunnerRun, error) {
	since := s.clock.Now().Add(-runnerRunsRecent)
	seen := map[string]bool{}
	var out []runners.RunnerRun
	add := func(f hashike.RunFilter) error {
		rs, err := s.store.ListRuns(ctx, f)
		if err != nil {
			return fmt.Errorf("list runner runs: %w", err)
		}
		for _, r := range rs {
			pool, name, ok := runnerOf(r)
			if !ok || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			rr := runners.RunnerRun{ID: r.ID, Pool: pool, Name: name, Active: !r.State.Terminal(), Created: r.CreatedAt,
				Waiting: r.State == hashike.StatePending && r.StartedAt == nil}
			if r.StartedAt != nil {
				rr.Started = *r.StartedAt
			}
			out = append(out, rr)
		}
		return nil
	}
	filters := []hashike.RunFilter{{Active: true, Limit: runnerRunsLimit}, {Since: since, Limit: runnerRunsLimit}}
	if jobs != nil {
		filters = nil
		for _, j := range jobs {
			filters = append(filters, hashike.RunFilter{Job: j, Active: true, Limit: runnerRunsLimit},
				hashike.RunFilter{Job: j, Since: since, Limit: runnerRunsLimit})
		}
	}
	for _, f := range filters {
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StopRunner implements runners.Runs: it stops a runner run with reason (recorded in its
// history); one already ended is success.
func (s *Server) StopRunner(ctx context.Context, runID, reason string) error {
	run, err := s.store.GetRun(ctx, runID)
	if err != nil {
		if hashike.ErrorCodeOf(err) == hashike.ENotFound {
			return nil
		}
		return fmt.Errorf("stop runner run %s: %w", runID, err)
	}
	if run.State.Terminal() {
		return nil
	}
	if _, err := s.stopRun(ctx, run, hashike.StopUser, "runner controller: "+reason); err != nil {
		return fmt.Errorf("stop runner run %s: %w", runID, err)
	}
	return nil
}
