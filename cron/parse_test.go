package cron

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"* * * * *", "* * * * *"},
		{"  0   9\t* *  1-5 ", "0 9 * * 1-5"},
		{"*/15 * * * *", "*/15 * * * *"},
		{"0/15 * * * *", "0,15,30,45 * * * *"},
		{"5/20 * * * *", "5,25,45 * * * *"},
		{"10-40/10 * * * *", "10,20,30,40 * * * *"},
		{"0 0-23/6 * * *", "0 0,6,12,18 * * *"},
		{"0 */6 * * *", "0 */6 * * *"},
		{"1,2,3,5,6,7 * * * *", "1-3,5-7 * * * *"},
		{"59,0,30 * * * *", "0,30,59 * * * *"},
		{"0 0 1 jan *", "0 0 1 1 *"},
		{"0 0 1 JAN-Mar,dec *", "0 0 1 1-3,12 *"},
		{"0 0 * * MON-FRI", "0 0 * * 1-5"},
		{"0 0 * * sun", "0 0 * * 0"},
		{"0 0 * * 7", "0 0 * * 0"},
		{"0 0 * * 5-7", "0 0 * * 0,5,6"},
		{"0 0 * * 0-7", "0 0 * * 0-6"},
		{"0 0 * * 7/2", "0 0 * * 0"},
		{"0 0 ? * MON", "0 0 * * 1"},
		{"0 0 1 * ?", "0 0 1 * *"},
		{"0 0 1-31 * 1", "0 0 1-31 * 1"}, // restricted (does not begin with *): the OR rule applies
		{"0 0 */2 * *", "0 0 */2 * *"},
		{"0 0 */31 * *", "0 0 */31 * *"},
		{"0 0 *,15 * *", "0 0 * * *"},
		{"0 0 */10,15 * *", "0 0 */31,11,15,21,31 * *"},
		{"*/60 * * * *", "*/60 * * * *"},
		{"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
		{"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"},
		{"@DAILY", "0 0 * * *"},
		{"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"},
		{"00 09 01 01 00", "0 9 1 1 0"},
	} {
		s, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := s.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		again, err := Parse(s.String())
		if err != nil || *again != *s {
			t.Errorf("Parse(%q) does not round-trip: %v", s.String(), err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		field string
		pos   int
		msg   string
	}{
		{"", "", 0, `cron "": empty expression`},
		{"   ", "", 0, "empty expression"},
		{"0 25 * * *", FieldHour, 2, `cron "0 25 * * *": hour: 25 is out of range 0-23`},
		{"60 * * * *", FieldMinute, 0, "minute: 60 is out of range 0-59"},
		{"* * 0 * *", FieldDayOfMonth, 4, "day-of-month: 0 is out of range 1-31"},
		{"* * 32 * *", FieldDayOfMonth, 4, "32 is out of range 1-31"},
		{"* * * 13 *", FieldMonth, 6, "month: 13 is out of range 1-12"},
		{"* * * * 8", FieldDayOfWeek, 8, "day-of-week: 8 is out of range 0-7"},
		{"* * * * *", "", 0, ""}, // valid: checked below not to error
		{"* * * *", "", 7, "4 fields, want 5"},
		{"0 * * * * *", "", 10, "seconds (Quartz) and years (AWS) are not supported"},
		{"0 0 12 * * ? 2026", "", 11, "7 fields"},
		{"@reboot", "", 0, `unknown macro "@reboot"`},
		{"@daily 5", "", 7, "a macro stands alone"},
		{"*/0 * * * *", FieldMinute, 2, "step 0 must be at least 1"},
		{"*/90 * * * *", FieldMinute, 2, "step 90 is larger than the field's range 0-59"},
		{"*/x * * * *", FieldMinute, 2, `step "x" is not a number`},
		{"1-2/ * * * *", FieldMinute, 4, `step "" is not a number`},
		{"0 9-5 * * *", FieldHour, 2, "range 9-5 is backwards"},
		{"0 0 * * FRI-MON", FieldDayOfWeek, 8, "range FRI-MON is backwards"},
		{"0 0 * FOO *", FieldMonth, 6, `"FOO" is neither a number nor a name (JAN-DEC)`},
		{"0 0 * * funday", FieldDayOfWeek, 8, `"funday" is neither a number nor a name (SUN-SAT)`},
		{"0 0 MON * *", FieldDayOfMonth, 4, `"MON" is not a number`},
		{"0 0 * * 1,,2", FieldDayOfWeek, 10, "empty list element"},
		{"0 0 * * 1,", FieldDayOfWeek, 10, "empty list element"},
		{"? * * * *", FieldMinute, 0, "? is only allowed in day-of-month and day-of-week"},
		{"0 0 ?/2 * *", FieldDayOfMonth, 4, "? must stand alone"},
		{"0 0 1-? * *", FieldDayOfMonth, 4, "? must stand alone"},
		{"0 0 1- * *", FieldDayOfMonth, 6, "missing value"},
		{"0 0 -1 * *", FieldDayOfMonth, 4, "missing value"},
		{"0 0 1 1-2-3 *", FieldMonth, 8, `"2-3" is neither`},
		{"0 99999999999999999999 * * *", FieldHour, 2, "99999999999999999999 is out of range 0-23"},
		{"0 0 1,5-40 * *", FieldDayOfMonth, 8, "40 is out of range 1-31"},
	} {
		_, err := Parse(tc.in)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("Parse(%q): %v", tc.in, err)
			}
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want a *ParseError", tc.in, err)
			continue
		}
		if pe.Field != tc.field || pe.Pos != tc.pos || !strings.Contains(pe.Error(), tc.msg) {
			t.Errorf("Parse(%q) = %q (field %q, pos %d), want field %q, pos %d, containing %q",
				tc.in, pe.Error(), pe.Field, pe.Pos, tc.field, tc.pos, tc.msg)
		}
	}
}

func TestInterval(t *testing.T) {
	for expr, want := range map[string]bool{
		"*/15 * * * *": true, "0 * * * *": true, "* 9 * * *": true, "0 */2 * * *": true,
		"@hourly": true, "30 2 * * *": false, "0 9,17 * * 1-5": false, "@daily": false,
		"0-59 0-23 * * *": false,
	} {
		if got := mustParse(t, expr).Interval(); got != want {
			t.Errorf("Parse(%q).Interval() = %v, want %v", expr, got, want)
		}
	}
}

func mustParse(t testing.TB, expr string) *Schedule {
	t.Helper()
	s, err := Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
