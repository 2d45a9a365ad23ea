package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/plot"
	"github.com/hashike/hashike/sim"
)

func (a *app) simCmd() *cobra.Command {
	var (
		workload, cluster, policies, out, latency string
		seed                                      uint64
		quiet, runnerPools                        bool
	)
	var sweep, replay string
	c := &cobra.Command{
		Use:   "sim --workload FILE|synthetic:NAME",
		Short: "Replay job traffic against a simulated ECS-on-EC2 cluster and compare autoscaling policies",
		Example: `  hashike sim --workload synthetic:cron
  hashike sim --workload trace.csv --cluster cluster.json --policies hashike,ecs-managed --out report
  hashike sim --workload synthetic:bursty --sweep ecs-managed`,
		Long: `Replay a workload against a simulated ECS cluster on EC2 (capacity pools behind capacity
providers, launch latency, image pulls, spot interruptions, ECS placement) once per
autoscaling policy, in virtual time, and compare them: wait percentiles, instance-hours,
cost, utilisation, launches and interruptions.

--workload is synthetic:poisson, synthetic:cron, synthetic:ci or synthetic:day (see docs/sim.md),
or a CSV file: a header row with submit_s,duration_s,cpu,memory_mib (seconds from the
trace start; cpu in ECS units, 1024 = 1 vCPU) and optional name,queue,image, or an
Alibaba openb_pod_list CSV (shared/data), converted as it is read.

--cluster is a JSON file (docs/sim.md; default: one pool of m6i.2xlarge, 0-200 instances,
2 on-demand then 1 on-demand to 4 spot, typical launch latency). The same inputs and
--seed give byte-identical reports.

It writes to --out: report.json, report.md (the table it prints), capacity.svg (capacity
and demand over time per policy) and wait-cdf.svg (the wait-time CDF of all policies).

--sweep ecs-managed also runs ecs-managed over a grid of its managed scaling settings
(targetCapacity 80/90/100 x instanceWarmupPeriod 60/90/180/300 s x 3 step sizes, 36 runs)
and reports the Pareto front of p95 wait against cost; report.json's "sweep" block has
every point.

--replay FILE plays a recording of a live autoscaler's decisions (the snapshots it saw and
the actions it took, JSON Lines; see docs/autoscaler.md) through the recorded policy, or
--policies, configured by --cluster, and lists every decision that differs; it exits 1
when one does. No workload is simulated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if replay != "" {
				return replayCmd(cmd, a.stdout, replay, cluster, policies)
			}
			if workload == "" {
				return hashike.Errorf(hashike.EInvalid, "--workload is required: a CSV file or synthetic:NAME (%s)", strings.Join(sim.SyntheticNames(), ", "))
			}
			names, err := policyNames(policies)
			if err != nil {
				return err
			}
			if err := checkSweep(sweep); err != nil {
				return err
			}
			cfg, err := readSimCluster(cluster)
			if err != nil {
				return err
			}
			if latency != "" {
				l, ok := sim.Presets[latency]
				if !ok {
					return hashike.Errorf(hashike.EInvalid, "--latency: unknown preset %q (fast, typical or slow)", latency)
				}
				cfg.Latency = l
			}
			wl, err := loadWorkload(workload, seed)
			if err != nil {
				return err
			}
			if len(wl.Jobs) == 0 {
				return hashike.Errorf(hashike.EInvalid, "--workload %s has no jobs", workload)
			}
			if runnerPools {
				return simRunners(a.stdout, wl, seed)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			var bar io.Writer
			if !quiet {
				bar = a.stderr
			}
			results, err := runPolicies(cfg, wl, names, seed, newProgress(bar, names, isTerminal(a.stderr)))
			if err != nil {
				return err
			}
			rep := sim.NewReport(cfg, wl, seed, results)
			var sw *sweepResult
			if sweep != "" {
				if sw, err = runSweep(cfg, wl, sweep, seed, bar); err != nil {
					return err
				}
				rep.WeighBaselines(sw.baselines())
			}
			js, err := json.MarshalIndent(sweepReport{rep, sw}, "", "  ")
			if err != nil {
				return err
			}
			md := rep.Markdown() + sw.Markdown()
			files := []struct {
				name string
				data []byte
			}{
				{"report.json", append(js, '\n')},
				{"report.md", []byte(md)},
				{"capacity.svg", plot.Capacity(results)},
				{"wait-cdf.svg", plot.WaitCDF(results)},
			}
			for _, f := range files {
				if err := os.WriteFile(filepath.Join(out, f.name), f.data, 0o644); err != nil {
					return err
				}
			}
			fmt.Fprint(a.stdout, md)
			fmt.Fprintf(a.stdout, "\nWrote %s: report.json, report.md, capacity.svg, wait-cdf.svg.\n", out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&workload, "workload", "", "a workload CSV file, or synthetic:"+strings.Join(sim.SyntheticNames(), "|"))
	f.StringVar(&cluster, "cluster", "", "a cluster JSON file (default: see docs/sim.md)")
	f.StringVar(&policies, "policies", strings.Join(autoscale.Names(), ","), "the policies to compare, comma-separated")
	f.Uint64Var(&seed, "seed", 1, "the random seed (synthetic arrivals, launch latencies, failures, interruptions)")
	f.StringVar(&out, "out", "sim-report", "the directory to write the report and plots to")
	f.StringVar(&latency, "latency", "", "the launch-latency preset, overriding the cluster's: fast, typical or slow")
	f.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	f.BoolVar(&runnerPools, "runners", false, "simulate the jobs as GitHub Actions jobs on ephemeral runner pools (one per job name) with no warm pool, a schedule and an SLO, and print queued->started and idle runner-hours (docs/runners.md)")
	f.StringVar(&replay, "replay", "", "replay a recording of a live autoscaler's decisions (JSON Lines) through the policy instead of simulating a workload")
	f.StringVar(&sweep, "sweep", "", "also run this policy over a grid of its tunables and report its Pareto front of p95 wait against cost: "+strings.Join(sweepPolicies, ", "))
	return c
}

// policyNames splits and checks --policies.
func policyNames(list string) ([]string, error) {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(autoscale.Names(), n) {
			return nil, hashike.Errorf(hashike.EInvalid, "--policies: unknown policy %q (known: %s)", n, strings.Join(autoscale.Names(), ", "))
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, hashike.Errorf(hashike.EInvalid, "--policies: no policy named")
	}
	return names, nil
}

// loadWorkload returns synthetic:NAME generated from seed, or a CSV file: a workload trace,
// or an Alibaba openb pod list (recognised by its cpu_milli and creation_time columns).
func loadWorkload(arg string, seed uint64) (sim.Workload, error) {
	if name, ok := strings.CutPrefix(arg, "synthetic:"); ok {
		wl, err := sim.Synthetic(name, seed)
		if err != nil {
			return sim.Workload{}, hashike.Errorf(hashike.EInvalid, "--workload: %v", err)
		}
		return wl, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return sim.Workload{}, hashike.Errorf(hashike.EInvalid, "--workload: %v", err)
	}
	header, _, _ := bytes.Cut(data, []byte("\n"))
	read := sim.ReadTrace
	if cols := strings.Split(strings.TrimSpace(string(header)), ","); slices.Contains(cols, "cpu_milli") && slices.Contains(cols, "creation_time") {
		read = sim.ConvertOpenB
	}
	wl, err := read(bytes.NewReader(data), arg)
	if err != nil {
		return sim.Workload{}, &hashike.Error{Code: hashike.EInvalid, Message: err.Error()}
	}
	return wl, nil
}

// runPolicies runs the workload once per policy, as many at once as there are CPUs; the
// results come back in names' order (each run is deterministic on its own).
func runPolicies(cfg sim.Config, wl sim.Workload, names []string, seed uint64, pr *progress) ([]*sim.Result, error) {
	results := make([]*sim.Result, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := sim.NewPolicy(cfg, name)
			if err != nil {
				errs[i] = err
				return
			}
			c := sim.ForPolicy(cfg, name)
			c.Progress = func(done, total int) { pr.update(i, done, total) }
			results[i], errs[i] = sim.Run(c, wl, p, seed)
		})
	}
	wg.Wait()
	pr.finish()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// progress draws one progress bar for all policies on a terminal (redrawn in place), or a
// line per policy as it finishes elsewhere.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	names []string
	done  []float64
	shown int // percent last drawn
	start time.Time
}

func newProgress(w io.Writer, names []string, tty bool) *progress {
	return &progress{w: w, tty: tty, names: names, done: make([]float64, len(names)), shown: -1, start: time.Now()}
}

func (p *progress) update(i, done, total int) {
	if p.w == nil || total == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.done[i]
	p.done[i] = float64(done) / float64(total)
	if !p.tty {
		if done == total && was < 1 {
			fmt.Fprintf(p.w, "sim: %s done (%d jobs, %.1f s)\n", p.names[i], total, time.Since(p.start).Seconds())
		}
		return
	}
	sum := 0.0
	for _, d := range p.done {
		sum += d
	}
	pct := int(100 * sum / float64(len(p.done)))
	if pct == p.shown {
		return
	}
	p.shown = pct
	const width = 30
	fill := pct * width / 100
	var b strings.Builder
	for k, n := range p.names {
		fmt.Fprintf(&b, " %s %3.0f%%", n, 100*p.done[k])
	}
	fmt.Fprintf(p.w, "\rsim [%s%s] %3d%%%s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, b.String())
}

func (p *progress) finish() {
	if p.w != nil && p.tty {
		fmt.Fprintf(p.w, "\n")
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readSimCluster reads --cluster FILE ("": the default cluster).
func readSimCluster(path string) (sim.Config, error) {
	if path == "" {
		return sim.DefaultCluster(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return sim.Config{}, hashike.Errorf(hashike.EInvalid, "--cluster: %v", err)
	}
	cfg, err := sim.ParseCluster(data, path)
	if err != nil {
		return sim.Config{}, &hashike.Error{Code: hashike.EInvalid, Message: err.Error()}
	}
	return cfg, nil
}
