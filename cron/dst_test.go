package cron

import (
	"testing"
	"time"
)

// The DST rules of the package doc, one transition each way in three zones: America/New_York
// (one hour at 02:00), Europe/London (one hour at 01:00 / 02:00) and Australia/Lord_Howe
// (thirty minutes at 02:00).
func TestNextDST(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	london := mustLoad(t, "Europe/London")
	lh := mustLoad(t, "Australia/Lord_Howe")
	for _, tc := range []struct {
		name  string
		loc   *time.Location
		expr  string
		after time.Time // wall time in loc (unambiguous), or an instant
		want  []string
	}{
		// New York, 2026-03-08: 02:00 EST becomes 03:00 EDT.
		{"gap: fixed time fires once after the gap", ny, "30 2 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
			[]string{"2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT"}},
		{"gap: several swallowed times fire once", ny, "0,30 2,3 * * *", time.Date(2026, 3, 8, 1, 0, 0, 0, ny),
			[]string{"2026-03-08 03:00 EDT", "2026-03-08 03:30 EDT", "2026-03-09 02:00 EDT"}},
		{"gap: the hour before", ny, "59 1 * * *", time.Date(2026, 3, 8, 0, 0, 0, 0, ny),
			[]string{"2026-03-08 01:59 EST", "2026-03-09 01:59 EDT"}},
		{"gap: interval skips missing times", ny, "*/30 * * * *", time.Date(2026, 3, 8, 1, 0, 0, 0, ny),
			[]string{"2026-03-08 01:30 EST", "2026-03-08 03:00 EDT", "2026-03-08 03:30 EDT"}},
		{"gap: hourly is every real hour", ny, "0 * * * *", time.Date(2026, 3, 8, 0, 30, 0, 0, ny),
			[]string{"2026-03-08 01:00 EST", "2026-03-08 03:00 EDT", "2026-03-08 04:00 EDT"}},
		{"gap: hourly at :30", ny, "30 * * * *", time.Date(2026, 3, 8, 0, 45, 0, 0, ny),
			[]string{"2026-03-08 01:30 EST", "2026-03-08 03:30 EDT"}},
		{"gap: an interval within the missing hour does not fire that day", ny, "*/15 2 * * *", time.Date(2026, 3, 7, 3, 0, 0, 0, ny),
			[]string{"2026-03-09 02:00 EDT"}},
		// New York, 2026-11-01: 02:00 EDT becomes 01:00 EST.
		{"overlap: fixed time fires at the first occurrence", ny, "30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
			[]string{"2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"}},
		{"overlap: after the first occurrence", ny, "30 1 * * *", time.Date(2026, 11, 1, 5, 45, 0, 0, time.UTC), // 01:45 EDT
			[]string{"2026-11-02 01:30 EST"}},
		{"overlap: during the second occurrence", ny, "45 1 * * *", time.Date(2026, 11, 1, 6, 15, 0, 0, time.UTC), // 01:15 EST
			[]string{"2026-11-02 01:45 EST"}},
		{"overlap: hourly fires in both hours", ny, "0 * * * *", time.Date(2026, 11, 1, 0, 30, 0, 0, ny),
			[]string{"2026-11-01 01:00 EDT", "2026-11-01 01:00 EST", "2026-11-01 02:00 EST"}},
		{"overlap: every 30 minutes in real time", ny, "*/30 * * * *", time.Date(2026, 11, 1, 0, 45, 0, 0, ny),
			[]string{"2026-11-01 01:00 EDT", "2026-11-01 01:30 EDT", "2026-11-01 01:00 EST", "2026-11-01 01:30 EST", "2026-11-01 02:00 EST"}},
		{"overlap: interval restricted to the repeated hour", ny, "*/30 1 * * *", time.Date(2026, 11, 1, 0, 45, 0, 0, ny),
			[]string{"2026-11-01 01:00 EDT", "2026-11-01 01:30 EDT", "2026-11-01 01:00 EST", "2026-11-01 01:30 EST", "2026-11-02 01:00 EST"}},
		{"overlap: interval from inside the first occurrence", ny, "*/30 * * * *", time.Date(2026, 11, 1, 5, 40, 0, 0, time.UTC), // 01:40 EDT
			[]string{"2026-11-01 01:00 EST", "2026-11-01 01:30 EST"}},
		{"overlap: daily at midnight is unaffected", ny, "@daily", time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
			[]string{"2026-11-01 00:00 EDT", "2026-11-02 00:00 EST"}},
		// London, 2026-03-29: 01:00 GMT becomes 02:00 BST; 2026-10-25: 02:00 BST becomes 01:00 GMT.
		{"London gap", london, "30 1 * * *", time.Date(2026, 3, 28, 12, 0, 0, 0, london),
			[]string{"2026-03-29 02:00 BST", "2026-03-30 01:30 BST"}},
		{"London gap: hourly", london, "0 * * * *", time.Date(2026, 3, 29, 0, 30, 0, 0, london),
			[]string{"2026-03-29 02:00 BST", "2026-03-29 03:00 BST"}},
		{"London overlap", london, "30 1 * * *", time.Date(2026, 10, 24, 12, 0, 0, 0, london),
			[]string{"2026-10-25 01:30 BST", "2026-10-26 01:30 GMT"}},
		{"London overlap: hourly", london, "0 * * * *", time.Date(2026, 10, 25, 0, 30, 0, 0, london),
			[]string{"2026-10-25 01:00 BST", "2026-10-25 01:00 GMT", "2026-10-25 02:00 GMT"}},
		// Lord Howe, 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11); 2026-04-05: 02:00 (+11)
		// becomes 01:30 (+10:30). Only half an hour is skipped or repeated.
		{"Lord Howe gap: fixed", lh, "15 2 * * *", time.Date(2026, 10, 3, 12, 0, 0, 0, lh),
			[]string{"2026-10-04 02:30 +11", "2026-10-05 02:15 +11"}},
		{"Lord Howe gap: 02:30 exists", lh, "30 2 * * *", time.Date(2026, 10, 3, 12, 0, 0, 0, lh),
			[]string{"2026-10-04 02:30 +11", "2026-10-05 02:30 +11"}},
		{"Lord Howe gap: hourly skips 02:00", lh, "0 * * * *", time.Date(2026, 10, 4, 0, 30, 0, 0, lh),
			[]string{"2026-10-04 01:00 +1030", "2026-10-04 03:00 +11"}},
		{"Lord Howe gap: every 15 minutes", lh, "*/15 * * * *", time.Date(2026, 10, 4, 1, 40, 0, 0, lh),
			[]string{"2026-10-04 01:45 +1030", "2026-10-04 02:30 +11", "2026-10-04 02:45 +11"}},
		{"Lord Howe overlap: fixed", lh, "45 1 * * *", time.Date(2026, 4, 4, 12, 0, 0, 0, lh),
			[]string{"2026-04-05 01:45 +11", "2026-04-06 01:45 +1030"}},
		{"Lord Howe overlap: 01:15 is not repeated", lh, "15 1 * * *", time.Date(2026, 4, 4, 12, 0, 0, 0, lh),
			[]string{"2026-04-05 01:15 +11", "2026-04-06 01:15 +1030"}},
		{"Lord Howe overlap: every 15 minutes", lh, "*/15 * * * *", time.Date(2026, 4, 5, 1, 10, 0, 0, lh),
			[]string{"2026-04-05 01:15 +11", "2026-04-05 01:30 +11", "2026-04-05 01:45 +11", "2026-04-05 01:30 +1030", "2026-04-05 01:45 +1030", "2026-04-05 02:00 +1030"}},
		{"Lord Howe overlap: hourly", lh, "0 * * * *", time.Date(2026, 4, 5, 0, 30, 0, 0, lh),
			[]string{"2026-04-05 01:00 +11", "2026-04-05 02:00 +1030"}},
	} {
		if got := fires(t, tc.expr, tc.after, tc.loc, len(tc.want)); !equal(got, tc.want) {
			t.Errorf("%s: %q after %v:\n got %v\nwant %v", tc.name, tc.expr, tc.after, got, tc.want)
		}
	}
}

// TestNextDSTReference compares Next with a minute-by-minute walk through real time that
// applies the package doc's rules literally, around every transition of several zones.
func TestNextDSTReference(t *testing.T) {
	exprs := []string{
		"* * * * *", "*/15 * * * *", "*/7 * * * *", "0 * * * *", "30 * * * *", "45 * * * *",
		"0 */2 * * *", "30 2 * * *", "0 2 * * *", "15 2 * * *", "30 1 * * *", "59 1 * * *",
		"0 1 * * *", "0,30 1-3 * * *", "*/30 1 * * *", "*/15 2 * * *", "0 0 * * *", "0 3 * * *",
		"5 4 * * 0", "0 1 1 * 0", "*/20 0-3 * * *",
	}
	for _, name := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo", "America/Santiago", "Pacific/Chatham"} {
		loc := mustLoad(t, name)
		var starts []time.Time
		// Every transition in 2025-2026 (from the zone's table) and in 2040-2041 (from its TZ
		// footer rule, including golang/go#81583's leap-year bounds).
		for sec := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); sec < time.Date(2042, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); {
			if sec > time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Unix() && sec < time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix() {
				sec = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
			}
			p := periodAt(sec, loc)
			if p.end >= posInf {
				break
			}
			starts = append(starts, time.Unix(p.end, 0).Add(-5*time.Hour))
			sec = p.end
		}
		starts = append(starts, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC))
		for _, expr := range exprs {
			s := mustParse(t, expr)
			for _, from := range starts {
				want := reference(s, from, from.Add(30*time.Hour), loc)
				var got []time.Time
				for after := from; ; {
					next := s.Next(after, loc)
					if next.IsZero() || next.After(from.Add(30*time.Hour)) {
						break
					}
					if !next.After(after) {
						t.Fatalf("%s %q: Next(%v) = %v", name, expr, after, next)
					}
					got = append(got, next)
					after = next
				}
				if !sameTimes(got, want) {
					t.Errorf("%s %q from %v:\n got %v\nwant %v", name, expr, from.In(loc), fmtTimes(got, loc), fmtTimes(want, loc))
				}
				// Starting anywhere between fires gives the same next fire.
				for after := from; after.Before(from.Add(30 * time.Hour)); after = after.Add(7 * time.Minute) {
					next := s.Next(after, loc)
					var w time.Time
					for _, f := range want {
						if f.After(after) {
							w = f
							break
						}
					}
					if !w.IsZero() && !next.Equal(w) {
						t.Fatalf("%s %q: Next(%v) = %v, want %v", name, expr, after.In(loc), next.In(loc), w.In(loc))
					}
				}
			}
		}
	}
}

// reference lists the fires in (from, to] by walking real minutes: an interval schedule fires
// whenever the wall clock matches; a fixed-time schedule fires when the wall clock matches for
// the first time, or at the first minute after a gap that swallowed a matching wall time.
func reference(s *Schedule, from, to time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	t := from.Add(-48 * time.Hour).Truncate(time.Minute)
	wall := func(t time.Time) int64 { _, off := t.In(loc).Zone(); return t.Unix() + int64(off) }
	matches := func(w int64) bool { return s.matches(time.Unix(w, 0).UTC()) }
	prev := wall(t)
	maxSeen := prev
	for t = t.Add(time.Minute); !t.After(to); t = t.Add(time.Minute) {
		w := wall(t)
		fire := false
		if s.Interval() {
			fire = matches(w)
		} else {
			for g := prev + 60; g < w && !fire; g += 60 {
				fire = g > maxSeen && matches(g)
			}
			fire = fire || w > maxSeen && matches(w)
		}
		prev, maxSeen = w, max(maxSeen, w)
		if fire && t.After(from) {
			out = append(out, t)
		}
	}
	return out
}

func sameTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func fmtTimes(ts []time.Time, loc *time.Location) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.In(loc).Format(layout))
	}
	return out
}
