package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// Config is the simulated cloud and cluster. Zero fields take the defaults of WithDefaults.
type Config struct {
	// Start is the virtual wall clock at time zero (default Monday 2026-01-05 00:00 UTC), so
	// profiles' hours and weekdays line up with Snapshot.Now.
	Start time.Time `json:"start"`
	// Types are the instance types (default DefaultTypes()).
	Types []autoscale.InstanceType `json:"types"`
	// Pools are the capacity pools (default one pool "default" of m6i.xlarge, 0-200
	// instances, all on-demand).
	Pools []PoolConfig `json:"pools"`
	// Latency is the launch-latency preset (default LatencyTypical).
	Latency Latency `json:"latency"`
	// InsufficientCapacityDelay is how long an InsufficientInstanceCapacity launch takes to
	// fail (default 5 s).
	InsufficientCapacityDelay time.Duration `json:"insufficientCapacityDelay"`
	// ImageMiB is each image's size (DefaultImageMiB for others, default 500); images pull at
	// PullMiBps (default 100 MiB/s) once per instance: later tasks use the instance's cache
	// (and wait for a pull already under way).
	ImageMiB        map[string]int `json:"imageMiB,omitempty"`
	DefaultImageMiB int            `json:"defaultImageMiB"`
	PullMiBps       float64        `json:"pullMiBps"`
	// WarmImages, when > 0, warms a new instance's image cache: once registered, it pulls
	// the WarmImages images most submitted in the last WarmWindow (default 1 h), and the
	// policy sees it launching until they are pulled (or a task is placed on it); jobs of
	// those images skip the pull
	// there. The pulls run in parallel, each at PullMiBps as every pull does here, or with
	// WarmSequential one after the other, a job's pull of another image waiting for them (an
	// instance's bandwidth shared). Tasks are placed on a warming instance (ECS places on any
	// ACTIVE instance, as with the live adapter) unless WarmExclusive, which keeps them off
	// it until it is warm (a placement constraint on an instance attribute). See warmup.go.
	WarmImages     int           `json:"warmImages,omitempty"`
	WarmWindow     time.Duration `json:"warmWindow,omitempty"`
	WarmExclusive  bool          `json:"warmExclusive,omitempty"`
	WarmSequential bool          `json:"warmSequential,omitempty"`
	// ContainerStartMin and Max bound the uniform container start time after the pull
	// (default 1-5 s, a warm host with the image cached).
	ContainerStartMin time.Duration `json:"containerStartMin"`
	ContainerStartMax time.Duration `json:"containerStartMax"`
	// RunTaskBatch is the most tasks one RunTask places (ECS: autoscale.MaxRunTaskCount).
	RunTaskBatch int `json:"runTaskBatch"`
	// Binpack is the placement strategy's binpack field (default cpu: the least remaining
	// CPU, then memory; ECS's usual strategy for batch is memory).
	Binpack autoscale.BinpackField `json:"binpack"`
	// CapacityProvider runs tasks through a capacity provider: a task that cannot be placed
	// waits as PROVISIONING (at most ProvisioningLimit per cluster, default 500, the Service
	// Quotas "Tasks in the PROVISIONING state per cluster", not adjustable; the rest stay in
	// hashike's queue and RunTask is retried) and is stopped after ProvisioningTimeout
	// (default 10 min: AWS says such tasks wait "between 10 and 30 minutes", not
	// configurable), after which hashike's queue retries it.
	CapacityProvider    bool          `json:"capacityProvider"`
	ProvisioningLimit   int           `json:"provisioningLimit"`
	ProvisioningTimeout time.Duration `json:"provisioningTimeout"`
	// SpotNotice is the time from an interruption notice to the reclaim (default 2 min).
	// SpotDraining sets DRAINING on the notice (ECS_ENABLE_SPOT_INSTANCE_DRAINING; off by
	// default, as in ECS, so tasks are still placed on a doomed instance).
	SpotNotice   time.Duration `json:"spotNotice"`
	SpotDraining bool          `json:"spotDraining"`
	// MaxAttempts is how many times a job's task may be stopped (interrupted, killed by a
	// termination, provisioning timed out) before the job fails (default 5).
	MaxAttempts int `json:"maxAttempts"`
	// Horizon ends the run: jobs not finished by then fail (default the last submit + 24 h).
	Horizon time.Duration `json:"horizon"`
	// SampleStep is the period of Result.Series (default 1 min).
	SampleStep time.Duration `json:"sampleStep"`
	// ArrivalBucket is the width of Snapshot.Arrivals' buckets (default 1 min, fine enough
	// for cron bursts on the hour).
	ArrivalBucket time.Duration `json:"arrivalBucket"`
	// ECSManaged is the capacity provider's managed scaling settings (the cluster file's
	// policies."ecs-managed"): the ecs-managed policy's, and the scale-in of provisioning's,
	// which leaves scale-in to the same capacity provider. Zero fields take AWS's defaults.
	ECSManaged autoscale.ECSManagedConfig `json:"-"`
	// Future gives the policy Snapshot.Future (the oracle only).
	Future bool `json:"future"`
	// OmitRecords leaves Result.Records out (the metrics do not need them; a long trace's
	// records are most of a Result's size).
	OmitRecords bool `json:"omitRecords"`
	// RunTaskRate limits RunTask calls (ECS ThrottlingException): a throttled dispatch pass
	// stops and is retried when a token is back (default 20 burst, 20 a second).
	// ScalingRate limits the Auto Scaling calls the policy's actions make: a Launch is a
	// SetDesiredCapacity, a Terminate (or a Drain that ends an idle or launching instance) a
	// TerminateInstanceInAutoScalingGroup; a throttled action does nothing and fails with
	// autoscale.ErrThrottled (default 20 burst, 2 a second). InstanceLaunchRate is EC2's
	// RunInstances resource bucket, one token per instance: a group's launch beyond it waits
	// for its token (and is billed from then) (default 1000 burst, 2 a second). Burst -1: no
	// limit.
	RunTaskRate        TokenBucket `json:"runTaskRate"`
	ScalingRate        TokenBucket `json:"scalingRate"`
	InstanceLaunchRate TokenBucket `json:"instanceLaunchRate"`
	// Hashike configures the hashike policy (its SLO); the other policies ignore it.
	Hashike autoscale.HashikeConfig `json:"-"`
	// Progress, when set, is called now and then with the jobs done (completed or failed)
	// and the total, and once at the end; it must not change anything the run reads.
	Progress func(done, total int) `json:"-"`
}

// ProvisioningQuota is ECS's quota of tasks in the PROVISIONING state per cluster (Service
// Quotas L-B7718569; it was 100 when capacity providers came out, then 300).
const ProvisioningQuota = 500

// NewPolicy returns the named policy as cfg configures it: ecs-managed with cfg.ECSManaged,
// provisioning with cfg.ECSManaged for the capacity provider's scale-in, hashike with
// cfg.Hashike (its SLO), the others with their defaults (autoscale.ByName).
func NewPolicy(cfg Config, name string) (autoscale.Policy, error) {
	switch name {
	case "ecs-managed":
		return autoscale.NewECSManaged(cfg.ECSManaged), nil
	case "provisioning":
		return autoscale.NewProvisioning(autoscale.ProvisioningConfig{ScaleIn: cfg.ECSManaged}), nil
	case "hashike":
		return autoscale.NewHashike(cfg.Hashike), nil
	}
	return autoscale.ByName(name)
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if c.Types == nil {
		c.Types = DefaultTypes()
	}
	if c.Pools == nil {
		c.Pools = []PoolConfig{{Pool: autoscale.Pool{Name: "default", InstanceTypes: []string{"m6i.xlarge"}, Max: 200, OnDemandPercentAboveBase: 100}}}
	}
	if c.Latency.Median == 0 {
		c.Latency = LatencyTypical
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.InsufficientCapacityDelay, 5*time.Second)
	def(&c.ContainerStartMin, time.Second)
	def(&c.ContainerStartMax, 5*time.Second)
	def(&c.ProvisioningTimeout, 10*time.Minute)
	def(&c.SpotNotice, 2*time.Minute)
	def(&c.SampleStep, time.Minute)
	def(&c.ArrivalBucket, time.Minute)
	if c.DefaultImageMiB == 0 {
		c.DefaultImageMiB = 500
	}
	if c.PullMiBps == 0 {
		c.PullMiBps = 100
	}
	def(&c.WarmWindow, time.Hour)
	if c.RunTaskBatch == 0 {
		c.RunTaskBatch = autoscale.MaxRunTaskCount
	}
	if c.Binpack == "" {
		c.Binpack = autoscale.BinpackCPU
	}
	if c.ProvisioningLimit == 0 {
		c.ProvisioningLimit = ProvisioningQuota
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	defBucket := func(b *TokenBucket, v TokenBucket) {
		if *b == (TokenBucket{}) {
			*b = v
		}
	}
	defBucket(&c.RunTaskRate, DefaultRunTaskRate)
	defBucket(&c.ScalingRate, DefaultScalingRate)
	defBucket(&c.InstanceLaunchRate, DefaultInstanceLaunchRate)
	return c
}

// The default API rate limits (docs/sim.md has the sources): ECS RunTask, the Auto Scaling
// calls of a policy (AWS does not publish these: an assumption), and EC2's RunInstances
// resource bucket (instances launched).
var (
	DefaultRunTaskRate        = TokenBucket{Burst: 20, PerSecond: 20}
	DefaultScalingRate        = TokenBucket{Burst: 20, PerSecond: 2}
	DefaultInstanceLaunchRate = TokenBucket{Burst: 1000, PerSecond: 2}
)

// Validate reports every bad field at once.
func (c Config) Validate() error {
	var errs []error
	types := map[string]bool{}
	for _, t := range c.Types {
		if t.CPU <= 0 || t.MemoryMiB <= 0 {
			errs = append(errs, fmt.Errorf("type %s: cpu and memory must be > 0", t.Name))
		}
		types[t.Name] = true
	}
	names := map[string]bool{}
	for _, p := range c.Pools {
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("pool %s: duplicate name", p.Name))
		}
		names[p.Name] = true
		if len(p.InstanceTypes) == 0 {
			errs = append(errs, fmt.Errorf("pool %s: no instance types", p.Name))
		}
		for _, t := range p.InstanceTypes {
			if !types[t] {
				errs = append(errs, fmt.Errorf("pool %s: unknown instance type %q", p.Name, t))
			}
		}
		if p.Min < 0 || p.Max < p.Min || p.Initial > p.Max {
			errs = append(errs, fmt.Errorf("pool %s: want 0 <= min <= max and initial <= max", p.Name))
		}
		for _, pr := range []float64{p.LaunchFailure, p.InsufficientCapacity} {
			if pr < 0 || pr >= 1 {
				errs = append(errs, fmt.Errorf("pool %s: failure probabilities must be in [0, 1)", p.Name))
			}
		}
		if p.InsufficientCapacityEpisodesPerDay < 0 || (p.InsufficientCapacityEpisodesPerDay > 0 && p.InsufficientCapacityEpisode <= 0) {
			errs = append(errs, fmt.Errorf("pool %s: want insufficientCapacityEpisodesPerDay >= 0, and an insufficientCapacityEpisode > 0 with it", p.Name))
		}
	}
	if c.Latency.Median <= 0 || c.Latency.P95 < c.Latency.Median {
		errs = append(errs, errors.New("latency: want 0 < median <= p95"))
	}
	if c.WarmImages < 0 || c.WarmWindow < 0 {
		errs = append(errs, errors.New("warm-up: want warmImages >= 0 and warmWindow >= 0"))
	}
	if c.ContainerStartMax < c.ContainerStartMin {
		errs = append(errs, errors.New("container start: max < min"))
	}
	for _, b := range []struct {
		name string
		tb   TokenBucket
	}{{"runTaskRate", c.RunTaskRate}, {"scalingRate", c.ScalingRate}, {"instanceLaunchRate", c.InstanceLaunchRate}} {
		if err := b.tb.validate(b.name); err != nil {
			errs = append(errs, err)
		}
	}
	if !c.Binpack.Valid() {
		errs = append(errs, fmt.Errorf("binpack: %q: want %q or %q", c.Binpack, autoscale.BinpackCPU, autoscale.BinpackMemory))
	}
	return errors.Join(errs...)
}
