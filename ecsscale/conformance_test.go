package ecsscale_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/autoscale/clustertest"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

// TestClusterConformance: the adapter over the stateful fake passes the suite the
// simulator passes: one Auto Scaling group per pool registering its instances 30 s after
// their launch, hashike's queue retrying RunTask as the demand ECS does not show.
func TestClusterConformance(t *testing.T) {
	clustertest.Run(t, func(t *testing.T, su clustertest.Setup) clustertest.Harness {
		f := newFake(t)
		f.cloud.AddAutoScalingGroup(su.Pool.Name, clusterName, su.Pool.Min, su.Pool.Max, su.Initial, su.Type.CPU, su.Type.MemoryMiB, latency)
		f.cloud.SetInstanceType(su.Pool.Name, su.Type.Name)
		// The initial instances are registered when the test starts.
		f.clock.Advance(latency)
		q := &queue{t: t, f: f, start: f.clock.Now(), todo: slices.Clone(su.Tasks)}
		slices.SortStableFunc(q.todo, func(a, b clustertest.Task) int { return int(a.At - b.At) })
		c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{
			Cluster: clusterName,
			Types:   []autoscale.InstanceType{su.Type},
			Pools:   []ecsscale.Pool{{Name: su.Pool.Name, InstanceTypes: su.Pool.InstanceTypes}},
			Queue:   q,
			Clock:   f.clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		q.tick()
		return clustertest.Harness{Cluster: c, Advance: q.advance, LaunchLatency: latency}
	})
}

// TestClusterConformanceWeightedMixed: the suite over a weighted mixed instances group:
// its one type weighs 2 units, so the group's min, max and desired are twice the suite's
// instances, spread over two zones, half of them spot; the adapter reads spot from EC2.
func TestClusterConformanceWeightedMixed(t *testing.T) {
	clustertest.Run(t, func(t *testing.T, su clustertest.Setup) clustertest.Harness {
		f := newFake(t)
		f.cloud.AddInstanceType(su.Type.Name, su.Type.CPU, su.Type.MemoryMiB)
		f.cloud.AddMixedGroup(awsfake.MixedGroup{Name: su.Pool.Name + "-asg", Cluster: clusterName,
			Min: 2 * su.Pool.Min, Max: 2 * su.Pool.Max, Desired: 2 * su.Initial,
			Overrides:                []awsfake.Override{{InstanceType: su.Type.Name, Weight: 2}},
			OnDemandPercentAboveBase: 50, Zones: []string{"us-east-1a", "us-east-1b"}, RegisterDelay: latency})
		f.clock.Advance(latency)
		q := &queue{t: t, f: f, start: f.clock.Now(), todo: slices.Clone(su.Tasks)}
		slices.SortStableFunc(q.todo, func(a, b clustertest.Task) int { return int(a.At - b.At) })
		c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{
			Cluster: clusterName,
			Types:   []autoscale.InstanceType{su.Type},
			Pools:   []ecsscale.Pool{{Name: su.Pool.Name, Group: su.Pool.Name + "-asg"}},
			Queue:   q,
			Clock:   f.clock,
			EC2:     f.cloud.EC2(),
		})
		if err != nil {
			t.Fatal(err)
		}
		q.tick()
		return clustertest.Harness{Cluster: c, Advance: q.advance, LaunchLatency: latency}
	})
}

// TestClusterConformanceWithWarmup: the same with image warm-up on (the fake pulls at once,
// so an instance warms between two snapshots): warm-up tasks, started on the instances
// that register during the suite, change none of its outcomes.
func TestClusterConformanceWithWarmup(t *testing.T) {
	started := 0
	defer func() {
		if started == 0 {
			t.Error("no warm-up task started in the whole suite")
		}
	}()
	clustertest.Run(t, func(t *testing.T, su clustertest.Setup) clustertest.Harness {
		f := newFake(t)
		f.cloud.AddAutoScalingGroup(su.Pool.Name, clusterName, su.Pool.Min, su.Pool.Max, su.Initial, su.Type.CPU, su.Type.MemoryMiB, latency)
		f.cloud.SetInstanceType(su.Pool.Name, su.Type.Name)
		f.clock.Advance(latency)
		q := &queue{t: t, f: f, start: f.clock.Now(), todo: slices.Clone(su.Tasks)}
		slices.SortStableFunc(q.todo, func(a, b clustertest.Task) int { return int(a.At - b.At) })
		c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{
			Cluster: clusterName,
			Types:   []autoscale.InstanceType{su.Type},
			Pools:   []ecsscale.Pool{{Name: su.Pool.Name, InstanceTypes: su.Pool.InstanceTypes}},
			Queue:   q,
			Clock:   f.clock,
			Warmup:  ecsscale.Warmup{Images: 2},
		})
		if err != nil {
			t.Fatal(err)
		}
		q.tick()
		t.Cleanup(func() { started += f.cloud.Calls("StartTask") })
		// A warm-up task that is stopping (desired STOPPED) still holds its instance's
		// resources and counts there, but is no longer listed as a warm-up task: the adapter
		// errs on the busy side for that moment. The fake's drivers run in real time, so
		// time advances only once they are done.
		advance := func(d time.Duration) {
			q.advance(d)
			for _, tk := range f.cloud.Tasks() {
				if aws.ToString(tk.StartedBy) == ecsscale.WarmupStartedBy {
					q.waitStopped(aws.ToString(tk.TaskArn))
				}
			}
		}
		return clustertest.Harness{Cluster: c, Advance: advance, LaunchLatency: latency}
	})
}
