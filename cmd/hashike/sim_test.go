package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/sim"
)

// simCLI runs `hashike sim args...` in-process and returns its exit code, stdout and stderr.
func simCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(append([]string{"sim"}, args...), &out, &errb, func(string) (string, bool) { return "", false })
	return code, out.String(), errb.String()
}

// writeTrace writes a small workload CSV: a burst of 60 jobs on the hour for three hours.
func writeTrace(t *testing.T) string {
	t.Helper()
	wl := sim.Cron(sim.CronSpec{Name: "t", Burst: 60, Jitter: 20 * time.Second, Span: 3 * time.Hour, Shapes: sim.BatchShapes()}, 7)
	var b bytes.Buffer
	if err := sim.WriteTrace(&b, wl); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSimWritesReportAndPlots: hashike sim prints the comparison table and writes
// report.json (the fields, per policy), report.md and two SVG plots; the same inputs
// and seed give byte-identical files.
func TestSimWritesReportAndPlots(t *testing.T) {
	trace := writeTrace(t)
	var first map[string][]byte
	for run := range 2 {
		out := filepath.Join(t.TempDir(), "report")
		code, stdout, stderr := simCLI(t, "--workload", trace, "--policies", "ecs-managed,hashike,oracle", "--seed", "3", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, p := range []string{"| ecs-managed |", "| hashike |", "| oracle: reference (clairvoyant), not a bound |", "| lower bound | 180 |", "hashike vs ecs-managed: p95 wait x", "cost vs lower bound x"} {
			if !strings.Contains(stdout, p) {
				t.Errorf("stdout lacks %q:\n%s", p, stdout)
			}
		}
		if strings.Count(stderr, " done (180 jobs") != 3 {
			t.Errorf("progress on stderr (not a terminal: a line per policy):\n%s", stderr)
		}
		files := map[string][]byte{}
		for _, name := range []string{"report.json", "report.md", "capacity.svg", "wait-cdf.svg"} {
			data, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = data
		}
		if md := string(files["report.md"]); !strings.Contains(stdout, md) {
			t.Errorf("report.md is not the printed table:\n%s", md)
		}
		var rep struct {
			Policies   []map[string]any `json:"policies"`
			Targets    map[string]any   `json:"targets"`
			LowerBound sim.LowerBound   `json:"lower_bound"`
		}
		if err := json.Unmarshal(files["report.json"], &rep); err != nil {
			t.Fatal(err)
		}
		if lb := rep.LowerBound; lb.CostUSD <= 0 || lb.CPUType == "" {
			t.Errorf("report.json: lower_bound %+v", lb)
		}
		for _, m := range rep.Policies {
			if c, _ := m["cost_usd"].(float64); c < rep.LowerBound.CostUSD {
				t.Errorf("%v costs $%.2f, under the lower bound $%.2f", m["policy"], c, rep.LowerBound.CostUSD)
			}
		}
		if len(rep.Policies) != 3 || rep.Targets == nil {
			t.Fatalf("report.json: %d policies, targets %v", len(rep.Policies), rep.Targets)
		}
		for _, m := range rep.Policies {
			for _, k := range []string{"policy", "jobs", "jobs_failed", "wait_p50_s", "wait_p95_s", "wait_p99_s", "wait_max_s",
				"instance_hours", "cost_usd", "cpu_utilization", "memory_utilization", "launches", "interruptions"} {
				if _, ok := m[k]; !ok {
					t.Errorf("report.json: %v lacks %s", m["policy"], k)
				}
			}
			if m["jobs"] != 180.0 || m["jobs_failed"] != 0.0 {
				t.Errorf("%v: jobs %v failed %v, want 180 and 0", m["policy"], m["jobs"], m["jobs_failed"])
			}
		}
		for _, name := range []string{"capacity.svg", "wait-cdf.svg"} {
			dec := xml.NewDecoder(bytes.NewReader(files[name]))
			for {
				if _, err := dec.Token(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			for _, p := range []string{"ecs-managed", "hashike", "oracle"} {
				if !bytes.Contains(files[name], []byte(p)) {
					t.Errorf("%s does not name %s", name, p)
				}
			}
		}
		if run == 0 {
			first = files
			continue
		}
		for name, data := range files {
			if !bytes.Equal(data, first[name]) {
				t.Errorf("%s differs between two runs with the same seed", name)
			}
		}
	}
}

// TestSimCronBurstScenario: on the built-in hourly cron bursts, hashike (forecasting the
// bursts) waits far less than ecs-managed (which scales after the tasks queue).
func TestSimCronBurstScenario(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := simCLI(t, "--workload", "synthetic:cron", "--policies", "ecs-managed,hashike", "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet wrote %q", stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep sim.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	e, h := rep.Policies[0], rep.Policies[1]
	if h.WaitP95 >= e.WaitP95/2 || h.JobsFailed != 0 || e.JobsFailed != 0 {
		t.Errorf("p95 wait: hashike %.0f s, ecs-managed %.0f s; failed %d, %d", h.WaitP95, e.WaitP95, h.JobsFailed, e.JobsFailed)
	}
}

// TestSimBadInput: bad flags, workloads and cluster files exit 2 with what is wrong and
// where, and write nothing.
func TestSimBadInput(t *testing.T) {
	dir := t.TempDir()
	badCSV := filepath.Join(dir, "bad.csv")
	os.WriteFile(badCSV, []byte("submit_s,duration_s,cpu,memory_mib\n0,60,1024,2048\n5,sixty,1024,2048\n"), 0o644)
	badCluster := filepath.Join(dir, "cluster.json")
	os.WriteFile(badCluster, []byte("{\n  \"pools\": [\n    {\"name\": \"p\", \"instanceTypes\": [\"m6i.xlarge\"], \"max\": 10, \"maxx\": 3}\n  ]\n}\n"), 0o644)
	unknownType := filepath.Join(dir, "type.json")
	os.WriteFile(unknownType, []byte(`{"pools": [{"name": "p", "instanceTypes": ["m9.huge"], "max": 10}]}`), 0o644)
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no workload", nil, "--workload is required"},
		{"unknown synthetic", []string{"--workload", "synthetic:nope"}, `unknown synthetic workload "nope"`},
		{"missing file", []string{"--workload", filepath.Join(dir, "none.csv")}, "none.csv"},
		{"bad row", []string{"--workload", badCSV}, "bad.csv:3"},
		{"unknown policy", []string{"--workload", "synthetic:cron", "--policies", "hashike,karpenter"}, `unknown policy "karpenter"`},
		{"cluster field", []string{"--workload", "synthetic:cron", "--cluster", badCluster}, `cluster.json:3:63: unknown field "maxx"`},
		{"cluster type", []string{"--workload", "synthetic:cron", "--cluster", unknownType}, `unknown instance type "m9.huge"`},
		{"latency", []string{"--workload", "synthetic:cron", "--latency", "warp"}, `unknown preset "warp"`},
	} {
		code, _, stderr := simCLI(t, append(c.args, "--out", out)...)
		if code != hashike.ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, stderr, hashike.ExitUsage, c.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad input created %s", out)
	}
}

// TestSimSweep: --sweep ecs-managed runs the baseline over its grid of tunables: every grid
// point is in report.json's sweep block once, the points marked on the front dominate each
// other nowhere and every other point is dominated by one of them, the default
// configuration is a point, and the printed Markdown has the front's table.
func TestSimSweep(t *testing.T) {
	trace := writeTrace(t)
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := simCLI(t, "--workload", trace, "--policies", "ecs-managed,hashike", "--sweep", "ecs-managed", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "sim: sweep ecs-managed "); n != 36 {
		t.Errorf("%d sweep progress lines, want 36:\n%s", n, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Policies []map[string]any `json:"policies"`
		Sweep    struct {
			Policy string           `json:"policy"`
			Points []map[string]any `json:"points"`
		} `json:"sweep"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Policies) != 2 || rep.Sweep.Policy != "ecs-managed" {
		t.Fatalf("report.json: %d policies, sweep of %q", len(rep.Policies), rep.Sweep.Policy)
	}
	type key struct{ target, warmup, lo, hi float64 }
	seen := map[key]bool{}
	var front, rest [][2]float64
	for _, p := range rep.Sweep.Points {
		k := key{p["targetCapacity"].(float64), p["instanceWarmupPeriod"].(float64), p["minimumScalingStepSize"].(float64), p["maximumScalingStepSize"].(float64)}
		if seen[k] {
			t.Errorf("point %v twice", k)
		}
		seen[k] = true
		if p["jobs_failed"] != 0.0 {
			t.Errorf("point %v: %v jobs failed", k, p["jobs_failed"])
		}
		pt := [2]float64{p["wait_p95_s"].(float64), p["cost_usd"].(float64)}
		if p["on_front"] == true {
			front = append(front, pt)
		} else {
			rest = append(rest, pt)
		}
	}
	for _, target := range []float64{80, 90, 100} {
		for _, warmup := range []float64{60, 90, 180, 300} {
			for _, hi := range []float64{5, 20, 10000} {
				if !seen[key{target, warmup, 1, hi}] {
					t.Errorf("grid point %v %v 1 %v missing", target, warmup, hi)
				}
			}
		}
	}
	// The defaults are a point of the grid, and it is the very run of ecs-managed's row.
	for _, p := range rep.Sweep.Points {
		if p["targetCapacity"] == 100.0 && p["instanceWarmupPeriod"] == 300.0 && p["maximumScalingStepSize"] == 10000.0 {
			if e := rep.Policies[0]; e["policy"] != "ecs-managed" || p["wait_p95_s"] != e["wait_p95_s"] || p["cost_usd"] != e["cost_usd"] {
				t.Errorf("the default point %v is not ecs-managed's row %v", p, e)
			}
		}
	}
	if len(seen) != 36 || len(front) == 0 {
		t.Fatalf("%d points, %d on the front", len(seen), len(front))
	}
	dom := func(a, b [2]float64) bool { return a[0] <= b[0] && a[1] <= b[1] && (a[0] < b[0] || a[1] < b[1]) }
	for _, a := range front {
		for _, b := range front {
			if dom(a, b) {
				t.Errorf("front point %v dominates front point %v", a, b)
			}
		}
	}
	for _, b := range rest {
		if !slices.ContainsFunc(front, func(a [2]float64) bool { return dom(a, b) }) {
			t.Errorf("point %v is off the front but no front point dominates it", b)
		}
	}
	_, table, _ := strings.Cut(stdout, "Sweep of ecs-managed over 36 configurations")
	for _, a := range front {
		if row := fmt.Sprintf(" | %.1f | ", a[0]); !strings.Contains(table, row) || !strings.Contains(table, fmt.Sprintf(" | %.2f | ", a[1])) {
			t.Errorf("the printed front lacks %v:\n%s", a, stdout)
		}
	}
	for _, b := range rest {
		if strings.Contains(table, fmt.Sprintf(" | %.2f | ", b[1])) && !slices.ContainsFunc(front, func(a [2]float64) bool { return fmt.Sprintf("%.2f", a[1]) == fmt.Sprintf("%.2f", b[1]) }) {
			t.Errorf("the printed front shows %v, off the front", b)
		}
	}
	if code, _, stderr := simCLI(t, "--workload", trace, "--sweep", "hashike", "--out", filepath.Join(t.TempDir(), "x")); code != hashike.ExitUsage || !strings.Contains(stderr, `--sweep: cannot sweep "hashike"`) {
		t.Errorf("--sweep hashike: exit %d, %s", code, stderr)
	}
}

// TestSimReplay: hashike sim --replay plays a recording of live decisions through the
// recorded policy and says they are identical (exit 0); through another policy it lists the
// decisions that differ and exits 1.
func TestSimReplay(t *testing.T) {
	rec := filepath.Join("..", "..", "sim", "testdata", "live-recording.jsonl")
	code, stdout, stderr := simCLI(t, "--replay", rec)
	if code != 0 || !strings.Contains(stdout, "hashike: 60 decisions replayed from "+rec+" (recorded by hashike), 60 identical, 0 differ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = simCLI(t, "--replay", rec, "--policies", "reactive")
	if code != 1 || !strings.Contains(stdout, "reactive: 60 decisions replayed") || !strings.Contains(stdout, "recorded: [{\"launch\"") || !strings.Contains(stderr, "replayed decisions differ from the recording") {
		t.Fatalf("another policy: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = simCLI(t, "--replay", filepath.Join(t.TempDir(), "none.jsonl"))
	if code != hashike.ExitUsage || !strings.Contains(stderr, "none.jsonl") {
		t.Fatalf("a missing recording: exit %d, stderr %q", code, stderr)
	}
}
