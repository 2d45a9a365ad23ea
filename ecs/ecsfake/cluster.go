package ecsfake

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
		panic("ecsfake: AddInstance: no cluster " + cluster)
	}
	return c.registerInstance(cl, "", fmt.Sprintf("i-%s", c.hexID(17)), cpu, memMiB).arn
}

func (c *Cloud) registerInstance(cl *cluster, asg, ec2ID string, cpu, mem int) *instance {
	in := &instance{
		arn:     c.arn("ecs", fmt.Sprintf("container-instance/%s/%s", cl.name, c.hexID(32))),
		ec2ID:   ec2ID,
		cluster: cl, asg: asg, cpu: cpu, mem: mem,
		registeredAt: c.clock.Now(),
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
		panic("ecsfake: AddCapacityProvider: no cluster " + cluster)
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
		return nil, apiError("InvalidParameterException", "ecsfake: cluster query language filters are not modelled")
	}
	if in.Status != "" && in.Status != types.ContainerInstanceStatusActive {
		return &awsecs.ListContainerInstancesOutput{}, nil
	}
	arns := make([]string, 0, len(cl.instances))
	for _, i := range cl.instances {
		arns = append(arns, i.arn)
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
		var found *instance
		for _, i := range cl.instances {
			if i.arn == ref || strings.HasSuffix(i.arn, "/"+ref) {
				found = i
			}
		}
		if found == nil {
			out.Failures = append(out.Failures, types.Failure{Arn: ptr(ref), Reason: ptr("MISSING")})
			continue
		}
		out.ContainerInstances = append(out.ContainerInstances, types.ContainerInstance{
			ContainerInstanceArn: ptr(found.arn),
			Ec2InstanceId:        ptr(found.ec2ID),
			Status:               ptr("ACTIVE"),
			AgentConnected:       true,
			RegisteredAt:         timePtr(found.registeredAt),
			RegisteredResources:  found.resources(found.cpu, found.mem),
			RemainingResources:   found.resources(found.freeCPU(), found.freeMem()),
			RunningTasksCount:    int32(found.running),
			PendingTasksCount:    int32(found.pending),
			CapacityProviderName: c.providerOf(cl, found.asg),
		})
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
}

type asgInstance struct {
	id         string
	launchedAt time.Time
	registered *instance
}

// AddAutoScalingGroup creates a group of instances with instanceCPU units and instanceMemMiB
// each, which register in cluster as container instances registerDelay after their launch.
// The desired instances are launched at once.
func (c *Cloud) AddAutoScalingGroup(name, cluster string, min, max, desired, instanceCPU, instanceMemMiB int, registerDelay time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clusters[cluster] == nil {
		panic("ecsfake: AddAutoScalingGroup: no cluster " + cluster)
	}
	g := &asg{name: name, cluster: cluster, min: min, max: max, cpu: instanceCPU, mem: instanceMemMiB, registerDelay: registerDelay, created: c.clock.Now()}
	c.asgs[name] = g
	g.resize(c, desired)
	g.registerDue(c, c.clock.Now())
}

// resize launches or terminates instances to reach desired (newest terminated first).
func (g *asg) resize(c *Cloud, desired int) {
	now := c.clock.Now()
	for len(g.members) < desired {
		g.members = append(g.members, &asgInstance{id: "i-" + c.hexID(17), launchedAt: now})
	}
	for len(g.members) > desired {
		m := g.members[len(g.members)-1]
		g.members = g.members[:len(g.members)-1]
		if m.registered != nil {
			c.terminate(m.registered)
		}
	}
	g.desired = desired
}

// registerDue registers the instances whose boot is over.
func (g *asg) registerDue(c *Cloud, now time.Time) {
	cl := c.clusters[g.cluster]
	for _, m := range g.members {
		if m.registered == nil && !now.Before(m.launchedAt.Add(g.registerDelay)) {
			m.registered = c.registerInstance(cl, g.name, m.id, g.cpu, g.mem)
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
		return nil, apiError("ValidationError", "ecsfake: filters are not modelled")
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
			AvailabilityZones:    []string{c.opts.Region + "a"},
			Instances:            []astypes.Instance{},
		}
		for _, m := range g.members {
			state := astypes.LifecycleStatePending
			if m.registered != nil {
				state = astypes.LifecycleStateInService
			}
			grp.Instances = append(grp.Instances, astypes.Instance{
				InstanceId:           ptr(m.id),
				LifecycleState:       state,
				HealthStatus:         ptr("Healthy"),
				AvailabilityZone:     ptr(c.opts.Region + "a"),
				ProtectedFromScaleIn: ptr(false),
			})
		}
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
		if _, err := fmt.Sscanf(*token, "ecsfake-%d", &start); err != nil || start < 0 || start > len(items) {
			return nil, nil, apiError("InvalidParameterException", "Invalid nextToken.")
		}
	}
	end := min(start+limit, len(items))
	var next *string
	if end < len(items) {
		next = ptr(fmt.Sprintf("ecsfake-%d", end))
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
