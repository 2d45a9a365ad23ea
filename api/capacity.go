package api

import "time"

// CapacityStatus is the body of GET /v1/capacity: each cluster autoscaler's last view of its
// cluster (instances per group, pending demand) and its recent decisions with their reasons.
// Only the leader runs autoscalers: a follower answers Leader false, with no view.
type CapacityStatus struct {
	Leader   bool              `json:"leader"`
	Clusters []ClusterCapacity `json:"clusters"`
}

// ClusterCapacity is one autoscaler: the cluster as its last observation saw it.
type ClusterCapacity struct {
	// Name is the ECS cluster's; Policy the autoscaling policy's.
	Name   string `json:"name"`
	Policy string `json:"policy"`
	// ObservedAt is when the view was taken (nil before the first decision of this term).
	ObservedAt *time.Time `json:"observedAt,omitempty"`
	// Error is why the last observation failed ("" when it succeeded): the view is then the
	// one before.
	Error  string              `json:"error,omitempty"`
	Groups []CapacityGroupView `json:"groups"`
	// Instances are the cluster's instances, launching, active and draining, by group.
	Instances []InstanceView `json:"instances"`
	// Pending counts the tasks waiting for capacity, with what they ask for together;
	// OldestPendingAt is when the oldest was submitted.
	Pending          int        `json:"pending"`
	PendingCPU       int        `json:"pendingCpu"`
	PendingMemoryMiB int        `json:"pendingMemoryMiB"`
	OldestPendingAt  *time.Time `json:"oldestPendingAt,omitempty"`
	// Running counts the tasks running.
	Running int `json:"running"`
	// Decisions are the last decisions that acted or failed, newest first (at most
	// MaxScalingDecisions); decisions that did nothing are left out.
	Decisions []ScalingDecisionView `json:"decisions"`
}

// MaxScalingDecisions bounds ClusterCapacity.Decisions.
const MaxScalingDecisions = 50

// CapacityGroupView is one capacity pool (an Auto Scaling group) with its instances by state.
type CapacityGroupView struct {
	Name          string   `json:"name"`
	InstanceTypes []string `json:"instanceTypes"`
	Min           int      `json:"min"`
	Max           int      `json:"max"`
	Launching     int      `json:"launching"`
	Active        int      `json:"active"`
	Draining      int      `json:"draining"`
}

// InstanceView is one EC2 instance of the cluster.
type InstanceView struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	Type  string `json:"type"`
	Spot  bool   `json:"spot"`
	// State is launching, active or draining.
	State      string     `json:"state"`
	LaunchedAt time.Time  `json:"launchedAt"`
	ActiveAt   *time.Time `json:"activeAt,omitempty"`
	// CPU (ECS units) and MemoryMiB registered, and how much of them tasks reserve.
	CPU        int `json:"cpu"`
	MemoryMiB  int `json:"memoryMiB"`
	CPUUsed    int `json:"cpuUsed"`
	MemoryUsed int `json:"memoryUsed"`
	Tasks      int `json:"tasks"`
	// InterruptionAt is when a spot instance is reclaimed, once notified.
	InterruptionAt *time.Time `json:"interruptionAt,omitempty"`
}

// ScalingDecisionView is one decision of an autoscaler: its actions, each with its reason
// and, if it failed, why; or why the cluster could not be observed (Error).
type ScalingDecisionView struct {
	At      time.Time           `json:"at"`
	Error   string              `json:"error,omitempty"`
	Actions []ScalingActionView `json:"actions,omitempty"`
}

// ScalingActionView is one action ("launch 2 c7i.large in batch", "drain i-0abc").
type ScalingActionView struct {
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}
