package ecs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// Instance is one ACTIVE container instance as the scale-out decision sees it.
type Instance struct {
	EC2InstanceID string
	Registered    hashike.Resources
	Remaining     hashike.Resources
}

// Group is an Auto Scaling group as the scale-out decision sees it.
type Group struct {
	Desired, Max int
	// InstanceIDs are the group's EC2 instances, whatever their lifecycle state.
	InstanceIDs []string
}

// ScaleOut decides, hako-style, the group's new desired capacity for a task of size need that
// RunTask could not place: unchanged when the task fits on an instance already (the failure
// was ports, ENIs or a race: wait), when a scale-out is already under way (the group wants
// more instances than have registered in the cluster: wait for them), or when the group is at
// its maximum; otherwise one more instance. The size of a new instance is taken to be the
// registered resources of the group's instances (of any instance when none is the group's);
// a task larger than that never fits and is an error.
func ScaleOut(need hashike.Resources, instances []Instance, g Group) (desired int, why string, err error) {
	for _, in := range instances {
		if in.Remaining.CPU >= need.CPU && in.Remaining.MemoryMiB >= need.MemoryMiB {
			return g.Desired, "the task fits on instance " + in.EC2InstanceID, nil
		}
	}
	inGroup := map[string]bool{}
	for _, id := range g.InstanceIDs {
		inGroup[id] = true
	}
	registered := 0
	var size hashike.Resources
	for _, in := range instances {
		if len(g.InstanceIDs) == 0 || inGroup[in.EC2InstanceID] {
			registered++
			size.CPU = max(size.CPU, in.Registered.CPU)
			size.MemoryMiB = max(size.MemoryMiB, in.Registered.MemoryMiB)
		}
	}
	if registered == 0 {
		for _, in := range instances {
			size.CPU = max(size.CPU, in.Registered.CPU)
			size.MemoryMiB = max(size.MemoryMiB, in.Registered.MemoryMiB)
		}
	}
	if size != (hashike.Resources{}) && (need.CPU > size.CPU || need.MemoryMiB > size.MemoryMiB) {
		return g.Desired, "", fmt.Errorf("the task needs %s but an instance of the group has %s", need, size)
	}
	if g.Desired > registered {
		return g.Desired, fmt.Sprintf("waiting for %d instance(s) of the group to register", g.Desired-registered), nil
	}
	if g.Desired >= g.Max {
		return g.Desired, fmt.Sprintf("the group is at its maximum of %d", g.Max), nil
	}
	return g.Desired + 1, "no instance has room for the task", nil
}

// scaleOut raises the group's desired capacity when ScaleOut says so, for the task of run
// runID. A task that can never fit is a *hashike.StartError.
//
// One owner per group: a group in Config.ManagedGroups belongs to a cluster autoscaler
// (`hashike server` with an autoscaler section, or `hashike autoscaler`), which sees the
// run waiting (hashike's queue, or the RunTask retries it counts as pending) and scales the
// group out itself. The backend then only waits for capacity: two writers of one desired
// capacity would undo each other's decisions.
func (b *Backend) scaleOut(ctx context.Context, runID, cluster, group string, need hashike.Resources) error {
	if b.managed[group] {
		b.log.Debug("no scale out: the cluster autoscaler owns the group", "group", group, "run", runID)
		return nil
	}
	if b.autoscaling == nil {
		return fmt.Errorf("scale out %s: the backend has no Auto Scaling client", group)
	}
	gout, err := b.autoscaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return classify("describe auto scaling group "+group, err)
	}
	if len(gout.AutoScalingGroups) == 0 {
		return &hashike.StartError{Reason: fmt.Sprintf("auto scaling group %s does not exist", group)}
	}
	ag := gout.AutoScalingGroups[0]
	g := Group{Desired: int(aws.ToInt32(ag.DesiredCapacity)), Max: int(aws.ToInt32(ag.MaxSize))}
	for _, in := range ag.Instances {
		g.InstanceIDs = append(g.InstanceIDs, aws.ToString(in.InstanceId))
	}
	instances, err := b.activeInstances(ctx, cluster)
	if err != nil {
		return err
	}
	desired, why, err := ScaleOut(need, instances, g)
	if err != nil {
		return &hashike.StartError{Reason: "capacity: " + err.Error()}
	}
	if desired == g.Desired {
		b.log.Debug("no scale out", "group", group, "why", why, "run", runID)
		return nil
	}
	b.log.Info("scale out", "group", group, "from", g.Desired, "to", desired, "why", why, "run", runID)
	_, err = b.autoscaling.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(int32(desired)), HonorCooldown: aws.Bool(false),
	})
	if err != nil {
		return classify(fmt.Sprintf("set desired capacity of %s to %d", group, desired), err)
	}
	return nil
}

// activeInstances lists the cluster's ACTIVE container instances with their resources.
func (b *Backend) activeInstances(ctx context.Context, cluster string) ([]Instance, error) {
	var arns []string
	var token *string
	for {
		out, err := b.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster), Status: types.ContainerInstanceStatusActive, NextToken: token})
		if err != nil {
			return nil, classify("list container instances of "+cluster, err)
		}
		arns = append(arns, out.ContainerInstanceArns...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	var out []Instance
	for start := 0; start < len(arns); start += 100 {
		batch := arns[start:min(start+100, len(arns))]
		d, err := b.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: batch})
		if err != nil {
			return nil, classify("describe container instances of "+cluster, err)
		}
		for _, ci := range d.ContainerInstances {
			if aws.ToString(ci.Status) != "ACTIVE" && ci.Status != nil {
				continue
			}
			out = append(out, Instance{
				EC2InstanceID: aws.ToString(ci.Ec2InstanceId),
				Registered:    resources(ci.RegisteredResources),
				Remaining:     resources(ci.RemainingResources),
			})
		}
	}
	return out, nil
}

func resources(rs []types.Resource) hashike.Resources {
	var r hashike.Resources
	for _, x := range rs {
		switch aws.ToString(x.Name) {
		case "CPU":
			r.CPU = int(x.IntegerValue)
		case "MEMORY":
			r.MemoryMiB = int(x.IntegerValue)
		}
	}
	return r
}
