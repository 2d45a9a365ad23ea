package awsfake

import (
	"fmt"
	"testing"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/sim"
)

// pendingReasons is a policy that never scales and notes each pending task's last RunTask
// failure reason the first time it sees one.
type pendingReasons struct{ seen map[string]string }

func (pendingReasons) Name() string            { return "pending-reasons" }
func (pendingReasons) Interval() time.Duration { return time.Second }
func (pendingReasons) Reset()                  {}
func (p pendingReasons) Decide(s *autoscale.Snapshot, _ time.Time) []autoscale.Action {
	for _, t := range s.Pending {
		if _, ok := p.seen[t.ID]; !ok && t.LastFailure != "" {
			p.seen[t.ID] = t.LastFailure
		}
	}
	return nil
}

// TestPlacementMatchesTheSimulator: the same tasks, one after another, on the same container
// instances, land on the same instances in the simulator and in the fake (through the ECS
// client, with RunTask's binpack placementStrategy), for either binpack field; a task neither
// can place gets the same reason: the simulator's (RESOURCE:MEMORY when some instance has
// the CPU, else RESOURCE:CPU) summarises the fake's per-instance failures, one per instance.
func TestPlacementMatchesTheSimulator(t *testing.T) {
	// Container instances, registered in this order (sim: one pool each, Initial 1).
	typeNames := []string{"c6i.large", "r6i.large", "m6i.xlarge", "c6i.xlarge"}
	sizes := map[string]autoscale.InstanceType{}
	for _, it := range sim.DefaultTypes() {
		sizes[it.Name] = it
	}
	// Shapes (CPU units, MiB) chosen so that the fields disagree, some tasks fail for CPU,
	// some for memory, and some for both on some instances.
	shapes := [][2]int{
		{1024, 2048}, {1024, 6000}, {2048, 1024}, {512, 9000}, {1536, 512},
		{3072, 1024}, {512, 3000}, {256, 12000}, {1024, 1024}, {2048, 4096},
		{512, 512}, {4096, 512}, {256, 256}, {1024, 6000}, {768, 2048},
		{512, 1024}, {256, 4096}, {1024, 512}, {2048, 2048}, {512, 512},
	}
	for _, field := range []autoscale.BinpackField{autoscale.BinpackCPU, autoscale.BinpackMemory} {
		t.Run(string(field), func(t *testing.T) {
			// The simulator.
			cfg := sim.Config{Binpack: field, Horizon: time.Hour}
			var wl sim.Workload
			for k, sh := range shapes {
				wl.Jobs = append(wl.Jobs, sim.Job{Submit: time.Duration(10*k+5) * time.Second, Duration: 10 * time.Hour, CPU: sh[0], MemoryMiB: sh[1]})
			}
			for k, name := range typeNames {
				cfg.Pools = append(cfg.Pools, sim.PoolConfig{Pool: autoscale.Pool{Name: fmt.Sprintf("p%d", k), InstanceTypes: []string{name}, Max: 1}, Initial: 1})
			}
			p := pendingReasons{seen: map[string]string{}}
			r, err := sim.Run(cfg, wl, p, 1)
			if err != nil {
				t.Fatal(err)
			}
			var simGot []string
			for k, rec := range r.Records {
				switch {
				case rec.Start >= 0:
					simGot = append(simGot, rec.Instance)
				case p.seen[rec.ID] != "":
					simGot = append(simGot, p.seen[rec.ID])
				default:
					t.Fatalf("sim: job %d neither started nor failed for resources: %+v", k, rec)
				}
			}

			// The fake.
			c := newCloud(t, Options{Clock: NewManualClock(time.Unix(1e9, 0))})
			simID := map[string]string{}
			for k, name := range typeNames {
				simID[c.AddInstance("c", sizes[name].CPU, sizes[name].MemoryMiB)] = fmt.Sprintf("i-%06d", k+1)
			}
			var fakeGot []string
			for k, sh := range shapes {
				d := app("app", int32(sh[1]), "sleep", "10h")
				d.Cpu = int32(sh[0])
				family := fmt.Sprintf("shape-%d", k)
				register(t, c, family, d)
				out, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s(family),
					PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: s(string(field))}}})
				if err != nil {
					t.Fatalf("task %d: %v", k, err)
				}
				if len(out.Tasks) == 1 {
					fakeGot = append(fakeGot, simID[*out.Tasks[0].ContainerInstanceArn])
					continue
				}
				if len(out.Failures) != len(typeNames) {
					t.Fatalf("task %d: want one failure per instance, got %d", k, len(out.Failures))
				}
				reason := autoscale.ReasonResourceCPU
				for _, f := range out.Failures {
					if *f.Reason == autoscale.ReasonResourceMemory {
						reason = autoscale.ReasonResourceMemory
					}
				}
				fakeGot = append(fakeGot, reason)
			}

			placed, failed := 0, map[string]int{}
			for k := range shapes {
				if simGot[k] != fakeGot[k] {
					t.Errorf("task %d %v: simulator %s, fake %s", k, shapes[k], simGot[k], fakeGot[k])
				}
				if len(simGot[k]) > 2 && simGot[k][:2] == "i-" {
					placed++
				} else {
					failed[simGot[k]]++
				}
			}
			// The scenario exercises what it claims to.
			if placed < 8 || failed[autoscale.ReasonResourceCPU] == 0 || failed[autoscale.ReasonResourceMemory] == 0 {
				t.Errorf("scenario: %d placed, failures %v; want both reasons and most placed", placed, failed)
			}
			t.Logf("%s: %v", field, simGot)
		})
	}
}

// TestRunTaskFailuresOncePerInstance: a RunTask of several tasks that places only some lists
// each instance's failure once, not once per task left unplaced.
func TestRunTaskFailuresOncePerInstance(t *testing.T) {
	c := newCloud(t, Options{Clock: NewManualClock(time.Unix(1e9, 0))})
	a := c.AddInstance("c", 4096, 2048)
	b := c.AddInstance("c", 1024, 8192)
	d := app("app", 1536, "sleep", "1h")
	d.Cpu = 1024
	register(t, c, "job", d)
	out, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), Count: i32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 2 {
		t.Fatalf("placed %d tasks, want 2 (one on each)", len(out.Tasks))
	}
	got := map[string]string{}
	for _, f := range out.Failures {
		if _, dup := got[*f.Arn]; dup {
			t.Fatalf("instance %s listed twice: %+v", *f.Arn, out.Failures)
		}
		got[*f.Arn] = *f.Reason
	}
	if len(got) != 2 || got[a] != "RESOURCE:MEMORY" || got[b] != "RESOURCE:CPU" {
		t.Fatalf("failures %v", got)
	}
}

// TestRunTaskPlacementStrategyValidation: RunTask refuses what ECS refuses in placementStrategy.
func TestRunTaskPlacementStrategyValidation(t *testing.T) {
	c := newCloud(t, Options{Clock: NewManualClock(time.Unix(1e9, 0))})
	c.AddInstance("c", 4096, 8192)
	register(t, c, "job", app("app", 64, "sleep", "1h"))
	binpack := func(field string) types.PlacementStrategy {
		return types.PlacementStrategy{Type: types.PlacementStrategyTypeBinpack, Field: s(field)}
	}
	six := []types.PlacementStrategy{}
	for range 6 {
		six = append(six, binpack("cpu"))
	}
	for name, rules := range map[string][]types.PlacementStrategy{
		"binpack field":  {binpack("disk")},
		"no field":       {{Type: types.PlacementStrategyTypeBinpack}},
		"unknown type":   {{Type: "pack"}},
		"too many rules": six,
	} {
		_, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), PlacementStrategy: rules})
		if code(err) != "InvalidParameterException" {
			t.Errorf("%s: %v, want InvalidParameterException", name, err)
		}
	}
	for name, rules := range map[string][]types.PlacementStrategy{
		"none":                nil,
		"spread then binpack": {{Type: types.PlacementStrategyTypeSpread, Field: s("attribute:ecs.availability-zone")}, binpack("memory")},
		"random":              {{Type: types.PlacementStrategyTypeRandom}},
	} {
		if _, err := c.ECS().RunTask(bg, &awsecs.RunTaskInput{Cluster: s("c"), TaskDefinition: s("job"), PlacementStrategy: rules}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCapacityProviderHonoursBinpackField: through a capacity provider, RunTask's binpack
// field picks between an instance with less CPU left and one with less memory left.
func TestCapacityProviderHonoursBinpackField(t *testing.T) {
	for field, want := range map[string]int{"cpu": 1, "memory": 0} {
		c := newCloud(t, Options{Clock: NewManualClock(time.Unix(1e9, 0))})
		c.AddAutoScalingGroup("asg", "c", 0, 2, 2, 2048, 4096, 0)
		c.AddCapacityProvider("c", "cp", "asg")
		var hosts []string
		for k, sh := range [][2]int32{{1024, 256}, {1280, 128}, {256, 256}} { // the first, the second, the choice
			d := app("app", sh[1], "sleep", "1h")
			d.Cpu = sh[0]
			family := fmt.Sprintf("shape-%d", k)
			register(t, c, family, d)
			tk := run(t, c, &awsecs.RunTaskInput{TaskDefinition: s(family),
				CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: s("cp")}},
				PlacementStrategy:        []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: s(field)}}})
			if tk.ContainerInstanceArn == nil {
				t.Fatalf("%s: task %d not placed", field, k)
			}
			hosts = append(hosts, *tk.ContainerInstanceArn)
		}
		if hosts[0] == hosts[1] || hosts[2] != hosts[want] {
			t.Errorf("binpack %s: placed on %v, the last want the %d-th", field, hosts, want)
		}
	}
}
