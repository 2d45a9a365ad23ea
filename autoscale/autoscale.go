// Package autoscale holds hashike's cluster autoscaling policies for ECS on EC2 as pure code:
// a policy looks at a Snapshot of the cluster (its pools, instances, pending and running
// tasks) at a moment and returns Actions (launch instances in a pool, drain or terminate an
// instance), each with its reason. A Controller runs a policy over a Cluster: Step observes,
// decides and applies; Run does so every policy interval on a hashike.Clock. The simulator
// (package sim) is a Cluster in virtual time that calls Step; a live adapter over Auto
// Scaling groups will be another, run by Run; package clustertest is the suite both pass.
// The package imports nothing from AWS, Docker, SQL or net/http, and never reads the clock.
//
// The policies: ecs-managed (ECS cluster auto scaling as documented), reactive (Cookpad's),
// provisioning (DeNA's), hashike (ours) and oracle (perfect knowledge of the future: a
// clairvoyant reference, not a bound on cost; package sim computes a lower bound).
package autoscale

import (
	"time"
)

// InstanceType is an EC2 instance type as a policy needs it.
type InstanceType struct {
	Name string `json:"name"`
	// CPU in ECS units (1024 per vCPU) and MemoryMiB as an ECS container instance registers
	// them (a little under the instance's memory).
	CPU       int `json:"cpu"`
	MemoryMiB int `json:"memoryMiB"`
	// Price per hour in USD.
	OnDemandPrice float64 `json:"onDemandPrice"`
	SpotPrice     float64 `json:"spotPrice"`
}

// Pool is a capacity pool: an Auto Scaling group behind a capacity provider.
type Pool struct {
	Name string `json:"name"`
	// InstanceTypes the group may launch, in preference order.
	InstanceTypes []string `json:"instanceTypes"`
	Min           int      `json:"min"`
	Max           int      `json:"max"`
	// OnDemandBase instances are on-demand; above it, OnDemandPercentAboveBase percent are
	// (Cookpad's 1:4 is 20); the rest are spot.
	OnDemandBase             int `json:"onDemandBase"`
	OnDemandPercentAboveBase int `json:"onDemandPercentAboveBase"`
	// AvailabilityZones the group spans (nil: one). Placement does not depend on them; ECS
	// managed scaling does: a group spanning several zones (or instance types) scales out
	// by exactly minimumScalingStepSize (see ECSManaged).
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
}

// Spans reports whether the group spans several instance types or Availability Zones, the
// case in which ECS managed scaling ignores the demand and steps by its minimum.
func (p Pool) Spans() bool { return len(p.InstanceTypes) > 1 || len(p.AvailabilityZones) > 1 }

// InstanceState is where an instance is in its life.
type InstanceState string

const (
	// InstanceLaunching: requested; not yet a registered container instance.
	InstanceLaunching InstanceState = "launching"
	// InstanceActive: registered; tasks can be placed on it.
	InstanceActive InstanceState = "active"
	// InstanceDraining: no new tasks; it ends once its tasks have (or at its interruption).
	InstanceDraining InstanceState = "draining"
)

// Instance is one EC2 instance of the cluster.
type Instance struct {
	ID    string        `json:"id"`
	Pool  string        `json:"pool"`
	Type  string        `json:"type"`
	Spot  bool          `json:"spot"`
	State InstanceState `json:"state"`
	// LaunchedAt is when the launch was requested; ActiveAt when it registered (zero while
	// launching).
	LaunchedAt time.Time `json:"launchedAt"`
	ActiveAt   time.Time `json:"activeAt,omitzero"`
	// CPU and MemoryMiB registered; CPUUsed and MemoryUsed reserved by its tasks.
	CPU        int `json:"cpu"`
	MemoryMiB  int `json:"memoryMiB"`
	CPUUsed    int `json:"cpuUsed"`
	MemoryUsed int `json:"memoryUsed"`
	Tasks      int `json:"tasks"`
	// IdleSince is when its last task ended (zero while it runs tasks or never ran one:
	// then ActiveAt counts).
	IdleSince time.Time `json:"idleSince,omitzero"`
	// InterruptionAt is set once a spot interruption notice came: the instance is reclaimed
	// then (2 minutes after the notice).
	InterruptionAt time.Time `json:"interruptionAt,omitzero"`
	// For is the pending task IDs this instance was launched for, when the launching policy
	// said (hashike's in-flight reservation).
	For []string `json:"for,omitempty"`
}

// Free returns the instance's unreserved CPU and memory.
func (i *Instance) Free() (cpu, mem int) { return i.CPU - i.CPUUsed, i.MemoryMiB - i.MemoryUsed }

// Task is a job's task as the policies see it.
type Task struct {
	ID        string `json:"id"`
	CPU       int    `json:"cpu"`
	MemoryMiB int    `json:"memoryMiB"`
	// SubmittedAt is when RunTask was first asked for it.
	SubmittedAt time.Time `json:"submittedAt"`
	// Image names the task's image (for image caches); "" when unknown.
	Image string `json:"image,omitempty"`
	// Provisioning: the task waits in the capacity provider's PROVISIONING state (the
	// ecs-managed and provisioning policies see only those); otherwise it waits in hashike's
	// queue and RunTask is retried.
	Provisioning bool `json:"provisioning,omitempty"`
	// LastFailure is the reason of the last RunTask failure for it ("RESOURCE:CPU",
	// "RESOURCE:MEMORY"), if any.
	LastFailure string `json:"lastFailure,omitempty"`
}

// Snapshot is what a policy decides from.
type Snapshot struct {
	Now   time.Time               `json:"now"`
	Types map[string]InstanceType `json:"types"`
	Pools []Pool                  `json:"pools"`
	// Instances: launching, active and draining.
	Instances []Instance `json:"instances"`
	// Pending are the tasks waiting for capacity, oldest first.
	Pending []Task `json:"pending"`
	// Running counts the tasks running.
	Running int `json:"running"`
	// Arrivals is the recent arrival history, for forecasting: Arrivals[i] counts the tasks
	// submitted in the i-th bucket of ArrivalBucket, oldest first. Buckets are aligned to the
	// Unix epoch (time.Truncate) and the last one is the bucket Now falls in, still filling;
	// a driver keeps up to a week of completed buckets before it.
	Arrivals      []int         `json:"arrivals,omitempty"`
	ArrivalBucket time.Duration `json:"arrivalBucket,omitempty"`
	// Future is the tasks still to come, in submit order, for the oracle only (nil for every
	// other policy).
	Future []Task `json:"-"`
	// LaunchErrors are the launches that failed recently (the last 10 minutes), oldest
	// first, as Auto Scaling's scaling activities report them: a policy can skip a pool
	// (or type) out of capacity.
	LaunchErrors []LaunchError `json:"launchErrors,omitempty"`
}

// LaunchErrorInsufficientCapacity is EC2's error code when it has no capacity for the
// instance type (in the Availability Zone) right now.
const LaunchErrorInsufficientCapacity = "InsufficientInstanceCapacity"

// LaunchError is a launch that failed: when, in which pool, of which type, and EC2's error
// code (LaunchErrorInsufficientCapacity).
type LaunchError struct {
	At   time.Time `json:"at"`
	Pool string    `json:"pool"`
	Type string    `json:"type"`
	Spot bool      `json:"spot"`
	Code string    `json:"code"`
}

// Action is one thing a policy asks for. Exactly one of Launch, Drain and Terminate is set.
type Action struct {
	Launch    *Launch    `json:"launch,omitempty"`
	Drain     *Drain     `json:"drain,omitempty"`
	Terminate *Terminate `json:"terminate,omitempty"`
	// Reason says why the policy asked for it, for people reading the controller's log.
	Reason string `json:"reason,omitempty"`
}

// Launch asks a pool for Count more instances of Type ("" lets the pool choose its first
// type); For lists pending tasks they are meant for, one list per instance when given.
type Launch struct {
	Pool  string     `json:"pool"`
	Type  string     `json:"type,omitempty"`
	Count int        `json:"count"`
	Spot  *bool      `json:"spot,omitempty"` // nil: the pool's on-demand/spot split decides
	For   [][]string `json:"for,omitempty"`
}

// Drain stops placing tasks on an instance; it terminates once its tasks are done.
type Drain struct {
	Instance string `json:"instance"`
}

// Terminate ends an instance now. A policy must not terminate an instance running tasks
// (the simulator counts that as killed jobs).
type Terminate struct {
	Instance string `json:"instance"`
}

// Policy is an autoscaling policy: a named type holding its configuration and its own typed
// state between decisions (alarm datapoints, cooldowns, what it drained). Decide depends only
// on its arguments and that state: it reads no clock and does no I/O, so the simulator runs
// the very code a live Controller does. A Policy value is one Controller's.
type Policy interface {
	Name() string
	// Interval is how often the Controller calls Decide (the policy's scan period).
	Interval() time.Duration
	// Decide returns the actions for the cluster s shows, deciding at now, each with its
	// Reason, and updates the policy's state.
	Decide(s *Snapshot, now time.Time) []Action
	// Reset forgets the state: the next decision is a first one.
	Reset()
}
