package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// DefaultCluster is `hashike sim`'s cluster when no file is given: one pool "jobs" of
// m6i.2xlarge (8 vCPU, 32 GiB), 0-200 instances, split as Cookpad ran theirs (2 on-demand
// instances, then 1 on-demand to 4 spot), with 1% of launches failing, 1% refused for
// insufficient capacity, a spot interruption rate of 1 in 200 instance-hours plus one
// correlated reclaim of the pool's spot every 5 days on average, a spell of about 15 minutes
// without capacity every 5 days on average; the typical launch latency and AWS's API rate
// limits (DefaultRunTaskRate, DefaultScalingRate, DefaultInstanceLaunchRate).
func DefaultCluster() Config {
	return Config{Pools: []PoolConfig{{
		Pool:          autoscale.Pool{Name: "jobs", InstanceTypes: []string{"m6i.2xlarge"}, Max: 200, OnDemandBase: 2, OnDemandPercentAboveBase: 20},
		LaunchFailure: 0.01, InsufficientCapacity: 0.01, SpotHazardPerHour: 0.005, ReclaimsPerDay: 0.2,
		InsufficientCapacityEpisodesPerDay: 0.2, InsufficientCapacityEpisode: Duration(15 * time.Minute),
	}}}.WithDefaults()
}

// ForPolicy returns cfg as the named policy runs in it: ecs-managed and provisioning scale a
// capacity provider, so their tasks wait as PROVISIONING (CapacityProvider); the others
// keep waiting tasks in hashike's queue; the oracle sees the future (Future).
func ForPolicy(cfg Config, policy string) Config {
	cfg.CapacityProvider = policy == "ecs-managed" || policy == "provisioning"
	cfg.Future = policy == "oracle"
	return cfg
}

// Duration is a time.Duration written as a Go duration string ("90s", "10m") in a cluster file.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &durationError{raw: b}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return &durationError{raw: b}
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a Go duration string, as a cluster file has it.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

type durationError struct{ raw []byte }

func (e *durationError) Error() string {
	return fmt.Sprintf(`want a duration >= 0 such as "90s", got %s`, e.raw)
}

// clusterFile is the cluster file's form: Config's fields a user sets.
type clusterFile struct {
	// Latency is a preset name (fast, typical, slow) or {"median": "90s", "p95": "180s"}.
	Latency json.RawMessage `json:"latency"`
	// Types are added to DefaultTypes (replacing a default of the same name).
	Types                     []autoscale.InstanceType `json:"types"`
	Pools                     []PoolConfig             `json:"pools"`
	ImageMiB                  map[string]int           `json:"imageMiB"`
	DefaultImageMiB           int                      `json:"defaultImageMiB"`
	PullMiBps                 float64                  `json:"pullMiBps"`
	WarmImages                int                      `json:"warmImages"`
	WarmWindow                Duration                 `json:"warmWindow"`
	WarmExclusive             bool                     `json:"warmExclusive"`
	WarmSequential            bool                     `json:"warmSequential"`
	ContainerStartMin         Duration                 `json:"containerStartMin"`
	ContainerStartMax         Duration                 `json:"containerStartMax"`
	InsufficientCapacityDelay Duration                 `json:"insufficientCapacityDelay"`
	ProvisioningLimit         int                      `json:"provisioningLimit"`
	ProvisioningTimeout       Duration                 `json:"provisioningTimeout"`
	SpotNotice                Duration                 `json:"spotNotice"`
	SpotDraining              bool                     `json:"spotDraining"`
	MaxAttempts               int                      `json:"maxAttempts"`
	Binpack                   autoscale.BinpackField   `json:"binpack"`
	Horizon                   Duration                 `json:"horizon"`
	Start                     time.Time                `json:"start"`
	// Policies configures policies by name.
	Policies policiesFile `json:"policies"`
	// API rate limits (default: DefaultRunTaskRate, DefaultScalingRate,
	// DefaultInstanceLaunchRate).
	RunTaskRate        TokenBucket `json:"runTaskRate"`
	ScalingRate        TokenBucket `json:"scalingRate"`
	InstanceLaunchRate TokenBucket `json:"instanceLaunchRate"`
}

// policiesFile is the cluster file's "policies" object.
type policiesFile struct {
	// ECSManaged is the capacity provider's managed scaling, with the ECS API's
	// ManagedScaling field names, ranges and defaults.
	ECSManaged *managedScaling `json:"ecs-managed"`
	// Hashike is the hashike policy's options: {"slo": {"waitP95": "30s"}}.
	Hashike *struct {
		SLO *struct {
			WaitP95 Duration `json:"waitP95"`
		} `json:"slo"`
	} `json:"hashike"`
}

type managedScaling struct {
	TargetCapacity         *int `json:"targetCapacity"`         // 1-100 (100)
	MinimumScalingStepSize *int `json:"minimumScalingStepSize"` // 1-10000 (1)
	MaximumScalingStepSize *int `json:"maximumScalingStepSize"` // 1-10000 (10000)
	InstanceWarmupPeriod   *int `json:"instanceWarmupPeriod"`   // seconds, 0-10000 (300)
}

// config checks the settings against the ECS API's ranges, reporting each bad one at its
// file:line:col, and returns them as the policy takes them.
func (m *managedScaling) config(data []byte, file string) (autoscale.ECSManagedConfig, error) {
	var c autoscale.ECSManagedConfig
	if m == nil {
		return c, nil
	}
	var errs []error
	field := func(name string, v *int, lo, hi int) int {
		if v == nil {
			return 0
		}
		if *v < lo || *v > hi {
			errs = append(errs, fmt.Errorf("%s: policies.ecs-managed.%s: %d: want %d-%d", at(data, file, policyValue(data, name)), name, *v, lo, hi))
		}
		return *v
	}
	c.TargetCapacity = field("targetCapacity", m.TargetCapacity, 1, 100)
	c.MinimumScalingStepSize = field("minimumScalingStepSize", m.MinimumScalingStepSize, 1, 10000)
	c.MaximumScalingStepSize = field("maximumScalingStepSize", m.MaximumScalingStepSize, 1, 10000)
	if w := field("instanceWarmupPeriod", m.InstanceWarmupPeriod, 0, 10000); m.InstanceWarmupPeriod != nil {
		c.InstanceWarmupPeriod = time.Duration(w) * time.Second
		if w == 0 {
			c.InstanceWarmupPeriod = -1 // ECS's 0: no warm-up (the config's 0 is the default)
		}
	}
	if m.MinimumScalingStepSize != nil && m.MaximumScalingStepSize != nil && *m.MinimumScalingStepSize > *m.MaximumScalingStepSize {
		errs = append(errs, fmt.Errorf("%s: policies.ecs-managed: minimumScalingStepSize %d is above maximumScalingStepSize %d",
			at(data, file, policyValue(data, "minimumScalingStepSize")), *m.MinimumScalingStepSize, *m.MaximumScalingStepSize))
	}
	return c, errors.Join(errs...)
}

// policyValue is the offset of the value of key name after the "policies" key (where a
// setting's range error points), or of "policies" itself when not found.
func policyValue(data []byte, name string) int64 {
	start := regexp.MustCompile(`"policies"\s*:`).FindIndex(data)
	if start == nil {
		return 0
	}
	loc := regexp.MustCompile(`"` + regexp.QuoteMeta(name) + `"\s*:\s*`).FindIndex(data[start[1]:])
	if loc == nil {
		return int64(start[0])
	}
	return int64(start[1] + loc[1])
}

// Presets are the launch-latency presets by name.
var Presets = map[string]Latency{"fast": LatencyFast, "typical": LatencyTypical, "slow": LatencySlow}

// ParseCluster reads a cluster file (JSON; see clusterFile and docs/sim.md): unknown fields,
// wrong types and bad values are errors naming file:line:col or the field; the result is
// validated and has its defaults set.
func ParseCluster(data []byte, file string) (Config, error) {
	var f clusterFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Config{}, jsonError(data, file, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, fmt.Errorf("%s: unexpected data after the JSON object", at(data, file, dec.InputOffset()))
	}
	cfg := Config{
		Pools: f.Pools, ImageMiB: f.ImageMiB, DefaultImageMiB: f.DefaultImageMiB, PullMiBps: f.PullMiBps,
		WarmImages: f.WarmImages, WarmWindow: time.Duration(f.WarmWindow), WarmExclusive: f.WarmExclusive,
		WarmSequential:    f.WarmSequential,
		ContainerStartMin: time.Duration(f.ContainerStartMin), ContainerStartMax: time.Duration(f.ContainerStartMax),
		InsufficientCapacityDelay: time.Duration(f.InsufficientCapacityDelay),
		ProvisioningLimit:         f.ProvisioningLimit, ProvisioningTimeout: time.Duration(f.ProvisioningTimeout),
		SpotNotice: time.Duration(f.SpotNotice), SpotDraining: f.SpotDraining, MaxAttempts: f.MaxAttempts, Binpack: f.Binpack,
		Horizon: time.Duration(f.Horizon), Start: f.Start,
		RunTaskRate: f.RunTaskRate, ScalingRate: f.ScalingRate, InstanceLaunchRate: f.InstanceLaunchRate,
	}
	if h := f.Policies.Hashike; h != nil && h.SLO != nil {
		if h.SLO.WaitP95 <= 0 {
			return Config{}, fmt.Errorf("%s: policies.hashike.slo.waitP95: want a duration > 0 such as \"30s\"", at(data, file, policyValue(data, "waitP95")))
		}
		cfg.Hashike.SLO.WaitP95 = time.Duration(h.SLO.WaitP95)
	}
	if len(f.Pools) == 0 {
		return Config{}, fmt.Errorf("%s: pools: at least one pool is required", file)
	}
	ecs, err := f.Policies.ECSManaged.config(data, file)
	if err != nil {
		return Config{}, err
	}
	cfg.ECSManaged = ecs
	cfg.Types = DefaultTypes()
	for _, t := range f.Types {
		replaced := false
		for i := range cfg.Types {
			if cfg.Types[i].Name == t.Name {
				cfg.Types[i], replaced = t, true
			}
		}
		if !replaced {
			cfg.Types = append(cfg.Types, t)
		}
	}
	if len(f.Latency) > 0 {
		var name string
		var custom struct {
			Median Duration `json:"median"`
			P95    Duration `json:"p95"`
		}
		if json.Unmarshal(f.Latency, &name) == nil {
			l, ok := Presets[name]
			if !ok {
				return Config{}, fmt.Errorf("%s: latency: unknown preset %q (fast, typical or slow)", file, name)
			}
			cfg.Latency = l
		} else if err := strictUnmarshal(f.Latency, &custom); err != nil {
			return Config{}, fmt.Errorf("%s: latency: want a preset name or {\"median\": \"90s\", \"p95\": \"180s\"}: %w", file, err)
		} else {
			cfg.Latency = Latency{Name: "custom", Median: time.Duration(custom.Median), P95: time.Duration(custom.P95)}
		}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// jsonError places a decoding error at file:line:col where encoding/json says where.
func jsonError(data []byte, file string, err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return fmt.Errorf("%s: %s: want %s, got %s", at(data, file, valueStart(data, ute.Offset)), ute.Field, ute.Type, ute.Value)
	case errors.As(err, &se):
		return fmt.Errorf("%s: malformed JSON: %w", at(data, file, se.Offset-1), se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: malformed JSON: unexpected end of file", at(data, file, int64(len(data))))
	}
	// Unknown fields and a field's own UnmarshalJSON errors carry no offset (and the
	// decoder has read the whole object): point at the key, or at the bad value.
	msg := strings.TrimPrefix(err.Error(), "json: ")
	var de *durationError
	switch name, ok := strings.CutPrefix(msg, "unknown field "); {
	case ok:
		if i := regexp.MustCompile(regexp.QuoteMeta(name) + `\s*:`).FindIndex(data); i != nil {
			return fmt.Errorf("%s: unknown field %s", at(data, file, int64(i[0])), name)
		}
	case errors.As(err, &de):
		if i := bytes.Index(data, de.raw); i >= 0 {
			return fmt.Errorf("%s: %s", at(data, file, int64(i)), msg)
		}
	}
	return fmt.Errorf("%s: %s", file, msg)
}

// valueStart finds the start of the JSON scalar that ends at end (where encoding/json's type
// errors point).
func valueStart(data []byte, end int64) int64 {
	i := min(max(end, 0), int64(len(data))) - 1
	if i >= 0 && data[i] == '"' {
		for i--; i > 0 && (data[i] != '"' || data[i-1] == '\\'); i-- {
		}
		return max(i, 0)
	}
	for i >= 0 && !strings.ContainsRune(" \t\r\n,:[{", rune(data[i])) {
		i--
	}
	return i + 1
}

// at is "file:line:col" of the byte at offset in data.
func at(data []byte, file string, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%s:%d:%d", file, line, col)
}
