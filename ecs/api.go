// Package ecs is hashike's Amazon ECS backend: it registers the job's task definition (reusing
// the family's latest ACTIVE revision when it is the same), runs it with RunTask, waits for it
// with batched DescribeTasks calls, follows its awslogs output in CloudWatch Logs, and stops it
// with StopTask, keeping the run-and-wait contract of the local backend.
//
// A job that names an autoScalingGroupName has its group scaled out one instance at a time
// while its task finds no room (hako-style, capacity.go), unless the group is in
// Config.ManagedGroups: a cluster autoscaler owns it, and the run only waits for the
// capacity the autoscaler adds (one owner per group; two writers of a desired capacity fight).
//
// It reaches AWS only through the narrow interfaces below, which the SDK's clients satisfy;
// tests put the stateful fake of package awsfake behind them.
package ecs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// ECSAPI lists the Amazon ECS operations the backend uses.
type ECSAPI interface {
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RunTask(ctx context.Context, in *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error)
	DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
	// TagResource marks a task hashike:removed (Backend.Remove); DescribeTasks with
	// include TAGS must then return the tag.
	TagResource(ctx context.Context, in *ecs.TagResourceInput, optFns ...func(*ecs.Options)) (*ecs.TagResourceOutput, error)
}

// AutoScalingAPI lists the Auto Scaling operations of the hako-style scale-out.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
}

// LogsAPI lists the CloudWatch Logs operations of log following.
type LogsAPI interface {
	GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

var (
	_ ECSAPI         = (*ecs.Client)(nil)
	_ AutoScalingAPI = (*autoscaling.Client)(nil)
	_ LogsAPI        = (*cloudwatchlogs.Client)(nil)
)
