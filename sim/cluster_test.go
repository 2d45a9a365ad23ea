package sim

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// TestExampleClusterIsTheDefault: examples/sim/cluster.json spells out DefaultCluster, so
// the documented default and the file a user copies agree.
func TestExampleClusterIsTheDefault(t *testing.T) {
	data, err := os.ReadFile("../examples/sim/cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseCluster(data, "cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultCluster(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("example\n%+v\ndefault\n%+v", cfg, want)
	}
	data, err = os.ReadFile("../examples/sim/openb-cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = ParseCluster(data, "openb-cluster.json"); err != nil || len(cfg.Types) != len(DefaultTypes())+1 {
		t.Fatalf("openb cluster: %v, %d types", err, len(cfg.Types))
	}
}

func TestParseCluster(t *testing.T) {
	const pool = `"pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "max": 10}]`
	cfg, err := ParseCluster([]byte(`{"latency": {"median": "40s", "p95": "1m"}, "provisioningTimeout": "5m", `+pool+`}`), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Latency != (Latency{Name: "custom", Median: 40 * time.Second, P95: time.Minute}) || cfg.ProvisioningTimeout != 5*time.Minute {
		t.Errorf("latency %+v, provisioning timeout %v", cfg.Latency, cfg.ProvisioningTimeout)
	}
	if cfg, _ = ParseCluster([]byte(`{"latency": "slow", `+pool+`}`), "c.json"); cfg.Latency != LatencySlow || cfg.Binpack != autoscale.BinpackCPU {
		t.Errorf("preset: %+v, binpack %q", cfg.Latency, cfg.Binpack)
	}
	if cfg, _ = ParseCluster([]byte(`{"binpack": "memory", `+pool+`}`), "c.json"); cfg.Binpack != autoscale.BinpackMemory {
		t.Errorf("binpack %q", cfg.Binpack)
	}
	for _, c := range []struct{ in, want string }{
		{`{"latency": "warp", ` + pool + `}`, `c.json: latency: unknown preset "warp"`},
		{`{"latency": {"median": "40s", "p99": "1m"}, ` + pool + `}`, `c.json: latency: want a preset name`},
		{"{\n  \"spotNotice\": \"2 minutes\", " + pool + `}`, `c.json:2:17: want a duration >= 0 such as "90s", got "2 minutes"`},
		{"{\n  \"pullMiBps\": \"fast\", " + pool + `}`, `c.json:2:16: pullMiBps: want float64, got string`},
		{`{"pools": [}`, `c.json:1:12: malformed JSON`},
		{`{"pools": []}`, `c.json: pools: at least one pool is required`},
		{`{"binpack": "spread", ` + pool + `}`, `c.json: binpack: "spread": want "cpu" or "memory"`},
		{`{"pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "min": 5, "max": 2}]}`, `pool p: want 0 <= min <= max`},
		{`{` + pool + `} {}`, `unexpected data after the JSON object`},
	} {
		_, err := ParseCluster([]byte(c.in), "c.json")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.in, err, c.want)
		}
	}
}

// TestSynthetic: every built-in workload generates jobs, deterministically from the seed.
func TestSynthetic(t *testing.T) {
	for _, name := range SyntheticNames() {
		a, err := Synthetic(name, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Synthetic(name, 1)
		c, _ := Synthetic(name, 2)
		if len(a.Jobs) < 1000 || !reflect.DeepEqual(a, b) || reflect.DeepEqual(a.Jobs, c.Jobs) {
			t.Errorf("%s: %d jobs; same seed equal %v; other seed equal %v", name, len(a.Jobs), reflect.DeepEqual(a, b), reflect.DeepEqual(a.Jobs, c.Jobs))
		}
	}
	if _, err := Synthetic("nope", 1); err == nil {
		t.Error("unknown name accepted")
	}
}

// FuzzParseCluster: any input gives a Config or an error, never a panic, and a Config it
// gives is valid.
func FuzzParseCluster(f *testing.F) {
	f.Add([]byte(`{"latency": "fast", "pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "max": 10}]}`))
	f.Add([]byte(`{"latency": {"median": "1s", "p95": "2s"}, "spotNotice": "1m", "pools": [{"name": "p", "instanceTypes": ["x"], "max": 1}], "types": [{"name": "x", "cpu": 1, "memoryMiB": 1}]}`))
	f.Add([]byte("{\n\"pullMiBps\": \"x\\\"y\"}"))
	f.Add([]byte(`{"pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "availabilityZones": ["a", "b"], "max": 1}], "policies": {"ecs-managed": {"targetCapacity": 90, "instanceWarmupPeriod": 0}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseCluster(data, "f.json")
		if err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("accepted an invalid config: %v", err)
			}
		}
	})
}

// TestParseClusterManagedScaling: policies."ecs-managed" takes the ECS API's ManagedScaling
// fields with its ranges (instanceWarmupPeriod in seconds, 0 meaning none), reports each bad
// one at file:line:col, and reaches the policies NewPolicy builds.
func TestParseClusterManagedScaling(t *testing.T) {
	const pool = `"pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "max": 10}]`
	cfg, err := ParseCluster([]byte(`{`+pool+`, "policies": {"ecs-managed": {"targetCapacity": 90, "instanceWarmupPeriod": 90, "minimumScalingStepSize": 2, "maximumScalingStepSize": 20}}}`), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	want := autoscale.ECSManagedConfig{TargetCapacity: 90, InstanceWarmupPeriod: 90 * time.Second, MinimumScalingStepSize: 2, MaximumScalingStepSize: 20}
	if cfg.ECSManaged != want {
		t.Errorf("got %+v, want %+v", cfg.ECSManaged, want)
	}
	if cfg, _ = ParseCluster([]byte(`{`+pool+`, "policies": {"ecs-managed": {"instanceWarmupPeriod": 0}}}`), "c.json"); cfg.ECSManaged.InstanceWarmupPeriod >= 0 {
		t.Errorf("instanceWarmupPeriod 0: %v, want none (negative)", cfg.ECSManaged.InstanceWarmupPeriod)
	}
	if cfg, _ = ParseCluster([]byte(`{`+pool+`}`), "c.json"); cfg.ECSManaged != (autoscale.ECSManagedConfig{}) || cfg.ProvisioningLimit != 500 {
		t.Errorf("no policies: %+v, provisioning limit %d", cfg.ECSManaged, cfg.ProvisioningLimit)
	}
	for _, c := range []struct{ in, want string }{
		{"{" + pool + ",\n \"policies\": {\"ecs-managed\": {\"targetCapacity\": 0}}}", `c.json:2:49: policies.ecs-managed.targetCapacity: 0: want 1-100`},
		{"{" + pool + ",\n \"policies\": {\"ecs-managed\": {\n  \"targetCapacity\": 101,\n  \"instanceWarmupPeriod\": -5}}}",
			"c.json:3:21: policies.ecs-managed.targetCapacity: 101: want 1-100\nc.json:4:27: policies.ecs-managed.instanceWarmupPeriod: -5: want 0-10000"},
		{"{" + pool + ",\n \"policies\": {\"ecs-managed\": {\"minimumScalingStepSize\": 5, \"maximumScalingStepSize\": 2}}}", `c.json:2:57: policies.ecs-managed: minimumScalingStepSize 5 is above maximumScalingStepSize 2`},
		{"{" + pool + ",\n \"policies\": {\"ecs-managed\": {\"maximumScalingStepSize\": 10001}}}", `c.json:2:57: policies.ecs-managed.maximumScalingStepSize: 10001: want 1-10000`},
		{"{" + pool + ",\n \"policies\": {\"ecs-managed\": {\"targetCapacity\": \"90%\"}}}", `c.json:2:49: policies.ecs-managed.targetCapacity: want int, got string`},
		{"{" + pool + ",\n \"policies\": {\"ecs-managed\": {\"warmup\": 90}}}", `c.json:2:31: unknown field "warmup"`},
		{"{" + pool + ",\n \"policies\": {\"karpenter\": {}}}", `c.json:2:15: unknown field "karpenter"`},
	} {
		_, err := ParseCluster([]byte(c.in), "c.json")
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.in, err, c.want)
		}
	}

	// The settings reach the policy: at targetCapacity 50 one busy instance asks for one more.
	cfg, err = ParseCluster([]byte(`{`+pool+`, "policies": {"ecs-managed": {"targetCapacity": 50}}}`), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	s := &autoscale.Snapshot{Now: cfg.Start, Types: map[string]autoscale.InstanceType{}, Pools: []autoscale.Pool{cfg.Pools[0].Pool},
		Instances: []autoscale.Instance{{ID: "i-1", Pool: "p", Type: "m6i.xlarge", State: autoscale.InstanceActive, CPU: 4096, MemoryMiB: 15000, CPUUsed: 1024, Tasks: 1}}}
	for name, want := range map[string]int{"ecs-managed": 1, "reactive": 0} {
		p, err := NewPolicy(cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range p.Decide(s, s.Now) {
			if a.Launch != nil {
				n += a.Launch.Count
			}
		}
		if n != want {
			t.Errorf("%s at targetCapacity 50: launched %d, want %d", name, n, want)
		}
	}
	if _, err := NewPolicy(cfg, "karpenter"); err == nil {
		t.Error("unknown policy accepted")
	}
}

// The cluster file's hashike options reach the hashike policy `hashike sim` runs.
func TestParseClusterHashikeSLO(t *testing.T) {
	const pool = `"pools": [{"name": "p", "instanceTypes": ["m6i.xlarge"], "max": 10}]`
	cfg, err := ParseCluster([]byte(`{"policies": {"hashike": {"slo": {"waitP95": "2m"}}}, `+pool+`}`), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(cfg, "hashike")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*autoscale.Hashike).Config().SLO.WaitP95; got != 2*time.Minute {
		t.Errorf("SLO %v, want 2m", got)
	}
	// Without the option: the default, 30 s.
	cfg, _ = ParseCluster([]byte(`{`+pool+`}`), "c.json")
	if p, _ = NewPolicy(cfg, "hashike"); p.(*autoscale.Hashike).Config().SLO.WaitP95 != 30*time.Second {
		t.Errorf("default SLO %v", p.(*autoscale.Hashike).Config().SLO)
	}
	for _, c := range []struct{ in, want string }{
		{"{\n  \"policies\": {\"hashike\": {\"slo\": {\"waitP95\": \"0s\"}}}, " + pool + `}`, `c.json:2:47: policies.hashike.slo.waitP95: want a duration > 0`},
		{"{\n  \"policies\": {\"hashike\": {\"slo\": {\"waitP99\": \"30s\"}}}, " + pool + `}`, `c.json:2:36: unknown field "waitP99"`},
		{"{\n  \"policies\": {\"hashike\": {\"slo\": {\"waitP95\": 30}}}, " + pool + `}`, `c.json:2:47: want a duration >= 0 such as "90s", got 30`},
	} {
		if _, err := ParseCluster([]byte(c.in), "c.json"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.in, err, c.want)
		}
	}
}
