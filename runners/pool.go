package runners

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
)

// Pool is one kind of runner: the labels it serves and how to run one.
type Pool struct {
	// Name identifies the pool; runner names and the pool label derive from it.
	Name string `json:"name"`
	// Labels are the runs-on labels the pool's runners carry, e.g. self-hosted, linux,
	// arm64, medium. A job goes to a pool whose labels are a superset of the job's.
	Labels []string `json:"labels"`
	// Job names the hashike job whose definition runs one runner (its task definition sets
	// the size and the image). Each runner is an ordinary run of that job, with history,
	// logs, metrics and cancel; its JIT config arrives as a secret of the run.
	Job string `json:"job"`
	// Size is informational (small, medium, large, xlarge): the job's task definition holds
	// the CPU and memory.
	Size string `json:"size,omitempty"`
	// Arch is the runners' CPU architecture, "amd64" or "arm64" (runtimePlatform's
	// cpuArchitecture X86_64 or ARM64 on ECS). Empty means amd64.
	Arch string `json:"arch,omitempty"`
	// Backend is where runners run: "local" (the Docker Engine, the default) or "ecs".
	// Locally only pools of the host's architecture run.
	Backend string `json:"backend,omitempty"`
	// Max bounds the pool's runners (starting, idle and busy together). 0 means no runner.
	Max int `json:"max"`
	// MinIdle is the base count of idle runners kept waiting.
	MinIdle int `json:"minIdle,omitempty"`
	// Schedules raise MinIdle in their windows; they stack (the largest active one counts).
	Schedules []WarmSchedule `json:"schedules,omitempty"`
	// SLO, when set, sizes the idle runners from the arrival forecast instead of a count.
	SLO *SLO `json:"slo,omitempty"`
	// Scope is where the runners register.
	Scope Scope `json:"scope"`
}

// ScopeLevel is where a runner registers.
type ScopeLevel string

const (
	ScopeRepo       ScopeLevel = "repo"
	ScopeOrg        ScopeLevel = "org"
	ScopeEnterprise ScopeLevel = "enterprise"
)

// Scope is a runner's registration scope.
type Scope struct {
	Level ScopeLevel `json:"level"`
	// Name is "owner/repo", the organization or the enterprise.
	Name string `json:"name"`
	// RunnerGroup names the runner group (org and enterprise); empty means the default.
	RunnerGroup string `json:"runnerGroup,omitempty"`
}

func (s Scope) String() string {
	if s.RunnerGroup != "" {
		return fmt.Sprintf("%s %s (group %s)", s.Level, s.Name, s.RunnerGroup)
	}
	return fmt.Sprintf("%s %s", s.Level, s.Name)
}

// Arch names.
const (
	ArchAMD64 = "amd64"
	ArchARM64 = "arm64"
)

// PoolLabelPrefix prefixes the label each runner carries besides its pool's labels, tying
// it to its pool ("hashike-pool-medium-arm64"): jobs never ask for it, so it changes no
// match, and a runner found at GitHub without a run is still known by its pool.
const PoolLabelPrefix = "hashike-pool-"

// RunnerLabels are the labels a runner of p registers with.
func (p *Pool) RunnerLabels() []string {
	return append(slices.Clone(p.Labels), PoolLabelPrefix+p.Name)
}

func (p *Pool) arch() string {
	if p.Arch == "" {
		return ArchAMD64
	}
	return p.Arch
}

// Plan is a valid set of pools with their schedules compiled: what the controller keeps.
// It is immutable.
type Plan struct {
	pools  []Pool
	labels [][]string // normalized (lower case, sorted, deduplicated) labels per pool
	warm   [][]*cron.Plan
	index  map[string]int
}

// Pools returns the plan's pools in order.
func (p *Plan) Pools() []Pool { return p.pools }

// Pool returns the named pool.
func (p *Plan) Pool(name string) (*Pool, bool) {
	i, ok := p.index[name]
	if !ok {
		return nil, false
	}
	return &p.pools[i], true
}

// Compile validates pools for a host of architecture hostArch (runtime.GOARCH, passed in)
// and prepares their schedules. Every problem is reported at once in a *hashike.Error of
// code EInvalid, with paths like "pools[1].schedules[0].timeZone"; a local pool of another
// architecture is one of them, with a message saying why.
func Compile(pools []Pool, hostArch string) (*Plan, error) {
	var errs []hashike.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, hashike.FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError})
	}
	p := &Plan{pools: slices.Clone(pools), index: map[string]int{}}
	for i, pool := range pools {
		path := fmt.Sprintf("pools[%d]", i)
		switch {
		case pool.Name == "":
			add(path+".name", "is required")
		case !validName(pool.Name):
			add(path+".name", "%q: use lower-case letters, digits and '-' (at most 40)", pool.Name)
		default:
			if j, dup := p.index[pool.Name]; dup {
				add(path+".name", "%q is also pools[%d]", pool.Name, j)
			}
			p.index[pool.Name] = i
		}
		labels := normalize(pool.Labels)
		if len(labels) == 0 {
			add(path+".labels", "at least one label is required")
		}
		for _, l := range labels {
			if strings.HasPrefix(l, PoolLabelPrefix) {
				add(path+".labels", "%q: the prefix %s is hashike's", l, PoolLabelPrefix)
			}
		}
		p.labels = append(p.labels, labels)
		if pool.Job == "" {
			add(path+".job", "is required: the hashike job that runs one runner")
		}
		if err := CheckArch(&pool, hostArch); err != nil {
			add(path+".arch", "%v", err)
		}
		switch pool.Backend {
		case "", "local", "ecs":
		default:
			add(path+".backend", "unknown backend %q (use \"local\" or \"ecs\")", pool.Backend)
		}
		if pool.Max < 0 {
			add(path+".max", "%d is negative", pool.Max)
		}
		if pool.MinIdle < 0 {
			add(path+".minIdle", "%d is negative", pool.MinIdle)
		}
		var warm []*cron.Plan
		for j, s := range pool.Schedules {
			sp := fmt.Sprintf("%s.schedules[%d]", path, j)
			if s.MinIdle < 0 {
				add(sp+".minIdle", "%d is negative", s.MinIdle)
			}
			if time.Duration(s.Duration) <= 0 {
				add(sp+".duration", "is required: how long each window stays open")
			}
			c, err := cron.Compile(cron.Spec{SuspendWindows: []cron.Window{{Cron: s.Cron, Duration: s.Duration, TimeZone: s.TimeZone}}})
			var he *hashike.Error
			if errors.As(err, &he) {
				for _, f := range he.Fields {
					add(sp+strings.TrimPrefix(f.Path, "suspendWindows[0]"), "%s", f.Message)
				}
			}
			warm = append(warm, c)
		}
		p.warm = append(p.warm, warm)
		if pool.SLO != nil {
			if err := pool.SLO.validate(); err != nil {
				add(path+".slo", "%v", err)
			}
		}
		if pool.Scope.Name == "" {
			add(path+".scope.name", "is required")
		}
		switch pool.Scope.Level {
		case ScopeRepo:
			if strings.Count(pool.Scope.Name, "/") != 1 {
				add(path+".scope.name", "%q: a repo scope is owner/repo", pool.Scope.Name)
			}
		case ScopeOrg, ScopeEnterprise:
		default:
			add(path+".scope.level", "unknown level %q (use %q, %q or %q)", pool.Scope.Level, ScopeRepo, ScopeOrg, ScopeEnterprise)
		}
	}
	for i := range p.labels {
		for j := range i {
			if slices.Equal(p.labels[i], p.labels[j]) {
				add(fmt.Sprintf("pools[%d].labels", i), "same labels as pools[%d] (%s): it would never get a job", j, strings.Join(p.labels[i], ","))
			}
		}
	}
	if len(errs) > 0 {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "invalid runner pools", Fields: errs}
	}
	return p, nil
}

func validName(s string) bool {
	if len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CheckArch refuses a local pool whose architecture is not the host's: the Docker Engine
// would emulate it or fail. ECS pools run on instances of their own architecture.
func CheckArch(p *Pool, hostArch string) error {
	a := p.arch()
	if a != ArchAMD64 && a != ArchARM64 {
		return fmt.Errorf("unknown architecture %q (use %q or %q)", p.Arch, ArchAMD64, ArchARM64)
	}
	if (p.Backend == "" || p.Backend == "local") && a != hostArch {
		return fmt.Errorf("pool %s runs %s runners but this host is %s: the local backend runs only pools of the host's architecture (give the pool backend \"ecs\", or run it on a %s host)", p.Name, a, hostArch, a)
	}
	return nil
}

// normalize lower-cases labels (GitHub matches them case-insensitively), sorts them and
// drops duplicates and empty ones.
func normalize(labels []string) []string {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		if l = strings.ToLower(strings.TrimSpace(l)); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LabelKey is the canonical form of a label set, the key demand is counted by.
func LabelKey(labels []string) string { return strings.Join(normalize(labels), ",") }

// NoPoolError is the error of a job whose labels no pool serves.
type NoPoolError struct{ Labels []string }

func (e *NoPoolError) Error() string {
	return fmt.Sprintf("no runner pool serves labels [%s]: a pool must carry all of them", strings.Join(normalize(e.Labels), ", "))
}

// Match returns the pool that serves a job with labels: among the pools whose labels are a
// superset of the job's, the most specific (fewest extra labels), ties broken by the
// pools' order. A job no pool serves is a *NoPoolError.
func (p *Plan) Match(labels []string) (*Pool, error) {
	want := normalize(labels)
	best, bestExtra := -1, 0
	for i, have := range p.labels {
		if !superset(have, want) {
			continue
		}
		if extra := len(have) - len(want); best < 0 || extra < bestExtra {
			best, bestExtra = i, extra
		}
	}
	if best < 0 || len(want) == 0 {
		return nil, &NoPoolError{Labels: labels}
	}
	return &p.pools[best], nil
}

// superset reports whether sorted have contains every one of sorted want.
func superset(have, want []string) bool {
	i := 0
	for _, w := range want {
		for i < len(have) && have[i] < w {
			i++
		}
		if i == len(have) || have[i] != w {
			return false
		}
		i++
	}
	return true
}
