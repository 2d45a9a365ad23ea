package cron

import (
	"errors"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"* * * * *", "*/15 * * * *", "0 9 * * MON-FRI", "30 2 * * *", "0 0 29 2 *", "0 0 30 2 *",
		"0 0 13 * 5", "0 0 */2 * 1", "0 0 ? * mon", "5/20 1-23/3 1,15,31 jan-mar,dec 5-7",
		"@yearly", "@hourly", "@reboot", "0 25 * * *", "*/0 * * * *", "0 0 * * FRI-MON",
		"0 * * * * *", "", " \t", "1-2/ * * * *", "0 0 1,,2 * *", "*,? * * * *",
	} {
		f.Add(seed, int64(1772931600), uint8(0))
	}
	zones := []*time.Location{time.UTC}
	for _, name := range []string{"America/New_York", "Australia/Lord_Howe", "Europe/London", "Asia/Tokyo"} {
		zones = append(zones, mustLoad(f, name))
	}
	known := map[string]bool{"": true, FieldMinute: true, FieldHour: true, FieldDayOfMonth: true, FieldMonth: true, FieldDayOfWeek: true}
	const base, span = -2208988800, 300 * 365 * 86400 // 1900 onwards, 300 years
	f.Fuzz(func(t *testing.T, expr string, afterSec int64, zone uint8) {
		s, err := Parse(expr)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || s != nil {
				t.Fatalf("Parse(%q) = %v, %v", expr, s, err)
			}
			if pe.Pos < 0 || pe.Pos > len(expr) || !known[pe.Field] || pe.Msg == "" || pe.Expr != expr {
				t.Fatalf("Parse(%q): bad error %#v", expr, pe)
			}
			return
		}
		canon := s.String()
		again, err := Parse(canon)
		if err != nil || *again != *s || again.String() != canon {
			t.Fatalf("Parse(%q).String() = %q does not round-trip: %v", expr, canon, err)
		}
		loc := zones[int(zone)%len(zones)]
		if afterSec < 0 {
			afterSec = -(afterSec + 1)
		}
		after := time.Unix(base+afterSec%span, 0)
		next := s.Next(after, loc)
		if next.IsZero() {
			return
		}
		if !next.After(after) {
			t.Fatalf("%q: Next(%v) = %v", expr, after, next)
		}
		// A fire's wall time matches, except a fixed-time fire at the end of a gap.
		gapEnd := !s.Interval() && periodAt(next.Unix(), loc).start == next.Unix()
		if !s.matches(next.In(loc)) && !gapEnd {
			t.Fatalf("%q: Next(%v) = %v does not match", expr, after, next.In(loc))
		}
		if n2 := s.Next(next, loc); !n2.IsZero() && !n2.After(next) {
			t.Fatalf("%q: Next(%v) = %v", expr, next, n2)
		}
	})
}

func BenchmarkNext(b *testing.B) {
	ny := mustLoad(b, "America/New_York")
	tokyo := mustLoad(b, "Asia/Tokyo")
	for _, bc := range []struct {
		name string
		expr string
		loc  *time.Location
	}{
		{"every-minute/UTC", "* * * * *", time.UTC},
		{"every-15m/New_York", "*/15 * * * *", ny},
		{"daily-02:30/New_York", "30 2 * * *", ny},
		{"weekdays-09:00/Tokyo", "0 9 * * MON-FRI", tokyo},
		{"13th-or-friday/UTC", "0 0 13 * 5", time.UTC},
		{"feb-29/New_York", "0 0 29 2 *", ny},
	} {
		s := mustParse(b, bc.expr)
		b.Run(bc.name, func(b *testing.B) {
			// Walk 2026-2030 over and over: far-future years take Go's slower TZ-rule path.
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			end := start.AddDate(5, 0, 0)
			after := start
			for b.Loop() {
				if after = s.Next(after, bc.loc); after.After(end) {
					after = start
				}
			}
		})
	}
	b.Run("never", func(b *testing.B) {
		s := mustParse(b, "0 0 30 2 *")
		for b.Loop() {
			s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ny)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("5/20 1-23/3 1,15,31 jan-mar,dec MON-FRI"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDue(b *testing.B) {
	p, err := Compile(Spec{
		Expressions:    []Expr{{Cron: "*/5 * * * *", TimeZone: "America/New_York"}, {Cron: "0 9 * * *", TimeZone: "Asia/Tokyo"}},
		SuspendWindows: []Window{{Cron: "0 22 * * *", Duration: 0}},
		CatchUp:        CatchUpPolicy{Mode: CatchUpLatest},
	})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Run("tick", func(b *testing.B) {
		for b.Loop() {
			p.Due(now.Add(-time.Minute), now)
		}
	})
	b.Run("after-a-day-down", func(b *testing.B) {
		for b.Loop() {
			p.Due(now.Add(-24*time.Hour), now)
		}
	})
}
