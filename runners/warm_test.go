package runners

import (
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

func TestMinIdleSchedulesStackInTheirZones(t *testing.T) {
	pools := []Pool{{Name: "medium", Labels: []string{"medium"}, Job: "r", Max: 20, MinIdle: 1, Scope: org(),
		Schedules: []WarmSchedule{
			// Weekdays 09:00-19:00 in Tokyo: 5 idle.
			{Cron: "0 9 * * 1-5", Duration: hashike.Duration(10 * time.Hour), TimeZone: "Asia/Tokyo", MinIdle: 5},
			// The morning rush 09:00-10:00 in Tokyo, every day: 8.
			{Cron: "0 9 * * *", Duration: hashike.Duration(time.Hour), TimeZone: "Asia/Tokyo", MinIdle: 8},
		}}}
	plan := mustCompile(t, pools)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at := func(s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for _, tc := range []struct {
		when string
		want int
	}{
		{"2026-12-07 08:59", 1}, // Monday, before the window
		{"2026-12-07 09:00", 8}, // both open: the larger
		{"2026-12-07 09:59", 8},
		{"2026-12-07 10:00", 5}, // the rush closed
		{"2026-12-07 18:59", 5},
		{"2026-12-07 19:00", 1}, // closed
		{"2026-12-06 12:00", 1}, // Sunday: only the base
		{"2026-12-06 09:30", 8}, // Sunday's rush window
	} {
		// Evaluated at the UTC instant: the zone is the schedule's, not the caller's.
		got, why := plan.MinIdle("medium", at(tc.when).UTC(), Observed{})
		if got != tc.want {
			t.Errorf("%s Tokyo: minIdle %d (%s), want %d", tc.when, got, why, tc.want)
		}
	}
}

func TestSLOIdle(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)
	slo := &SLO{Target: hashike.Duration(15 * time.Second)}
	// A steady 6 jobs a minute for the past two hours: 0.1 a second.
	steady := make([]int, 121)
	for i := range steady[:120] {
		steady[i] = 6
	}
	steady[120] = 3
	for _, tc := range []struct {
		name    string
		o       Observed
		want    int
		contain string
	}{
		{"starts within target", Observed{Arrivals: steady, Bucket: time.Minute, StartLatency: 10 * time.Second}, 0, "within the SLO"},
		// 40 s start at 0.1/s: 4 expected, the Poisson 0.95 quantile is 8.
		{"slow start", Observed{Arrivals: steady, Bucket: time.Minute, StartLatency: 40 * time.Second}, 8, "4.00 jobs forecast"},
		{"no history", Observed{Bucket: time.Minute, StartLatency: 40 * time.Second}, 0, "0.00 jobs"},
		{"unmeasured start uses the default", Observed{Arrivals: steady, Bucket: time.Minute}, 6, "30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := SLOIdle(slo, tc.o, now)
			if got != tc.want || !strings.Contains(why, tc.contain) {
				t.Errorf("SLOIdle = %d (%s), want %d (%q)", got, why, tc.want, tc.contain)
			}
		})
	}
	plan := mustCompile(t, []Pool{{Name: "p", Labels: []string{"x"}, Job: "r", Max: 20, MinIdle: 2, SLO: slo, Scope: org()}})
	if n, why := plan.MinIdle("p", now, Observed{Arrivals: steady, Bucket: time.Minute, StartLatency: 40 * time.Second}); n != 8 || !strings.HasPrefix(why, "SLO:") {
		t.Errorf("MinIdle with SLO = %d (%s), want 8 from the SLO", n, why)
	}
	if n, _ := plan.MinIdle("p", now, Observed{StartLatency: 40 * time.Second}); n != 2 {
		t.Errorf("MinIdle with an SLO and no arrivals = %d, want the base 2", n)
	}
}

func TestLatenciesQuantile(t *testing.T) {
	var l Latencies
	if l.Quantile(0.95) != 0 {
		t.Fatal("empty latencies should be 0")
	}
	for i := 1; i <= 100; i++ {
		l.Add(time.Duration(i) * time.Second)
	}
	// Only the last 50 (51..100 s) are kept; nearest-rank p95 of them is 98 s.
	if got := l.Quantile(0.95); got != 98*time.Second {
		t.Errorf("p95 = %v", got)
	}
	if got := l.Quantile(0); got != 51*time.Second {
		t.Errorf("p0 = %v", got)
	}
}

func TestHistoryBuckets(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	h := History{Bucket: time.Minute, Keep: 5}
	h.Add(t0, 2)
	h.Add(t0.Add(30*time.Second), 1)
	h.Add(t0.Add(2*time.Minute), 4)
	if got := h.At(t0.Add(3 * time.Minute)); !equalInts(got, []int{3, 0, 4, 0}) {
		t.Errorf("counts %v", got)
	}
	if got := h.At(t0.Add(10 * time.Minute)); len(got) != 5 || got[4] != 0 {
		t.Errorf("after a gap: %v (keeps 5)", got)
	}
	if got := h.At(t0.Add(24 * time.Hour)); !equalInts(got, []int{0, 0, 0, 0, 0}) {
		t.Errorf("after a long gap: %v", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
