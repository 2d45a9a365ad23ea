package cron

import (
	"math/bits"
	"time"
)

// SearchYears bounds Next: a schedule that fires at all fires again within one 400-year
// Gregorian cycle (after which dates and weekdays repeat), so Next looks no further.
const SearchYears = 400

const (
	secondsPerDay = 86400
	searchSeconds = (SearchYears*365 + SearchYears/4 - SearchYears/100 + SearchYears/400 + 2) * secondsPerDay
	negInf        = -1 << 62
	posInf        = 1 << 62
)

// Next returns the first fire time strictly after `after`, evaluated in the wall-clock time of
// loc (nil means UTC), as a time in loc. It returns the zero time when the schedule never
// fires again within SearchYears (at once for schedules that can never fire, like "0 0 30 2 *").
// Across DST transitions it follows the rules in the package doc.
func (s *Schedule) Next(after time.Time, loc *time.Location) time.Time {
	if s.never {
		return time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	a := after.Unix() // fire instants are whole seconds: t > after ⇔ t > floor(after)
	if a < negInf/2 || a > posInf/2 {
		return time.Time{}
	}
	limit := a + searchSeconds
	interval := s.Interval()

	// Walk the zone's periods of constant UTC offset, starting with the one holding `after`.
	// Within a period, wall time runs with real time, so the first matching wall time is the
	// first fire. Between periods, wall time jumps forward (a gap) or back (an overlap).
	p := periodAt(a+1, loc)            // a+1 may start a period: a gap fire at a+1 counts
	prevEnd := int64(negInf)           // the wall time the previous period ended at
	if p.start > negInf && !interval { // only fixed-time schedules look back
		prevEnd = p.start + periodAt(p.start-1, loc).offset
	}
	for first := true; ; first = false {
		startWall := p.start + p.offset
		lo := startWall
		if !interval {
			// A fixed-time schedule fires at the first occurrence of a repeated wall time
			// only, and once at the end of a gap for the wall times the gap swallowed.
			if p.start > a && prevEnd < startWall {
				if _, ok := s.nextWall(prevEnd, startWall); ok {
					return time.Unix(p.start, 0).In(loc)
				}
			}
			lo = max(lo, prevEnd)
		}
		if first {
			lo = max(lo, a+1+p.offset)
		}
		end := min(p.end, limit)
		if w, ok := s.nextWall(lo, end+p.offset); ok {
			return time.Unix(w-p.offset, 0).In(loc)
		}
		if p.end >= limit {
			return time.Time{}
		}
		prevEnd = max(prevEnd, p.end+p.offset)
		end = p.end
		p = periodAt(end, loc)
		p.start = end // ZoneBounds may report an earlier start (golang/go#81583)
	}
}

// period is a span [start, end) of Unix seconds during which loc's UTC offset is constant.
type period struct {
	start, end int64
	offset     int64
}

func periodAt(sec int64, loc *time.Location) period {
	t := time.Unix(sec, 0).In(loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	p := period{start: negInf, end: posInf, offset: int64(off)}
	if !start.IsZero() {
		p.start = start.Unix()
	}
	if !end.IsZero() {
		p.end = end.Unix()
	}
	if p.end <= sec {
		// golang/go#81583: in a leap year served by the zone's TZ footer rule (after its last
		// explicit transition, 2037 for most zones), ZoneBounds ends the year's last period on
		// Dec 31 00:00 UTC instead of Jan 1. No offset changes there; end at the next UTC
		// midnight, where ZoneBounds is right again.
		p.end = (floorDiv(sec, secondsPerDay) + 1) * secondsPerDay
	}
	if p.start > sec {
		p.start = sec
	}
	return p
}

// nextWall returns the first matching wall time in [lo, hi), wall times being seconds since
// 1970-01-01 00:00 in a zone-less calendar.
func (s *Schedule) nextWall(lo, hi int64) (int64, bool) {
	if lo >= hi {
		return 0, false
	}
	w := floorDiv(lo+59, 60) * 60
	days := floorDiv(w, secondsPerDay)
	rem := w - days*secondsPerDay
	h, mi := int(rem/3600), int(rem%3600/60)
	y, mo, d := civil(days)
	for {
		if days*secondsPerDay >= hi {
			return 0, false
		}
		if s.month&(1<<uint(mo)) == 0 || d > daysIn(y, mo) {
			// First day of the next month.
			days += int64(daysIn(y, mo) - d + 1)
			d, h, mi = 1, 0, 0
			if mo++; mo > 12 {
				mo, y = 1, y+1
			}
			continue
		}
		if !s.dayMatches(d, weekday(days)) {
			days, d, h, mi = days+1, d+1, 0, 0
			continue
		}
		nh, ok := nextBit(s.hour, h)
		if !ok {
			days, d, h, mi = days+1, d+1, 0, 0
			continue
		}
		if nh != h {
			h, mi = nh, 0
		}
		nm, ok := nextBit(s.minute, mi)
		if !ok {
			h, mi = h+1, 0
			if h == 24 {
				days, d, h = days+1, d+1, 0
			}
			continue
		}
		w = days*secondsPerDay + int64(h)*3600 + int64(nm)*60
		if w >= hi {
			return 0, false
		}
		return w, true
	}
}

// dayMatches applies Vixie cron's rule: when both day fields are restricted a day matches if
// either does; otherwise both must (an unrestricted field matches every day it allows).
func (s *Schedule) dayMatches(dom, dow int) bool {
	domOK := s.dom&(1<<uint(dom)) != 0
	dowOK := s.dow&(1<<uint(dow)) != 0
	if s.dayOR() {
		return domOK || dowOK
	}
	return domOK && dowOK
}

// nextBit returns the lowest set bit of mask at or above from.
func nextBit(mask uint64, from int) (int, bool) {
	if from >= 64 {
		return 0, false
	}
	m := mask >> uint(from) << uint(from)
	if m == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(m), true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// weekday of a day counted from 1970-01-01 (a Thursday); 0 is Sunday.
func weekday(days int64) int {
	w := (days + 4) % 7
	if w < 0 {
		w += 7
	}
	return int(w)
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
// civil_from_days).
func civil(days int64) (y int64, m, d int) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}
