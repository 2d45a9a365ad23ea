package awsfake

import "testing"

func TestParseFilterPattern(t *testing.T) {
	msg := `{"Type":"Task","TaskId":"abc","CpuUtilized":12.5}`
	for _, tt := range []struct {
		pattern string
		match   bool
	}{
		{"", true},
		{`{ $.Type = "Task" }`, true},
		{`{ $.Type = "Container" }`, false},
		{`{ $.Type = "Task" && ($.TaskId = "x" || $.TaskId = "abc") }`, true},
		{`{ $.Type = "Task" && ($.TaskId = "x" || $.TaskId = "y") }`, false},
		{`{ $.Type != "Task" || $.CpuUtilized = 12.5 }`, true},
		{`{ ($.Type = "Task") && $.CpuUtilized = 3 }`, false},
	} {
		match, err := parseFilterPattern(tt.pattern)
		if err != nil {
			t.Errorf("%q: %v", tt.pattern, err)
			continue
		}
		if got := match(msg); got != tt.match {
			t.Errorf("%q on %s = %v, want %v", tt.pattern, msg, got, tt.match)
		}
		if tt.pattern != "" && match("not json") {
			t.Errorf("%q matched a message that is not JSON", tt.pattern)
		}
	}
	for _, bad := range []string{`ERROR`, `{ $.Type = }`, `{ $.Type > 3 }`, `{ $.a.b = "x" }`, `{ ($.Type = "x" }`, `{ $.Type = "x`} {
		if _, err := parseFilterPattern(bad); err == nil {
			t.Errorf("%q was accepted: a pattern the fake does not model must be refused", bad)
		}
	}
}
