package hashike

import "time"

// ECSOptions are the run options of the ecs backend, with the ECS RunTask input's field names.
// They sit beside the task definition in a job file, under `ecs:`.
type ECSOptions struct {
	// Cluster is the cluster's name or ARN (RunTask's cluster; default "default").
	Cluster string `json:"cluster,omitempty"`
	// LaunchType is EC2, FARGATE or EXTERNAL; exclusive with CapacityProviderStrategy.
	LaunchType               string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	PlacementConstraints     []PlacementConstraint          `json:"placementConstraints,omitempty"`
	PlacementStrategy        []PlacementStrategy            `json:"placementStrategy,omitempty"`
	PlatformVersion          string                         `json:"platformVersion,omitempty"`
	EnableExecuteCommand     bool                           `json:"enableExecuteCommand,omitempty"`
	// Tags are put on the task (RunTask tags), besides the hashike ones.
	Tags []Tag `json:"tags,omitempty"`
	// PropagateTags: TASK_DEFINITION or NONE.
	PropagateTags string `json:"propagateTags,omitempty"`
	// CapacityTimeout bounds the wait for capacity (RunTask RESOURCE:* failures, tasks in
	// PROVISIONING). Default 10 minutes.
	CapacityTimeout Duration `json:"capacityTimeout,omitempty"`
	// AutoScalingGroupName, when set, lets hashike raise that group's desired capacity when
	// the cluster has no room for the task (hako's autoscaling_group_for_oneshot), never above
	// its maximum, within CapacityTimeout.
	AutoScalingGroupName string `json:"autoScalingGroupName,omitempty"`
	// EventsQueueURL names an SQS queue receiving EventBridge "ECS Task State Change" events,
	// used as the primary status source (DescribeTasks polling stays as the fallback).
	EventsQueueURL string `json:"eventsQueueUrl,omitempty"`
}

// DefaultCapacityTimeout bounds the wait for ECS capacity when the job file gives none.
const DefaultCapacityTimeout = 10 * time.Minute

type CapacityProviderStrategyItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int    `json:"weight,omitempty"`
	Base             int    `json:"base,omitempty"`
}

type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

type AwsVpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	// AssignPublicIp: ENABLED or DISABLED.
	AssignPublicIp string `json:"assignPublicIp,omitempty"`
}

type PlacementConstraint struct {
	// Type: distinctInstance or memberOf.
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

type PlacementStrategy struct {
	// Type: random, spread or binpack.
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
}
