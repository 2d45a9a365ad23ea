// Package cron is hashike's schedule logic: it parses cron expressions, computes fire times in
// a time zone, and decides what a job's schedule does at a scheduler tick (catch-up after
// downtime, suspend windows, overlapping runs). It is pure: it never reads the clock; callers
// pass `now`.
//
// # Syntax
//
// An expression has five fields separated by spaces or tabs:
//
//	minute        0-59
//	hour          0-23
//	day-of-month  1-31
//	month         1-12 or JAN-DEC
//	day-of-week   0-7 or SUN-SAT (0 and 7 are Sunday)
//
// Each field is a comma-separated list of elements. An element is `*` (every value), a value
// `5`, a range `1-5`, or one of these with a step: `*/15` (every 15th value from the minimum),
// `10-40/10` (10, 20, 30, 40), `5/20` (5-max/20: 5, 25, 45, as in Quartz and AWS). Names are
// three letters, any case, and work in ranges (`MON-FRI`). Ranges do not wrap: `FRI-MON` is an
// error. A step must be between 1 and the size of the field's range (`*/90` in the minute
// field is an error: cron cannot say "every 90 minutes"). `?` alone means `*` in the two day
// fields (AWS and Quartz write it where the other day field is set). Macros stand alone:
// @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *), @weekly (0 0 * * 0), @daily and
// @midnight (0 0 * * *), @hourly (0 * * * *).
//
// Only five fields: six- and seven-field forms are refused because the sixth field means
// seconds to Quartz and years to AWS, and hashike schedules have minute resolution. Errors are
// *ParseError, naming the field and the byte offset: `cron "0 25 * * *": hour: 25 is out of
// range 0-23`.
//
// # Day of month and day of week
//
// Vixie cron's rule, which crontab and kuroko2 users expect: when both day fields are
// restricted (neither begins with `*` or `?`), a day matches if EITHER matches:
// "0 0 13 * 5" fires on the 13th and on every Friday. When one of them begins with `*` or `?`,
// a day must match both: "0 0 */2 * 1" fires on odd-numbered days that are Mondays, and
// "0 0 ? * MON" on every Monday. The test is on the text: "1-31" is restricted, "*" is not.
//
// A day-of-month that a month lacks is skipped in that month ("0 0 31 * *" fires seven times
// a year, "0 0 29 2 *" in leap years only). An expression that can never match, like
// "0 0 30 2 *", is accepted; Next returns the zero time for it.
//
// # Time zones and daylight saving time
//
// Next evaluates an expression in the wall-clock time of a location and returns instants.
// Where the offset to UTC changes, wall time skips (a gap: 02:00-02:59 does not exist in New
// York on the spring-forward day, 02:00-02:29 in Lord Howe) or repeats (an overlap: 01:00-01:59
// happens twice on the fall-back day). What happens then depends on the expression's kind,
// as in cronie:
//
//   - Interval schedules, whose minute or hour field begins with `*` ("*/15 * * * *",
//     "0 * * * *", "* 9 * * *", @hourly), follow real time: they fire at every instant whose
//     wall time matches. Wall times in a gap do not exist, so they do not fire; wall times in
//     an overlap fire at both occurrences. "*/15 * * * *" fires every 15 real minutes through
//     both transitions, and "0 * * * *" fires at 01:00 EDT and again at 01:00 EST when New York
//     falls back, and at 01:00 EST then 03:00 EDT when it springs forward: every real hour.
//     (Where the shift is not a whole hour, as in Lord Howe, no wall-time rule can keep an
//     hourly interval; "0 * * * *" fires at 01:00 and 02:00 across the half-hour overlap, 90
//     real minutes apart.) An interval restricted to a skipped hour ("*/15 2 * * *") does not
//     fire that day.
//   - Fixed-time schedules (both minute and hour restricted: "30 2 * * *", "0 9,17 * * 1-5",
//     @daily) fire once per matching wall time. A wall time in a gap fires once, at the first
//     instant after the gap (02:30 fires at 03:00 EDT in New York, 02:15 at 02:30 in Lord Howe);
//     several wall times in one gap fire once together. A wall time in an overlap fires once,
//     at its first occurrence (01:30 fires at 01:30 EDT, not again at 01:30 EST).
//
// Next looks at most SearchYears (400) ahead: a schedule that fires at all fires within one
// Gregorian cycle. A nil location means UTC. In Spec, an empty TimeZone means UTC too; time
// zones are IANA names loaded with time.LoadLocation, so a binary that must not depend on the
// host's zoneinfo should import time/tzdata.
//
// # Job schedules
//
// Spec is a job's schedule in kuroko2's model: several expressions, each in its own time zone,
// suspend windows, a Suspended switch, an overlap policy and a catch-up policy. NextFires lists
// upcoming fires (what the API shows), Due says which fires a scheduler tick must act on, and
// Decide says what to do with one when runs of the job are active or queued.
package cron
