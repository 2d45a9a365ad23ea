package sim

// Result is one run: the metrics (flattened into the JSON object), optional per-job records
// and the capacity-versus-demand series.
type Result struct {
	Metrics
	Records []JobRecord `json:"records,omitempty"`
	Series  []Sample    `json:"series"`
}

// Metrics are a run's figures. Waits run from a job's submit to its first container start.
type Metrics struct {
	Policy   string `json:"policy"`
	Workload string `json:"workload"`
	Seed     uint64 `json:"seed"`
	// Latency names the launch-latency preset the run used ("custom" for others).
	Latency string `json:"latency"`
	Jobs    int    `json:"jobs"`
	// Completed counts jobs that ran to completion (once each); JobsFailed jobs that never completed; FailureReasons says why (Reason*).
	Completed      int            `json:"completed"`
	JobsFailed     int            `json:"jobs_failed"`
	FailureReasons map[string]int `json:"failure_reasons,omitempty"`
	WaitMean       float64        `json:"wait_mean_s"`
	WaitP50        float64        `json:"wait_p50_s"`
	WaitP95        float64        `json:"wait_p95_s"`
	WaitP99        float64        `json:"wait_p99_s"`
	WaitMax        float64        `json:"wait_max_s"`
	// InstanceHours run from each launch request to the instance's end, at least 60 s per
	// instance (EC2's per-second billing minimum; InsufficientCapacity failures are not
	// billed); instances alive at the end are billed until then.
	InstanceHours InstanceHours `json:"instance_hours"`
	CostUSD       float64       `json:"cost_usd"`
	// CPUUtilization and MemoryUtilization are reserved / registered, time-weighted over the
	// run (registered: active and draining instances).
	CPUUtilization    float64 `json:"cpu_utilization"`
	MemoryUtilization float64 `json:"memory_utilization"`
	// Launches counts instances requested (after the pool's max); LaunchFailures those that
	// failed (InsufficientCapacity ones included); Terminations instances that ended.
	Launches             int `json:"launches"`
	LaunchFailures       int `json:"launch_failures"`
	InsufficientCapacity int `json:"insufficient_capacity"`
	Terminations         int `json:"terminations"`
	// InsufficientCapacityEpisodes counts the pools' spells without capacity;
	// LaunchesDelayed the instances that waited for EC2's instance launch rate;
	// RunTaskThrottled the dispatch passes cut short by RunTask's rate limit;
	// ScalingThrottled the policy actions refused by Auto Scaling's.
	InsufficientCapacityEpisodes int `json:"insufficient_capacity_episodes"`
	LaunchesDelayed              int `json:"launches_delayed"`
	RunTaskThrottled             int `json:"run_task_throttled"`
	ScalingThrottled             int `json:"scaling_throttled"`
	// Interruptions counts tasks killed by spot reclaims (SpotReclaims instances);
	// KilledByTerminate tasks killed by a policy's Terminate or Drain of a launching
	// instance; Reruns all requeued tasks.
	Interruptions        int `json:"interruptions"`
	SpotReclaims         int `json:"spot_reclaims"`
	KilledByTerminate    int `json:"killed_by_terminate"`
	Reruns               int `json:"reruns"`
	ProvisioningTimeouts int `json:"provisioning_timeouts"`
	RunTaskCalls         int `json:"run_task_calls"`
	// WarmUps counts the instances that warmed their image cache before they became
	// active (Config.WarmImages), WarmUpPulls the images they pulled.
	WarmUps     int `json:"warm_ups,omitempty"`
	WarmUpPulls int `json:"warm_up_pulls,omitempty"`
	// RejectedActions are actions naming an unknown pool, type or instance.
	RejectedActions  int     `json:"rejected_actions"`
	Events           int     `json:"events"`
	SimulatedSeconds float64 `json:"simulated_s"`
}

// InstanceHours split by purchase option.
type InstanceHours struct {
	OnDemand float64 `json:"on_demand"`
	Spot     float64 `json:"spot"`
	Total    float64 `json:"total"`
}

// JobRecord is one job's outcome, in seconds from the start (Start -1: never started).
type JobRecord struct {
	ID       string  `json:"id"`
	Submit   float64 `json:"submit_s"`
	Start    float64 `json:"start_s"`
	End      float64 `json:"end_s"`
	Instance string  `json:"instance,omitempty"`
	Attempts int     `json:"attempts"`
	Failed   string  `json:"failed,omitempty"`
}

// Sample is the cluster at one moment: instances by state, CPU and memory registered,
// launching (billed, not yet usable), reserved and demanded (reserved plus pending), tasks
// waiting and running.
type Sample struct {
	T                   float64 `json:"t_s"`
	Active              int     `json:"active"`
	Launching           int     `json:"launching"`
	Draining            int     `json:"draining"`
	LaunchingCPU        int     `json:"launching_cpu"`
	LaunchingMemoryMiB  int     `json:"launching_memory_mib"`
	RegisteredCPU       int     `json:"registered_cpu"`
	ReservedCPU         int     `json:"reserved_cpu"`
	DemandCPU           int     `json:"demand_cpu"`
	RegisteredMemoryMiB int     `json:"registered_memory_mib"`
	ReservedMemoryMiB   int     `json:"reserved_memory_mib"`
	DemandMemoryMiB     int     `json:"demand_memory_mib"`
	Pending             int     `json:"pending"`
	Provisioning        int     `json:"provisioning"`
	Running             int     `json:"running"`
}
