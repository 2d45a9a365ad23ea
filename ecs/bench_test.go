package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

// BenchmarkPoller200 waits for 200 concurrent runs in one process on the fake, with the
// poller's bounds scaled down 20 times (PollMin 50 ms, PollMax 750 ms instead of 1 s and 15 s)
// so that an iteration takes seconds. It reports:
//
//   - steady-describe/s: DescribeTasks calls per second while the 200 tasks run and nothing
//     changes, and the same figure at the default bounds (steady-describe/s@1s);
//   - busy-describe/s: calls per second while the tasks stop one after the other (every round
//     sees a change), and at the default bounds (busy-describe/s@1s; target <= 1);
//   - notice-ms-mean and notice-ms-max: from a task's stoppedAt to its Wait returning, and
//     notice-max/PollMax (target <= 1: a change is noticed within the backoff cap).
//
// go test -run '^$' -bench BenchmarkPoller200 -benchtime 1x ./ecs/
func BenchmarkPoller200(b *testing.B) {
	const (
		runs  = 200
		scale = 20
	)
	for b.Loop() {
		cloud := newCloud(b, awsfake.Options{})
		cloud.AddInstance("default", 1<<20, 1<<20)
		cfg := fastConfig(cloud)
		cfg.PollMin, cfg.PollMax = time.Second/scale, 15*time.Second/scale
		be := ecs.New(cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		// Task i stops 3 s + i*10 ms after the first start: a steady phase, then a stop every
		// 10 ms for 2 s.
		first := time.Now()
		refs := make([]hashike.TaskRef, runs)
		for i := range refs {
			sleep := time.Until(first.Add(3*time.Second + time.Duration(i)*10*time.Millisecond))
			ref, err := be.Start(ctx, hashike.StartRequest{RunID: fmt.Sprintf("bench%021d", i), Spec: job(16, "sleep", sleep.String(), "exit", "0")})
			if err != nil {
				b.Fatal(err)
			}
			refs[i] = ref
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			notices []time.Duration
		)
		for _, ref := range refs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := be.Wait(ctx, ref)
				returned := time.Now()
				if err != nil || st.StoppedAt == nil {
					b.Errorf("Wait: %+v %v", st, err)
					return
				}
				mu.Lock()
				notices = append(notices, returned.Sub(*st.StoppedAt))
				mu.Unlock()
			}()
		}
		steadyFrom := time.Now().Add(500 * time.Millisecond)
		steadyTo := first.Add(3 * time.Second)
		time.Sleep(time.Until(steadyFrom))
		c0 := cloud.Calls("DescribeTasks")
		time.Sleep(time.Until(steadyTo))
		c1 := cloud.Calls("DescribeTasks")
		busyTo := first.Add(3*time.Second + runs*10*time.Millisecond)
		time.Sleep(time.Until(busyTo))
		c2 := cloud.Calls("DescribeTasks")
		wg.Wait()
		cancel()

		steady := float64(c1-c0) / steadyTo.Sub(steadyFrom).Seconds()
		busy := float64(c2-c1) / busyTo.Sub(steadyTo).Seconds()
		slices.Sort(notices)
		var sum time.Duration
		for _, n := range notices {
			sum += n
		}
		mx := notices[len(notices)-1]
		b.ReportMetric(steady, "steady-describe/s")
		b.ReportMetric(steady/scale, "steady-describe/s@1s")
		b.ReportMetric(busy, "busy-describe/s")
		b.ReportMetric(busy/scale, "busy-describe/s@1s")
		b.ReportMetric(float64(sum.Milliseconds())/float64(len(notices)), "notice-ms-mean")
		b.ReportMetric(float64(mx.Milliseconds()), "notice-ms-max")
		b.ReportMetric(float64(mx)/float64(cfg.PollMax), "notice-max/PollMax")
	}
}
