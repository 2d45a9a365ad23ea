package sim

import (
	"testing"
	"time"

	"github.com/hashike/hashike/autoscale"
)

// TestArrivalsAlignWithAutoscale: the arrival history the simulator gives a policy is
// indexed as autoscale.Snapshot.ArrivalIndex reads it (from Sunday 00:00 UTC), whatever
// weekday the run starts on.
func TestArrivalsAlignWithAutoscale(t *testing.T) {
	start := time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC) // a Wednesday, 09:00
	var wl Workload
	wl.Name = "burst"
	for i := range 30 {
		wl.Jobs = append(wl.Jobs, Job{Submit: time.Duration(i) * time.Second, Duration: time.Minute, CPU: 256, MemoryMiB: 256})
	}
	var snaps []*autoscale.Snapshot
	cfg := Config{Start: start, Horizon: 3 * time.Hour}
	if _, err := Run(cfg, wl, recorder{fixed{}, &snaps}, 1); err != nil {
		t.Fatal(err)
	}
	var seen *autoscale.Snapshot
	for _, s := range snaps {
		if s.Now.Sub(start) >= 2*time.Hour {
			seen = s
			break
		}
	}
	if seen == nil {
		t.Fatal("no snapshot after two hours")
	}
	if got := seen.Arrivals[seen.ArrivalIndex(start)]; got != 30 {
		t.Errorf("arrivals in the bucket of the start (%s) = %v, want 30 (index %d)", start.Weekday(), got, seen.ArrivalIndex(start))
	}
	if got := seen.ExpectedArrivals(start.Add(7*24*time.Hour), time.Hour); got != 30 {
		t.Errorf("forecast for the same hour next week = %v, want 30", got)
	}
}
