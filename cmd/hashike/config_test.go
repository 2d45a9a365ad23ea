package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecs"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestReadConfigFileExample: the README's example (testdata/autoscaler.yaml) reads, with
// ${ENV} expanded and the defaults set.
func TestReadConfigFileExample(t *testing.T) {
	c, err := ReadConfigFile(filepath.Join("testdata", "autoscaler.yaml"), env(map[string]string{"ACCOUNT": "123456789012"}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Autoscaler
	if a == nil || len(a.Clusters) != 1 || len(a.Clusters[0].Pools) != 2 {
		t.Fatalf("autoscaler %+v", a)
	}
	if want := "https://sqs.ap-northeast-1.amazonaws.com/123456789012/hashike-autoscaler"; a.EventsQueueURL != want {
		t.Errorf("eventsQueueURL %q, want %q (expanded)", a.EventsQueueURL, want)
	}
	if a.Policy.Name != "hashike" || time.Duration(a.Policy.SLO.WaitP95) != 30*time.Second || time.Duration(a.MaxJobTimeout) != 2*time.Hour {
		t.Errorf("policy %+v, maxJobTimeout %v", a.Policy, a.MaxJobTimeout)
	}
	spot := a.Clusters[0].Pools[0]
	if spot.AutoScalingGroupName != "batch-spot-asg" || spot.OnDemandPool != "on-demand" || spot.InstanceTypes[0].CPU != 4096 {
		t.Errorf("spot pool %+v", spot)
	}
	od := a.Clusters[0].Pools[1]
	if od.AutoScalingGroupName != "on-demand" {
		t.Errorf("a pool without autoScalingGroupName is its name's group: %q", od.AutoScalingGroupName)
	}
	if g := a.ManagedGroups(); !g["batch-spot-asg"] || !g["on-demand"] || len(g) != 2 {
		t.Errorf("managed groups %v", g)
	}
	if _, err := a.NewPolicy(); err != nil {
		t.Error(err)
	}
	sc := a.Clusters[0].ScaleConfig()
	if sc.Cluster != "batch" || len(sc.Pools) != 2 || len(sc.Types) != 2 {
		t.Errorf("scale config %+v", sc)
	}
}

// TestConfigJSON: JSON is YAML: the same file in JSON reads the same.
func TestConfigJSON(t *testing.T) {
	c, err := ParseConfig("c.json", []byte(`{"autoscaler": {"clusters": [{"name": "b", "pools": [{"name": "p", "instanceTypes": [{"name": "x", "cpu": 2048, "memoryMiB": 7680}]}]}], "dryRun": true}}`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Autoscaler.DryRun || c.Autoscaler.Clusters[0].Pools[0].InstanceTypes[0].MemoryMiB != 7680 {
		t.Errorf("%+v", c.Autoscaler)
	}
}

// TestConfigRetention: the retention section reads days; what it leaves out is kept forever.
func TestConfigRetention(t *testing.T) {
	c, err := ParseConfig("c.yaml", []byte("retention:\n  logs: 7d\n  archive: 90d\n  runs: 400d\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Retention.Default()
	if time.Duration(*r.Logs) != 7*24*time.Hour || time.Duration(*r.Archive) != 90*24*time.Hour || time.Duration(*r.Runs) != 400*24*time.Hour {
		t.Fatalf("retention = %+v", c.Retention)
	}
	c, err = ParseConfig("c.yaml", []byte("retention: {logs: 7d}\n"), env(nil))
	if err != nil || c.Retention.Default().Runs != nil || c.Retention.Default().Archive != nil {
		t.Fatalf("retention = %+v, %v; want runs and archive unset", c.Retention, err)
	}
	if d := (&Config{}).Retention.Default(); !d.IsZero() {
		t.Fatalf("no retention section = %+v, want nothing", d)
	}
}

// TestConfigErrors: every problem is reported at once, each at its file:line:col, as a usage
// error.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown field", "autoscaler:\n  clusters: []\n  polcy: {}\n", []string{`c.yaml:3:3: unknown field "polcy"`}},
		{"type", "autoscaler:\n  dryRun: maybe\n", []string{"c.yaml:2:"}},
		{"retention", "retention:\n  logs: 30d\n  runs: 7d\n  archive: 7 days\n  batch: 5000\n  interval: 10s\n", []string{
			`c.yaml:4:12: retention.archive: invalid duration "7 days"`,
			`c.yaml:5:10: retention.batch: 5000: want 1 to 1000`,
			`c.yaml:6:13: retention.interval: 10s: want at least 1m`,
			`c.yaml:3:9: retention.runs: 168h0m0s is shorter than logs (720h0m0s)`,
		}},
		{"every validation error", `autoscaler:
  policy:
    name: karpenter
  eventsQueueURL: hashike-events
  clusters:
    - name: batch
      pools:
        - name: a
          autoScalingGroupName: g
          instanceTypes:
            - name: z9.huge
          onDemandPool: nowhere
        - name: a
          autoScalingGroupName: g
          instanceTypes: []
    - pools: []
`, []string{
			`c.yaml:3:11: autoscaler.policy.name: unknown policy "karpenter"`,
			`c.yaml:4:19: autoscaler.eventsQueueURL: "hashike-events" is not an SQS queue URL`,
			`c.yaml:4:19: autoscaler.eventsQueueURL: with 2 clusters, give each cluster its own eventsQueueURL`,
			`c.yaml:11:15: autoscaler.clusters[0].pools[0].instanceTypes[0]: z9.huge: cpu and memoryMiB are required`,
			`c.yaml:12:25: autoscaler.clusters[0].pools[0].onDemandPool: "nowhere" is not another pool`,
			`c.yaml:13:17: autoscaler.clusters[0].pools[1].name: pool "a" is listed twice`,
			`c.yaml:14:33: autoscaler.clusters[0].pools[1].autoScalingGroupName: group "g" is already autoscaler.clusters[0].pools[0]'s`,
			`c.yaml:15:26: autoscaler.clusters[0].pools[1].instanceTypes: at least one instance type is required`,
			`c.yaml:16:7: autoscaler.clusters[1].name: required`,
			`c.yaml:16:14: autoscaler.clusters[1].pools: at least one pool is required`,
		}},
		{"object store and payloads", `objectStore:
  dir: /var/lib/hashike
  s3:
    prefix: a//b
    partSize: 1024
payloads:
  inlineBytes: 200000
  maxResultBytes: -1
`, []string{
			`objectStore.dir: give dir (the local filesystem) or s3, not both`,
			`objectStore.s3.bucket: required`,
			`objectStore.s3.prefix: not a valid key prefix`,
			`objectStore.s3.partSize: 1024 is below S3's minimum part size`,
			`c.yaml:7:16: payloads.inlineBytes: want 0 (the default, 131055) to 131055`,
			`c.yaml:8:19: payloads.maxResultBytes: must not be negative`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(c.doc), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if hashike.ErrorCodeOf(err) != hashike.EInvalid || exitCode(err) != 2 {
				t.Errorf("code %v exit %d, want a usage error", hashike.ErrorCodeOf(err), exitCode(err))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			var he *hashike.Error
			if errors.As(err, &he) && strings.Count(he.Message, "\n") != len(c.want) {
				t.Errorf("%d lines, want %d:\n%v", strings.Count(he.Message, "\n"), len(c.want), err)
			}
		})
	}
}

// TestConfigFlagAndEnv: --config wins over HASHIKE_CONFIG; neither is an empty config; a
// missing file is a usage error.
func TestConfigFlagAndEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("autoscaler:\n  dryRun: true\n  clusters: [{name: b, pools: [{name: p, instanceTypes: [{name: m6i.xlarge}]}]}]\n"), 0o600)
	a := &app{lookupEnv: env(map[string]string{"HASHIKE_CONFIG": file})}
	c, err := a.readConfig("")
	if err != nil || c.Autoscaler == nil || !c.Autoscaler.DryRun {
		t.Fatalf("from HASHIKE_CONFIG: %+v %v", c, err)
	}
	if _, err := a.readConfig(filepath.Join(dir, "missing.yaml")); exitCode(err) != 2 {
		t.Errorf("missing --config file: %v (exit %d)", err, exitCode(err))
	}
	if c, err := (&app{lookupEnv: env(nil)}).readConfig(""); err != nil || c.Autoscaler != nil {
		t.Errorf("no config: %+v %v", c, err)
	}
}

// TestRunLeavesManagedGroupsAlone: `hashike run` next to a standalone autoscaler learns the
// groups it owns from HASHIKE_CONFIG, so its ECS backend does not scale them out per run;
// without a config it owns nothing.
func TestRunLeavesManagedGroupsAlone(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("autoscaler:\n  clusters: [{name: b, pools: [{name: p, autoScalingGroupName: jobs-asg, instanceTypes: [{name: m6i.xlarge}]}]}]\n"), 0o600)
	seam := func() ecs.Config { return ecs.Config{} }
	a := &app{lookupEnv: env(map[string]string{"HASHIKE_CONFIG": file}), stderr: &strings.Builder{}, ecsConfig: seam}
	c, err := a.ecsBackendConfig(t.Context())
	if err != nil || !c.ManagedGroups["jobs-asg"] {
		t.Errorf("managed groups %v, %v; want jobs-asg", c.ManagedGroups, err)
	}
	a = &app{lookupEnv: env(nil), stderr: &strings.Builder{}, ecsConfig: seam}
	if c, err := a.ecsBackendConfig(t.Context()); err != nil || len(c.ManagedGroups) != 0 {
		t.Errorf("without a config: managed groups %v, %v", c.ManagedGroups, err)
	}
}

// TestServerBadConfigIsUsageError: `hashike server --config FILE` with a bad file exits 2
// before it opens anything, saying where each problem is.
func TestServerBadConfigIsUsageError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	os.WriteFile(file, []byte("autoscaler:\n  clusters:\n    - name: batch\n      pools: []\n  policy: {name: nope}\n"), 0o600)
	var stderr strings.Builder
	code := Main([]string{"server", "--config", file, "--db", filepath.Join(dir, "s.db")}, &strings.Builder{}, &stderr, env(nil))
	if code != 2 || !strings.Contains(stderr.String(), file+":4:14: autoscaler.clusters[0].pools: at least one pool is required") ||
		!strings.Contains(stderr.String(), file+":5:18: autoscaler.policy.name") {
		t.Errorf("exit %d:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "s.db")); err == nil {
		t.Errorf("the database was opened before the config was checked")
	}
}

// FuzzParseConfig: any input is either a config or a usage error; never a panic.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "autoscaler.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"autoscaler": {"clusters": [{"name": "b", "pools": [{"name": "p", "instanceTypes": [{"name": "m6i.xlarge"}]}]}]}}`))
	f.Add([]byte("autoscaler:\n  clusters: [{pools: [{instanceTypes: [{}]}]}]\n  maxJobTimeout: -1s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("f.yaml", data, env(map[string]string{"X": "y"}))
		if err != nil && hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Fatalf("%v: not a usage error", err)
		}
		if err == nil && c == nil {
			t.Fatal("no config and no error")
		}
	})
}

// TestREADMEConfigExample: the config of README "Autoscaling a cluster" reads.
func TestREADMEConfigExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### The config file")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no yaml block under \"### The config file\"")
	}
	c, err := ParseConfig("README.md", []byte(block), env(map[string]string{"ACCOUNT": "123456789012"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Autoscaler == nil || len(c.Autoscaler.ManagedGroups()) != 2 {
		t.Errorf("%+v", c.Autoscaler)
	}
}

// TestConfigEventsAndWarmup: a cluster's events queue (its own, or the section's with one
// cluster), warm-up and on-demand pools reach the live cluster's configuration; two
// clusters sharing one queue are refused.
func TestConfigEventsAndWarmup(t *testing.T) {
	c, err := ParseConfig("c.yaml", []byte(`autoscaler:
  eventsQueueURL: https://sqs.us-east-1.amazonaws.com/1/events
  warmup: {images: 3, window: 30m, timeout: 2m}
  policy: {name: hashike, batchWindow: 1s}
  clusters:
    - name: jobs
      pools:
        - {name: spot, instanceTypes: [{name: m6i.xlarge}], onDemandPool: od}
        - {name: od, instanceTypes: [{name: m6i.xlarge}]}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Autoscaler
	cl := a.Clusters[0]
	if got := a.EventsQueue(cl); got != "https://sqs.us-east-1.amazonaws.com/1/events" {
		t.Errorf("events queue %q", got)
	}
	sc := a.ScaleConfig(cl)
	if sc.Warmup.Images != 3 || sc.Warmup.Window != 30*time.Minute || sc.Warmup.Timeout != 2*time.Minute {
		t.Errorf("warm-up %+v", sc.Warmup)
	}
	if sc.Pools[0].OnDemandPool != "od" {
		t.Errorf("pools %+v", sc.Pools)
	}
	p, err := a.NewPolicy()
	if h, ok := p.(*autoscale.Hashike); err != nil || !ok || h.Config().BatchIdle != time.Second {
		t.Errorf("policy %T %v: want hashike with a 1 s batch window", p, err)
	}
	_, err = ParseConfig("c.yaml", []byte(`autoscaler:
  clusters:
    - {name: a, eventsQueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", pools: [{name: p, instanceTypes: [{name: m6i.xlarge}]}]}
    - {name: b, eventsQueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", pools: [{name: q, instanceTypes: [{name: m6i.xlarge}]}]}
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "autoscaler.clusters[1].eventsQueueURL: the queue is already autoscaler.clusters[0]'s") {
		t.Errorf("a shared queue: %v", err)
	}
}

// The README's "Payloads and results" config block is a valid config file.
func TestREADMEPayloadsConfigExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Payloads and results")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no yaml block under \"### Payloads and results\"")
	}
	c, err := ParseConfig("README.md", []byte(block), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectStore.S3.Bucket != "my-hashike" || c.Payloads.MaxResultBytes != 8<<20 || c.Payloads.URLMargin != hashike.Duration(time.Hour) {
		t.Errorf("%+v %+v", c.ObjectStore, c.Payloads)
	}
}
