package cron

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Field names, as they appear in ParseError.Field.
const (
	FieldMinute     = "minute"
	FieldHour       = "hour"
	FieldDayOfMonth = "day-of-month"
	FieldMonth      = "month"
	FieldDayOfWeek  = "day-of-week"
)

// ParseError says which field of a cron expression is wrong and why. Field is empty when the
// expression as a whole is wrong (empty, wrong number of fields, unknown macro). Pos is the
// 0-based byte offset in Expr of the offending token.
type ParseError struct {
	Expr  string
	Field string
	Pos   int
	Msg   string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("cron %q: %s", e.Expr, e.Msg)
	}
	return fmt.Sprintf("cron %q: %s: %s", e.Expr, e.Field, e.Msg)
}

// Schedule is a parsed cron expression. The zero value is not useful; use Parse.
// A Schedule is immutable and safe for concurrent use.
type Schedule struct {
	minute, hour, dom, month, dow uint64 // bit n set: value n matches (dow: 0 = Sunday .. 6)
	// star[i]: field i began with '*' or '?'. For minute and hour it makes the schedule an
	// interval schedule (see the package doc on DST); for the two day fields it selects the
	// Vixie AND/OR rule.
	star [5]bool
	// never: no date can ever match (Feb 30, Apr 31...); Next returns the zero time at once.
	never bool
}

type fieldDef struct {
	name     string
	min, max int // max for '*' and steps; day-of-week also accepts 7 as a value
	names    []string
}

var fieldDefs = [5]fieldDef{
	{FieldMinute, 0, 59, nil},
	{FieldHour, 0, 23, nil},
	{FieldDayOfMonth, 1, 31, nil},
	{FieldMonth, 1, 12, []string{"", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{FieldDayOfWeek, 0, 6, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// Parse parses a five-field cron expression or a macro; see the package doc for the syntax.
// Errors are *ParseError.
func Parse(expr string) (*Schedule, error) {
	type token struct {
		text string
		pos  int
	}
	var toks []token
	for i := 0; i < len(expr); {
		if isSpace(expr[i]) {
			i++
			continue
		}
		j := i
		for j < len(expr) && !isSpace(expr[j]) {
			j++
		}
		toks = append(toks, token{expr[i:j], i})
		i = j
	}
	perr := func(field string, pos int, format string, args ...any) error {
		return &ParseError{Expr: expr, Field: field, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	if len(toks) == 0 {
		return nil, perr("", 0, "empty expression")
	}
	if strings.HasPrefix(toks[0].text, "@") {
		if len(toks) > 1 {
			return nil, perr("", toks[1].pos, "a macro stands alone")
		}
		m, ok := macros[strings.ToLower(toks[0].text)]
		if !ok {
			return nil, perr("", toks[0].pos, "unknown macro %q (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", toks[0].text)
		}
		return Parse(m)
	}
	if len(toks) != 5 {
		pos := len(expr)
		if len(toks) > 5 {
			pos = toks[5].pos
		}
		msg := fmt.Sprintf("%d fields, want 5 (minute hour day-of-month month day-of-week)", len(toks))
		if len(toks) == 6 || len(toks) == 7 {
			msg += "; seconds (Quartz) and years (AWS) are not supported"
		}
		return nil, perr("", pos, "%s", msg)
	}
	s := &Schedule{}
	masks := [5]*uint64{&s.minute, &s.hour, &s.dom, &s.month, &s.dow}
	for i, t := range toks {
		m, star, err := parseField(&fieldDefs[i], t.text, t.pos, perr)
		if err != nil {
			return nil, err
		}
		*masks[i], s.star[i] = m, star
	}
	s.never = !s.canFire()
	return s, nil
}

// parseField parses one field: a comma-separated list of `*`, `?`, values, ranges, with steps.
func parseField(f *fieldDef, text string, pos int, perr func(string, int, string, ...any) error) (uint64, bool, error) {
	if text == "?" {
		if f.name != FieldDayOfMonth && f.name != FieldDayOfWeek {
			return 0, false, perr(f.name, pos, "? is only allowed in day-of-month and day-of-week")
		}
		return fullMask(f), true, nil
	}
	var mask uint64
	star := text[0] == '*'
	off := 0
	for _, elem := range strings.Split(text, ",") {
		epos := pos + off
		off += len(elem) + 1
		if elem == "" {
			return 0, false, perr(f.name, epos, "empty list element")
		}
		rng, stepText, hasStep := strings.Cut(elem, "/")
		var lo, hi int
		switch {
		case rng == "*":
			lo, hi = f.min, f.max
		case strings.Contains(rng, "?"):
			return 0, false, perr(f.name, epos, "? must stand alone")
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = parseValue(f, a, epos, perr); err != nil {
				return 0, false, err
			}
			switch {
			case isRange:
				if hi, err = parseValue(f, b, epos+len(a)+1, perr); err != nil {
					return 0, false, err
				}
				if lo > hi {
					return 0, false, perr(f.name, epos, "range %s is backwards (its start is after its end)", rng)
				}
			case hasStep: // "a/n" means a-max/n, as in Quartz, AWS and most cron libraries
				hi = f.max
				if lo > hi { // day-of-week 7/n
					hi = lo
				}
			default:
				hi = lo
			}
		}
		step := 1
		if hasStep {
			spos := epos + len(rng) + 1
			span := f.max - f.min + 1
			n, ok := atoi(stepText)
			switch {
			case stepText == "" || !ok:
				return 0, false, perr(f.name, spos, "step %q is not a number", stepText)
			case n < 1:
				return 0, false, perr(f.name, spos, "step %s must be at least 1", stepText)
			case n > span:
				return 0, false, perr(f.name, spos, "step %s is larger than the field's range %d-%d", stepText, f.min, f.max)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			if f.name == FieldDayOfWeek && v == 7 {
				mask |= 1 // Sunday
			} else {
				mask |= 1 << uint(v)
			}
		}
	}
	return mask, star, nil
}

// parseValue parses a number or (month, day-of-week) a three-letter name.
func parseValue(f *fieldDef, text string, pos int, perr func(string, int, string, ...any) error) (int, error) {
	if text == "" {
		return 0, perr(f.name, pos, "missing value")
	}
	if n, ok := atoi(text); ok {
		max := f.max
		if f.name == FieldDayOfWeek {
			max = 7
		}
		if n < f.min || n > max {
			return 0, perr(f.name, pos, "%s is out of range %d-%d", text, f.min, max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if name != "" && strings.EqualFold(text, name) {
			return i, nil
		}
	}
	if f.names != nil {
		return 0, perr(f.name, pos, "%q is neither a number nor a name (%s-%s)", text,
			strings.ToUpper(f.names[f.min]), strings.ToUpper(f.names[f.max]))
	}
	return 0, perr(f.name, pos, "%q is not a number", text)
}

// atoi parses decimal digits; values beyond 9999 saturate (they are out of every range).
func atoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 10000 {
			n = n*10 + int(c-'0')
		}
	}
	return n, true
}

func fullMask(f *fieldDef) uint64 {
	return (1<<uint(f.max+1) - 1) &^ (1<<uint(f.min) - 1)
}

// canFire reports whether some date matches. With the OR rule every month has every weekday;
// with the AND rule every valid (month, day) falls on every weekday within 400 years, so only
// impossible (month, day) pairs never fire.
func (s *Schedule) canFire() bool {
	if s.dayOR() {
		return true
	}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<uint(m)) != 0 && s.dom&(1<<uint(daysIn(2000, m)+1)-1) != 0 {
			return true
		}
	}
	return false
}

// dayOR: both day fields are restricted (neither began with '*' or '?'), so a day matches if
// either matches (Vixie cron).
func (s *Schedule) dayOR() bool { return !s.star[2] && !s.star[4] }

// Interval reports whether the minute or the hour field begins with '*' ("*/15 * * * *",
// "0 * * * *", "* 9 * * *"). Interval schedules follow real time across DST transitions; the
// others are fixed-time schedules. See the package doc.
func (s *Schedule) Interval() bool { return s.star[0] || s.star[1] }

// String returns a canonical expression that parses to the same schedule: macros expand,
// names become numbers, 7 becomes 0, lists become sorted ranges, and the '*' or '?' that
// begins a field (which matters for DST and day semantics) is kept.
func (s *Schedule) String() string {
	masks := [5]uint64{s.minute, s.hour, s.dom, s.month, s.dow}
	var b strings.Builder
	for i := range masks {
		if i > 0 {
			b.WriteByte(' ')
		}
		formatField(&b, &fieldDefs[i], masks[i], s.star[i])
	}
	return b.String()
}

func formatField(b *strings.Builder, f *fieldDef, mask uint64, star bool) {
	if star {
		if mask == fullMask(f) {
			b.WriteByte('*')
			return
		}
		for n := 2; n <= f.max-f.min+1; n++ {
			if mask == stepMask(f.min, f.max, n) {
				fmt.Fprintf(b, "*/%d", n)
				return
			}
		}
		// '*' with a step larger than the range selects only the minimum; list the rest.
		span := f.max - f.min + 1
		fmt.Fprintf(b, "*/%d", span)
		mask &^= 1 << uint(f.min)
		if mask == 0 {
			return
		}
		b.WriteByte(',')
	}
	first := true
	for mask != 0 {
		lo := bits.TrailingZeros64(mask)
		hi := lo
		for hi+1 < 64 && mask&(1<<uint(hi+1)) != 0 {
			hi++
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		switch {
		case hi == lo:
			b.WriteString(strconv.Itoa(lo))
		case hi == lo+1:
			fmt.Fprintf(b, "%d,%d", lo, hi)
		default:
			fmt.Fprintf(b, "%d-%d", lo, hi)
		}
		mask &^= (1<<uint(hi+1) - 1) &^ (1<<uint(lo) - 1)
	}
}

func stepMask(lo, hi, step int) uint64 {
	var m uint64
	for v := lo; v <= hi; v += step {
		m |= 1 << uint(v)
	}
	return m
}
