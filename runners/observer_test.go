package runners_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
)

type recordedObserver struct {
	mu      sync.Mutex
	last    runners.Decision
	started map[string][]time.Duration
	lost    map[string]int
}

func (o *recordedObserver) Decided(d runners.Decision) { o.mu.Lock(); o.last = d; o.mu.Unlock() }
func (o *recordedObserver) RunnerStarted(pool string, d time.Duration) {
	o.mu.Lock()
	o.started[pool] = append(o.started[pool], d)
	o.mu.Unlock()
}
func (o *recordedObserver) JobAssigned(string, time.Duration) {}
func (o *recordedObserver) LostWebhook(pool string)           { o.mu.Lock(); o.lost[pool]++; o.mu.Unlock() }

// The controller's observations for metrics: each pass's counts per pool, a runner's start
// (requested -> online) once, and a job a re-scan found that the webhook never announced.
func TestControllerObserver(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	w := runnerstest.New(clock.Now)
	o := &recordedObserver{started: map[string][]time.Duration{}, lost: map[string]int{}}
	c := newController(t, clock, w)
	c.Observer = o
	hooks := &flakyDemand{w: w, lost: map[int64]bool{}, rnd: rand.New(rand.NewPCG(1, 2))}
	c.Demand = hooks
	ctx := context.Background()
	w.Queue("self-hosted", "linux", "small")
	hooks.lost[w.Queue("self-hosted", "linux", "small")] = true
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	var small runners.PoolStatus
	for _, p := range o.last.Pools {
		if p.Pool == "small" {
			small = p
		}
	}
	if small.Queued != 2 || small.Desired != 2 {
		t.Fatalf("observed small %+v, want 2 queued and desired", small)
	}
	clock.now = clock.now.Add(40 * time.Second)
	w.Boot()
	c.RescanInterval = time.Second
	if _, err := c.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := o.started["small"]; len(got) != 2 || got[0] != 40*time.Second {
		t.Errorf("starts observed %v, want 2 of 40s", got)
	}
	if o.lost["small"] != 1 {
		t.Errorf("lost webhooks observed %v, want 1 of pool small", o.lost)
	}
}
