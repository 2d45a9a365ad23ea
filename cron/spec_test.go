package cron

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

func TestValidatePaths(t *testing.T) {
	ok := Spec{
		Expressions:    []Expr{{Cron: "0 9 * * MON-FRI", TimeZone: "Asia/Tokyo"}, {Cron: "@daily"}},
		SuspendWindows: []Window{{Cron: "0 22 * * *", Duration: hashike.Duration(8 * time.Hour), TimeZone: "UTC"}},
		Overlap:        OverlapQueueOne,
		CatchUp:        CatchUpPolicy{Mode: CatchUpAll, Max: 3, Grace: hashike.Duration(2 * time.Minute)},
	}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid spec: %v", errs)
	}
	if errs := (&Spec{}).Validate(); len(errs) != 0 {
		t.Fatalf("empty spec: %v", errs)
	}
	bad := Spec{
		Expressions: []Expr{
			{Cron: "0 9 * * *", TimeZone: "Mars/Olympus_Mons"},
			{Cron: "0 25 * * *"},
			{Cron: "0 0 * *", TimeZone: "Local"},
		},
		SuspendWindows: []Window{{Cron: "* * * * FUNDAY", Duration: hashike.Duration(-time.Hour)}},
		Overlap:        "sometimes",
		CatchUp:        CatchUpPolicy{Mode: "most", Max: -1, Grace: hashike.Duration(-time.Second)},
	}
	got := map[string]string{}
	for _, e := range bad.Validate() {
		if e.Severity != hashike.SeverityError {
			t.Errorf("%s: severity %q", e.Path, e.Severity)
		}
		got[e.Path] = e.Message
	}
	for path, msg := range map[string]string{
		"expressions[0].timeZone":    `unknown time zone "Mars/Olympus_Mons"`,
		"expressions[1].cron":        "hour: 25 is out of range 0-23",
		"expressions[2].cron":        "4 fields, want 5",
		"expressions[2].timeZone":    `"Local" is not allowed`,
		"suspendWindows[0].cron":     `day-of-week: "FUNDAY" is neither a number nor a name (SUN-SAT)`,
		"suspendWindows[0].duration": "-1h0m0s is negative",
		"overlap":                    `unknown policy "sometimes"`,
		"catchUp.mode":               `unknown mode "most"`,
		"catchUp.max":                "-1 is out of range 0-10000",
		"catchUp.grace":              "-1s is negative",
	} {
		if !strings.Contains(got[path], msg) {
			t.Errorf("%s: got %q, want %q", path, got[path], msg)
		}
		delete(got, path)
	}
	for path, msg := range got {
		t.Errorf("unexpected %s: %s", path, msg)
	}
	_, err := Compile(bad)
	var he *hashike.Error
	if !errors.As(err, &he) || he.Code != hashike.EInvalid || len(he.Fields) != 10 {
		t.Errorf("Compile: %v", err)
	}
	if _, err := NextFires(bad, utc("2026-01-05 06:00:00"), 5); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("NextFires: %v", err)
	}
	if _, err := Due(bad, time.Time{}, utc("2026-01-05 06:00:00")); hashike.ErrorCodeOf(err) != hashike.EInvalid {
		t.Errorf("Due: %v", err)
	}
}

func mustCompile(t *testing.T, s Spec) *Plan {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

// fireList renders fires as "15:04 expr" (with "missed" when missed), in UTC.
func fireList(fs []Fire) string {
	var b []string
	for _, f := range fs {
		s := f.At.UTC().Format("01-02 15:04") + " #" + string(rune('0'+f.Expr))
		if f.Missed {
			s += " missed"
		}
		b = append(b, s)
	}
	return strings.Join(b, ", ")
}

func TestNextFiresMergesZones(t *testing.T) {
	p := mustCompile(t, Spec{Expressions: []Expr{
		{Cron: "0 9 * * *", TimeZone: "Asia/Tokyo"}, // 00:00 UTC
		{Cron: "0 0,12 * * *"},                      // UTC
		{Cron: "30 7 * * *", TimeZone: "America/New_York"},
	}})
	got := p.NextFires(utc("2026-01-05 06:00:00"), 5)
	want := "01-05 12:00 #1, 01-05 12:30 #2, 01-06 00:00 #0, 01-06 12:00 #1, 01-06 12:30 #2"
	if fireList(got) != want {
		t.Errorf("got  %s\nwant %s", fireList(got), want)
	}
	if got[0].At.Location().String() != "UTC" || got[1].At.Location().String() != "America/New_York" ||
		got[2].At.Location().String() != "Asia/Tokyo" {
		t.Errorf("fires are not in their expression's zone: %v", got)
	}
	if p.NextFires(utc("2026-01-05 06:00:00"), 0) != nil {
		t.Error("n = 0 returns fires")
	}
}

func TestSuspendWindows(t *testing.T) {
	after := utc("2026-01-05 20:30:00")
	hourly := []Expr{{Cron: "0 * * * *"}}
	for _, tc := range []struct {
		name    string
		windows []Window
		want    string
	}{
		{"none", nil, "01-05 21:00 #0, 01-05 22:00 #0, 01-05 23:00 #0"},
		{"cron + duration across midnight",
			[]Window{{Cron: "0 22 * * *", Duration: hashike.Duration(8 * time.Hour)}},
			"01-05 21:00 #0, 01-06 06:00 #0, 01-06 07:00 #0"},
		{"kuroko2 style: the suspended minutes",
			[]Window{{Cron: "* 22-23,0-5 * * *"}},
			"01-05 21:00 #0, 01-06 06:00 #0, 01-06 07:00 #0"},
		{"window in another zone (22:00-06:00 JST = 13:00-21:00 UTC)",
			[]Window{{Cron: "0 22 * * *", Duration: hashike.Duration(8 * time.Hour), TimeZone: "Asia/Tokyo"}},
			"01-05 21:00 #0, 01-05 22:00 #0, 01-05 23:00 #0"},
		{"two overlapping windows",
			[]Window{{Cron: "0 21 * * *", Duration: hashike.Duration(2 * time.Hour)}, {Cron: "0 22 * * *", Duration: hashike.Duration(3 * time.Hour)}},
			"01-06 01:00 #0, 01-06 02:00 #0, 01-06 03:00 #0"},
		{"weekends (Saturday 00:00 for 48h)",
			[]Window{{Cron: "0 0 * * SAT", Duration: hashike.Duration(48 * time.Hour)}},
			"01-05 21:00 #0, 01-05 22:00 #0, 01-05 23:00 #0"},
	} {
		p := mustCompile(t, Spec{Expressions: hourly, SuspendWindows: tc.windows})
		if got := fireList(p.NextFires(after, 3)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	weekend := mustCompile(t, Spec{Expressions: []Expr{{Cron: "0 12 * * *"}},
		SuspendWindows: []Window{{Cron: "0 0 * * SAT", Duration: hashike.Duration(48 * time.Hour)}}})
	if got, want := fireList(weekend.NextFires(utc("2026-01-09 13:00:00"), 2)), "01-12 12:00 #0, 01-13 12:00 #0"; got != want {
		t.Errorf("weekend: got %s, want %s", got, want)
	}
}

func TestNextFiresEverythingSuspended(t *testing.T) {
	p := mustCompile(t, Spec{Expressions: []Expr{{Cron: "* * * * *"}},
		SuspendWindows: []Window{{Cron: "* * * * *"}}})
	if got := p.NextFires(utc("2026-01-05 20:30:00"), 5); len(got) != 0 {
		t.Errorf("got %v", got)
	}
	p = mustCompile(t, Spec{Expressions: []Expr{{Cron: "* * * * *"}}, Suspended: true})
	if got := p.NextFires(utc("2026-01-05 20:30:00"), 5); got != nil {
		t.Errorf("suspended: got %v", got)
	}
	if got := p.Due(utc("2026-01-05 20:30:00"), utc("2026-01-05 20:31:00")); got != nil {
		t.Errorf("suspended: Due = %v", got)
	}
	never := mustCompile(t, Spec{Expressions: []Expr{{Cron: "0 0 30 2 *"}}})
	if got := never.NextFires(utc("2026-01-05 20:30:00"), 5); len(got) != 0 {
		t.Errorf("never: got %v", got)
	}
}

func TestDue(t *testing.T) {
	hourly := []Expr{{Cron: "0 * * * *"}}
	for _, tc := range []struct {
		name          string
		catchUp       CatchUpPolicy
		windows       []Window
		lastTick, now string
		want          string
	}{
		{"a regular tick", CatchUpPolicy{}, nil, "2026-01-05 13:59:00", "2026-01-05 14:00:00", "01-05 14:00 #0"},
		{"a regular tick, a little late", CatchUpPolicy{}, nil, "2026-01-05 13:59:30", "2026-01-05 14:00:45", "01-05 14:00 #0"},
		{"nothing due", CatchUpPolicy{}, nil, "2026-01-05 14:00:00", "2026-01-05 14:01:00", ""},
		{"the fire at lastTick was handled", CatchUpPolicy{}, nil, "2026-01-05 14:00:00", "2026-01-05 14:00:30", ""},
		{"exactly grace late is on time", CatchUpPolicy{}, nil, "2026-01-05 13:59:00", "2026-01-05 14:01:00", "01-05 14:00 #0"},
		{"more than grace late is missed", CatchUpPolicy{}, nil, "2026-01-05 13:59:00", "2026-01-05 14:01:01", ""},
		{"a longer grace", CatchUpPolicy{Grace: hashike.Duration(5 * time.Minute)}, nil, "2026-01-05 13:59:00", "2026-01-05 14:04:00", "01-05 14:00 #0"},
		{"downtime, none", CatchUpPolicy{}, nil, "2026-01-05 10:00:00", "2026-01-05 13:30:20", ""},
		{"downtime, latest", CatchUpPolicy{Mode: CatchUpLatest}, nil, "2026-01-05 10:00:00", "2026-01-05 13:30:20", "01-05 13:00 #0 missed"},
		{"downtime, all", CatchUpPolicy{Mode: CatchUpAll}, nil, "2026-01-05 10:00:00", "2026-01-05 13:30:20",
			"01-05 11:00 #0 missed, 01-05 12:00 #0 missed, 01-05 13:00 #0 missed"},
		{"downtime, all, max 2", CatchUpPolicy{Mode: CatchUpAll, Max: 2}, nil, "2026-01-05 10:00:00", "2026-01-05 13:30:20",
			"01-05 12:00 #0 missed, 01-05 13:00 #0 missed"},
		{"downtime ending on time, none", CatchUpPolicy{}, nil, "2026-01-05 10:00:00", "2026-01-05 14:00:30", "01-05 14:00 #0"},
		{"downtime ending on time, latest: the on-time fire supersedes", CatchUpPolicy{Mode: CatchUpLatest}, nil,
			"2026-01-05 10:00:00", "2026-01-05 14:00:30", "01-05 14:00 #0"},
		{"downtime ending on time, all", CatchUpPolicy{Mode: CatchUpAll}, nil, "2026-01-05 10:00:00", "2026-01-05 14:00:30",
			"01-05 11:00 #0 missed, 01-05 12:00 #0 missed, 01-05 13:00 #0 missed, 01-05 14:00 #0"},
		{"downtime over a suspend window, all", CatchUpPolicy{Mode: CatchUpAll},
			[]Window{{Cron: "0 11 * * *", Duration: hashike.Duration(90 * time.Minute)}},
			"2026-01-05 10:00:00", "2026-01-05 13:30:20", "01-05 13:00 #0 missed"},
		{"downtime over a suspend window, latest", CatchUpPolicy{Mode: CatchUpLatest},
			[]Window{{Cron: "0 12 * * *", Duration: hashike.Duration(90 * time.Minute)}},
			"2026-01-05 10:00:00", "2026-01-05 13:30:20", "01-05 11:00 #0 missed"},
		{"no history: nothing is missed", CatchUpPolicy{Mode: CatchUpAll}, nil, "", "2026-01-05 14:00:30", "01-05 14:00 #0"},
		{"no history, not on time", CatchUpPolicy{Mode: CatchUpAll}, nil, "", "2026-01-05 14:20:00", ""},
		{"clock went back", CatchUpPolicy{Mode: CatchUpAll}, nil, "2026-01-05 14:00:00", "2026-01-05 13:00:00", ""},
		{"a year down, latest", CatchUpPolicy{Mode: CatchUpLatest}, nil, "2025-01-05 10:00:00", "2026-01-05 13:30:20", "01-05 13:00 #0 missed"},
	} {
		p := mustCompile(t, Spec{Expressions: hourly, SuspendWindows: tc.windows, CatchUp: tc.catchUp})
		var last time.Time
		if tc.lastTick != "" {
			last = utc(tc.lastTick)
		}
		if got := fireList(p.Due(last, utc(tc.now))); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestDueMergesExpressions(t *testing.T) {
	p := mustCompile(t, Spec{Expressions: []Expr{{Cron: "*/30 * * * *"}, {Cron: "0 * * * *"}, {Cron: "0 23 * * *", TimeZone: "Asia/Tokyo"}},
		CatchUp: CatchUpPolicy{Mode: CatchUpAll}})
	got := fireList(p.Due(utc("2026-01-05 13:00:00"), utc("2026-01-05 14:30:00")))
	if want := "01-05 13:30 #0 missed, 01-05 14:00 #0 missed, 01-05 14:30 #0"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// A year of downtime with an every-minute schedule: Due looks back only as far as it needs.
func TestDueLongDowntimeIsCheap(t *testing.T) {
	p := mustCompile(t, Spec{Expressions: []Expr{{Cron: "* * * * *"}}, CatchUp: CatchUpPolicy{Mode: CatchUpAll, Max: 5}})
	got := fireList(p.Due(utc("2025-01-05 10:00:00"), utc("2026-01-05 13:30:20")))
	want := "01-05 13:25 #0 missed, 01-05 13:26 #0 missed, 01-05 13:27 #0 missed, 01-05 13:28 #0 missed, 01-05 13:29 #0 missed, 01-05 13:30 #0"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	allocs := testing.AllocsPerRun(3, func() { p.Due(utc("2025-01-05 10:00:00"), utc("2026-01-05 13:30:20")) })
	if allocs > 500 {
		t.Errorf("%v allocations: Due enumerates the downtime", allocs)
	}
}

func TestDecide(t *testing.T) {
	type in struct {
		policy         OverlapPolicy
		active, queued int
	}
	for c, want := range map[in]Action{
		{OverlapAllow, 0, 0}:          ActionStart,
		{OverlapAllow, 3, 1}:          ActionStart,
		{"", 0, 0}:                    ActionStart,
		{"", 1, 0}:                    ActionSkip,
		{OverlapSkip, 0, 0}:           ActionStart,
		{OverlapSkip, 2, 0}:           ActionSkip,
		{OverlapQueueOne, 0, 0}:       ActionStart,
		{OverlapQueueOne, 1, 0}:       ActionQueue,
		{OverlapQueueOne, 1, 1}:       ActionSkip,
		{OverlapQueueOne, 0, 1}:       ActionSkip,
		{OverlapCancelPrevious, 0, 0}: ActionStart,
		{OverlapCancelPrevious, 2, 0}: ActionCancelPreviousThenStart,
		{OverlapCancelPrevious, 1, 1}: ActionCancelPreviousThenStart,
		{"bogus", 0, 0}:               ActionStart,
		{"bogus", 1, 0}:               ActionSkip,
	} {
		if got := Decide(c.policy, c.active, c.queued); got != want {
			t.Errorf("Decide(%q, %d, %d) = %s, want %s", c.policy, c.active, c.queued, got, want)
		}
	}
}

// InWindow tells a warm runner pool whether its window is open: weekdays 09:00-19:00 in
// Tokyo, whatever zone the instant is given in.
func TestInWindow(t *testing.T) {
	p, err := Compile(Spec{SuspendWindows: []Window{{Cron: "0 9 * * 1-5", Duration: hashike.Duration(10 * time.Hour), TimeZone: "Asia/Tokyo"}}})
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, tc := range []struct {
		at    string
		open  bool
		until string
	}{
		{"2026-12-07 08:59", false, ""},
		{"2026-12-07 09:00", true, "2026-12-07 19:00"},
		{"2026-12-07 18:59", true, "2026-12-07 19:00"},
		{"2026-12-07 19:00", false, ""},
		{"2026-12-06 12:00", false, ""}, // Sunday
	} {
		at, _ := time.ParseInLocation("2006-01-02 15:04", tc.at, tokyo)
		until, open := p.InWindow(at.UTC())
		if open != tc.open || (open && until.In(tokyo).Format("2006-01-02 15:04") != tc.until) {
			t.Errorf("%s: open %v until %v, want %v %s", tc.at, open, until.In(tokyo), tc.open, tc.until)
		}
	}
}
