package awsfake

import (
	"context"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// StartTask starts a task on each of the named container instances (ARNs or IDs, 1 to 10),
// as ECS does without its scheduler: no placement strategy, no capacity provider, no
// PROVISIONING. An instance that is not in the cluster fails with reason MISSING, one not
// ACTIVE (DRAINING) with INACTIVE (ECS documents that a DRAINING instance takes no new
// task, not the reason it gives StartTask: an assumption), one without the task's CPU or
// memory left with RESOURCE:CPU or RESOURCE:MEMORY; the others start at once.
func (e ecsClient) StartTask(ctx context.Context, in *awsecs.StartTaskInput, _ ...func(*awsecs.Options)) (*awsecs.StartTaskOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "StartTask"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if n := len(in.ContainerInstances); n == 0 || n > 10 {
		return nil, apiError("InvalidParameterException", "Container instances must contain between 1 and 10 elements.")
	}
	if in.TaskDefinition == nil || *in.TaskDefinition == "" {
		return nil, apiError("InvalidParameterException", "TaskDefinition cannot be empty.")
	}
	td := c.lookupDef(*in.TaskDefinition)
	if td == nil {
		return nil, apiError("ClientException", "Unable to find task definition.")
	}
	if in.StartedBy != nil && len(*in.StartedBy) > 128 {
		return nil, apiError("InvalidParameterException", "StartedBy cannot be longer than 128 characters.")
	}
	if td.def.NetworkMode == types.NetworkModeAwsvpc && (in.NetworkConfiguration == nil || in.NetworkConfiguration.AwsvpcConfiguration == nil) {
		return nil, apiError("InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	run := &awsecs.RunTaskInput{Overrides: in.Overrides, StartedBy: in.StartedBy, Group: in.Group, Tags: in.Tags, PropagateTags: in.PropagateTags}
	cpu, mem := taskSize(&td.def, in.Overrides)
	now := c.clock.Now()
	out := &awsecs.StartTaskOutput{Tasks: []types.Task{}, Failures: []types.Failure{}}
	for _, ref := range in.ContainerInstances {
		host := cl.instanceByRef(ref)
		reason := ""
		switch {
		case host == nil:
			reason = "MISSING"
		case host.draining:
			reason = "INACTIVE"
		case host.freeCPU() < cpu:
			reason = "RESOURCE:CPU"
		case host.freeMem() < mem:
			reason = "RESOURCE:MEMORY"
		}
		if reason != "" {
			arn := ref
			if host != nil {
				arn = host.arn
			}
			out.Failures = append(out.Failures, types.Failure{Arn: ptr(arn), Reason: ptr(reason)})
			continue
		}
		t := c.newTask(cl, td, run, types.LaunchTypeEc2, "", cpu, mem, now)
		t.assign(host)
		t.launch()
		out.Tasks = append(out.Tasks, t.describe(true))
	}
	return out, nil
}
