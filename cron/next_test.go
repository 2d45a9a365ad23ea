package cron

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

const layout = "2006-01-02 15:04 MST"

// fires returns the first n fire times after `after` as "2006-01-02 15:04 MST" in loc.
func fires(t testing.TB, expr string, after time.Time, loc *time.Location, n int) []string {
	t.Helper()
	s := mustParse(t, expr)
	var out []string
	for i := 0; i < n; i++ {
		next := s.Next(after, loc)
		if next.IsZero() {
			out = append(out, "never")
			break
		}
		if !next.After(after) {
			t.Fatalf("%q: Next(%v) = %v, not after", expr, after, next)
		}
		out = append(out, next.Format(layout))
		after = next
	}
	return out
}

func equal(a, b []string) bool {
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

func TestNextUTC(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		after string
		want  []string
	}{
		{"* * * * *", "2026-01-01 00:00", []string{"2026-01-01 00:01 UTC", "2026-01-01 00:02 UTC"}},
		{"*/15 * * * *", "2026-12-31 23:50", []string{"2027-01-01 00:00 UTC", "2027-01-01 00:15 UTC"}},
		{"0 9 * * 1-5", "2026-03-06 10:00", []string{"2026-03-09 09:00 UTC", "2026-03-10 09:00 UTC"}}, // Fri -> Mon
		{"30 2 * * *", "2026-05-01 02:30", []string{"2026-05-02 02:30 UTC"}},                          // strictly after
		{"0 0 1 * *", "2026-01-31 12:00", []string{"2026-02-01 00:00 UTC", "2026-03-01 00:00 UTC"}},
		// 31 in short months is skipped.
		{"0 0 31 * *", "2026-01-31 00:00", []string{"2026-03-31 00:00 UTC", "2026-05-31 00:00 UTC", "2026-07-31 00:00 UTC", "2026-08-31 00:00 UTC"}},
		// Feb 29: leap years only; 2100 is not one.
		{"0 0 29 2 *", "2024-03-01 00:00", []string{"2028-02-29 00:00 UTC", "2032-02-29 00:00 UTC"}},
		{"0 0 29 2 *", "2096-03-01 00:00", []string{"2104-02-29 00:00 UTC"}},
		{"0 0 29 2 *", "2399-01-01 00:00", []string{"2400-02-29 00:00 UTC"}},
		// Never fires.
		{"0 0 30 2 *", "2026-01-01 00:00", []string{"never"}},
		{"0 0 31 4,6,9,11 *", "2026-01-01 00:00", []string{"never"}},
		// Vixie OR: the 13th, or any Friday.
		{"0 0 13 * 5", "2026-02-01 00:00", []string{"2026-02-06 00:00 UTC", "2026-02-13 00:00 UTC", "2026-02-20 00:00 UTC", "2026-02-27 00:00 UTC", "2026-03-06 00:00 UTC", "2026-03-13 00:00 UTC"}},
		// AND when one day field begins with '*': odd days that are Mondays.
		{"0 0 */2 * 1", "2026-02-01 00:00", []string{"2026-02-09 00:00 UTC", "2026-02-23 00:00 UTC", "2026-03-09 00:00 UTC"}},
		{"0 0 ? * MON", "2026-02-01 00:00", []string{"2026-02-02 00:00 UTC", "2026-02-09 00:00 UTC"}},
		{"0 0 1 * ?", "2026-02-01 00:00", []string{"2026-03-01 00:00 UTC"}},
		// A day that is both the 1st and a Monday fires once.
		{"0 0 1 * 1", "2026-05-31 00:00", []string{"2026-06-01 00:00 UTC", "2026-06-08 00:00 UTC"}},
		// Feb 29 on a Monday, AND rule: 2016, 2044, 2072, then 2112 (2100 is not a leap year).
		{"0 0 */28 2 1", "2073-01-01 00:00", []string{"2077-02-01 00:00 UTC"}},
		{"0 0 29 2 *", "2073-01-01 00:00", []string{"2076-02-29 00:00 UTC"}},
		{"@yearly", "2026-06-15 08:00", []string{"2027-01-01 00:00 UTC", "2028-01-01 00:00 UTC"}},
		{"@weekly", "2026-06-15 08:00", []string{"2026-06-21 00:00 UTC"}},
		{"59 23 31 12 *", "2026-12-31 23:59", []string{"2027-12-31 23:59 UTC"}},
		{"0 12 * * 0", "1969-12-31 00:00", []string{"1970-01-04 12:00 UTC"}}, // before the epoch
		{"0 0 1 1 *", "1600-06-01 00:00", []string{"1601-01-01 00:00 UTC"}},
	} {
		after, err := time.Parse("2006-01-02 15:04", tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if got := fires(t, tc.expr, after, time.UTC, len(tc.want)); !equal(got, tc.want) {
			t.Errorf("%q after %s:\n got %v\nwant %v", tc.expr, tc.after, got, tc.want)
		}
	}
}

func TestNextStrictlyAfterWithSeconds(t *testing.T) {
	s := mustParse(t, "* * * * *")
	for _, after := range []string{"2026-01-01T00:00:00Z", "2026-01-01T00:00:59.999999999Z", "2026-01-01T00:00:00.5Z"} {
		a, _ := time.Parse(time.RFC3339Nano, after)
		if got := s.Next(a, nil); !got.Equal(time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)) {
			t.Errorf("Next(%s) = %v", after, got)
		}
	}
	a := time.Date(2026, 1, 1, 0, 0, 59, 999999999, time.UTC).Add(time.Nanosecond)
	if got := s.Next(a, nil); !got.Equal(time.Date(2026, 1, 1, 0, 2, 0, 0, time.UTC)) {
		t.Errorf("Next(00:01:00) = %v", got)
	}
}

func TestNextTokyo(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	after := time.Date(2026, 3, 7, 23, 0, 0, 0, time.UTC) // 08:00 JST on Sunday March 8
	want := []string{"2026-03-08 09:00 JST", "2026-03-09 09:00 JST"}
	if got := fires(t, "0 9 * * *", after, tokyo, 2); !equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// The result is in loc, and the same instant as 00:00 UTC.
	got := mustParse(t, "0 9 * * *").Next(after, tokyo)
	if got.Location() != tokyo || !got.Equal(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Next = %v", got)
	}
	// Every 15 minutes is every 15 real minutes all year.
	s := mustParse(t, "*/15 * * * *")
	prev := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, tokyo), tokyo)
	for i := 0; i < 35040; i++ {
		next := s.Next(prev, tokyo)
		if next.Sub(prev) != 15*time.Minute {
			t.Fatalf("%v -> %v", prev, next)
		}
		prev = next
	}
}

// TestNextMatchesBruteForce checks the calendar arithmetic against a minute-by-minute scan
// in UTC, for random schedules.
func TestNextMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	field := func(lo, hi int, names bool) string {
		switch r.IntN(6) {
		case 0:
			return "*"
		case 1:
			return "*/" + itoa(1+r.IntN(hi-lo+1))
		case 2:
			a := lo + r.IntN(hi-lo+1)
			b := a + r.IntN(hi-a+1)
			return itoa(a) + "-" + itoa(b) + "/" + itoa(1+r.IntN(3))
		default:
			s := itoa(lo + r.IntN(hi-lo+1))
			for r.IntN(2) == 0 {
				s += "," + itoa(lo+r.IntN(hi-lo+1))
			}
			return s
		}
	}
	for i := 0; i < 200; i++ {
		expr := field(0, 59, false) + " " + field(0, 23, false) + " " + field(1, 31, false) + " " +
			field(1, 12, true) + " " + field(0, 6, true)
		s, err := Parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		after := time.Date(2020+r.IntN(10), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 0, 0, time.UTC)
		got := s.Next(after, time.UTC)
		want := time.Time{}
		for m := after.Add(time.Minute); m.Before(after.AddDate(0, 0, 60)); m = m.Add(time.Minute) {
			if s.matches(m) {
				want = m
				break
			}
		}
		if !want.IsZero() && !got.Equal(want) || want.IsZero() && !got.IsZero() && got.Before(after.AddDate(0, 0, 60)) {
			t.Errorf("%q after %v: got %v, want %v", expr, after, got, want)
		}
	}
}

// matches is the reference definition: the wall time t (in its own location) matches.
func (s *Schedule) matches(t time.Time) bool {
	return s.minute&(1<<uint(t.Minute())) != 0 && s.hour&(1<<uint(t.Hour())) != 0 &&
		s.month&(1<<uint(t.Month())) != 0 && s.dayMatches(t.Day(), int(t.Weekday()))
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCivil(t *testing.T) {
	for days := int64(-800000); days < 800000; days += 37 {
		y, m, d := civil(days)
		tm := time.Unix(days*secondsPerDay, 0).UTC()
		if int64(tm.Year()) != y || int(tm.Month()) != m || tm.Day() != d || int(tm.Weekday()) != weekday(days) {
			t.Fatalf("civil(%d) = %d-%d-%d (wd %d), want %v", days, y, m, d, weekday(days), tm)
		}
	}
}

func TestNextFarFuture(t *testing.T) {
	s := mustParse(t, "0 0 1 1 *")
	got := s.Next(time.Date(9999, 6, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	if !got.Equal(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %v", got)
	}
	if got := s.Next(time.Unix(1<<62, 0), time.UTC); !got.IsZero() {
		t.Errorf("beyond the supported range: got %v", got)
	}
}

// golang/go#81583: ZoneBounds misreports the last period of a leap year after a zone's last
// explicit transition; Next must still move on.
func TestNextAcrossFooterRuleLeapYear(t *testing.T) {
	for _, name := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe"} {
		loc := mustLoad(t, name)
		for _, expr := range []string{"30 2 * * *", "0 * * * *", "0 0 1 1 *"} {
			s := mustParse(t, expr)
			after := time.Date(2040, 12, 29, 0, 0, 0, 0, time.UTC)
			for i := 0; i < 60; i++ {
				next := s.Next(after, loc)
				if !next.After(after) || next.Sub(after) > 366*24*time.Hour {
					t.Fatalf("%s %q: Next(%v) = %v", name, expr, after, next)
				}
				after = next
			}
		}
		for sec := time.Date(2040, 12, 30, 0, 0, 0, 0, time.UTC).Unix(); sec < time.Date(2041, 1, 2, 0, 0, 0, 0, time.UTC).Unix(); sec += 1800 {
			if p := periodAt(sec, loc); p.start > sec || p.end <= sec {
				t.Fatalf("%s: periodAt(%v) = [%v, %v)", name, time.Unix(sec, 0).UTC(), time.Unix(p.start, 0).UTC(), time.Unix(p.end, 0).UTC())
			}
		}
	}
}
