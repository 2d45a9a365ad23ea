package ecsscale_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
)

// apiOps are the operations the adapter calls.
var apiOps = []string{
	"DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances", "ListTasks", "DescribeTasks",
	"DescribeScalingActivities", "SetInstanceProtection", "SetDesiredCapacity", "UpdateContainerInstancesState",
	"TerminateInstanceInAutoScalingGroup",
}

func callCounts(f *fake) map[string]int {
	out := map[string]int{}
	for _, op := range apiOps {
		out[op] = f.cloud.Calls(op)
	}
	return out
}

// TestAPICallsAt200Instances: a 200-instance cluster running 1,000 tasks, 10 of them
// replaced by new ones before each decision, costs hashike's controller at its 10 s interval
// at most the budget below per decision (the figure per minute is logged: go test -v -run
// TestAPICallsAt200Instances ./ecsscale/). A snapshot reads every page of container
// instances and tasks, but describes only the tasks it has not seen placed, and sets
// scale-in protection only when it changed.
func TestAPICallsAt200Instances(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 tasks on the fake")
	}
	const instances, perInstance, churn, steps = 200, 5, 10, 6
	f := newFake(t)
	q := &queue{t: t, f: f}
	c := group(t, f, 0, 300, instances, nil)
	fam := q.family(400, 700) // five fill a c6i.large
	ctx := context.Background()
	var arns []string
	run := func(n int) {
		for n > 0 {
			out, err := f.cloud.ECS().RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(fam), Count: aws.Int32(int32(min(n, 10)))})
			if err != nil || len(out.Failures) > 0 {
				t.Fatalf("RunTask: %v %+v", err, out)
			}
			for _, tk := range out.Tasks {
				arns = append(arns, aws.ToString(tk.TaskArn))
			}
			n -= len(out.Tasks)
		}
	}
	run(instances * perInstance)
	ctl := &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(autoscale.HashikeConfig{}), Clock: f.clock}
	if err := ctl.Step(ctx); err != nil { // the first protects every instance
		t.Fatal(err)
	}
	s := snap(t, c)
	if len(s.Instances) != instances || s.Running != instances*perInstance {
		t.Fatalf("%d instances, %d tasks running", len(s.Instances), s.Running)
	}
	before := callCounts(f)
	for range steps {
		for _, arn := range arns[:churn] { // jobs end, others start
			if _, err := f.cloud.ECS().StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn), Reason: aws.String("job done")}); err != nil {
				t.Fatal(err)
			}
			q.waitStopped(arn)
		}
		arns = arns[churn:]
		run(churn)
		f.clock.Advance(10 * time.Second)
		var d autoscale.Decision
		ctl.Observe = func(x autoscale.Decision) { d = x }
		if err := ctl.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if len(d.Actions) != 0 {
			t.Fatalf("a steady cluster: actions %+v", d.Actions)
		}
	}
	// The budget per decision: the reads scale with pages of 100 instances or tasks.
	budget := map[string]int{
		"DescribeAutoScalingGroups":  1,
		"ListContainerInstances":     2,
		"DescribeContainerInstances": 2,
		"ListTasks":                  10,
		"DescribeTasks":              1, // the 10 new tasks
		"DescribeScalingActivities":  1,
		"SetInstanceProtection":      0, // busy instances stay busy
	}
	after := callCounts(f)
	total := 0
	report := ""
	for _, op := range apiOps {
		n := after[op] - before[op]
		total += n
		if n > 0 {
			report += fmt.Sprintf(" %s %d", op, n*60/(steps*10))
		}
		if n > budget[op]*steps {
			t.Errorf("%s: %d calls in %d decisions, budget %d a decision", op, n, steps, budget[op])
		}
	}
	t.Logf("%d instances, %d tasks, %d replaced every 10 s: %d API calls a minute:%s", instances, instances*perInstance, churn, total*60/(steps*10), report)
}

// TestProvisioningTaskDescribedUntilPlaced: a task waiting in PROVISIONING is described by
// every snapshot until it is placed (capacity came), then no more: the snapshot after its
// placement does not show it pending, and the next ones do not describe it again.
func TestProvisioningTaskDescribedUntilPlaced(t *testing.T) {
	f := newFake(t)
	q := &queue{t: t, f: f}
	c := group(t, f, 0, 3, 0, nil)
	f.cloud.AddCapacityProvider(clusterName, "jobs-cp", "jobs-asg")
	out, err := f.cloud.ECS().RunTask(context.Background(), &awsecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(q.family(1024, 2048)),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("jobs-cp")}}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %+v %v", out, err)
	}
	for range 2 {
		if s := snap(t, c); len(s.Pending) != 1 {
			t.Fatalf("pending %+v, want the PROVISIONING task", s.Pending)
		}
	}
	if n := f.cloud.Calls("DescribeTasks"); n != 2 {
		t.Fatalf("%d DescribeTasks, want one a snapshot while the task waits", n)
	}
	if err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(latency)
	f.cloud.Housekeep()
	if s := snap(t, c); len(s.Pending) != 0 || s.Running != 1 {
		t.Fatalf("pending %+v running %d, want the task placed", s.Pending, s.Running)
	}
	n := f.cloud.Calls("DescribeTasks")
	snap(t, c)
	if m := f.cloud.Calls("DescribeTasks"); m != n {
		t.Fatalf("a placed task described again: %d DescribeTasks, want %d", m, n)
	}
}
