package awsfake

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// instanceType is what a type's container instances register.
type instanceType struct{ cpu, mem int }

// AddInstanceType declares an EC2 instance type: its container instances register cpu
// units and memMiB of memory. A mixed instances group launches only declared types.
func (c *Cloud) AddInstanceType(name string, cpu, memMiB int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.instanceTypes == nil {
		c.instanceTypes = map[string]instanceType{}
	}
	c.instanceTypes[name] = instanceType{cpu, memMiB}
}

// Override is one instance type of a mixed instances policy, in priority order, with its
// weight in capacity units (0: unweighted; a group's overrides are all weighted or none).
type Override struct {
	InstanceType string
	Weight       int
}

// MixedGroup is an Auto Scaling group with a mixed instances policy (AddMixedGroup). Min,
// Max and Desired are capacity units: instances when unweighted, the sum of the instances'
// weights otherwise.
type MixedGroup struct {
	Name, Cluster     string
	Min, Max, Desired int
	Overrides         []Override
	// OnDemandBase units are on-demand; above it OnDemandPercentAboveBase percent are (100:
	// all on-demand, 0: all spot above the base); the rest spot.
	OnDemandBase             int
	OnDemandPercentAboveBase int
	// SpotAllocationStrategy is reported as set ("" is "price-capacity-optimized"). Both it
	// and on-demand's "prioritized" are modelled alike: the first override, in the zone
	// chosen, with capacity.
	SpotAllocationStrategy string
	// Zones the group spans (default the region's "a" zone); instances are balanced over
	// them: each launch goes to the zone with the fewest instances, earlier zones first.
	Zones []string
	// RegisterDelay is launch to registered container instance.
	RegisterDelay time.Duration
}

// mixedPolicy is a group's mixed instances policy.
type mixedPolicy struct {
	overrides    []Override
	weighted     bool
	onDemandBase int
	onDemandPct  int
	spotStrategy string
	zones        []string
}

// AddMixedGroup creates a group with a mixed instances policy whose instances join
// g.Cluster RegisterDelay after their launch, each registering its type's CPU and memory
// (AddInstanceType) with the ecs.instance-type and ecs.availability-zone attributes. The
// desired capacity is launched at once.
func (c *Cloud) AddMixedGroup(g MixedGroup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clusters[g.Cluster] == nil {
		panic("awsfake: AddMixedGroup: no cluster " + g.Cluster)
	}
	if len(g.Overrides) == 0 {
		panic("awsfake: AddMixedGroup: no overrides")
	}
	mp := &mixedPolicy{overrides: slices.Clone(g.Overrides), onDemandBase: g.OnDemandBase, onDemandPct: g.OnDemandPercentAboveBase,
		spotStrategy: g.SpotAllocationStrategy, zones: slices.Clone(g.Zones)}
	if mp.spotStrategy == "" {
		mp.spotStrategy = "price-capacity-optimized"
	}
	if len(mp.zones) == 0 {
		mp.zones = []string{c.opts.Region + "a"}
	}
	mp.weighted = g.Overrides[0].Weight > 0
	for _, o := range g.Overrides {
		if _, ok := c.instanceTypes[o.InstanceType]; !ok {
			panic("awsfake: AddMixedGroup: instance type " + o.InstanceType + " not declared (AddInstanceType)")
		}
		if (o.Weight > 0) != mp.weighted {
			panic("awsfake: AddMixedGroup: weights must be given for every override or none")
		}
	}
	ag := &asg{name: g.Name, cluster: g.Cluster, min: g.Min, max: g.Max, registerDelay: g.RegisterDelay, created: c.clock.Now(), mixed: mp}
	c.asgs[g.Name] = ag
	ag.resize(c, g.Desired)
	ag.registerDue(c, c.clock.Now())
}

func (m *mixedPolicy) weight(typ string) int {
	for _, o := range m.overrides {
		if o.InstanceType == typ && o.Weight > 0 {
			return o.Weight
		}
	}
	return 1
}

// describe is the policy as DescribeAutoScalingGroups reports it (nil for a plain group).
func (m *mixedPolicy) describe(group string) *astypes.MixedInstancesPolicy {
	if m == nil {
		return nil
	}
	out := &astypes.MixedInstancesPolicy{
		LaunchTemplate: &astypes.LaunchTemplate{LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{
			LaunchTemplateName: ptr(group), Version: ptr("$Default")}},
		InstancesDistribution: &astypes.InstancesDistribution{
			OnDemandAllocationStrategy:          ptr("prioritized"),
			OnDemandBaseCapacity:                ptr(int32(m.onDemandBase)),
			OnDemandPercentageAboveBaseCapacity: ptr(int32(m.onDemandPct)),
			SpotAllocationStrategy:              ptr(m.spotStrategy),
		},
	}
	for _, o := range m.overrides {
		ov := astypes.LaunchTemplateOverrides{InstanceType: ptr(o.InstanceType)}
		if m.weighted {
			ov.WeightedCapacity = ptr(strconv.Itoa(o.Weight))
		}
		out.LaunchTemplate.Overrides = append(out.LaunchTemplate.Overrides, ov)
	}
	return out
}

// describeMember adds what a mixed group reports of an instance: its own type and, when
// weighted, its weight.
func (m *mixedPolicy) describeMember(in *asgInstance, out *astypes.Instance) {
	if m == nil {
		return
	}
	out.InstanceType = ptr(in.typ)
	if m.weighted {
		out.WeightedCapacity = ptr(strconv.Itoa(in.weight))
	}
}

// units is the group's capacity in units: its instances' weights.
func (g *asg) units() int {
	n := 0
	for _, m := range g.members {
		n += m.weight
	}
	return n
}

// zones are the group's Availability Zones.
func (g *asg) zones(c *Cloud) []string {
	if g.mixed != nil {
		return slices.Clone(g.mixed.zones)
	}
	return []string{c.opts.Region + "a"}
}

// nextSpot is the purchase option of the group's next instance: on-demand until the
// on-demand units reach the base, then on-demand while the on-demand units above the base
// are below the percentage of the units above it (this one included), as the simulator
// splits.
func (g *asg) nextSpot() bool {
	if g.mixed == nil {
		return false
	}
	od, total := 0, 0
	for _, m := range g.members {
		total += m.weight
		if !m.spot {
			od += m.weight
		}
	}
	if od < g.mixed.onDemandBase {
		return false
	}
	base := min(od, g.mixed.onDemandBase)
	return (od-base)*100 >= g.mixed.onDemandPct*(total-base+1)
}

// launchRetry is how long a group whose launch found no capacity waits before it tries
// again (Auto Scaling retries a failed launch on its own, after a backoff; the fake's is
// fixed).
const launchRetry = 10 * time.Second

// Capacity names EC2 capacity: an instance type in an Availability Zone, spot or
// on-demand. An empty Type or Zone matches every type or zone.
type Capacity struct {
	Type, Zone string
	Spot       bool
}

func (p Capacity) matches(typ, zone string, spot bool) bool {
	return (p.Type == "" || p.Type == typ) && (p.Zone == "" || p.Zone == zone) && p.Spot == spot
}

// SetInsufficientCapacity makes EC2 have no capacity (out true) for p, or have it again:
// a group's launch skips it for the next override, then the next zone, as Auto Scaling's
// allocation does; when nothing it may launch has capacity, the launch fails with
// InsufficientInstanceCapacity, recorded as a Failed scaling activity, the desired
// capacity stays unfulfilled and the group tries again every launchRetry.
func (c *Cloud) SetInsufficientCapacity(p Capacity, out bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noCapacity = slices.DeleteFunc(c.noCapacity, func(q Capacity) bool { return q == p })
	if out {
		c.noCapacity = append(c.noCapacity, p)
	}
}

func (c *Cloud) hasCapacity(typ, zone string, spot bool) bool {
	for _, p := range c.noCapacity {
		if p.matches(typ, zone, spot) {
			return false
		}
	}
	return true
}

// launch starts one instance of the group (c.mu held), or returns nil after recording a
// failed launch when EC2 has no capacity for anything the group may launch.
func (g *asg) launch(c *Cloud, now time.Time) *asgInstance {
	if now.Before(g.retryAt) {
		return nil
	}
	m := &asgInstance{id: "i-" + c.hexID(17), launchedAt: now, weight: 1, zone: c.opts.Region + "a", typ: g.instanceType}
	if g.mixed == nil {
		typ := cmpOr(g.instanceType, "m5.large")
		if !c.hasCapacity(typ, m.zone, false) {
			// A plain group's failure is EC2's message alone.
			g.failedActivity(c, now, fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. Launching EC2 instance failed.", typ, m.zone))
			g.retryAt = now.Add(launchRetry)
			return nil
		}
		c.recordEC2(m)
		return m
	}
	m.spot = g.nextSpot()
	zones := slices.Clone(g.mixed.zones)
	count := map[string]int{}
	for _, x := range g.members {
		count[x.zone]++
	}
	slices.SortStableFunc(zones, func(a, b string) int { return count[a] - count[b] })
	for _, zone := range zones {
		for _, o := range g.mixed.overrides {
			if c.hasCapacity(o.InstanceType, zone, m.spot) {
				m.typ, m.zone, m.weight = o.InstanceType, zone, g.mixed.weight(o.InstanceType)
				c.recordEC2(m)
				return m
			}
		}
	}
	// Auto Scaling's wording: spot names no type; on-demand names the last one tried.
	reason := "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed."
	if !m.spot {
		last := g.mixed.overrides[len(g.mixed.overrides)-1].InstanceType
		reason = fmt.Sprintf("Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. Launching EC2 instance failed.", last, zones[len(zones)-1])
	}
	g.failedActivity(c, now, reason)
	g.retryAt = now.Add(launchRetry)
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ec2Instance is an EC2 instance as DescribeInstances reports it.
type ec2Instance struct {
	id, typ, zone string
	spot          bool
	launched      time.Time
	terminated    time.Time // zero while running
}

// launched records a new instance of a group in EC2.
func (c *Cloud) recordEC2(m *asgInstance) {
	if c.ec2 == nil {
		c.ec2 = map[string]*ec2Instance{}
	}
	c.ec2[m.id] = &ec2Instance{id: m.id, typ: cmpOr(m.typ, "m5.large"), zone: m.zone, spot: m.spot, launched: m.launchedAt}
}

// ended terminates a group's instance: its container instance goes, its tasks stop as
// when the host goes away, and EC2 reports it terminated.
func (c *Cloud) ended(m *asgInstance) {
	if m.registered != nil {
		c.terminate(m.registered)
	}
	if e := c.ec2[m.id]; e != nil && e.terminated.IsZero() {
		e.terminated = c.clock.Now()
	}
}

// ec2Forget is how long EC2 keeps describing a terminated instance.
const ec2Forget = time.Hour

// EC2API is the EC2 client: DescribeInstances, the SDK's method.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// EC2 returns the EC2 client.
func (c *Cloud) EC2() EC2API { return ec2Client{c} }

type ec2Client struct{ c *Cloud }

// DescribeInstances describes the instances the Auto Scaling groups launched: by
// InstanceIds (an unknown one fails the call with InvalidInstanceID.NotFound, as EC2's
// does) or by filters (instance-id, instance-state-name; ANDed, values ORed), paged by
// MaxResults (5 to 1000; not with InstanceIds). A call names at most 1000 IDs. Terminated
// instances stay visible for an hour. Each instance is its own reservation.
func (e ec2Client) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeInstances"); err != nil {
		return nil, err
	}
	if in.MaxResults != nil && len(in.InstanceIds) > 0 {
		return nil, apiError("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	if in.MaxResults != nil && (*in.MaxResults < 5 || *in.MaxResults > 1000) {
		return nil, apiError("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", *in.MaxResults)
	}
	ids := len(in.InstanceIds)
	for _, f := range in.Filters {
		if ptrValue(f.Name) == "instance-id" {
			ids += len(f.Values)
		}
	}
	if ids > 1000 {
		return nil, apiError("InvalidParameterValue", "The maximum number of instance IDs in a request is 1000; %d were given.", ids)
	}
	now := c.clock.Now()
	visible := func(x *ec2Instance) bool { return x.terminated.IsZero() || now.Sub(x.terminated) < ec2Forget }
	var all []*ec2Instance
	if len(in.InstanceIds) > 0 {
		for _, id := range in.InstanceIds {
			x := c.ec2[id]
			if x == nil || !visible(x) {
				return nil, apiError("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
			all = append(all, x)
		}
	} else {
		for _, id := range sortedKeys(c.ec2) {
			if x := c.ec2[id]; visible(x) {
				all = append(all, x)
			}
		}
	}
	for _, f := range in.Filters {
		name := ptrValue(f.Name)
		var field func(*ec2Instance) string
		switch name {
		case "instance-id":
			field = func(x *ec2Instance) string { return x.id }
		case "instance-state-name":
			field = func(x *ec2Instance) string { return string(x.state(now)) }
		default:
			return nil, apiError("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		all = slices.DeleteFunc(all, func(x *ec2Instance) bool { return !slices.Contains(f.Values, field(x)) })
	}
	start := 0
	if t := ptrValue(in.NextToken); t != "" {
		if _, err := fmt.Sscanf(t, "awsfake-%d", &start); err != nil || start < 0 || start > len(all) {
			return nil, apiError("InvalidParameterValue", "Unable to parse pagination token")
		}
	}
	end := len(all)
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{}}
	if in.MaxResults != nil && start+int(*in.MaxResults) < end {
		end = start + int(*in.MaxResults)
		out.NextToken = ptr(fmt.Sprintf("awsfake-%d", end))
	}
	for _, x := range all[start:end] {
		out.Reservations = append(out.Reservations, ec2types.Reservation{
			ReservationId: ptr("r-" + x.id[2:]),
			OwnerId:       ptr(c.opts.AccountID),
			Instances:     []ec2types.Instance{x.describe(now)},
		})
	}
	return out, nil
}

func (x *ec2Instance) state(now time.Time) ec2types.InstanceStateName {
	if !x.terminated.IsZero() {
		return ec2types.InstanceStateNameTerminated
	}
	return ec2types.InstanceStateNameRunning
}

func (x *ec2Instance) describe(now time.Time) ec2types.Instance {
	codes := map[ec2types.InstanceStateName]int32{ec2types.InstanceStateNameRunning: 16, ec2types.InstanceStateNameTerminated: 48}
	st := x.state(now)
	out := ec2types.Instance{
		InstanceId:   ptr(x.id),
		InstanceType: ec2types.InstanceType(x.typ),
		LaunchTime:   timePtr(x.launched),
		Placement:    &ec2types.Placement{AvailabilityZone: ptr(x.zone)},
		State:        &ec2types.InstanceState{Name: st, Code: ptr(codes[st])},
	}
	if x.spot {
		out.InstanceLifecycle = ec2types.InstanceLifecycleTypeSpot
	}
	return out
}

func ptrValue(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
