package sim

import (
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// TestArrivalsFeedTheForecast: the arrival history the simulator gives a policy is bucketed
// as autoscale.Snapshot reads it (epoch-aligned, the bucket in progress last), whatever
// time of day the run starts at: a burst at 09:00:10 on the first day is forecast an
// hour later and for 09:00 on the second.
func TestArrivalsFeedTheForecast(t *testing.T) {
	start := time.Date(2026, 11, 18, 8, 59, 40, 0, time.UTC) // a Wednesday, 20 s before 09:00
	var wl Workload
	wl.Name = "burst"
	for i := range 30 {
		wl.Jobs = append(wl.Jobs, Job{Submit: 30*time.Second + time.Duration(i)*time.Second, Duration: time.Minute, CPU: 256, MemoryMiB: 256})
	}
	wl.Jobs = append(wl.Jobs, Job{Submit: 25 * time.Hour, Duration: time.Minute, CPU: 256, MemoryMiB: 256})
	var snaps []*autoscale.Snapshot
	cfg := Config{Start: start, Horizon: 26 * time.Hour}
	if _, err := Run(cfg, wl, recorder{fixed{}, &snaps}, 1); err != nil {
		t.Fatal(err)
	}
	nine := time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	checked := 0
	for _, s := range snaps {
		var from time.Time
		var want float64
		switch now := s.Now; {
		case now.Before(nine.Add(time.Minute)):
			from, want = nine.Add(time.Hour), 0 // the burst's bucket is still filling
		case now.Before(nine.Add(time.Hour)):
			from, want = nine.Add(time.Hour), 30 // less than a day of history: an hour ago
		case now.After(nine.Add(23*time.Hour)) && now.Before(nine.Add(24*time.Hour)):
			from, want = nine.Add(24*time.Hour), 30 // yesterday
		default:
			continue
		}
		checked++
		if got := s.ExpectedArrivals(from, time.Minute); got != want {
			t.Fatalf("at %s: forecast for %s %v, want %v", s.Now.Format(time.TimeOnly), from.Format(time.TimeOnly), got, want)
		}
	}
	if checked < 3 {
		t.Fatalf("only %d snapshots checked", checked)
	}
}
