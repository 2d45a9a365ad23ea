package awsfake

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
)

type cluster struct {
	name, arn string
	instances []*instance
	providers map[string]string // capacity provider -> ASG name
	// insights: Container Insights is on (insights.go).
	insights bool
}

// instanceByRef is the container instance an API call names by its ARN or its ID (the
// ARN's last part), as ECS accepts either; nil when the cluster has none.
func (cl *cluster) instanceByRef(ref string) *instance {
	var found *instance
	for _, i := range cl.instances {
		if i.arn == ref || strings.HasSuffix(i.arn, "/"+ref) {
			found = i
		}
	}
	return found
}

type instance struct {
	arn, ec2ID   string
	cluster      *cluster
	asg          string
	cpu, mem     int
	usedCPU      int
	usedMem      int
	registeredAt time.Time
	running      int
	pending      int
	// draining: UpdateContainerInstancesState set it DRAINING; no task is placed on it.
	draining bool
	// instanceType and zone are its ecs.instance-type and ecs.availability-zone attributes.
	instanceType, zone string
	// images is the instance's image cache: when each image pulled is (or will be) there.
	images map[string]time.Time
}

// active returns the instances tasks can be placed on (not DRAINING).
func active(instances []*instance) []*instance {
	out := make([]*instance, 0, len(instances))
	for _, in := range instances {
		if !in.draining {
			out = append(out, in)
		}
	}
	return out
}

func (in *instance) status() string {
	if in.draining {
		return string(types.ContainerInstanceStatusDraining)
	}
	return string(types.ContainerInstanceStatusActive)
}

func (i *instance) freeCPU() int { return i.cpu - i.usedCPU }
func (i *instance) freeMem() int { return i.mem - i.usedMem }

// AddCluster creates a cluster (idempotent, as CreateCluster is) and returns its ARN.
func (c *Cloud) AddCluster(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clusters[name]; ok {
		return cl.arn
	}
	cl := &cluster{name: name, arn: c.arn("ecs", "cluster/"+name), providers: map[string]string{}}
	c.clusters[name] = cl
	return cl.arn
}

// AddInstance registers a container instance with cpu units and memMiB of memory in cluster
// and returns its ARN.
func (c *Cloud) AddInstance(cluster string, cpu, memMiB int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[cluster]
	if cl == nil {
		panic("awsfake: AddInstance: no cluster " + cluster)
	}
	return c.registerInstance(cl, "", fmt.Sprintf("i-%s", c.hexID(17)), cpu, memMiB).arn
}

func (c *Cloud) registerInstance(cl *cluster, asg, ec2ID string, cpu, mem int) *instance {
	in := &instance{
		arn:     c.arn("ecs", fmt.Sprintf("container-instance/%s/%s", cl.name, c.hexID(32))),
		ec2ID:   ec2ID,
		cluster: cl, asg: asg, cpu: cpu, mem: mem,
		registeredAt: c.clock.Now(),
		zone:         c.opts.Region + "a",
	}
	if g := c.asgs[asg]; g != nil {
		in.instanceType = g.instanceType
	}
	cl.instances = append(cl.instances, in)
	return in
}

// AddCapacityProvider creates a capacity provider with managed scaling over the Auto Scaling
// group asgName and attaches it to cluster.
func (c *Cloud) AddCapacityProvider(cluster, name, asgName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[cluster]
	if cl == nil {
		panic("awsfake: AddCapacityProvider: no cluster " + cluster)
	}
	cl.providers[name] = asgName
}

// clusterOf resolves a cluster name or ARN ("" is "default").
func (c *Cloud) clusterOf(ref *string) (*cluster, error) {
	name := "default"
	if ref != nil && *ref != "" {
		name = *ref
	}
	if i := strings.LastIndex(name, ":cluster/"); i >= 0 {
		name = name[i+len(":cluster/"):]
	}
	cl := c.clusters[name]
	if cl == nil {
		return nil, apiError("ClusterNotFoundException", "Cluster not found.")
	}
	return cl, nil
}

// remaining is the instances' unreserved CPU and memory, as autoscale's placement takes them.
func remaining(instances []*instance) []autoscale.Remaining {
	r := make([]autoscale.Remaining, len(instances))
	for i, in := range instances {
		r[i] = autoscale.Remaining{CPU: in.freeCPU(), MemoryMiB: in.freeMem()}
	}
	return r
}

// placeOne finds an instance for one task of cpu units and mem MiB with the binpack strategy
// on field (autoscale.Binpack, the simulator's placement), or nil.
func placeOne(instances []*instance, cpu, mem int, field autoscale.BinpackField) *instance {
	if i, _ := autoscale.Binpack(remaining(instances), cpu, mem, field); i >= 0 {
		return instances[i]
	}
	return nil
}

func (in *instance) resources(cpu, mem int) []types.Resource {
	return []types.Resource{
		{Name: ptr("CPU"), Type: ptr("INTEGER"), IntegerValue: int32(cpu)},
		{Name: ptr("MEMORY"), Type: ptr("INTEGER"), IntegerValue: int32(mem)},
		{Name: ptr("PORTS"), Type: ptr("STRINGSET"), StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}},
		{Name: ptr("PORTS_UDP"), Type: ptr("STRINGSET"), StringSetValue: []string{}},
	}
}

func (e ecsClient) ListContainerInstances(ctx context.Context, in *awsecs.ListContainerInstancesInput, _ ...func(*awsecs.Options)) (*awsecs.ListContainerInstancesOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "ListContainerInstances"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Filter != nil {
		return nil, apiError("InvalidParameterException", "awsfake: cluster query language filters are not modelled")
	}
	// Without a status, every instance but INACTIVE ones (the fake forgets those).
	arns := make([]string, 0, len(cl.instances))
	for _, i := range cl.instances {
		if in.Status == "" || string(in.Status) == i.status() {
			arns = append(arns, i.arn)
		}
	}
	page, next, err := paginate(arns, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	return &awsecs.ListContainerInstancesOutput{ContainerInstanceArns: page, NextToken: next}, nil
}

func (e ecsClient) DescribeContainerInstances(ctx context.Context, in *awsecs.DescribeContainerInstancesInput, _ ...func(*awsecs.Options)) (*awsecs.DescribeContainerInstancesOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeContainerInstances"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, apiError("InvalidParameterException", "Container instances cannot be empty.")
	}
	if len(in.ContainerInstances) > 100 {
		return nil, apiError("InvalidParameterException", "Container instances cannot have more than 100 elements.")
	}
	out := &awsecs.DescribeContainerInstancesOutput{}
	for _, ref := range in.ContainerInstances {
		found := cl.instanceByRef(ref)
		if found == nil {
			out.Failures = append(out.Failures, types.Failure{Arn: ptr(ref), Reason: ptr("MISSING")})
			continue
		}
		out.ContainerInstances = append(out.ContainerInstances, c.describeInstance(found))
	}
	return out, nil
}

func (c *Cloud) describeInstance(in *instance) types.ContainerInstance {
	ci := types.ContainerInstance{
		ContainerInstanceArn: ptr(in.arn),
		Ec2InstanceId:        ptr(in.ec2ID),
		Status:               ptr(in.status()),
		AgentConnected:       true,
		RegisteredAt:         timePtr(in.registeredAt),
		RegisteredResources:  in.resources(in.cpu, in.mem),
		RemainingResources:   in.resources(in.freeCPU(), in.freeMem()),
		RunningTasksCount:    int32(in.running),
		PendingTasksCount:    int32(in.pending),
		CapacityProviderName: c.providerOf(in.cluster, in.asg),
		Attributes:           []types.Attribute{{Name: ptr("ecs.availability-zone"), Value: ptr(in.zone)}},
	}
	if in.instanceType != "" {
		ci.Attributes = append(ci.Attributes, types.Attribute{Name: ptr("ecs.instance-type"), Value: ptr(in.instanceType)})
	}
	return ci
}

// UpdateContainerInstancesState sets container instances ACTIVE or DRAINING. A DRAINING
// instance takes no new task; its tasks run on (the fake has no services to replace).
func (e ecsClient) UpdateContainerInstancesState(ctx context.Context, in *awsecs.UpdateContainerInstancesStateInput, _ ...func(*awsecs.Options)) (*awsecs.UpdateContainerInstancesStateOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "UpdateContainerInstancesState"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Status != types.ContainerInstanceStatusActive && in.Status != types.ContainerInstanceStatusDraining {
		return nil, apiError("InvalidParameterException", "Container instances status should be one of [ACTIVE,DRAINING].")
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, apiError("InvalidParameterException", "Container instances should have between 1 and 10 elements.")
	}
	out := &awsecs.UpdateContainerInstancesStateOutput{}
	for _, ref := range in.ContainerInstances {
		found := cl.instanceByRef(ref)
		if found == nil {
			out.Failures = append(out.Failures, types.Failure{Arn: ptr(ref), Reason: ptr("MISSING")})
			continue
		}
		found.draining = in.Status == types.ContainerInstanceStatusDraining
		out.ContainerInstances = append(out.ContainerInstances, c.describeInstance(found))
	}
	return out, nil
}

func (c *Cloud) providerOf(cl *cluster, asgName string) *string {
	if asgName == "" {
		return nil
	}
	for p, g := range cl.providers {
		if g == asgName {
			return ptr(p)
		}
	}
	return nil
}

// asg is an Auto Scaling group whose instances join an ECS cluster.
type asg struct {
	name, cluster     string
	min, max, desired int
	cpu, mem          int
	registerDelay     time.Duration
	created           time.Time
	members           []*asgInstance
	instanceType      string
	// failLaunches launches fail next with failCode; activities are the failed launches'
	// scaling activities, oldest first.
	failLaunches int
	failCode     string
	activities   []astypes.Activity
	// mixed is its mixed instances policy (nil: it launches instanceType on-demand in one
	// zone); retryAt is when it may try a launch again after EC2 had no capacity.
	mixed   *mixedPolicy
	retryAt time.Time
}

type asgInstance struct {
	id         string
	launchedAt time.Time
	registered *instance
	// protected: scale-in protection (SetInstanceProtection); the group's own scale-in
	// never picks it.
	protected bool
	// typ, zone, spot and weight are what it was launched as (see launch): its instance
	// type ("" in a plain group: the group's), Availability Zone, purchase option and
	// capacity units (1 unless the mixed instances policy weighs its type).
	typ, zone string
	spot      bool
	weight    int
}

// AddAutoScalingGroup creates a group of instances with instanceCPU units and instanceMemMiB
// each, which register in cluster as container instances registerDelay after their launch.
// The desired instances are launched at once.
func (c *Cloud) AddAutoScalingGroup(name, cluster string, min, max, desired, instanceCPU, instanceMemMiB int, registerDelay time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clusters[cluster] == nil {
		panic("awsfake: AddAutoScalingGroup: no cluster " + cluster)
	}
	g := &asg{name: name, cluster: cluster, min: min, max: max, cpu: instanceCPU, mem: instanceMemMiB, registerDelay: registerDelay, created: c.clock.Now()}
	c.asgs[name] = g
	g.resize(c, desired)
	g.registerDue(c, c.clock.Now())
}

// FailLaunches makes the next n instance launches of group fail with EC2's error code
// (autoscale.LaunchErrorInsufficientCapacity, say), each recorded as a Failed scaling
// activity worded as Auto Scaling words it (a spot launch of a mixed instances group as
// one of Spot Instances). SetInsufficientCapacity takes capacity away by type, zone and
// purchase option instead, for as long as the test says. The group keeps its desired capacity and
// launches again on a later call, as Auto Scaling retries.
func (c *Cloud) FailLaunches(group, code string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.asgs[group]
	if g == nil {
		panic("awsfake: FailLaunches: no group " + group)
	}
	g.failLaunches, g.failCode = n, code
}

func (g *asg) failLaunch(c *Cloud, now time.Time) {
	typ := g.instanceType
	if typ == "" {
		typ = "m5.large"
	}
	reason := fmt.Sprintf("Could not launch On-Demand Instances. %s - We currently do not have sufficient %s capacity in the Availability Zone you requested (%sa). Our system will be working on provisioning additional capacity. Launching EC2 instance failed.", g.failCode, typ, c.opts.Region)
	if g.nextSpot() { // a mixed instances group's spot launch: EC2 names no type
		reason = fmt.Sprintf("Could not launch Spot Instances. %s - There is no Spot capacity available that matches your request. Launching EC2 instance failed.", g.failCode)
	}
	g.failedActivity(c, now, reason)
}

// failedActivity records a failed launch's scaling activity with Auto Scaling's wording.
func (g *asg) failedActivity(c *Cloud, now time.Time, reason string) {
	g.activities = append(g.activities, astypes.Activity{
		ActivityId:           ptr(fmt.Sprintf("%08x-0000-4000-8000-000000000000", c.seq)),
		AutoScalingGroupName: ptr(g.name),
		Description:          ptr("Launching a new EC2 instance.  Status Reason: " + reason),
		Cause:                ptr(fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.", now.UTC().Format(time.RFC3339), g.units(), g.desired)),
		StartTime:            timePtr(now),
		EndTime:              timePtr(now),
		StatusCode:           astypes.ScalingActivityStatusCodeFailed,
		StatusMessage:        ptr(reason),
		Progress:             ptr(int32(100)),
	})
	c.seq++
}

// DescribeScalingActivities returns a group's scaling activities, newest first. The fake
// records failed launches only.
func (a asClient) DescribeScalingActivities(ctx context.Context, in *autoscaling.DescribeScalingActivitiesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeScalingActivities"); err != nil {
		return nil, err
	}
	if in.MaxRecords != nil && (*in.MaxRecords < 1 || *in.MaxRecords > 100) {
		return nil, apiError("ValidationError", "1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100", *in.MaxRecords)
	}
	out := &autoscaling.DescribeScalingActivitiesOutput{Activities: []astypes.Activity{}}
	for _, g := range c.sortedASGs() {
		if in.AutoScalingGroupName != nil && *in.AutoScalingGroupName != g.name {
			continue
		}
		for i := len(g.activities) - 1; i >= 0; i-- {
			out.Activities = append(out.Activities, g.activities[i])
		}
	}
	limit := 100
	if in.MaxRecords != nil {
		limit = int(*in.MaxRecords)
	}
	if len(out.Activities) > limit {
		out.Activities = out.Activities[:limit]
	}
	return out, nil
}

// SetInstanceType names the instance type the group launches: its instances then report it
// (DescribeAutoScalingGroups' InstanceType, the container instances' ecs.instance-type
// attribute).
func (c *Cloud) SetInstanceType(group, instanceType string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.asgs[group]
	if g == nil {
		panic("awsfake: SetInstanceType: no group " + group)
	}
	g.instanceType = instanceType
	for _, m := range g.members {
		if m.registered != nil {
			m.registered.instanceType = instanceType
		}
	}
}

// resize launches or terminates instances to reach desired capacity units (one per
// instance unless the mixed instances policy weighs its types: a launch may then overshoot
// desired by part of a weighted instance, as Auto Scaling's does), through the group's
// lifecycle hooks. Scale-in terminates the newest unprotected instances that do not take the
// group below desired; when only protected instances are left, the group stays above
// desired, as Auto Scaling's does.
func (g *asg) resize(c *Cloud, desired int) {
	now := c.clock.Now()
	for g.units() < desired {
		if g.failLaunches > 0 {
			// The group stays below desired and tries again later (on the next call).
			g.failLaunches--
			g.failLaunch(c, now)
			break
		}
		m := g.launch(c, now)
		if m == nil {
			break // no capacity: a failed activity is recorded; retried after launchRetry
		}
		g.members = append(g.members, m)
		c.launched(g, m)
	}
	for k := len(g.members) - 1; k >= 0 && g.units() > desired; k-- {
		m := g.members[k]
		if m.protected || g.units()-m.weight < desired {
			continue
		}
		g.members = append(g.members[:k:k], g.members[k+1:]...)
		c.retire(g, m)
	}
	g.desired = desired
}

// registerDue registers the instances whose boot is over.
func (g *asg) registerDue(c *Cloud, now time.Time) {
	cl := c.clusters[g.cluster]
	for _, m := range g.members {
		if m.registered == nil && !now.Before(m.launchedAt.Add(g.registerDelay)) {
			cpu, mem := g.cpu, g.mem
			if t, ok := c.instanceTypes[m.typ]; ok && g.mixed != nil {
				cpu, mem = t.cpu, t.mem
			}
			m.registered = c.registerInstance(cl, g.name, m.id, cpu, mem)
			if g.mixed != nil {
				m.registered.instanceType, m.registered.zone = m.typ, m.zone
			}
		}
	}
}

// terminate removes a container instance; its tasks stop as when the host goes away.
func (c *Cloud) terminate(in *instance) {
	cl := in.cluster
	for i, x := range cl.instances {
		if x == in {
			cl.instances = append(cl.instances[:i:i], cl.instances[i+1:]...)
			break
		}
	}
	for _, t := range c.order {
		if t.instance == in && t.lastStatus != statusStopped {
			t.hostGone(fmt.Sprintf("Host EC2 (instance %s) terminated.", in.ec2ID))
		}
	}
}

type asClient struct{ c *Cloud }

func (a asClient) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeAutoScalingGroups"); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 {
		return nil, apiError("ValidationError", "awsfake: filters are not modelled")
	}
	names := in.AutoScalingGroupNames
	if len(names) == 0 {
		for _, g := range c.sortedASGs() {
			names = append(names, g.name)
		}
	}
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range names {
		g := c.asgs[n]
		if g == nil {
			continue
		}
		grp := astypes.AutoScalingGroup{
			AutoScalingGroupName: ptr(g.name),
			AutoScalingGroupARN:  ptr(c.arn("autoscaling", "autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/"+g.name)),
			MinSize:              ptr(int32(g.min)),
			MaxSize:              ptr(int32(g.max)),
			DesiredCapacity:      ptr(int32(g.desired)),
			CreatedTime:          timePtr(g.created),
			DefaultCooldown:      ptr(int32(300)),
			HealthCheckType:      ptr("EC2"),
			AvailabilityZones:    g.zones(c),
			Instances:            []astypes.Instance{},
			MixedInstancesPolicy: g.mixed.describe(g.name),
		}
		for _, m := range g.members {
			state := astypes.LifecycleStatePending
			if m.registered != nil {
				state = astypes.LifecycleStateInService
			}
			if held := c.lifecycleStateOf(m); held != "" {
				state = held
			}
			inst := astypes.Instance{
				InstanceId:           ptr(m.id),
				LifecycleState:       state,
				HealthStatus:         ptr("Healthy"),
				AvailabilityZone:     ptr(m.zone),
				ProtectedFromScaleIn: ptr(m.protected),
			}
			if g.instanceType != "" {
				inst.InstanceType = ptr(g.instanceType)
			}
			g.mixed.describeMember(m, &inst)
			grp.Instances = append(grp.Instances, inst)
		}
		grp.Instances = append(grp.Instances, c.leavingInstances(g)...)
		out.AutoScalingGroups = append(out.AutoScalingGroups, grp)
	}
	return out, nil
}

func (a asClient) SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "SetDesiredCapacity"); err != nil {
		return nil, err
	}
	if in.AutoScalingGroupName == nil || in.DesiredCapacity == nil {
		return nil, apiError("ValidationError", "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	g := c.asgs[*in.AutoScalingGroupName]
	if g == nil {
		return nil, apiError("ValidationError", "AutoScalingGroup name not found - %s", *in.AutoScalingGroupName)
	}
	d := int(*in.DesiredCapacity)
	// Desired, min and max are capacity units (instances unless weighted).
	if d > g.max {
		return nil, apiError("ValidationError", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", d, g.max)
	}
	if d < g.min {
		return nil, apiError("ValidationError", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", d, g.min)
	}
	g.resize(c, d)
	g.registerDue(c, c.clock.Now())
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

// TerminateInstanceInAutoScalingGroup terminates one instance of a group, at once unless a
// terminate lifecycle hook holds it in Terminating:Wait (lifecycle.go): its tasks stop as
// when the host goes away. With
// ShouldDecrementDesiredCapacity the group's desired capacity drops by one, refused below
// the group's minimum as Auto Scaling refuses it; without, the group launches a replacement.
func (a asClient) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "TerminateInstanceInAutoScalingGroup"); err != nil {
		return nil, err
	}
	if in.InstanceId == nil || in.ShouldDecrementDesiredCapacity == nil {
		return nil, apiError("ValidationError", "1 validation error detected: Value null at 'instanceId' failed to satisfy constraint: Member must not be null")
	}
	for _, g := range c.sortedASGs() {
		for k, m := range g.members {
			if m.id != *in.InstanceId {
				continue
			}
			desired := g.desired
			if *in.ShouldDecrementDesiredCapacity {
				// A weighted instance takes its weight off the desired capacity.
				if desired-m.weight < g.min {
					return nil, apiError("ValidationError", "Currently, desired capacity is %d. Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size constraint.", desired)
				}
				desired -= m.weight
			}
			g.members = append(g.members[:k:k], g.members[k+1:]...)
			c.retire(g, m)
			g.resize(c, desired)
			g.registerDue(c, c.clock.Now())
			return &autoscaling.TerminateInstanceInAutoScalingGroupOutput{Activity: &astypes.Activity{
				ActivityId:           ptr(fmt.Sprintf("%08x-0000-0000-0000-000000000000", c.seq)),
				AutoScalingGroupName: ptr(g.name),
				Cause:                ptr(fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", c.clock.Now().UTC().Format(time.RFC3339), m.id)),
				Description:          ptr("Terminating EC2 instance: " + m.id),
				StartTime:            timePtr(c.clock.Now()),
				StatusCode:           astypes.ScalingActivityStatusCodeInProgress,
				Progress:             ptr(int32(0)),
			}}, nil
		}
	}
	return nil, apiError("ValidationError", "Instance Id not found - No managed instance found for instance ID: %s", *in.InstanceId)
}

// SetInstanceProtection sets or clears the scale-in protection of up to 50 instances of a
// group; an instance not in the group fails the whole call, as Auto Scaling's does.
func (a asClient) SetInstanceProtection(ctx context.Context, in *autoscaling.SetInstanceProtectionInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetInstanceProtectionOutput, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "SetInstanceProtection"); err != nil {
		return nil, err
	}
	if in.AutoScalingGroupName == nil || in.ProtectedFromScaleIn == nil || len(in.InstanceIds) == 0 || len(in.InstanceIds) > 50 {
		return nil, apiError("ValidationError", "1 validation error detected: instanceIds must have between 1 and 50 members; autoScalingGroupName and protectedFromScaleIn are required")
	}
	g := c.asgs[*in.AutoScalingGroupName]
	if g == nil {
		return nil, apiError("ValidationError", "AutoScalingGroup name not found - %s", *in.AutoScalingGroupName)
	}
	var found []*asgInstance
	for _, id := range in.InstanceIds {
		var m *asgInstance
		for _, x := range g.members {
			if x.id == id {
				m = x
			}
		}
		if m == nil {
			return nil, apiError("ValidationError", "The instance %s is not part of Auto Scaling group %s.", id, g.name)
		}
		found = append(found, m)
	}
	for _, m := range found {
		m.protected = *in.ProtectedFromScaleIn
	}
	return &autoscaling.SetInstanceProtectionOutput{}, nil
}

// paginate pages items by an opaque offset token, at most max (default and cap 100).
func paginate(items []string, token *string, max *int32) ([]string, *string, error) {
	limit := 100
	if max != nil {
		if *max < 1 || *max > 100 {
			return nil, nil, apiError("InvalidParameterException", "maxResults must be between 1 and 100.")
		}
		limit = int(*max)
	}
	start := 0
	if token != nil && *token != "" {
		if _, err := fmt.Sscanf(*token, "awsfake-%d", &start); err != nil || start < 0 || start > len(items) {
			return nil, nil, apiError("InvalidParameterException", "Invalid nextToken.")
		}
	}
	end := min(start+limit, len(items))
	var next *string
	if end < len(items) {
		next = ptr(fmt.Sprintf("awsfake-%d", end))
	}
	return append([]string{}, items[start:end]...), next, nil
}

// managedScaling raises each capacity provider's group by the instances its PROVISIONING
// tasks need, counting instances already launched and not yet registered (c.mu held).
func (c *Cloud) managedScaling(now time.Time) {
	for _, name := range sortedKeys(c.clusters) {
		cl := c.clusters[name]
		for _, cp := range sortedKeys(cl.providers) {
			g := c.asgs[cl.providers[cp]]
			if g == nil {
				continue
			}
			type bin struct{ cpu, mem int }
			var bins []*bin
			for _, m := range g.members {
				if m.registered == nil {
					bins = append(bins, &bin{g.cpu, g.mem})
				}
			}
			launched := len(bins)
			due := false
			for _, t := range c.order {
				if t.cluster != cl || t.capacityProvider != cp || t.instance != nil || t.lastStatus != statusProvisioning {
					continue
				}
				due = due || now.Sub(*t.createdAt) >= c.opts.ManagedScalingDelay
				if t.cpu > g.cpu || t.mem > g.mem {
					continue // no instance of the group can hold it
				}
				placed := false
				for _, b := range bins {
					if b.cpu >= t.cpu && b.mem >= t.mem {
						b.cpu -= t.cpu
						b.mem -= t.mem
						placed = true
						break
					}
				}
				if !placed {
					bins = append(bins, &bin{g.cpu - t.cpu, g.mem - t.mem})
				}
			}
			if extra := len(bins) - launched; due && extra > 0 && g.desired < g.max {
				g.resize(c, min(g.max, g.desired+extra))
				g.registerDue(c, now)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
