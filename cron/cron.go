// Package cron parses five-field cron expressions and finds when they next
// fire in a time zone, for durable schedules that start a response.
//
// # Syntax
//
// An expression has five fields separated by white space:
//
//	minute        0-59
//	hour          0-23
//	day-of-month  1-31
//	month         1-12 or JAN-DEC
//	day-of-week   0-7 or SUN-SAT (0 and 7 are both Sunday)
//
// A field is "*", or a comma-separated list of values "a", ranges "a-b", and
// steps "*/n", "a-b/n" and "a/n" (the last meaning a up to the field's
// maximum, every n). Names are three letters and case-insensitive. The
// descriptors @yearly (@annually), @monthly, @weekly, @daily (@midnight) and
// @hourly stand for the usual expressions. There is no seconds field, and
// the Quartz extensions "?", "L", "W" and "#" are rejected rather than
// misread, because a schedule that silently fires on other days than its
// author meant is worse than one that fails to save.
//
// The day fields follow Vixie cron, which is what people's existing crontabs
// were written against: if either field begins with "*" a day must match
// both, otherwise a day matches if it matches either. So "0 0 13 * FRI" fires
// on every 13th and every Friday, while "0 0 */2 * MON" fires only on
// odd-numbered Mondays, because "*/2" begins with "*".
//
// # Time zones and daylight saving
//
// Fields are matched against the wall clock of the location passed to Next.
// Where daylight saving moves that clock, the rules are cronie's, chosen so a
// schedule never fires twice for one wall time and never silently skips one:
//
//   - A wall time that does not exist (the hour skipped when clocks go
//     forward) fires once, at the first instant after the gap. "30 2 * * *"
//     in America/New_York fires at 03:00 EDT on the day clocks spring
//     forward. Several skipped times collapse into that one firing.
//   - A wall time that happens twice (the hour repeated when clocks go back)
//     fires once, at its first occurrence. "30 1 * * *" fires at 01:30 EDT
//     and not again at 01:30 EST; "0 * * * *" fires at 01:00 EDT and next at
//     02:00 EST, two hours later.
//
// Next looks at most 400 years ahead, one full cycle of the Gregorian
// calendar, after which dates and weekdays repeat; a schedule that cannot
// fire at all, such as "0 0 30 2 *", is recognised when parsed, so Next
// returns the zero time for it at once. The longest wait of a schedule that
// can fire is 40 years: "0 0 29 2 */7" wants a 29th of February that is also
// a Sunday ("*/7" begins with "*", so both day fields must match).
package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Schedule is a parsed cron expression. It is immutable and safe for
// concurrent use.
type Schedule struct {
	expr string

	// Bit v is set when value v matches. Day-of-week holds Sunday as 0 only.
	minute, hour, dom, month, dow uint64

	// Whether the day fields begin with "*", which picks Vixie's AND rule.
	domStar, dowStar bool

	// The expression can never match any date, such as the 30th of February.
	never bool
}

// spec describes one of the five fields.
type spec struct {
	name     string
	min, max int
	// Where "*" and "a/n" stop. Only day-of-week differs from max: its 7 is
	// an alias for Sunday, and an implicit end of 7 would add Sunday to
	// "1/2" (Monday, Wednesday, Friday) through the alias.
	end   int
	names []string // names[i] stands for min+i
}

var specs = [5]spec{
	{name: "minute", min: 0, max: 59, end: 59},
	{name: "hour", min: 0, max: 23, end: 23},
	{name: "day-of-month", min: 1, max: 31, end: 31},
	{name: "month", min: 1, max: 12, end: 12, names: []string{
		"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 0, max: 7, end: 6, names: []string{
		"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Parse parses a five-field cron expression or a descriptor such as @daily.
// Errors name the field at fault and say why.
func Parse(expr string) (*Schedule, error) {
	text := strings.TrimSpace(expr)
	if text == "" {
		return nil, errors.New("cron: empty expression")
	}
	fields := text
	if text[0] == '@' {
		d, ok := descriptors[asciiLower(text)]
		if !ok {
			if asciiLower(text) == "@reboot" {
				return nil, errors.New(`cron: descriptor "@reboot" is not supported: it names an event, not a time`)
			}
			return nil, fmt.Errorf("cron: unknown descriptor %q (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", text)
		}
		fields = d
	}
	f := strings.Fields(fields)
	if len(f) != 5 {
		msg := fmt.Sprintf("cron: expression %q has %d fields, want 5 (minute hour day-of-month month day-of-week)", text, len(f))
		if len(f) > 5 {
			msg += "; seconds and year fields are not supported"
		}
		return nil, errors.New(msg)
	}
	var sets [5]uint64
	for i, field := range f {
		set, err := parseField(&specs[i], field)
		if err != nil {
			return nil, err
		}
		sets[i] = set
	}
	s := &Schedule{
		expr:    text,
		minute:  sets[0],
		hour:    sets[1],
		dom:     sets[2],
		month:   sets[3],
		dow:     sets[4],
		domStar: f[2][0] == '*',
		dowStar: f[4][0] == '*',
	}
	s.never = !s.canFire()
	return s, nil
}

// String returns the expression as given to Parse, without surrounding
// white space.
func (s *Schedule) String() string { return s.expr }

// canFire reports whether some date matches. Every month and day falls on
// every weekday somewhere in the 400-year Gregorian cycle (the 29th of
// February included), so a schedule fails only when the day-of-month must
// match and none of its days exists in any of its months.
func (s *Schedule) canFire() bool {
	if !s.domStar && !s.dowStar {
		return true // any weekday in any month will do
	}
	for m := 1; m <= 12; m++ {
		days := uint64(1)<<(daysIn(2000, m)+1) - 1 // 2000 has a 29th of February
		if s.month&(1<<m) != 0 && s.dom&days != 0 {
			return true
		}
	}
	return false
}

func parseField(sp *spec, field string) (uint64, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("cron: %s field %q: %s", sp.name, field, fmt.Sprintf(format, args...))
	}
	// Checked before splitting so the message names the construct rather
	// than complaining about a malformed number.
	if strings.Contains(field, "?") {
		return 0, fail(`"?" is not supported; use "*"`)
	}
	if strings.Contains(field, "#") {
		return 0, fail(`"#" (nth weekday of the month) is not supported`)
	}
	var set uint64
	for part := range strings.SplitSeq(field, ",") {
		if part == "" {
			return 0, fail("empty list element")
		}
		lo, hi, step, why := parsePart(sp, part)
		if why != "" {
			return 0, fail("%s", why)
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	if sp.max == 7 && set&(1<<7) != 0 {
		set = set&^(1<<7) | 1
	}
	return set, nil
}

// parsePart parses one list element into the values lo to hi every step, or
// says why it cannot.
func parsePart(sp *spec, part string) (lo, hi, step int, why string) {
	rng, stepText, hasStep := strings.Cut(part, "/")
	step = 1
	if hasStep {
		switch n, ok := number(stepText); {
		case strings.Contains(stepText, "/"):
			return 0, 0, 0, fmt.Sprintf(`%q has more than one "/"`, part)
		case stepText == "":
			return 0, 0, 0, fmt.Sprintf(`%q has no step after "/"`, part)
		case !ok:
			return 0, 0, 0, fmt.Sprintf("step %q is not a number", stepText)
		case n == 0:
			return 0, 0, 0, "step 0 would never advance; steps start at 1"
		case n > sp.max:
			return 0, 0, 0, fmt.Sprintf("step %s out of range 1-%d", stepText, sp.max)
		default:
			step = n
		}
	}
	if rng == "*" {
		return sp.min, sp.end, step, ""
	}
	a, b, isRange := strings.Cut(rng, "-")
	lo, why = value(sp, a)
	if why != "" {
		return 0, 0, 0, why
	}
	if !isRange {
		hi = lo
		if hasStep {
			hi = max(sp.end, lo)
		}
		return lo, hi, step, ""
	}
	if strings.Contains(b, "-") {
		return 0, 0, 0, fmt.Sprintf("range %q has more than one \"-\"", rng)
	}
	hi, why = value(sp, b)
	if why != "" {
		return 0, 0, 0, why
	}
	if lo > hi {
		return 0, 0, 0, fmt.Sprintf("range %s runs backwards; ranges do not wrap around", rng)
	}
	return lo, hi, step, ""
}

// value parses a number or name, or says why it cannot.
func value(sp *spec, tok string) (int, string) {
	if tok == "" {
		return 0, "missing value in range"
	}
	if tok == "*" {
		return 0, `"*" cannot be one end of a range`
	}
	if n, ok := number(tok); ok {
		if n < sp.min || n > sp.max {
			return 0, fmt.Sprintf("value %s out of range %d-%d", tok, sp.min, sp.max)
		}
		return n, ""
	}
	up := asciiUpper(tok)
	for i, name := range sp.names {
		if up == name {
			return sp.min + i, ""
		}
	}
	last := up[len(up)-1]
	if up == "L" || up == "LW" || (last == 'L' || last == 'W') && allDigits(up[:len(up)-1]) {
		if last == 'W' {
			return 0, `"W" (nearest weekday) is not supported`
		}
		return 0, `"L" (last day) is not supported`
	}
	switch sp.name {
	case "month":
		return 0, fmt.Sprintf("%q is not a number or a month name (JAN-DEC)", tok)
	case "day-of-week":
		return 0, fmt.Sprintf("%q is not a number or a weekday name (SUN-SAT)", tok)
	}
	return 0, fmt.Sprintf("%q is not a number", tok)
}

// number parses unsigned decimal digits. Values too large for any field
// saturate rather than overflow, so they are reported as out of range.
func number(s string) (int, bool) {
	if !allDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = min(n*10+int(s[i]-'0'), 1<<20)
	}
	return n, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// asciiUpper and asciiLower change ASCII letters only: Unicode case mapping
// would accept look-alikes such as "ſun" (long s) as SUN.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// searchYears is one Gregorian cycle: if nothing matches within it, nothing
// ever will.
const searchYears = 400

// Next returns the first time strictly after after at which s fires, with
// fields matched against the wall clock of loc (UTC if nil), in UTC. It
// returns the zero time if s never fires.
func (s *Schedule) Next(after time.Time, loc *time.Location) time.Time {
	if s.never {
		return time.Time{}
	}
	if loc == nil {
		loc = time.UTC // as the zero time.Location is
	}
	w := after.In(loc)
	y, month, d := w.Date()
	h, mi, _ := w.Clock()
	mo := int(month)
	// The minute on the clock at after has begun no later than after, so
	// it cannot fire strictly after it, even in a repeated or skipped hour.
	mi++
	limit := y + searchYears

	// Walk the wall clock, not instants, jumping whole months, days and
	// hours that cannot match. Each wall time maps to one instant (see the
	// package comment) and the mapping never goes backwards, so the first
	// match whose instant is after after is the answer.
	for {
		if mi > 59 {
			mi = 0
			h++
		}
		if h > 23 {
			h = 0
			d++
		}
		if d > daysIn(y, mo) {
			d = 1
			mo++
		}
		if mo > 12 {
			mo = 1
			y++
		}
		if y > limit {
			return time.Time{}
		}
		if m := nextBit(s.month, mo); m != mo {
			if m > 12 {
				y++
				mo = 1
			} else {
				mo = m
			}
			d, h, mi = 1, 0, 0
			continue
		}
		if !s.dayMatches(y, mo, d) {
			d++
			if s.domStar || s.dowStar {
				// Both fields must match, so no day outside
				// day-of-month can.
				d = nextBit(s.dom, d)
			}
			h, mi = 0, 0
			continue
		}
		if hh := nextBit(s.hour, h); hh != h {
			if hh > 23 {
				d++
				h = 0
			} else {
				h = hh
			}
			mi = 0
			continue
		}
		if m := nextBit(s.minute, mi); m != mi {
			if m > 59 {
				h++
				mi = 0
			} else {
				mi = m
			}
			continue
		}
		if t := resolve(time.Date(y, time.Month(mo), d, h, mi, 0, 0, time.UTC).Unix(), loc); t.After(after) {
			return t.UTC()
		}
		// Only in a repeated hour after its first pass: this wall time
		// has already fired.
		mi++
	}
}

func (s *Schedule) dayMatches(y, m, d int) bool {
	dom := s.dom&(1<<d) != 0
	dow := s.dow&(1<<weekday(y, m, d)) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// window bounds how far any zone's clock is from UTC, with room to spare:
// real offsets stay within a day.
const window = 26 * 60 * 60

// resolve returns the instant at which the wall time wall (in seconds as if
// it were UTC) fires in loc: its first occurrence, or the end of the gap
// that skips it. time.Date would not do: it picks either occurrence of a
// repeated time and an arbitrary side of a gap.
func resolve(wall int64, loc *time.Location) time.Time {
	if loc == time.UTC {
		return time.Unix(wall, 0)
	}
	// Walk the zone periods in order from a day before; the first whose
	// offset places wall inside it holds the first occurrence.
	t := time.Unix(wall-window, 0).In(loc)
	for {
		_, off := t.Zone()
		start, end := t.ZoneBounds()
		at := wall - int64(off)
		if !start.IsZero() && at < start.Unix() {
			// The previous period ended before wall and this one
			// begins after it: wall is in a gap that ends at start.
			return start
		}
		if end.IsZero() || at < end.Unix() || !end.After(t) {
			return time.Unix(at, 0)
		}
		t = end
	}
}

// nextBit returns the lowest set bit of set at or above from, or 64 if none.
func nextBit(set uint64, from int) int {
	if from >= 64 {
		return 64
	}
	return bits.TrailingZeros64(set >> from << from)
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// weekday is Sakamoto's method, 0 for Sunday. Reducing the year modulo 400
// keeps the divisions exact for years before 1 without changing the answer.
func weekday(y, m, d int) int {
	if m < 3 {
		y--
	}
	y %= 400
	if y < 0 {
		y += 400
	}
	return (y + y/4 - y/100 + y/400 + [12]int{0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4}[m-1] + d) % 7
}
