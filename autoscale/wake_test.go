package autoscale

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashike/hashike"
)

// steps records the times of the decisions a Controller made.
type steps struct {
	mu sync.Mutex
	at []time.Duration
	t0 time.Time
}

func (s *steps) observe(d Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, d.At.Sub(s.t0))
}

func (s *steps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.at)
}

// TestControllerRunWakes: a value on Wake makes Run decide at once, off the policy's
// interval; a burst of wake-ups within MinSpacing of the last decision is one decision, made
// MinSpacing after the last; with no wake-up the interval holds.
func TestControllerRunWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{}, 1)
		notify := func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		rec := &steps{t0: time.Now()}
		c := &Controller{Cluster: &fakeCluster{max: 1}, Policy: &scripted{}, Clock: hashike.SystemClock{},
			Wake: wake, MinSpacing: time.Second, Observe: rec.observe}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		synctest.Wait()
		time.Sleep(5 * time.Second)
		notify()
		synctest.Wait()
		for range 3 { // a storm of enqueues right after a decision
			notify()
		}
		synctest.Wait()
		time.Sleep(2*time.Minute + 5*time.Second)
		cancel()
		<-done
		want := []time.Duration{0, 5 * time.Second, 6 * time.Second, 66 * time.Second, 126 * time.Second}
		if got := rec.get(); !slices.Equal(got, want) {
			t.Fatalf("decisions at %v, want %v", got, want)
		}
	})
}

// early is a scripted policy that asks for a decision at a given time.
type early struct {
	scripted
	next time.Time
}

func (p *early) NextDecision() time.Time { return p.next }

// TestControllerRunEarlyDecision: a policy that asks for a decision before its interval
// (an EarlyDecider) gets it then, but never sooner than MinSpacing after the last one.
func TestControllerRunEarlyDecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rec := &steps{t0: start}
		p := &early{}
		// The first decision asks for one 3 s later; the second for one at once (it waits
		// MinSpacing); the third for none (the interval holds).
		asks := []time.Duration{3 * time.Second, 3 * time.Second}
		c := &Controller{Cluster: &fakeCluster{max: 1}, Policy: p, Clock: hashike.SystemClock{}, MinSpacing: time.Second,
			Observe: func(d Decision) {
				rec.observe(d)
				p.next = time.Time{}
				if n := len(rec.get()); n <= len(asks) {
					p.next = start.Add(asks[n-1])
				}
			}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(90 * time.Second)
		cancel()
		<-done
		want := []time.Duration{0, 3 * time.Second, 4 * time.Second, 64 * time.Second}
		if got := rec.get(); !slices.Equal(got, want) {
			t.Fatalf("decisions at %v, want %v", got, want)
		}
	})
}

// TestHashikeNextDecision: a task held by the batching window makes the policy ask for a
// decision when it leaves the window (BatchIdle after its submission, or BatchMax after
// the oldest pending task's), and that decision launches for it.
func TestHashikeNextDecision(t *testing.T) {
	p := noHeadroom()
	pools := []Pool{pool(10)}
	a := task("a", 1024, 1024, t0, false)
	if acts := p.Decide(snap(t0.Add(100*time.Millisecond), pools, nil, a), t0.Add(100*time.Millisecond)); len(acts) != 0 {
		t.Fatalf("launched for a task 100 ms old: %+v", acts)
	}
	if got := p.NextDecision(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("next decision at %v, want the end of a's batching window %v", got, t0.Add(2*time.Second))
	}
	now := t0.Add(2 * time.Second)
	if acts := p.Decide(snap(now, pools, nil, a), now); launched(acts) != 1 {
		t.Fatalf("at the window's end: %+v, want a launch for a", acts)
	}
	if got := p.NextDecision(); !got.IsZero() {
		t.Fatalf("next decision %v with nothing held, want zero", got)
	}
	// An old task still pending (its instance launching elsewhere) caps the window at
	// BatchMax after it.
	p.Reset()
	old := task("o", 1024, 1024, t0.Add(-9*time.Second), false) // its instance is launching
	b := task("b", 2048, 1024, t0.Add(-500*time.Millisecond), false)
	p.Decide(snap(t0, pools, []Instance{launching("i-1", t0, "o")}, old, b), t0)
	if got := p.NextDecision(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("next decision at %v, want BatchMax after the oldest task %v", got, t0.Add(time.Second))
	}
}

// TestHashikeExtraDecisionsCountNothingTwice: a policy that also decides between its
// intervals (woken by new demand) ends a quarter of an hour with the same learned state as
// one deciding on its interval only: the running-task average, the reserved shape, the arrivals and SLO
// misses counted, and the slack, which grows by interval, not by decision.
func TestHashikeExtraDecisionsCountNothingTwice(t *testing.T) {
	busy := active("i1", 4, 2048, 4096, t0.Add(-time.Hour))
	s := snap(t0, []Pool{pool(10)}, []Instance{busy, active("i2", 0, 0, 0, t0.Add(-time.Hour))})
	s.Running = 4
	s.ArrivalBucket = time.Minute
	s.Arrivals = make([]int, 62)
	for i := range s.Arrivals {
		s.Arrivals[i] = 10
	}
	run := func(extra bool) hashikeState {
		p := NewHashike(HashikeConfig{})
		var st hashikeState
		for k := range 90 { // 15 minutes: the slack grows, not yet to its cap
			now := t0.Add(time.Duration(k) * 10 * time.Second)
			s.Now = now
			s.Pending = nil
			if k%70 == 0 { // a task waits past the SLO now and then
				s.Pending = []Task{task("late", 512, 512, now.Add(-35*time.Second), false)}
			}
			_, st = p.decide(s, now, st)
			if extra {
				for _, d := range []time.Duration{time.Second, 3 * time.Second, 3500 * time.Millisecond} {
					s.Now = now.Add(d)
					_, st = p.decide(s, s.Now, st)
				}
			}
		}
		return st
	}
	want, got := run(false), run(true)
	close := func(name string, g, w float64) {
		t.Helper()
		if math.Abs(g-w) > 0.01*math.Abs(w)+1e-9 {
			t.Errorf("%s: %.4f with extra decisions, %.4f without", name, g, w)
		}
	}
	close("running average", got.Running, want.Running)
	close("reserved CPU per task", got.Reserved[0]/got.Reserved[2], want.Reserved[0]/want.Reserved[2])
	close("reserved weight", got.Reserved[2], want.Reserved[2])
	close("arrived", got.Arrived, want.Arrived)
	close("missed", got.Missed, want.Missed)
	close("slack", got.Slack, want.Slack)
	if want.Slack <= 1 || want.Slack >= 4 {
		t.Fatalf("slack %.3f: the test wants it to have moved, not to its cap", want.Slack)
	}
}

// TestControllerWakeStormIsOneDecisionASecond: 300 runs enqueued over 5 s, each waking the
// controller, make at most one decision a second (MinSpacing), not 300.
func TestControllerWakeStormIsOneDecisionASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{}, 1)
		rec := &steps{t0: time.Now()}
		c := &Controller{Cluster: &fakeCluster{max: 1}, Policy: &scripted{}, Clock: hashike.SystemClock{}, Wake: wake, Observe: rec.observe}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		synctest.Wait()
		for range 300 {
			time.Sleep(5 * time.Second / 300)
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		time.Sleep(2 * time.Second)
		cancel()
		<-done
		got := rec.get()
		if len(got) > 7 {
			t.Fatalf("%d decisions for 300 wake-ups over 5 s: %v", len(got), got)
		}
		for i := 1; i < len(got); i++ {
			if got[i]-got[i-1] < time.Second {
				t.Fatalf("decisions %v closer than MinSpacing", got)
			}
		}
	})
}
