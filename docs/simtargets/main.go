// Command simtargets runs `hashike sim` with ecs-managed's sweep on every workload in the
// repository at every latency preset and prints docs/sim.md's targets table: for each run,
// hashike's p95 wait and cost beside the baselines', and whether each target holds.
//
//	go build -o bin/hashike ./cmd/hashike && go run ./docs/simtargets > /tmp/targets.md
//
// It reads the runs' report.json files, so the table says exactly what `hashike sim` said.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

type workload struct{ name, arg, cluster string }

var workloads = []workload{
	{"cron", "synthetic:cron", ""},
	{"ci", "synthetic:ci", ""},
	{"day", "synthetic:day", ""},
	{"poisson", "synthetic:poisson", ""},
	{"openb", "../shared/data/openb_pod_list_default.csv", "examples/sim/openb-cluster.json"},
	{"alibaba2017", "../shared/data/alibaba2017_batch.csv", ""},
}

type report struct {
	Policies []struct {
		Policy        string  `json:"policy"`
		WaitP95       float64 `json:"wait_p95_s"`
		CostUSD       float64 `json:"cost_usd"`
		Launches      int     `json:"launches"`
		InstanceHours struct {
			Total float64 `json:"total"`
		} `json:"instance_hours"`
	} `json:"policies"`
	LowerBound struct {
		CostUSD float64 `json:"cost_usd"`
	} `json:"lower_bound"`
	Targets struct {
		WaitP95VsECSManaged       float64 `json:"wait_p95_vs_ecs_managed"`
		InstanceHoursVsECSManaged float64 `json:"instance_hours_vs_ecs_managed"`
		CostVsLowerBound          float64 `json:"cost_vs_lower_bound"`
		LaunchesVsECSManaged      float64 `json:"launches_vs_ecs_managed"`
		WaitMet                   bool    `json:"wait_met"`
		InstanceHoursMet          bool    `json:"instance_hours_met"`
		NeverWorse                bool    `json:"never_worse"`
		DominatedBy               []struct {
			Label   string  `json:"label"`
			WaitP95 float64 `json:"wait_p95_s"`
			CostUSD float64 `json:"cost_usd"`
		} `json:"dominated_by"`
		OracleMeetsSLO  bool `json:"oracle_meets_slo"`
		HashikeMeetsSLO bool `json:"hashike_meets_slo"`
		SLOMet          bool `json:"slo_met"`
	} `json:"targets"`
}

func main() {
	bin := flag.String("hashike", "bin/hashike", "the hashike binary")
	out := flag.String("out", filepath.Join(os.TempDir(), "simtargets"), "where the runs' reports go")
	only := flag.String("workloads", "", "comma-separated subset of: cron, ci, day, poisson, openb, alibaba2017")
	flag.Parse()
	fmt.Println("| workload | preset | hashike p95 s / cost | ecs-managed p95 s / cost | reactive | provisioning | oracle | lower bound | bursty: p95 <= 0.2x, inst-h <= 1.05x | never worse | SLO 30 s (oracle meets?) |")
	fmt.Println("|---|---|--:|--:|--:|--:|--:|--:|---|---|---|")
	for _, w := range workloads {
		if *only != "" && !strings.Contains(","+*only+",", ","+w.name+",") {
			continue
		}
		for _, preset := range []string{"fast", "typical", "slow"} {
			dir := filepath.Join(*out, w.name+"-"+preset)
			args := []string{"sim", "--workload", w.arg, "--latency", preset, "--sweep", "ecs-managed", "--quiet", "--out", dir}
			if w.cluster != "" {
				args = append(args, "--cluster", w.cluster)
			}
			cmd := exec.Command(*bin, args...)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "simtargets: %s %s: %v\n", w.name, preset, err)
				os.Exit(1)
			}
			data, err := os.ReadFile(filepath.Join(dir, "report.json"))
			if err != nil {
				fmt.Fprintln(os.Stderr, "simtargets:", err)
				os.Exit(1)
			}
			var r report
			if err := json.Unmarshal(data, &r); err != nil {
				fmt.Fprintln(os.Stderr, "simtargets:", err)
				os.Exit(1)
			}
			fmt.Println(row(w.name, preset, &r))
		}
	}
}

func row(name, preset string, r *report) string {
	cell := func(policy string) string {
		for _, p := range r.Policies {
			if p.Policy == policy {
				return fmt.Sprintf("%.0f / $%.0f", p.WaitP95, p.CostUSD)
			}
		}
		return "-"
	}
	t := r.Targets
	yes := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "missed"
	}
	bursty := fmt.Sprintf("%.2f, %.2f (%s)", t.WaitP95VsECSManaged, t.InstanceHoursVsECSManaged, yes(t.WaitMet && t.InstanceHoursMet))
	never := yes(t.NeverWorse)
	if !t.NeverWorse {
		var by []string
		for _, b := range t.DominatedBy {
			by = append(by, fmt.Sprintf("%s %.1f s $%.0f", b.Label, b.WaitP95, b.CostUSD))
		}
		if len(by) > 2 {
			by = append(by[:2], fmt.Sprintf("+%d more", len(t.DominatedBy)-2))
		}
		never += ": " + strings.Join(by, "; ")
	}
	slo := "oracle misses it"
	if t.OracleMeetsSLO {
		slo = fmt.Sprintf("%s (x%.2f bound, x%.2f launches)", yes(t.SLOMet), t.CostVsLowerBound, t.LaunchesVsECSManaged)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | $%.0f | %s | %s | %s |", name, preset, cell("hashike"), cell("ecs-managed"),
		cell("reactive"), cell("provisioning"), cell("oracle"), r.LowerBound.CostUSD, bursty, never, slo)
}
