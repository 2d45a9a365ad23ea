package ecsscale_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/autoscale/clustertest"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/sim"
)

var xlarge = autoscale.InstanceType{Name: "c6i.2xlarge", CPU: 8192, MemoryMiB: 15000, OnDemandPrice: 0.34, SpotPrice: 0.136}

// live is hashike's policy run by a Controller over the adapter over the fake, on a
// workload the queue driver submits, every decision recorded.
type live struct {
	f   *fake
	q   *queue
	c   *ecsscale.Cluster
	ctl *autoscale.Controller
	rec *autoscale.Recorder
	buf bytes.Buffer
	// killed are the tasks stopped because their instance was terminated.
	killed    map[string]string
	decisions int
	// actions and refused count the actions by kind, and those Apply refused.
	actions, refused map[string]int
}

// newLive sets up a group of c6i.2xlarge (0 to max instances, registering 30 s after their
// launch) and hashike's policy with cfg, over wl.
func newLive(t *testing.T, wl sim.Workload, max int, cfg autoscale.HashikeConfig) *live {
	t.Helper()
	f := newFake(t)
	f.cloud.AddAutoScalingGroup("jobs-asg", clusterName, 0, max, 0, xlarge.CPU, xlarge.MemoryMiB, latency)
	f.cloud.SetInstanceType("jobs-asg", xlarge.Name)
	q := &queue{t: t, f: f, start: f.clock.Now()}
	for _, j := range wl.Jobs {
		q.todo = append(q.todo, clustertest.Task{At: j.Submit, CPU: j.CPU, MemoryMiB: j.MemoryMiB, Duration: j.Duration})
	}
	c, err := ecsscale.New(f.ecs, f.as, ecsscale.Config{Cluster: clusterName, Types: []autoscale.InstanceType{xlarge},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "jobs-asg", InstanceTypes: []string{xlarge.Name}}}, Queue: q, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	l := &live{f: f, q: q, c: c, killed: map[string]string{}, actions: map[string]int{}, refused: map[string]int{}}
	l.rec = autoscale.NewRecorder(&l.buf)
	l.ctl = &autoscale.Controller{Cluster: c, Policy: autoscale.NewHashike(cfg), Clock: f.clock, Observe: func(d autoscale.Decision) {
		l.rec.Observe(d)
		l.decisions++
		for i, a := range d.Actions {
			kind, _, _ := strings.Cut(a.String(), " ")
			l.actions[kind]++
			if d.Errors != nil && d.Errors[i] != nil {
				l.refused[kind]++
			}
		}
	}}
	return l
}

// run decides every interval for span, the queue retrying RunTask every second between.
// With wake it decides as Controller.Run does with a queue that signals each enqueue: also
// at the first second a run was submitted and when the policy asks (hashike's batching
// window), at most one decision a second.
func (l *live) run(t *testing.T, span time.Duration, wake bool) {
	t.Helper()
	every := l.ctl.Policy.Interval()
	last, seq := l.f.clock.Now(), l.q.seq
	l.q.tick()
	for end := l.f.clock.Now().Add(span); l.f.clock.Now().Before(end); {
		l.f.clock.Advance(time.Second)
		l.q.tick()
		now := l.f.clock.Now()
		due := now.Sub(last) >= every
		if wake && now.Sub(last) >= time.Second {
			at := l.ctl.Policy.(autoscale.EarlyDecider).NextDecision()
			due = due || l.q.seq != seq || (!at.IsZero() && !now.Before(at))
		}
		if !due {
			continue
		}
		last, seq = now, l.q.seq
		if err := l.ctl.Step(context.Background()); err != nil {
			t.Fatalf("step at %v: %v", now, err)
		}
		for _, tk := range l.f.cloud.Tasks() {
			if tk.StopCode == types.TaskStopCodeTerminationNotice || strings.Contains(aws.ToString(tk.StoppedReason), "terminated") {
				l.killed[aws.ToString(tk.TaskArn)] = aws.ToString(tk.StoppedReason)
			}
		}
	}
}

// workload is two hours of Poisson arrivals (300 an hour, BatchShapes) with a cron burst of
// 60 jobs at each hour.
func workload() sim.Workload {
	p := sim.Poisson(sim.PoissonSpec{Name: "poisson", Rate: 300, Span: 2 * time.Hour, Shapes: sim.BatchShapes()}, 7)
	c := sim.Cron(sim.CronSpec{Name: "cron", Burst: 60, Jitter: 30 * time.Second, Span: 2 * time.Hour, Shapes: sim.BatchShapes()}, 7)
	jobs := append(p.Jobs, c.Jobs...)
	slices.SortStableFunc(jobs, func(a, b sim.Job) int { return int(a.Submit - b.Submit) })
	return sim.Workload{Name: "poisson+cron", Jobs: jobs}
}

// TestLiveDecisionsReplayInTheSimulator: hashike's policy driving the adapter over the fake
// for two hours of a workload, then an hour without arrivals, woken by each enqueue and
// deciding when its batching window ends as well as every 10 s, records every decision; the
// recording replayed through the simulator's driver (sim.Replay) gives identical decisions,
// actions and reasons. On the way, the policy scaled out and in, every job ran to its end,
// and scale-in stopped no task. HASHIKE_WRITE_RECORDING=FILE writes the first 60 decisions
// of the recording to FILE (sim/testdata/live-recording.jsonl is one).
func TestLiveDecisionsReplayInTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("three hours on the fake")
	}
	wl := workload()
	l := newLive(t, wl, 40, autoscale.HashikeConfig{})
	l.run(t, 3*time.Hour, true)
	if err := l.rec.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jobs, %d decisions, actions %v, refused %v, recording %d KiB", len(wl.Jobs), l.decisions, l.actions, l.refused, l.buf.Len()/1024)
	if len(l.killed) > 0 {
		t.Errorf("%d tasks stopped by scale-in: %v", len(l.killed), l.killed)
	}
	if l.actions["launch"] == 0 || l.actions["terminate"]+l.actions["drain"] == 0 {
		t.Errorf("actions %v: the run should scale out and in", l.actions)
	}
	if len(l.q.waiting)+len(l.q.todo)+len(l.q.running) > 0 || l.q.seq != len(wl.Jobs) {
		t.Errorf("%d jobs submitted, %d still waiting, %d running", l.q.seq, len(l.q.waiting), len(l.q.running))
	}
	if path := os.Getenv("HASHIKE_WRITE_RECORDING"); path != "" {
		// The first 60 decisions, as sim/testdata/live-recording.jsonl keeps them.
		lines := bytes.SplitAfterN(l.buf.Bytes(), []byte("\n"), 61)
		if err := os.WriteFile(path, bytes.Join(lines[:60], nil), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := autoscale.ReadRecording(bytes.NewReader(l.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != l.decisions {
		t.Fatalf("%d records of %d decisions", len(recs), l.decisions)
	}
	off := 0
	for _, r := range recs {
		if r.At.Sub(recs[0].At)%(10*time.Second) != 0 {
			off++
		}
	}
	if off < 100 {
		t.Errorf("%d decisions off the 10 s interval: the wake-ups should make more", off)
	}
	got, err := sim.Replay(recs, autoscale.NewHashike(autoscale.HashikeConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range sim.Compare(recs, got) {
		if i == 5 {
			t.Fatalf("and more")
		}
		t.Errorf("decision %d at %s: live %s, replayed %s", m.Index, m.At, m.Recorded, m.Replayed)
	}
	// The comparison sees a difference: another configuration decides otherwise.
	other, err := sim.Replay(recs, autoscale.NewHashike(autoscale.HashikeConfig{NoHeadroom: true, BatchIdle: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if len(sim.Compare(recs, other)) == 0 {
		t.Error("a policy without headroom and with a 5 s batching window replayed identical decisions")
	}
}

// alibabaTrace is shared/data/alibaba2017_batch.csv, next to the repository.
var alibabaTrace = filepath.Join("..", "..", "shared", "data", "alibaba2017_batch.csv")

// TestLiveTraceNoTaskKilled: hashike's policy drives the adapter over the fake through the
// real batch trace (Alibaba 2017: 50,500 jobs over 16.6 hours, then an hour to finish):
// every scale-in it decides stops no task, and every job runs to its end. It takes about
// 8 to 11 minutes on 2 cores, so it runs only with HASHIKE_LONG_TESTS=1:
//
//	HASHIKE_LONG_TESTS=1 go test -count=1 -timeout 30m -run TestLiveTraceNoTaskKilled -v ./ecsscale/
func TestLiveTraceNoTaskKilled(t *testing.T) {
	if os.Getenv("HASHIKE_LONG_TESTS") == "" {
		t.Skip("a day of trace on the fake: HASHIKE_LONG_TESTS=1 runs it")
	}
	f, err := os.Open(alibabaTrace)
	if err != nil {
		t.Fatalf("the trace lives next to the repository: %v", err)
	}
	defer f.Close()
	wl, err := sim.ReadTrace(f, alibabaTrace)
	if err != nil {
		t.Fatal(err)
	}
	span := wl.Jobs[len(wl.Jobs)-1].Submit + time.Hour
	l := newLive(t, wl, 200, autoscale.HashikeConfig{})
	l.run(t, span.Truncate(10*time.Second), false)
	t.Logf("%d jobs over %v, %d decisions, actions %v, refused %v", len(wl.Jobs), span, l.decisions, l.actions, l.refused)
	if len(l.killed) > 0 {
		t.Errorf("%d tasks stopped by scale-in: %v", len(l.killed), l.killed)
	}
	if l.actions["terminate"]+l.actions["drain"] == 0 {
		t.Errorf("actions %v: the run should scale in", l.actions)
	}
	if len(l.q.waiting)+len(l.q.todo)+len(l.q.running) > 0 || l.q.seq != len(wl.Jobs) {
		t.Errorf("%d jobs submitted, %d still waiting, %d running", l.q.seq, len(l.q.waiting), len(l.q.running))
	}
}
