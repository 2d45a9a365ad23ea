package awsfake

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
)

// mixedCloud returns a cloud with cluster "c", the types m5.large (2 vCPU) and m5.xlarge
// (4 vCPU), and the mixed group "mixed" over them in us-east-1a and us-east-1b.
func mixedCloud(t *testing.T, g MixedGroup) (*Cloud, *ManualClock) {
	t.Helper()
	clock := NewManualClock(time.Unix(1e9, 0))
	c := newCloud(t, Options{Clock: clock, StepDelay: -1})
	c.AddInstanceType("m5.large", 2048, 7680)
	c.AddInstanceType("m5.xlarge", 4096, 15576)
	g.Name, g.Cluster, g.Zones, g.RegisterDelay = "mixed", "c", []string{"us-east-1a", "us-east-1b"}, time.Minute
	if g.Overrides == nil {
		g.Overrides = []Override{{"m5.xlarge", 2}, {"m5.large", 1}}
	}
	c.AddMixedGroup(g)
	return c, clock
}

func describeGroup(t *testing.T, c *Cloud) astypes.AutoScalingGroup {
	t.Helper()
	out, err := c.AutoScaling().DescribeAutoScalingGroups(bg, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"mixed"}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("DescribeAutoScalingGroups: %v %v", out, err)
	}
	return out.AutoScalingGroups[0]
}

// member is how a test sees one instance: Auto Scaling's and EC2's facts together.
type member struct {
	id, typ, zone, weight string
	spot                  bool
	state                 ec2types.InstanceStateName
}

func mixedMembers(t *testing.T, c *Cloud) []member {
	t.Helper()
	g := describeGroup(t, c)
	var ids []string
	for _, m := range g.Instances {
		ids = append(ids, aws.ToString(m.InstanceId))
	}
	if len(ids) == 0 {
		return nil
	}
	out, err := c.EC2().DescribeInstances(bg, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: s("instance-id"), Values: ids}}})
	if err != nil {
		t.Fatal(err)
	}
	facts := map[string]ec2types.Instance{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			facts[aws.ToString(in.InstanceId)] = in
		}
	}
	var ms []member
	for _, m := range g.Instances {
		e, ok := facts[aws.ToString(m.InstanceId)]
		if !ok {
			t.Fatalf("EC2 does not describe %s", aws.ToString(m.InstanceId))
		}
		if string(e.InstanceType) != aws.ToString(m.InstanceType) || aws.ToString(e.Placement.AvailabilityZone) != aws.ToString(m.AvailabilityZone) {
			t.Errorf("EC2 says %s %s, Auto Scaling %s %s", e.InstanceType, aws.ToString(e.Placement.AvailabilityZone), aws.ToString(m.InstanceType), aws.ToString(m.AvailabilityZone))
		}
		ms = append(ms, member{id: aws.ToString(m.InstanceId), typ: aws.ToString(m.InstanceType), zone: aws.ToString(m.AvailabilityZone),
			weight: aws.ToString(m.WeightedCapacity), spot: e.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot, state: e.State.Name})
	}
	return ms
}

func summary(ms []member) string {
	var parts []string
	for _, m := range ms {
		p := "od"
		if m.spot {
			p = "spot"
		}
		parts = append(parts, fmt.Sprintf("%s/%s/%s/%s", m.typ, m.weight, p, m.zone[len(m.zone)-1:]))
	}
	return strings.Join(parts, " ")
}

func failedActivities(t *testing.T, c *Cloud) []string {
	t.Helper()
	out, err := asClient{c}.DescribeScalingActivities(bg, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: s("mixed")})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, a := range out.Activities {
		if a.StatusCode == astypes.ScalingActivityStatusCodeFailed {
			msgs = append(msgs, aws.ToString(a.StatusMessage))
		}
	}
	return msgs
}

func setDesired(c *Cloud, n int) error {
	_, err := c.AutoScaling().SetDesiredCapacity(bg, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: s("mixed"), DesiredCapacity: i32(int32(n))})
	return err
}

// TestMixedGroupWeightsSpotAndZones: desired capacity is in units (a weight-2 type counts
// 2, and the group overshoots by part of one); the first override is launched; the
// on-demand base comes first, then the percentage above it; instances alternate zones;
// DescribeAutoScalingGroups reports the policy and each instance's type, zone and weight,
// DescribeInstances each one's purchase option; container instances register the type's
// CPU and memory with its type and zone attributes. Scale-in keeps the group at desired.
func TestMixedGroupWeightsSpotAndZones(t *testing.T) {
	c, clock := mixedCloud(t, MixedGroup{Min: 1, Max: 8, Desired: 5, OnDemandBase: 1, OnDemandPercentAboveBase: 25})
	g := describeGroup(t, c)
	mp := g.MixedInstancesPolicy
	if mp == nil || len(mp.LaunchTemplate.Overrides) != 2 || aws.ToString(mp.LaunchTemplate.Overrides[0].WeightedCapacity) != "2" ||
		aws.ToInt32(mp.InstancesDistribution.OnDemandBaseCapacity) != 1 || aws.ToInt32(mp.InstancesDistribution.OnDemandPercentageAboveBaseCapacity) != 25 ||
		aws.ToString(mp.InstancesDistribution.SpotAllocationStrategy) != "price-capacity-optimized" {
		t.Fatalf("mixed instances policy %+v", mp)
	}
	if !slices.Equal(g.AvailabilityZones, []string{"us-east-1a", "us-east-1b"}) || aws.ToInt32(g.DesiredCapacity) != 5 {
		t.Fatalf("zones %v, desired %d", g.AvailabilityZones, aws.ToInt32(g.DesiredCapacity))
	}
	// 5 units of weight-2 instances: 3 of them (6 units). On-demand for the base unit(s),
	// then 25% of the units above the base.
	if got, want := summary(mixedMembers(t, c)), "m5.xlarge/2/od/a m5.xlarge/2/spot/b m5.xlarge/2/spot/a"; got != want {
		t.Fatalf("instances %s, want %s", got, want)
	}
	clock.Advance(time.Minute)
	list, err := c.ECS().ListContainerInstances(bg, &awsecs.ListContainerInstancesInput{Cluster: s("c")})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ECS().DescribeContainerInstances(bg, &awsecs.DescribeContainerInstancesInput{Cluster: s("c"), ContainerInstances: list.ContainerInstanceArns})
	if err != nil || len(d.ContainerInstances) != 3 {
		t.Fatalf("container instances %v %v", d, err)
	}
	zones := map[string]int{}
	for _, ci := range d.ContainerInstances {
		attrs := map[string]string{}
		for _, a := range ci.Attributes {
			attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
		}
		zones[attrs["ecs.availability-zone"]]++
		if attrs["ecs.instance-type"] != "m5.xlarge" || ci.RegisteredResources[0].IntegerValue != 4096 || ci.RegisteredResources[1].IntegerValue != 15576 {
			t.Errorf("container instance %v registers %d CPU %d MiB", attrs, ci.RegisteredResources[0].IntegerValue, ci.RegisteredResources[1].IntegerValue)
		}
	}
	if zones["us-east-1a"] != 2 || zones["us-east-1b"] != 1 {
		t.Errorf("zones %v", zones)
	}

	if err := setDesired(c, 9); code(err) != "ValidationError" {
		t.Errorf("desired 9 units above max 8: %v, want ValidationError", err)
	}
	// Down to 2 units: the two newest go (6 -> 4 -> 2), the on-demand base stays.
	if err := setDesired(c, 2); err != nil {
		t.Fatal(err)
	}
	ms := mixedMembers(t, c)
	if got, want := summary(ms), "m5.xlarge/2/od/a"; got != want {
		t.Fatalf("after scale-in to 2 units: %s, want %s", got, want)
	}
	all, err := c.EC2().DescribeInstances(bg, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: s("instance-state-name"), Values: []string{"terminated"}}}})
	if err != nil || len(all.Reservations) != 2 {
		t.Fatalf("terminated instances %v %v, want the 2 scaled in", all, err)
	}
	// A weighted instance's terminate with decrement takes its weight off desired, refused
	// below the minimum.
	_, err = asClient{c}.TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: s(ms[0].id), ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if code(err) != "ValidationError" {
		t.Errorf("terminate the last 2 units with decrement at min 1: %v, want ValidationError", err)
	}
	if err := setDesired(c, 4); err != nil {
		t.Fatal(err)
	}
	ms = mixedMembers(t, c)
	if _, err := (asClient{c}).TerminateInstanceInAutoScalingGroup(bg, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: s(ms[1].id), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if g := describeGroup(t, c); aws.ToInt32(g.DesiredCapacity) != 2 || len(g.Instances) != 1 {
		t.Errorf("after a weight-2 terminate with decrement: desired %d, %d instances; want 2 and 1", aws.ToInt32(g.DesiredCapacity), len(g.Instances))
	}
}

// TestMixedGroupInsufficientCapacity: without spot capacity for the first override the
// group launches the next one (no failed activity: the request was filled); without
// on-demand capacity in a zone it launches in the other; with no spot capacity at all the
// launch fails with Auto Scaling's wording, desired stays unfulfilled, and the group tries
// again (another failed activity) every launchRetry until capacity comes back.
func TestMixedGroupInsufficientCapacity(t *testing.T) {
	c, clock := mixedCloud(t, MixedGroup{Min: 0, Max: 20, Desired: 0, OnDemandBase: 1, OnDemandPercentAboveBase: 0})
	c.SetInsufficientCapacity(Capacity{Type: "m5.xlarge", Spot: true}, true)
	c.SetInsufficientCapacity(Capacity{Zone: "us-east-1a", Spot: false}, true)
	if err := setDesired(c, 4); err != nil {
		t.Fatal(err)
	}
	// On-demand base: zone a has none, so b; then spot m5.large (weight 1), each in the
	// zone with the fewest instances (a, then a again: earlier zones first on a tie).
	if got, want := summary(mixedMembers(t, c)), "m5.xlarge/2/od/b m5.large/1/spot/a m5.large/1/spot/a"; got != want {
		t.Fatalf("instances %s, want %s", got, want)
	}
	if f := failedActivities(t, c); len(f) != 0 {
		t.Fatalf("failed activities %q; a launch the next override filled does not fail", f)
	}

	c.SetInsufficientCapacity(Capacity{Spot: true}, true)
	if err := setDesired(c, 6); err != nil {
		t.Fatal(err)
	}
	want := "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed."
	if f := failedActivities(t, c); len(f) != 1 || f[0] != want {
		t.Fatalf("failed activities %q, want one %q", f, want)
	}
	clock.Advance(5 * time.Second)
	if g := describeGroup(t, c); aws.ToInt32(g.DesiredCapacity) != 6 || len(g.Instances) != 3 || len(failedActivities(t, c)) != 1 {
		t.Fatalf("within the retry: desired %d, %d instances, %d failed activities; want 6, 3, 1", aws.ToInt32(g.DesiredCapacity), len(g.Instances), len(failedActivities(t, c)))
	}
	clock.Advance(launchRetry)
	if f := failedActivities(t, c); len(f) != 2 {
		t.Fatalf("after the retry: %d failed activities, want 2", len(f))
	}
	c.SetInsufficientCapacity(Capacity{Spot: true}, false)
	clock.Advance(launchRetry)
	if got, want := summary(mixedMembers(t, c)), "m5.xlarge/2/od/b m5.large/1/spot/a m5.large/1/spot/a m5.large/1/spot/b m5.large/1/spot/a"; got != want {
		t.Fatalf("capacity back: %s, want %s", got, want)
	}

	// No on-demand capacity anywhere: EC2's message names the type and zone.
	c2, _ := mixedCloud(t, MixedGroup{Max: 4, Desired: 0, OnDemandPercentAboveBase: 100})
	c2.SetInsufficientCapacity(Capacity{}, true)
	if err := setDesired(c2, 1); err != nil {
		t.Fatal(err)
	}
	wantOD := "Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have sufficient m5.large capacity in the Availability Zone you requested (us-east-1b). Our system will be working on provisioning additional capacity. Launching EC2 instance failed."
	if f := failedActivities(t, c2); len(f) != 1 || f[0] != wantOD {
		t.Fatalf("failed activities %q, want %q", f, wantOD)
	}
}

// TestDescribeInstancesAsEC2: by InstanceIds an unknown ID fails the call; by filter it is
// absent; more than 1000 IDs are refused; MaxResults pages and is refused with
// InstanceIds.
func TestDescribeInstancesAsEC2(t *testing.T) {
	c, _ := mixedCloud(t, MixedGroup{Max: 20, Desired: 12, OnDemandPercentAboveBase: 100, Overrides: []Override{{InstanceType: "m5.large"}}})
	ms := mixedMembers(t, c)
	if len(ms) != 12 || ms[0].weight != "" || ms[0].state != ec2types.InstanceStateNameRunning {
		t.Fatalf("members %+v: want 12 unweighted running", ms)
	}
	_, err := c.EC2().DescribeInstances(bg, &ec2.DescribeInstancesInput{InstanceIds: []string{ms[0].id, "i-0000000000000dead"}})
	if code(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown ID by InstanceIds: %v", err)
	}
	out, err := c.EC2().DescribeInstances(bg, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: s("instance-id"), Values: []string{ms[0].id, "i-0000000000000dead"}}}})
	if err != nil || len(out.Reservations) != 1 {
		t.Errorf("unknown ID by filter: %v %v, want the known one alone", out, err)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("i-%017x", i)
	}
	if _, err := c.EC2().DescribeInstances(bg, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: s("instance-id"), Values: many}}}); code(err) != "InvalidParameterValue" {
		t.Errorf("1001 IDs: %v", err)
	}
	if _, err := c.EC2().DescribeInstances(bg, &ec2.DescribeInstancesInput{InstanceIds: []string{ms[0].id}, MaxResults: i32(5)}); code(err) != "InvalidParameterCombination" {
		t.Errorf("InstanceIds with MaxResults: %v", err)
	}
	seen := 0
	in := &ec2.DescribeInstancesInput{MaxResults: i32(5)}
	for pages := 0; ; pages++ {
		out, err := c.EC2().DescribeInstances(bg, in)
		if err != nil || pages > 3 {
			t.Fatalf("page %d: %v", pages, err)
		}
		seen += len(out.Reservations)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if seen != 12 {
		t.Errorf("paged %d instances, want 12", seen)
	}
}

// TestFailLaunchesOfAMixedGroup: a forced failure of a mixed group's spot launch is worded
// as Auto Scaling words a spot failure; the group then launches on its next try.
func TestFailLaunchesOfAMixedGroup(t *testing.T) {
	c, _ := mixedCloud(t, MixedGroup{Max: 4, Desired: 0, OnDemandPercentAboveBase: 0})
	c.FailLaunches("mixed", "InsufficientInstanceCapacity", 1)
	if err := setDesired(c, 2); err != nil {
		t.Fatal(err)
	}
	want := "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed."
	if f := failedActivities(t, c); len(f) != 1 || f[0] != want {
		t.Fatalf("failed activities %q, want %q", f, want)
	}
	if got := summary(mixedMembers(t, c)); got != "m5.xlarge/2/spot/a" {
		t.Fatalf("instances %s after the retry, want one spot m5.xlarge", got)
	}
}
