package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// DefaultTypes returns a few c/m/r instance types (us-east-1 Linux prices per hour; spot
// prices are typical recent averages). CPU is in ECS units (1024 per vCPU); MemoryMiB is
// what an ECS container instance registers (about 94% of the instance's memory).
func DefaultTypes() []autoscale.InstanceType {
	return []autoscale.InstanceType{
		{Name: "c6i.large", CPU: 2048, MemoryMiB: 3600, OnDemandPrice: 0.085, SpotPrice: 0.034},
		{Name: "c6i.xlarge", CPU: 4096, MemoryMiB: 7400, OnDemandPrice: 0.17, SpotPrice: 0.068},
		{Name: "c6i.2xlarge", CPU: 8192, MemoryMiB: 15000, OnDemandPrice: 0.34, SpotPrice: 0.136},
		{Name: "m6i.large", CPU: 2048, MemoryMiB: 7400, OnDemandPrice: 0.096, SpotPrice: 0.038},
		{Name: "m6i.xlarge", CPU: 4096, MemoryMiB: 15000, OnDemandPrice: 0.192, SpotPrice: 0.077},
		{Name: "m6i.2xlarge", CPU: 8192, MemoryMiB: 30500, OnDemandPrice: 0.384, SpotPrice: 0.154},
		{Name: "r6i.large", CPU: 2048, MemoryMiB: 15000, OnDemandPrice: 0.126, SpotPrice: 0.05},
		{Name: "r6i.xlarge", CPU: 4096, MemoryMiB: 30500, OnDemandPrice: 0.252, SpotPrice: 0.1},
	}
}

// Latency is a launch-latency preset: the time from a launch request to a registered
// container instance is log-normal with this median and 95th percentile.
type Latency struct {
	Name   string        `json:"name"`
	Median time.Duration `json:"median"`
	P95    time.Duration `json:"p95"`
}

// The presets of shared/notes/autoscaling.md (beside the repository): fast is a Karpenter-like node on a lean
// AMI, typical an ECS-optimized AMI, slow what Cookpad and DeNA report.
var (
	LatencyFast    = Latency{Name: "fast", Median: 35 * time.Second, P95: 60 * time.Second}
	LatencyTypical = Latency{Name: "typical", Median: 90 * time.Second, P95: 180 * time.Second}
	LatencySlow    = Latency{Name: "slow", Median: 180 * time.Second, P95: 300 * time.Second}
)

// z95 is the standard normal's 95th percentile.
const z95 = 1.6448536269514722

// Sample draws one launch latency: exp(mu + sigma*Z) with mu = ln(median) and
// sigma = (ln(p95) - ln(median)) / z95.
func (l Latency) Sample(r *rand.Rand) time.Duration {
	m := l.Median.Seconds()
	mu := math.Log(m)
	sigma := (math.Log(l.P95.Seconds()) - mu) / z95
	return time.Duration(math.Exp(mu+sigma*r.NormFloat64()) * float64(time.Second))
}

// PoolConfig is a pool as the simulator runs it: the policy-visible autoscale.Pool plus
// what the cloud does to it.
type PoolConfig struct {
	autoscale.Pool
	// Initial instances registered (active) at time zero, of the pool's first type and
	// split on-demand/spot as the pool says. Below Min the group launches more of its first
	// type, at time zero and whenever an instance ends (the group keeps Min; it does not
	// otherwise replace reclaimed or failed instances: launching is the policy's job).
	Initial int `json:"initial"`
	// LaunchFailure is the probability an instance never registers: the launch fails when
	// it would have registered (the instance is billed until then).
	LaunchFailure float64 `json:"launchFailure"`
	// InsufficientCapacity is the probability a launch fails with InsufficientInstanceCapacity
	// after Config.InsufficientCapacityDelay (not billed).
	InsufficientCapacity float64 `json:"insufficientCapacity"`
	// InsufficientCapacityEpisodesPerDay is the rate of spells during which EC2 has no
	// capacity for the pool: for InsufficientCapacityEpisode (on average, exponential) every
	// launch in the pool fails with InsufficientInstanceCapacity. Failures show in
	// Snapshot.LaunchErrors.
	InsufficientCapacityEpisodesPerDay float64  `json:"insufficientCapacityEpisodesPerDay,omitempty"`
	InsufficientCapacityEpisode        Duration `json:"insufficientCapacityEpisode,omitempty"`
	// SpotHazardPerHour is each spot instance's rate of independent interruptions.
	SpotHazardPerHour float64 `json:"spotHazardPerHour"`
	// ReclaimsPerDay is the rate of correlated reclaims: each one interrupts every spot
	// instance of the pool at once.
	ReclaimsPerDay float64 `json:"reclaimsPerDay"`
}
