package ecsscale

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hashike/hashike/autoscale"
)

// weights are the capacity units of a group's instance types, from its mixed instances
// policy's overrides (WeightedCapacity); nil when the group is not weighted (every
// instance is one unit: desired, min and max count instances).
func weights(g astypes.AutoScalingGroup) map[string]int {
	m := g.MixedInstancesPolicy
	if m == nil || m.LaunchTemplate == nil {
		return nil
	}
	var w map[string]int
	for _, o := range m.LaunchTemplate.Overrides {
		n, err := strconv.Atoi(aws.ToString(o.WeightedCapacity))
		if err != nil || n < 1 {
			continue
		}
		if w == nil {
			w = map[string]int{}
		}
		w[aws.ToString(o.InstanceType)] = n
	}
	return w
}

// weightOf is the units an instance of typ counts for in g (1 unweighted or unknown).
func weightOf(g astypes.AutoScalingGroup, typ string) int {
	if n := weights(g)[typ]; n > 0 {
		return n
	}
	return 1
}

// memberUnits is what a group's instance counts for: its WeightedCapacity, else its type's
// weight, else 1.
func memberUnits(g astypes.AutoScalingGroup, m astypes.Instance) int {
	if n, err := strconv.Atoi(aws.ToString(m.WeightedCapacity)); err == nil && n > 0 {
		return n
	}
	return weightOf(g, aws.ToString(m.InstanceType))
}

// liveUnits sums the units of a group's instances that are or will be capacity.
func liveUnits(g astypes.AutoScalingGroup) (units, instances int) {
	for _, m := range g.Instances {
		if live(m.LifecycleState) {
			units += memberUnits(g, m)
			instances++
		}
	}
	return units, instances
}

// mixedTypes counts the instance types a group's mixed instances policy may launch.
func mixedTypes(g astypes.AutoScalingGroup) int {
	if m := g.MixedInstancesPolicy; m != nil && m.LaunchTemplate != nil {
		return len(m.LaunchTemplate.Overrides)
	}
	return 0
}

// weighPool turns a weighted group's limits, in units, into the instances autoscale.Pool
// counts: Max is the live instances plus the units left under the group's max in instances
// of the pool's first type; Min the group's min in instances of its heaviest type.
func weighPool(out *autoscale.Pool, g astypes.AutoScalingGroup) {
	w := weights(g)
	if w == nil {
		return
	}
	units, n := liveUnits(g)
	first := 1
	if len(out.InstanceTypes) > 0 {
		first = weightOf(g, out.InstanceTypes[0])
	}
	heaviest := 1
	for _, x := range w {
		heaviest = max(heaviest, x)
	}
	left := int(aws.ToInt32(g.MaxSize)) - max(int(aws.ToInt32(g.DesiredCapacity)), units)
	out.Max = n + max(0, left)/first
	out.Min = (int(aws.ToInt32(g.MinSize)) + heaviest - 1) / heaviest
}

// describeBatch is the most instance IDs one DescribeInstances names.
const describeBatch = 1000

// observeSpot learns, for the live instances of groups not seen before, whether each is
// spot (DescribeInstances' InstanceLifecycle "spot"), so a Snapshot makes no EC2 call at
// steady state; it forgets instances that left. An instance EC2 does not describe yet is
// asked about again next time. Without Config.EC2 it does nothing.
func (c *Cluster) observeSpot(ctx context.Context, groups map[string]astypes.AutoScalingGroup) error {
	present := map[string]bool{}
	var ask []string
	for _, name := range sortedGroupNames(groups) {
		for _, m := range groups[name].Instances {
			id := aws.ToString(m.InstanceId)
			if !live(m.LifecycleState) {
				continue
			}
			present[id] = true
			if _, ok := c.spot[id]; !ok {
				ask = append(ask, id)
			}
		}
	}
	for id := range c.spot {
		if !present[id] {
			delete(c.spot, id)
		}
	}
	if c.cfg.EC2 == nil {
		return nil
	}
	for batch := range slices.Chunk(ask, describeBatch) {
		in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: batch}}}
		for {
			out, err := c.cfg.EC2.DescribeInstances(ctx, in)
			if err != nil {
				return wrap(fmt.Sprintf("describe %d instances", len(batch)), err)
			}
			for _, r := range out.Reservations {
				for _, x := range r.Instances {
					c.spot[aws.ToString(x.InstanceId)] = x.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	return nil
}

func sortedGroupNames(groups map[string]astypes.AutoScalingGroup) []string {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// spotAhead reports whether a launch of count instances of w units each in g would get a
// spot instance by its mixed instances policy's split, decided per instance as awsfake and
// the simulator model Auto Scaling's (whose rounding is its own): on-demand while the
// on-demand units are below the base, then on-demand while those above the base stay under
// OnDemandPercentageAboveBaseCapacity percent of the units above it; the live instances'
// purchase options are DescribeInstances'. A group without a policy launches on-demand
// only.
func (c *Cluster) spotAhead(g astypes.AutoScalingGroup, count, w int) bool {
	m := g.MixedInstancesPolicy
	if m == nil || m.InstancesDistribution == nil {
		return false
	}
	d := m.InstancesDistribution
	base := int(aws.ToInt32(d.OnDemandBaseCapacity))
	pct := 100
	if d.OnDemandPercentageAboveBaseCapacity != nil {
		pct = int(*d.OnDemandPercentageAboveBaseCapacity)
	}
	od, total := 0, 0
	for _, x := range g.Instances {
		if !live(x.LifecycleState) {
			continue
		}
		u := memberUnits(g, x)
		total += u
		if !c.spot[aws.ToString(x.InstanceId)] {
			od += u
		}
	}
	for range count {
		if od >= base {
			b := min(od, base)
			if (od-b)*100 >= pct*(total-b+1) {
				return true
			}
		}
		od, total = od+w, total+w
	}
	return false
}

// launch raises the pool's group's desired capacity by Count instances of Type (its first
// type when ""), in capacity units: Count times the type's weight in a weighted mixed
// instances group, capped at the group's max (ErrAtMax). Type is a preference: the group's
// allocation strategy picks the types (and the zones) it launches. With Spot false, a
// pool whose next instances would be spot hands the launch to its OnDemandPool
// (launchOnDemand).
func (c *Cluster) launch(ctx context.Context, l autoscale.Launch) error {
	p, ok := c.pools[l.Pool]
	if !ok {
		return fmt.Errorf("launch in pool %q: %w", l.Pool, autoscale.ErrUnknown)
	}
	if l.Count < 1 {
		return fmt.Errorf("launch %d in pool %s: count must be >= 1", l.Count, l.Pool)
	}
	groups, err := c.groups(ctx)
	if err != nil {
		return err
	}
	g := groups[p.Group]
	pool := c.poolOf(p, g)
	if l.Type != "" && !slices.Contains(pool.InstanceTypes, l.Type) {
		return fmt.Errorf("launch %s in pool %s: %w", l.Type, l.Pool, autoscale.ErrUnknown)
	}
	typ := l.Type
	if typ == "" && len(pool.InstanceTypes) > 0 {
		typ = pool.InstanceTypes[0]
	}
	w := weightOf(g, typ)
	if l.Spot != nil && !*l.Spot {
		c.mu.Lock()
		spot := c.spotAhead(g, l.Count, w)
		c.mu.Unlock()
		if spot {
			if p.OnDemandPool != "" {
				return c.launchOnDemand(ctx, l, p, groups)
			}
			if c.cfg.Log != nil {
				c.cfg.Log.Warn("on-demand asked, the group's split decides", "pool", l.Pool, "group", p.Group,
					"detail", fmt.Sprintf("launch %d with spot false: group %s's mixed instances policy makes its next instances spot and pool %s has no onDemandPool; launching there anyway", l.Count, p.Group, l.Pool))
			}
		}
	}
	return c.raise(ctx, l, p, g, w)
}

// launchOnDemand launches l in p's OnDemandPool instead (its first type), since p's
// next instances would be spot and l asked for on-demand capacity.
func (c *Cluster) launchOnDemand(ctx context.Context, l autoscale.Launch, p Pool, groups map[string]astypes.AutoScalingGroup) error {
	od := c.pools[p.OnDemandPool]
	g := groups[od.Group]
	pool := c.poolOf(od, g)
	typ := ""
	if len(pool.InstanceTypes) > 0 {
		typ = pool.InstanceTypes[0]
	}
	if c.cfg.Log != nil {
		c.cfg.Log.Info("launch moved to the on-demand pool", "pool", l.Pool, "onDemandPool", od.Name,
			"detail", fmt.Sprintf("launch %d with spot false: pool %s's next instances would be spot, so pool %s (group %s) launches them", l.Count, l.Pool, od.Name, od.Group))
	}
	moved := l
	moved.Pool, moved.Type = od.Name, typ
	if err := c.raise(ctx, moved, od, g, weightOf(g, typ)); err != nil {
		return fmt.Errorf("launch in %s's on-demand pool %s: %w", l.Pool, od.Name, err)
	}
	return nil
}

// raise sets the group's desired capacity count*w units higher, capped at its max.
func (c *Cluster) raise(ctx context.Context, l autoscale.Launch, p Pool, g astypes.AutoScalingGroup, w int) error {
	desired := int(aws.ToInt32(g.DesiredCapacity))
	maxUnits := int(aws.ToInt32(g.MaxSize))
	want := min(desired+l.Count*w, maxUnits)
	if want > desired {
		_, err := c.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String(p.Group), DesiredCapacity: aws.Int32(int32(want)), HonorCooldown: aws.Bool(false)})
		if err != nil {
			return wrap(fmt.Sprintf("set desired capacity of %s to %d", p.Group, want), err)
		}
		c.mu.Lock()
		c.raised[p.Group] = c.clock.Now()
		c.mu.Unlock()
	}
	if got := max(want-desired, 0) / w; got < l.Count {
		return fmt.Errorf("launch %d in pool %s: %d launched, group %s at its max of %d units: %w", l.Count, l.Pool, got, p.Group, maxUnits, autoscale.ErrAtMax)
	}
	return nil
}

// cancelUnfulfilled lowers a group's desired capacity to the units it has when a launch
// failed since the adapter last raised it (its scaling activities say so): the capacity
// asked for is not coming, and left asked for, the group would launch it whenever EC2 has
// capacity again, long after the policy has launched it elsewhere (the policy sees no
// launching instance for it and skips the pool for a while). It never goes below the
// group's min. It returns the desired capacity now.
func (c *Cluster) cancelUnfulfilled(ctx context.Context, g astypes.AutoScalingGroup, les []autoscale.LaunchError, desired int) (int, error) {
	if len(les) == 0 {
		return desired, nil
	}
	name := aws.ToString(g.AutoScalingGroupName)
	last := les[len(les)-1].At
	units, _ := liveUnits(g)
	want := max(units, int(aws.ToInt32(g.MinSize)))
	if desired <= want || last.Before(c.raised[name]) {
		return desired, nil
	}
	_, err := c.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(name), DesiredCapacity: aws.Int32(int32(want)), HonorCooldown: aws.Bool(false)})
	if err != nil {
		return desired, wrap(fmt.Sprintf("cancel the unfulfilled capacity of %s (desired %d to %d)", name, desired, want), err)
	}
	return want, nil
}
