package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

func spotCluster() Config {
	return Config{
		Latency: LatencyFast,
		Pools: []PoolConfig{{
			Pool: autoscale.Pool{Name: "spot", InstanceTypes: []string{"m6i.xlarge"}, Max: 50,
				OnDemandBase: 1, OnDemandPercentAboveBase: 20},
			LaunchFailure: 0.05, InsufficientCapacity: 0.1,
			SpotHazardPerHour: 0.05, ReclaimsPerDay: 6,
		}},
	}
}

func batch(seed uint64, span time.Duration, rate float64) Workload {
	return Poisson(PoissonSpec{Name: "batch", Rate: rate, Span: span, Profile: DailyProfile(), Shapes: BatchShapes()}, seed)
}

// checkConservation: every job completed exactly once or failed with a reason.
func checkConservation(t *testing.T, wl Workload, r *Result) {
	t.Helper()
	if r.Completed+r.JobsFailed != len(wl.Jobs) || r.Jobs != len(wl.Jobs) {
		t.Fatalf("completed %d + failed %d != jobs %d", r.Completed, r.JobsFailed, len(wl.Jobs))
	}
	if len(r.Records) != len(wl.Jobs) {
		t.Fatalf("%d records for %d jobs", len(r.Records), len(wl.Jobs))
	}
	failed, reasons := 0, 0
	for _, n := range r.FailureReasons {
		reasons += n
	}
	for i, rec := range r.Records {
		j := wl.Jobs[i]
		if rec.Failed != "" {
			failed++
			continue
		}
		if rec.Start < rec.Submit || rec.Instance == "" {
			t.Fatalf("job %d: %+v", i, rec)
		}
		// A completed job's last run took its duration; it ended no earlier.
		if got := rec.End - rec.Submit; got < j.Duration.Seconds()-1e-6 {
			t.Fatalf("job %d ended %.1f s after submit, shorter than its %v", i, got, j.Duration)
		}
	}
	if failed != r.JobsFailed || reasons != r.JobsFailed {
		t.Fatalf("failed records %d, reasons %d, jobs_failed %d", failed, reasons, r.JobsFailed)
	}
	last := r.Series[len(r.Series)-1]
	if last.ReservedCPU < 0 || last.Running < 0 || last.Pending < 0 {
		t.Fatalf("negative gauges in %+v", last)
	}
}

func TestConservationSpotAndTerminations(t *testing.T) {
	wl := batch(1, 12*time.Hour, 150)
	for _, p := range []autoscale.Policy{naive{idleFor: 5 * time.Minute}, &chaos{naive: naive{idleFor: 2 * time.Minute}}, naive{perTask: true, idleFor: time.Minute}} {
		r, err := Run(spotCluster(), wl, p, 7)
		if err != nil {
			t.Fatal(err)
		}
		checkConservation(t, wl, r)
		if r.Interruptions == 0 || r.SpotReclaims == 0 || r.LaunchFailures == 0 || r.InsufficientCapacity == 0 {
			t.Errorf("%s: the spot model did nothing: %+v", p.Name(), r.Metrics)
		}
		if p.Name() == "chaos" && r.KilledByTerminate == 0 {
			t.Errorf("chaos killed nothing")
		}
		if r.Reruns != r.Interruptions+r.KilledByTerminate {
			t.Errorf("%s: reruns %d != interruptions %d + killed %d", p.Name(), r.Reruns, r.Interruptions, r.KilledByTerminate)
		}
		t.Logf("%s: jobs %d failed %v wait p50 %.0f p95 %.0f cost %.2f util %.2f/%.2f launches %d interruptions %d killed %d",
			p.Name(), r.Jobs, r.FailureReasons, r.WaitP50, r.WaitP95, r.CostUSD, r.CPUUtilization, r.MemoryUtilization, r.Launches, r.Interruptions, r.KilledByTerminate)
	}
}

func TestFailuresHaveReasons(t *testing.T) {
	wl := Workload{Name: "hard", Jobs: []Job{
		{Submit: 0, Duration: time.Minute, CPU: 1 << 20, MemoryMiB: 1}, // fits no type
		{Submit: 0, Duration: time.Minute, CPU: 1024, MemoryMiB: 1024}, // no capacity ever
	}}
	cfg := Config{Horizon: time.Hour}
	r, err := Run(cfg, wl, fixed{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkConservation(t, wl, r)
	want := map[string]int{ReasonTooLarge: 1, ReasonHorizon: 1}
	if r.JobsFailed != 2 || !mapsEqual(r.FailureReasons, want) {
		t.Fatalf("failures %d %v, want %v", r.JobsFailed, r.FailureReasons, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDeterminism(t *testing.T) {
	wl := batch(3, 6*time.Hour, 200)
	run := func(seed uint64) []byte {
		r, err := Run(spotCluster(), wl, &chaos{naive: naive{idleFor: 3 * time.Minute}}, seed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := run(42), run(42), run(43)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different results")
	}
	// The same policy value run again starts from a fresh state (Run resets it), as
	// BenchmarkDayPolicies and a caller comparing seeds rely on.
	for _, name := range autoscale.Names() {
		p, _ := autoscale.ByName(name)
		var first []byte
		for range 2 {
			r, err := Run(ForPolicy(spotCluster(), name), wl, p, 42)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(r)
			if first == nil {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Errorf("%s: the same policy value run twice: different results", name)
			}
		}
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same results")
	}
	var m map[string]any
	if err := json.Unmarshal(a, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"policy", "jobs", "jobs_failed", "wait_p50_s", "wait_p95_s", "wait_p99_s", "wait_max_s",
		"instance_hours", "cost_usd", "cpu_utilization", "memory_utilization", "launches", "interruptions"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

// erlangCWait is the M/M/c mean wait in queue: C(c, a) / (c*mu - lambda), a = lambda/mu.
func erlangCWait(lambda, mu float64, c int) float64 {
	a := lambda / mu
	rho := a / float64(c)
	term, sum := 1.0, 0.0 // a^k/k!
	for k := 0; k < c; k++ {
		sum += term
		term *= a / float64(k+1)
	}
	tail := term / (1 - rho)
	return tail / (sum + tail) / (float64(c)*mu - lambda)
}

// TestMMc checks the simulator against queueing theory: Poisson arrivals, exponential
// durations, c single-slot instances, FIFO, no autoscaling. With c = 10, rho = 0.8 and a
// mean service of 600 s, Erlang C gives a mean wait of about 122 s. Each seed runs 30 days
// (~35,000 jobs); the waits are autocorrelated over a busy period, so the seeds' means
// spread by several percent: the test asks the mean over 6 seeds to be within 3 standard
// errors of those means and within 8% of the closed form (the seeds are fixed, so the
// test does not flake; a one-off wider run, 30 seeds of 60 days, gave 122.9 s against
// 122.8 s, so the simulator shows no bias). The simulator's own overheads
// (image pull, container start) are set to about a nanosecond; rounding durations to whole
// seconds changes the mean service by under 0.1%.
func TestMMc(t *testing.T) {
	if testing.Short() {
		t.Skip("long run")
	}
	const c = 10
	mean := 600 * time.Second
	mu := 1 / mean.Seconds()
	lambda := 0.8 * c * mu
	want := erlangCWait(lambda, mu, c)
	cfg := Config{
		Types:             []autoscale.InstanceType{{Name: "slot", CPU: 1024, MemoryMiB: 1024, OnDemandPrice: 1}},
		Pools:             []PoolConfig{{Pool: autoscale.Pool{Name: "fixed", InstanceTypes: []string{"slot"}, Max: c}, Initial: c}},
		ContainerStartMin: time.Nanosecond, ContainerStartMax: time.Nanosecond, PullMiBps: 1e15,
		SampleStep: time.Hour,
	}
	var means []float64
	for seed := uint64(1); seed <= 6; seed++ {
		wl := Poisson(PoissonSpec{Name: "mmc", Rate: lambda * 3600, Span: 30 * 24 * time.Hour,
			Shapes: []Shape{{CPU: 1024, MemoryMiB: 1024, Mean: mean, Weight: 1}}}, seed)
		r, err := Run(cfg, wl, fixed{}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if r.JobsFailed != 0 {
			t.Fatalf("failed %v", r.FailureReasons)
		}
		means = append(means, r.WaitMean)
	}
	avg, sd := meanSD(means)
	se := sd / math.Sqrt(float64(len(means)))
	t.Logf("Erlang C mean wait %.1f s; simulated %.1f s (seeds %v, se %.1f)", want, avg, round1(means), se)
	if d := math.Abs(avg - want); d > 3*se+1 || d > 0.08*want {
		t.Fatalf("mean wait %.1f s, Erlang C %.1f s", avg, want)
	}
}

func meanSD(xs []float64) (float64, float64) {
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)-1))
}

func round1(xs []float64) []float64 {
	out := slices.Clone(xs)
	for i := range out {
		out[i] = math.Round(out[i]*10) / 10
	}
	return out
}

func TestBinpack(t *testing.T) {
	cfg := Config{
		Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.xlarge"}, Max: 2}, Initial: 2}},
	}
	wl := Workload{Jobs: []Job{
		{Submit: 0, Duration: time.Hour, CPU: 3072, MemoryMiB: 1024},
		{Submit: time.Second, Duration: time.Hour, CPU: 1024, MemoryMiB: 1024}, // fills the first
		{Submit: 2 * time.Second, Duration: time.Hour, CPU: 2048, MemoryMiB: 1024},
		{Submit: 3 * time.Second, Duration: time.Hour, CPU: 1024, MemoryMiB: 1024}, // the fuller second
	}}
	r, err := Run(cfg, wl, fixed{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range r.Records {
		got = append(got, rec.Instance)
	}
	if want := []string{"i-000001", "i-000001", "i-000002", "i-000002"}; !slices.Equal(got, want) {
		t.Fatalf("placed on %v, want %v", got, want)
	}
}

// TestBinpackField: the placement strategy's field decides between an instance with less
// CPU left and one with less memory left.
func TestBinpackField(t *testing.T) {
	wl := Workload{Jobs: []Job{
		{Submit: 0, Duration: time.Hour, CPU: 3072, MemoryMiB: 1024},            // the first: 1024 CPU left
		{Submit: time.Second, Duration: time.Hour, CPU: 1024, MemoryMiB: 14000}, // too much memory for it: the second, 1000 MiB left
		{Submit: 2 * time.Second, Duration: time.Hour, CPU: 512, MemoryMiB: 512},
	}}
	for field, want := range map[autoscale.BinpackField]string{autoscale.BinpackCPU: "i-000001", autoscale.BinpackMemory: "i-000002"} {
		cfg := Config{
			Pools:   []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.xlarge"}, Max: 2}, Initial: 2}},
			Binpack: field,
		}
		r, err := Run(cfg, wl, fixed{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := []string{r.Records[0].Instance, r.Records[1].Instance, r.Records[2].Instance}; !slices.Equal(got, []string{"i-000001", "i-000002", want}) {
			t.Errorf("binpack %s: placed on %v, the last want %s", field, got, want)
		}
	}
	if _, err := Run(Config{Binpack: "spread"}, wl, fixed{}, 1); err == nil || !strings.Contains(err.Error(), "binpack") {
		t.Errorf("binpack spread: %v", err)
	}
}

func TestRunTaskBatchOfTen(t *testing.T) {
	cfg := Config{Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.2xlarge"}, Max: 10}, Initial: 10}}}
	var jobs []Job
	for range 25 {
		jobs = append(jobs, Job{Submit: time.Minute, Duration: time.Minute, CPU: 256, MemoryMiB: 512})
	}
	jobs = append(jobs, Job{Submit: time.Minute, Duration: time.Minute, CPU: 512, MemoryMiB: 512})
	r, err := Run(cfg, Workload{Jobs: jobs}, fixed{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.RunTaskCalls != 4 || r.Completed != 26 {
		t.Fatalf("RunTask calls %d (want 3 of the shape + 1), completed %d", r.RunTaskCalls, r.Completed)
	}
}

func TestResourceReasonsAndProvisioning(t *testing.T) {
	var snaps []*autoscale.Snapshot
	cfg := Config{
		Pools:            []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.xlarge", "m6i.2xlarge"}, Max: 3}, Initial: 1}},
		CapacityProvider: true, ProvisioningLimit: 2, MaxAttempts: 2,
	}
	wl := Workload{Jobs: []Job{
		{Submit: 0, Duration: time.Minute, CPU: 6000, MemoryMiB: 1000},  // CPU beyond an xlarge
		{Submit: 0, Duration: time.Minute, CPU: 1024, MemoryMiB: 20000}, // memory beyond it
		{Submit: 0, Duration: time.Minute, CPU: 6000, MemoryMiB: 2000},  // over the provisioning limit
	}}
	r, err := Run(cfg, wl, recorder{fixed{every: time.Minute}, &snaps}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := snaps[1]
	var reasons []string
	var prov []bool
	for _, p := range s.Pending {
		reasons = append(reasons, p.LastFailure)
		prov = append(prov, p.Provisioning)
	}
	if want := []string{"RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:CPU"}; !slices.Equal(reasons, want) {
		t.Errorf("reasons %v, want %v", reasons, want)
	}
	if want := []bool{true, true, false}; !slices.Equal(prov, want) {
		t.Errorf("provisioning %v, want %v", prov, want)
	}
	// Two timeouts each (10 min apart, the third job taking a freed slot) then failure.
	checkConservation(t, wl, r)
	if r.JobsFailed != 3 || r.FailureReasons[ReasonProvisioningTimeout] != 3 || r.ProvisioningTimeouts != 6 {
		t.Fatalf("failed %d %v, timeouts %d", r.JobsFailed, r.FailureReasons, r.ProvisioningTimeouts)
	}
}

func TestImageCache(t *testing.T) {
	cfg := Config{
		Pools:             []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{"m6i.xlarge"}, Max: 1}, Initial: 1}},
		ImageMiB:          map[string]int{"big": 3000},
		ContainerStartMin: time.Second, ContainerStartMax: time.Second,
	}
	wl := Workload{Jobs: []Job{
		{Submit: 0, Duration: time.Minute, CPU: 256, MemoryMiB: 256, Image: "big"},
		{Submit: 10 * time.Second, Duration: time.Minute, CPU: 256, MemoryMiB: 256, Image: "big"},  // waits for the pull under way
		{Submit: 100 * time.Second, Duration: time.Minute, CPU: 256, MemoryMiB: 256, Image: "big"}, // cached
	}}
	r, err := Run(cfg, wl, fixed{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var waits []float64
	for _, rec := range r.Records {
		waits = append(waits, rec.Start-rec.Submit)
	}
	if want := []float64{31, 21, 1}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v (3000 MiB at 100 MiB/s, then a 1 s start)", waits, want)
	}
}

func TestLatencyPresets(t *testing.T) {
	for _, l := range []Latency{LatencyFast, LatencyTypical, LatencySlow} {
		r := newRand(9)
		xs := make([]float64, 200_000)
		for i := range xs {
			xs[i] = l.Sample(r).Seconds()
		}
		slices.Sort(xs)
		med, p95 := quantile(xs, 0.5), quantile(xs, 0.95)
		if math.Abs(med/l.Median.Seconds()-1) > 0.02 || math.Abs(p95/l.P95.Seconds()-1) > 0.02 {
			t.Errorf("%s: median %.1f s p95 %.1f s, want %v %v", l.Name, med, p95, l.Median, l.P95)
		}
	}
}

func TestPoolMin(t *testing.T) {
	cfg := spotCluster()
	cfg.Pools[0].Min, cfg.Pools[0].ReclaimsPerDay = 3, 24
	wl := batch(5, 6*time.Hour, 20)
	r, err := Run(cfg, wl, fixed{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkConservation(t, wl, r)
	if r.Completed == 0 || r.SpotReclaims == 0 || r.Launches <= 3 {
		t.Fatalf("completed %d, reclaims %d, launches %d", r.Completed, r.SpotReclaims, r.Launches)
	}
	for _, x := range r.Series[1:] {
		if x.Active+x.Launching+x.Draining < 3 {
			t.Fatalf("below min at %.0f s: %+v", x.T, x)
		}
	}
}

// script is a policy that applies, at its n-th decision (from 0, every 10 s), the actions
// at[n]; an action naming instance "$k" names the k-th instance of the snapshot.
type script struct {
	at   map[int][]autoscale.Action
	tick int
}

func (*script) Name() string            { return "script" }
func (*script) Interval() time.Duration { return 10 * time.Second }
func (p *script) Reset()                { p.tick = 0 }
func (p *script) Decide(s *autoscale.Snapshot, _ time.Time) []autoscale.Action {
	acts := slices.Clone(p.at[p.tick])
	p.tick++
	for k, a := range acts {
		ref := func(id string) string {
			if n, ok := strings.CutPrefix(id, "$"); ok {
				i := int(n[0] - '0')
				if i < len(s.Instances) {
					return s.Instances[i].ID
				}
			}
			return id
		}
		switch {
		case a.Terminate != nil:
			acts[k].Terminate = &autoscale.Terminate{Instance: ref(a.Terminate.Instance)}
		case a.Drain != nil:
			acts[k].Drain = &autoscale.Drain{Instance: ref(a.Drain.Instance)}
		}
	}
	return acts
}

// TestBillingMinimum: EC2 bills Linux instances per second with a 60 s minimum, from the
// launch: an instance terminated 10 s after its launch request, still launching, costs 60 s;
// one that ran 5 minutes costs 5 minutes; launches are counted.
func TestBillingMinimum(t *testing.T) {
	typ := DefaultTypes()[4] // m6i.xlarge
	cfg := Config{Latency: LatencySlow, Horizon: 10 * time.Minute,
		Pools: []PoolConfig{{Pool: autoscale.Pool{Name: "p", InstanceTypes: []string{typ.Name}, Max: 5, OnDemandPercentAboveBase: 100}}}}
	wl := Workload{Name: "one", Jobs: []Job{{Submit: 9 * time.Minute, Duration: time.Second, CPU: 1 << 20, MemoryMiB: 1}}} // fails at once: too large
	launch := autoscale.Action{Launch: &autoscale.Launch{Pool: "p", Count: 1}}
	p := &script{at: map[int][]autoscale.Action{
		0:  {launch},
		1:  {{Terminate: &autoscale.Terminate{Instance: "$0"}}}, // 10 s later, still launching
		2:  {launch},
		32: {{Terminate: &autoscale.Terminate{Instance: "$0"}}}, // 5 min after the second launch
	}}
	r, err := Run(cfg, wl, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Launches != 2 || r.Terminations != 2 {
		t.Fatalf("launches %d terminations %d, want 2 and 2", r.Launches, r.Terminations)
	}
	wantH := (60.0 + 300) / 3600
	if math.Abs(r.InstanceHours.Total-wantH) > 1e-9 || math.Abs(r.CostUSD-wantH*typ.OnDemandPrice) > 1e-9 {
		t.Fatalf("instance-hours %.6f cost %.6f, want %.6f and %.6f", r.InstanceHours.Total, r.CostUSD, wantH, wantH*typ.OnDemandPrice)
	}
}
