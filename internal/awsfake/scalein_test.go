package awsfake

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

type scaleInECS interface {
	UpdateContainerInstancesState(ctx context.Context, in *awsecs.UpdateContainerInstancesStateInput, optFns ...func(*awsecs.Options)) (*awsecs.UpdateContainerInstancesStateOutput, error)
}

type scaleInAS interface {
	TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
}

// TestDrainingAndTerminateInGroup: a DRAINING container instance takes no new task and
// keeps its running one; TerminateInstanceInAutoScalingGroup decrements the desired
// capacity (refused below the minimum) or, without decrement, the group replaces the
// instance; instances report their type and zone.
func TestDrainingAndTerminateInGroup(t *testing.T) {
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1})
	c.AddAutoScalingGroup("asg", "c", 1, 3, 2, 2048, 4096, time.Minute)
	c.SetInstanceType("asg", "c6i.large")
	clock.Advance(time.Minute)
	register(t, c, "job", app("app", 512, "sleep", "1h"))
	tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s("job")})

	list, err := c.ECS().ListContainerInstances(bg, &awsecs.ListContainerInstancesInput{Cluster: s("c")})
	if err != nil || len(list.ContainerInstanceArns) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	d, err := c.ECS().DescribeContainerInstances(bg, &awsecs.DescribeContainerInstancesInput{Cluster: s("c"), ContainerInstances: list.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	var busy, idle types.ContainerInstance
	for _, ci := range d.ContainerInstances {
		attrs := map[string]string{}
		for _, a := range ci.Attributes {
			attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
		}
		if attrs["ecs.instance-type"] != "c6i.large" || attrs["ecs.availability-zone"] != "us-east-1a" {
			t.Errorf("attributes %v", attrs)
		}
		if aws.ToString(ci.ContainerInstanceArn) == aws.ToString(tk.ContainerInstanceArn) {
			busy = ci
		} else {
			idle = ci
		}
	}
	up, err := c.ECS().(scaleInECS).UpdateContainerInstancesState(bg, &awsecs.UpdateContainerInstancesStateInput{
		Cluster: s("c"), ContainerInstances: []string{*busy.ContainerInstanceArn, *idle.ContainerInstanceArn}, Status: types.ContainerInstanceStatusDraining})
	if err != nil || len(up.ContainerInstances) != 2 || *up.ContainerInstances[0].Status != "DRAINING" {
		t.Fatalf("drain: %+v %v", up, err)
	}
	if got := describe(t, c, *tk.TaskArn); *got.DesiredStatus != "RUNNING" {
		t.Fatalf("draining stopped the task: %s", *got.DesiredStatus)
	}
	if _, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job")}); code(err) != "InvalidParameterException" {
		t.Fatalf("RunTask with every instance DRAINING: %v", err)
	}
	active, _ := c.ECS().ListContainerInstances(bg, &awsecs.ListContainerInstancesInput{Cluster: s("c"), Status: types.ContainerInstanceStatusActive})
	if len(active.ContainerInstanceArns) != 0 {
		t.Fatalf("ACTIVE instances %v", active.ContainerInstanceArns)
	}

	as := c.AutoScaling().(scaleInAS)
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: idle.Ec2InstanceId, ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: busy.Ec2InstanceId, ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if code(err) != "ValidationError" || !strings.Contains(err.Error(), "min size constraint") {
		t.Fatalf("decrement below min: %v", err)
	}
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: busy.Ec2InstanceId, ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, c, *tk.TaskArn); *got.LastStatus != "STOPPED" || got.StopCode != types.TaskStopCodeTerminationNotice {
		t.Fatalf("task on the terminated host: %s %s", *got.LastStatus, got.StopCode)
	}
	g, _ := c.AutoScaling().DescribeAutoScalingGroups(bg, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"asg"}})
	grp := g.AutoScalingGroups[0]
	if *grp.DesiredCapacity != 1 || len(grp.Instances) != 1 || *grp.Instances[0].InstanceId == *busy.Ec2InstanceId || grp.Instances[0].LifecycleState != "Pending" || *grp.Instances[0].InstanceType != "c6i.large" {
		t.Fatalf("group %+v, want one replacement Pending", grp)
	}
	if _, err := as.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: idle.Ec2InstanceId, ShouldDecrementDesiredCapacity: aws.Bool(true)}); code(err) != "ValidationError" {
		t.Fatalf("terminate again: %v", err)
	}
}
