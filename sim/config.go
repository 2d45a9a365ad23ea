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
	// waits as PROVISIONING (at most ProvisioningLimit per cluster, default 100; the rest stay
	// in hashike's queue and RunTask is retried) and is stopped after ProvisioningTimeout
	// (default 10 min, the brief's figure; ECS's own timeout was not confirmed here, so it is
	// a knob), after which hashike's queue retries it.
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
	// Future gives the policy Snapshot.Future (the oracle only).
	Future bool `json:"future"`
	// OmitRecords leaves Result.Records out (the metrics do not need them; a long trace's
	// records are most of a Result's size).
	OmitRecords bool `json:"omitRecords"`
	// Hashike configures the hashike policy (its SLO); the other policies ignore it.
	Hashike autoscale.HashikeConfig `json:"-"`
	// Progress, when set, is called now and then with the jobs done (completed or failed)
	// and the total, and once at the end; it must not change anything the run reads.
	Progress func(done, total int) `json:"-"`
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
	if c.RunTaskBatch == 0 {
		c.RunTaskBatch = autoscale.MaxRunTaskCount
	}
	if c.Binpack == "" {
		c.Binpack = autoscale.BinpackCPU
	}
	if c.ProvisioningLimit == 0 {
		c.ProvisioningLimit = 100
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	return c
}

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
	}
	if c.Latency.Median <= 0 || c.Latency.P95 < c.Latency.Median {
		errs = append(errs, errors.New("latency: want 0 < median <= p95"))
	}
	if c.ContainerStartMax < c.ContainerStartMin {
		errs = append(errs, errors.New("container start: max < min"))
	}
	if !c.Binpack.Valid() {
		errs = append(errs, fmt.Errorf("binpack: %q: want %q or %q", c.Binpack, autoscale.BinpackCPU, autoscale.BinpackMemory))
	}
	return errors.Join(errs...)
}

// Policy returns a new policy of that name (autoscale.ByName) configured as c says:
// hashike with c.Hashike.
func (c Config) Policy(name string) (autoscale.Policy, error) {
	if name == "hashike" {
		return autoscale.NewHashike(c.Hashike), nil
	}
	return autoscale.ByName(name)
}
