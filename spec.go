package hashike

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JobSpec is everything needed to run a job once: an Amazon ECS task definition (the
// RegisterTaskDefinition input, with AWS's field names) plus hashike's run options.
type JobSpec struct {
	// Backend names where the job runs: "local" (the Docker Engine, the default) or "ecs".
	Backend string `json:"backend,omitempty"`
	// TaskDefinition is the container part, exactly as ECS spells it.
	TaskDefinition TaskDefinition `json:"taskDefinition"`
	// WatchContainer names the container whose exit code is the run's. Default: the first
	// essential container.
	WatchContainer string `json:"watchContainer,omitempty"`
	// Timeout stops the task (stopTimeout, then kill) once it has run this long. 0: none.
	Timeout Duration `json:"timeout,omitempty"`
	// ECS holds the options of the ecs backend (RunTask's cluster, launch type, network...).
	ECS *ECSOptions `json:"ecs,omitempty"`
	// Base is the task definition as the job file defines it, before the per-run overrides
	// TaskDefinition includes (hashike run's command after --, -e, --cpu and --memory; the
	// server's run variables); nil when the run has none. TaskDefinition is what runs. The ecs
	// backend registers Base, so a revision matches the file, and sends the difference as
	// RunTask containerOverrides. It is hashike's, never a job file's.
	Base *TaskDefinition `json:"baseTaskDefinition,omitempty" jobfile:"-"`
}

// Filed is the task definition as the job file defines it: Base, or TaskDefinition when the
// run has no per-run overrides.
func (s *JobSpec) Filed() *TaskDefinition {
	if s.Base != nil {
		return s.Base
	}
	return &s.TaskDefinition
}

// KeepBase records the task definition as it is now as Base, unless Base is already set:
// called before per-run changes are made to TaskDefinition.
func (s *JobSpec) KeepBase() {
	if s.Base == nil {
		base := deepCopy(s.TaskDefinition)
		s.Base = &base
	}
}

// Duration is a time.Duration written as Go's duration text ("90s", "1h30m").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10m\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go duration text, optionally led by whole days ("7d", "1d12h": a day
// is 24 hours), and refuses negative values.
func ParseDuration(s string) (time.Duration, error) {
	invalid := fmt.Errorf("invalid duration %q (use a value such as \"90s\", \"10m\", \"1h30m\" or \"7d\")", s)
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 && strings.Trim(s[:i], "0123456789") == "" {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > maxDays {
			return 0, invalid
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
		if rest == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(rest)
	if err != nil || (days > 0 && strings.HasPrefix(rest, "-")) {
		return 0, invalid
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	if days > math.MaxInt64-v {
		return 0, invalid
	}
	return days + v, nil
}

// maxDays is the most whole days a time.Duration holds.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// TaskDefinition mirrors the ECS RegisterTaskDefinition input. Fields ECS knows but hashike
// does not model are kept in Extra (by their ECS names) so a backend can honour, refuse or
// warn about them; they are never silently dropped.
type TaskDefinition struct {
	Family                  string                `json:"family"`
	TaskRoleArn             string                `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn        string                `json:"executionRoleArn,omitempty"`
	NetworkMode             string                `json:"networkMode,omitempty"`
	ContainerDefinitions    []ContainerDefinition `json:"containerDefinitions"`
	Volumes                 []Volume              `json:"volumes,omitempty"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities,omitempty"`
	// Cpu is the task's CPU in ECS units (1024 = 1 vCPU), or "1 vCPU"; a number is accepted.
	Cpu TaskSize `json:"cpu,omitempty"`
	// Memory is the task's memory in MiB, or "2 GB"; a number is accepted.
	Memory TaskSize `json:"memory,omitempty"`
	Tags   []Tag    `json:"tags,omitempty"`
	// Extra holds the other ECS task definition fields, verbatim.
	Extra map[string]any `json:"-"`
}

// ContainerDefinition mirrors an ECS container definition.
type ContainerDefinition struct {
	Name              string                `json:"name"`
	Image             string                `json:"image"`
	Cpu               int                   `json:"cpu,omitempty"`
	Memory            *int                  `json:"memory,omitempty"`
	MemoryReservation *int                  `json:"memoryReservation,omitempty"`
	Essential         *bool                 `json:"essential,omitempty"`
	EntryPoint        []string              `json:"entryPoint,omitempty"`
	Command           []string              `json:"command,omitempty"`
	Environment       []KeyValuePair        `json:"environment,omitempty"`
	Secrets           []Secret              `json:"secrets,omitempty"`
	MountPoints       []MountPoint          `json:"mountPoints,omitempty"`
	DependsOn         []ContainerDependency `json:"dependsOn,omitempty"`
	StartTimeout      *int                  `json:"startTimeout,omitempty"`
	// StopTimeout is the seconds between SIGTERM and SIGKILL when the task is stopped
	// (ECS default 30).
	StopTimeout            *int              `json:"stopTimeout,omitempty"`
	WorkingDirectory       string            `json:"workingDirectory,omitempty"`
	User                   string            `json:"user,omitempty"`
	HealthCheck            *HealthCheck      `json:"healthCheck,omitempty"`
	DockerLabels           map[string]string `json:"dockerLabels,omitempty"`
	ReadonlyRootFilesystem *bool             `json:"readonlyRootFilesystem,omitempty"`
	Ulimits                []Ulimit          `json:"ulimits,omitempty"`
	LogConfiguration       *LogConfiguration `json:"logConfiguration,omitempty"`
	// Extra holds the other ECS container definition fields, verbatim.
	Extra map[string]any `json:"-"`
}

type KeyValuePair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Secret is a reference: ValueFrom names where the value lives (an ARN on ECS; locally a key
// of the secrets file). The value itself never enters a JobSpec.
type Secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type MountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// Dependency conditions, as ECS names them.
const (
	ConditionStart    = "START"
	ConditionComplete = "COMPLETE"
	ConditionSuccess  = "SUCCESS"
	ConditionHealthy  = "HEALTHY"
)

type ContainerDependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    *int     `json:"interval,omitempty"`
	Timeout     *int     `json:"timeout,omitempty"`
	Retries     *int     `json:"retries,omitempty"`
	StartPeriod *int     `json:"startPeriod,omitempty"`
}

type Ulimit struct {
	Name      string `json:"name"`
	SoftLimit int64  `json:"softLimit"`
	HardLimit int64  `json:"hardLimit"`
}

type LogConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

// Volume is an ECS task volume. With Host.SourcePath it is a bind mount; with
// DockerVolumeConfiguration a Docker volume; with neither, an empty volume that lives as long
// as the task.
type Volume struct {
	Name                      string                     `json:"name"`
	Host                      *HostVolumeProperties      `json:"host,omitempty"`
	DockerVolumeConfiguration *DockerVolumeConfiguration `json:"dockerVolumeConfiguration,omitempty"`
	Extra                     map[string]any             `json:"-"`
}

type HostVolumeProperties struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"` // "task" (default) or "shared"
	Autoprovision *bool             `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TaskSize is a task-level cpu or memory value: ECS takes it as a string ("256", "1 vCPU",
// "2 GB"); job files may also write a plain number.
type TaskSize string

// CPUUnits parses a task cpu value into ECS CPU units. "" is 0.
func (s TaskSize) CPUUnits() (int, error) {
	return parseSize(string(s), "vcpu", 1024, "CPU units")
}

// MemoryMiB parses a task memory value into MiB. "" is 0.
func (s TaskSize) MemoryMiB() (int, error) {
	return parseSize(string(s), "gb", 1024, "MiB")
}

func parseSize(s, unit string, perUnit float64, base string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, nil
	}
	mul := 1.0
	if strings.HasSuffix(t, unit) {
		t = strings.TrimSpace(strings.TrimSuffix(t, unit))
		mul = perUnit
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*mul > 1<<31 {
		return 0, fmt.Errorf("%q is not a size: use a whole number of %s or a value such as \"1 %s\"", s, base, map[string]string{"vcpu": "vCPU", "gb": "GB"}[unit])
	}
	v := f * mul
	if v != float64(int(v)) {
		return 0, fmt.Errorf("%q is not a whole number of %s", s, base)
	}
	return int(v), nil
}

// Resources is an amount of CPU (ECS units, 1024 = 1 vCPU) and memory (MiB).
type Resources struct {
	CPU       int `json:"cpu"`
	MemoryMiB int `json:"memoryMiB"`
}

// IsEssential reports whether c is essential (ECS default: true).
func (c *ContainerDefinition) IsEssential() bool { return c.Essential == nil || *c.Essential }

// StopTimeoutOrDefault is the container's stopTimeout, or ECS's default of 30 s.
func (c *ContainerDefinition) StopTimeoutOrDefault() time.Duration {
	if c.StopTimeout != nil {
		return time.Duration(*c.StopTimeout) * time.Second
	}
	return 30 * time.Second
}

// Container returns the container definition with the given name, or nil.
func (t *TaskDefinition) Container(name string) *ContainerDefinition {
	for i := range t.ContainerDefinitions {
		if t.ContainerDefinitions[i].Name == name {
			return &t.ContainerDefinitions[i]
		}
	}
	return nil
}

// Watched returns the name of the container whose exit code is the run's.
func (s *JobSpec) Watched() string {
	if s.WatchContainer != "" {
		return s.WatchContainer
	}
	for _, c := range s.TaskDefinition.ContainerDefinitions {
		if c.IsEssential() {
			return c.Name
		}
	}
	if len(s.TaskDefinition.ContainerDefinitions) > 0 {
		return s.TaskDefinition.ContainerDefinitions[0].Name
	}
	return ""
}

// Resources returns the task's size: the task-level cpu and memory when given, otherwise the
// sum over its containers (memory: the hard limit, or the reservation when there is none).
// Invalid sizes count as 0; Validate reports them.
func (s *JobSpec) Resources() Resources {
	td := &s.TaskDefinition
	cpu, _ := td.Cpu.CPUUnits()
	mem, _ := td.Memory.MemoryMiB()
	if cpu == 0 || mem == 0 {
		var sumCPU, sumMem int
		for _, c := range td.ContainerDefinitions {
			sumCPU += c.Cpu
			sumMem += c.MemoryMiB()
		}
		if cpu == 0 {
			cpu = sumCPU
		}
		if mem == 0 {
			mem = sumMem
		}
	}
	return Resources{CPU: cpu, MemoryMiB: mem}
}

// MemoryMiB is the memory the container is sized by: its hard limit, or its reservation.
func (c *ContainerDefinition) MemoryMiB() int {
	if c.Memory != nil {
		return *c.Memory
	}
	if c.MemoryReservation != nil {
		return *c.MemoryReservation
	}
	return 0
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// Validate reports every problem with the spec at once, each with its field path. It checks
// what ECS's RegisterTaskDefinition would refuse plus hashike's own options; what a particular
// backend cannot do is its Check's business.
func (s *JobSpec) Validate() []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: SeverityError})
	}
	warn := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: SeverityWarning})
	}
	switch s.Backend {
	case "", "local", "ecs":
	default:
		add("backend", "unknown backend %q (use \"local\" or \"ecs\")", s.Backend)
	}
	td := &s.TaskDefinition
	const tdp = "taskDefinition"
	if td.Family == "" {
		add(tdp+".family", "is required")
	} else if !nameRE.MatchString(td.Family) {
		add(tdp+".family", "%q must be 1-255 letters, digits, hyphens or underscores", td.Family)
	}
	taskCPU, err := td.Cpu.CPUUnits()
	if err != nil {
		add(tdp+".cpu", "%v", err)
	}
	taskMem, err := td.Memory.MemoryMiB()
	if err != nil {
		add(tdp+".memory", "%v", err)
	}
	if len(td.ContainerDefinitions) == 0 {
		add(tdp+".containerDefinitions", "needs at least one container")
	}
	if len(td.ContainerDefinitions) > 10 {
		add(tdp+".containerDefinitions", "has %d containers; ECS allows at most 10 per task", len(td.ContainerDefinitions))
	}
	volumes := map[string]bool{}
	for i, v := range td.Volumes {
		p := fmt.Sprintf("%s.volumes[%d]", tdp, i)
		switch {
		case v.Name == "":
			add(p+".name", "is required")
		case !nameRE.MatchString(v.Name):
			add(p+".name", "%q must be 1-255 letters, digits, hyphens or underscores", v.Name)
		case volumes[v.Name]:
			add(p+".name", "duplicate volume name %q", v.Name)
		}
		volumes[v.Name] = true
		if v.Host != nil && v.Host.SourcePath != "" && !strings.HasPrefix(v.Host.SourcePath, "/") {
			add(p+".host.sourcePath", "%q must be an absolute path", v.Host.SourcePath)
		}
		if v.Host != nil && v.DockerVolumeConfiguration != nil {
			add(p, "give either host or dockerVolumeConfiguration, not both")
		}
		if d := v.DockerVolumeConfiguration; d != nil && d.Scope != "" && d.Scope != "task" && d.Scope != "shared" {
			add(p+".dockerVolumeConfiguration.scope", "%q must be \"task\" or \"shared\"", d.Scope)
		}
	}
	names := map[string]int{}
	essential := 0
	sumCPU, sumMem := 0, 0
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("%s.containerDefinitions[%d]", tdp, i)
		switch {
		case c.Name == "":
			add(p+".name", "is required")
		case !nameRE.MatchString(c.Name):
			add(p+".name", "%q must be 1-255 letters, digits, hyphens or underscores", c.Name)
		default:
			if j, dup := names[c.Name]; dup {
				add(p+".name", "duplicate container name %q (also containerDefinitions[%d])", c.Name, j)
			}
			names[c.Name] = i
		}
		if strings.TrimSpace(c.Image) == "" {
			add(p+".image", "is required")
		}
		if c.IsEssential() {
			essential++
		}
		if c.Cpu < 0 {
			add(p+".cpu", "must not be negative")
		}
		sumCPU += c.Cpu
		if c.Memory != nil && *c.Memory < 6 {
			add(p+".memory", "%d MiB is below ECS's minimum of 6 MiB", *c.Memory)
		}
		if c.MemoryReservation != nil && *c.MemoryReservation < 6 {
			add(p+".memoryReservation", "%d MiB is below ECS's minimum of 6 MiB", *c.MemoryReservation)
		}
		if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
			add(p+".memoryReservation", "%d MiB exceeds the container's memory limit of %d MiB", *c.MemoryReservation, *c.Memory)
		}
		if taskMem == 0 && c.Memory == nil && c.MemoryReservation == nil && td.Memory == "" {
			add(p, "needs memory or memoryReservation when the task has no memory")
		}
		sumMem += c.MemoryMiB()
		if c.StopTimeout != nil && (*c.StopTimeout < 0 || *c.StopTimeout > 120) {
			add(p+".stopTimeout", "%d must be between 0 and 120 seconds", *c.StopTimeout)
		}
		if c.StartTimeout != nil && *c.StartTimeout < 0 {
			add(p+".startTimeout", "must not be negative")
		}
		seen := map[string]string{}
		for j, e := range c.Environment {
			if e.Name == "" {
				add(fmt.Sprintf("%s.environment[%d].name", p, j), "is required")
			}
			seen[e.Name] = "environment"
		}
		for j, sec := range c.Secrets {
			sp := fmt.Sprintf("%s.secrets[%d]", p, j)
			if sec.Name == "" {
				add(sp+".name", "is required")
			} else if where, dup := seen[sec.Name]; dup {
				if where == "environment" {
					// ECS registers such a task definition (ecspresso's own tests deploy
					// one); the variable then has two sources.
					warn(sp+".name", "%q is also set in environment: give the variable one source", sec.Name)
				} else {
					add(sp+".name", "%q is also set in %s", sec.Name, where)
				}
			}
			seen[sec.Name] = "secrets"
			if sec.ValueFrom == "" {
				add(sp+".valueFrom", "is required")
			}
		}
		for j, m := range c.MountPoints {
			mp := fmt.Sprintf("%s.mountPoints[%d]", p, j)
			if m.SourceVolume == "" {
				add(mp+".sourceVolume", "is required")
			} else if !volumes[m.SourceVolume] {
				add(mp+".sourceVolume", "names no volume of the task (%s)", strings.Join(slices.Sorted(maps.Keys(volumes)), ", "))
			}
			if !strings.HasPrefix(m.ContainerPath, "/") {
				add(mp+".containerPath", "%q must be an absolute path", m.ContainerPath)
			}
		}
		if hc := c.HealthCheck; hc != nil {
			hp := p + ".healthCheck"
			if len(hc.Command) == 0 {
				add(hp+".command", "is required")
			} else if hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL" {
				add(hp+".command", "must start with \"CMD\" or \"CMD-SHELL\"")
			}
			checkRange := func(field string, v *int, lo, hi int) {
				if v != nil && (*v < lo || *v > hi) {
					add(hp+"."+field, "%d must be between %d and %d", *v, lo, hi)
				}
			}
			checkRange("interval", hc.Interval, 5, 300)
			checkRange("timeout", hc.Timeout, 2, 60)
			checkRange("retries", hc.Retries, 1, 10)
			checkRange("startPeriod", hc.StartPeriod, 0, 300)
		}
	}
	if len(td.ContainerDefinitions) > 0 && essential == 0 {
		add(tdp+".containerDefinitions", "needs at least one essential container")
	}
	if taskCPU > 0 && sumCPU > taskCPU {
		add(tdp+".cpu", "%d CPU units is below the sum of its containers' cpu (%d)", taskCPU, sumCPU)
	}
	if taskMem > 0 && sumMem > taskMem {
		add(tdp+".memory", "%d MiB is below the sum of its containers' memory (%d MiB)", taskMem, sumMem)
	}
	errs = append(errs, validateDependsOn(td, names)...)
	if _, ok := names[s.WatchContainer]; s.WatchContainer != "" && !ok {
		add("watchContainer", "%q names no container of the task", s.WatchContainer)
	}
	if s.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	return errs
}

func validateDependsOn(td *TaskDefinition, names map[string]int) []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: SeverityError})
	}
	graph := map[string][]string{}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		for j, d := range c.DependsOn {
			p := fmt.Sprintf("taskDefinition.containerDefinitions[%d].dependsOn[%d]", i, j)
			k, ok := names[d.ContainerName]
			if !ok {
				add(p+".containerName", "%q names no container of the task", d.ContainerName)
				continue
			}
			if d.ContainerName == c.Name {
				add(p+".containerName", "a container cannot depend on itself")
				continue
			}
			dep := &td.ContainerDefinitions[k]
			switch d.Condition {
			case ConditionStart:
			case ConditionComplete, ConditionSuccess:
				if dep.IsEssential() {
					add(p+".condition", "%s needs %q to be non-essential (essential: false), as ECS requires", d.Condition, dep.Name)
				}
			case ConditionHealthy:
				if dep.HealthCheck == nil {
					add(p+".condition", "HEALTHY needs a healthCheck on %q", dep.Name)
				}
			default:
				add(p+".condition", "%q must be one of START, COMPLETE, SUCCESS, HEALTHY", d.Condition)
			}
			graph[c.Name] = append(graph[c.Name], d.ContainerName)
		}
	}
	if cycle := findCycle(td, graph); cycle != nil {
		i := names[cycle[0]]
		errs = append(errs, FieldError{
			Path:     fmt.Sprintf("taskDefinition.containerDefinitions[%d].dependsOn", i),
			Message:  "dependency cycle: " + strings.Join(cycle, " -> "),
			Severity: SeverityError,
		})
	}
	return errs
}

// findCycle returns one dependsOn cycle as a path that ends where it starts, or nil.
func findCycle(td *TaskDefinition, graph map[string][]string) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range graph[n] {
			switch color[m] {
			case grey:
				for k := range stack {
					if stack[k] == m {
						return append(append([]string{}, stack[k:]...), m)
					}
				}
			case white:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return nil
	}
	for _, c := range td.ContainerDefinitions {
		if color[c.Name] == white {
			if cyc := visit(c.Name); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}

// Overrides are the command-line changes to one container of a spec, as ECS containerOverrides.
type Overrides struct {
	// Container names the container the overrides apply to; "" means the watched container.
	Container   string
	Command     []string
	Environment []KeyValuePair
	Cpu         *int
	Memory      *int
	Timeout     *time.Duration
}

// Apply returns a copy of s with o applied. An unknown container is an EInvalid error naming
// the flag. The result still needs Validate (an override can break the memory sum).
func (o Overrides) Apply(s JobSpec) (JobSpec, error) {
	out := s.Clone()
	if o.Timeout != nil {
		out.Timeout = Duration(*o.Timeout)
	}
	if o.Command == nil && o.Environment == nil && o.Cpu == nil && o.Memory == nil {
		if o.Container != "" && out.TaskDefinition.Container(o.Container) == nil {
			return s, unknownContainer(o.Container, &out)
		}
		return out, nil
	}
	name := o.Container
	if name == "" {
		name = out.Watched()
	}
	c := out.TaskDefinition.Container(name)
	if c == nil {
		return s, unknownContainer(name, &out)
	}
	out.KeepBase()
	if o.Command != nil {
		c.Command = append([]string(nil), o.Command...)
	}
	for _, e := range o.Environment {
		replaced := false
		for i := range c.Environment {
			if c.Environment[i].Name == e.Name {
				c.Environment[i].Value = e.Value
				replaced = true
			}
		}
		if !replaced {
			c.Environment = append(c.Environment, e)
		}
	}
	if o.Cpu != nil {
		c.Cpu = *o.Cpu
	}
	if o.Memory != nil {
		m := *o.Memory
		c.Memory = &m
	}
	return out, nil
}

func unknownContainer(name string, s *JobSpec) error {
	var have []string
	for _, c := range s.TaskDefinition.ContainerDefinitions {
		have = append(have, c.Name)
	}
	return &Error{Code: EInvalid, Fields: []FieldError{{
		Path: "--container", Severity: SeverityError,
		Message: fmt.Sprintf("%q names no container of the task (have: %s)", name, strings.Join(have, ", ")),
	}}, Message: "invalid overrides"}
}

// Clone returns a deep copy of s.
func (s JobSpec) Clone() JobSpec {
	return deepCopy(s)
}

// Digest is the sha256 of the spec's canonical JSON: equal specs have equal digests.
func (s JobSpec) Digest() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("hashike: digest job spec: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MarshalJSON writes the modelled fields and Extra side by side, keys sorted.
func (t TaskDefinition) MarshalJSON() ([]byte, error) {
	type plain TaskDefinition
	return marshalWithExtra(plain(t), t.Extra)
}

func (t *TaskDefinition) UnmarshalJSON(b []byte) error {
	type plain TaskDefinition
	return unmarshalWithExtra(b, (*plain)(t), &t.Extra)
}

func (c ContainerDefinition) MarshalJSON() ([]byte, error) {
	type plain ContainerDefinition
	return marshalWithExtra(plain(c), c.Extra)
}

func (c *ContainerDefinition) UnmarshalJSON(b []byte) error {
	type plain ContainerDefinition
	return unmarshalWithExtra(b, (*plain)(c), &c.Extra)
}

func (v Volume) MarshalJSON() ([]byte, error) {
	type plain Volume
	return marshalWithExtra(plain(v), v.Extra)
}

func (v *Volume) UnmarshalJSON(b []byte) error {
	type plain Volume
	return unmarshalWithExtra(b, (*plain)(v), &v.Extra)
}

func marshalWithExtra(v any, extra map[string]any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, x := range extra {
		if _, modelled := m[k]; modelled {
			continue
		}
		xb, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = xb
	}
	return json.Marshal(m)
}

// unmarshalWithExtra decodes b into v and the members v does not model into extra. A stored
// spec is decoded on every read of a run, so the common case (every member's name is a
// field's) costs one decode and a scan of the member names; only a member that is not one
// re-encodes v to see what it models.
func unmarshalWithExtra(b []byte, v any, extra *map[string]any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	names := jsonFieldNames(v)
	type member struct {
		name string
		raw  []byte
	}
	var unknown []member
	if !objectMembers(b, func(name, raw []byte) {
		if !names[string(name)] {
			unknown = append(unknown, member{string(name), raw})
		}
	}) {
		// Not an object after all (json.Unmarshal took it): let the map say why.
		unknown = nil
		var all map[string]json.RawMessage
		if err := json.Unmarshal(b, &all); err != nil {
			return err
		}
		for k, raw := range all {
			if !names[k] {
				unknown = append(unknown, member{k, raw})
			}
		}
	}
	var modelled map[string]json.RawMessage
	for _, m := range unknown {
		if modelled == nil {
			known, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(known, &modelled); err != nil {
				return err
			}
		}
		if _, ok := modelled[m.name]; ok {
			continue
		}
		var x any
		d := json.NewDecoder(bytes.NewReader(m.raw))
		d.UseNumber()
		if err := d.Decode(&x); err != nil {
			return err
		}
		if *extra == nil {
			*extra = map[string]any{}
		}
		(*extra)[m.name] = x
	}
	return nil
}

// objectMembers calls f with the name (unescaped) and raw value of each member of the JSON
// object b, in order, and reports whether b was one. b must be valid JSON (json.Unmarshal
// has accepted it): this only finds where members begin and end.
func objectMembers(b []byte, f func(name, raw []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i++
			continue
		case '"':
		default:
			return false
		}
		end := stringEnd(b, i)
		if end < 0 {
			return false
		}
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var unq string
			if json.Unmarshal(b[i:end], &unq) != nil {
				return false
			}
			name = []byte(unq)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vend := valueEnd(b, i)
		if vend < 0 {
			return false
		}
		f(name, b[i:vend])
		i = vend
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i] ('"'), or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
		j++
	}
	return j
}

func (r Resources) String() string {
	return fmt.Sprintf("%d CPU units, %d MiB", r.CPU, r.MemoryMiB)
}
