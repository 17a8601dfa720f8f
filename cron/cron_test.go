package cron

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests must not depend on the host's zoneinfo
)

func mustLoad(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

func values(set uint64) []int {
	var v []int
	for set != 0 {
		b := bits.TrailingZeros64(set)
		v = append(v, b)
		set &^= 1 << b
	}
	return v
}

func span(lo, hi, step int) []int {
	var v []int
	for i := lo; i <= hi; i += step {
		v = append(v, i)
	}
	return v
}

var (
	allMinutes = span(0, 59, 1)
	allHours   = span(0, 23, 1)
	allDays    = span(1, 31, 1)
	allMonths  = span(1, 12, 1)
	allWeek    = span(0, 6, 1)
)

func TestParse(t *testing.T) {
	tests := []struct {
		expr                    string
		minute, hour, dom, mon  []int
		dow                     []int
		domStar, dowStar, never bool
	}{
		{"* * * * *", allMinutes, allHours, allDays, allMonths, allWeek, true, true, false},
		{"5 4 3 2 1", []int{5}, []int{4}, []int{3}, []int{2}, []int{1}, false, false, false},
		{"05 04 03 02 01", []int{5}, []int{4}, []int{3}, []int{2}, []int{1}, false, false, false},
		{"59 23 31 12 6", []int{59}, []int{23}, []int{31}, []int{12}, []int{6}, false, false, false},
		{"0 0 1 1 0", []int{0}, []int{0}, []int{1}, []int{1}, []int{0}, false, false, false},
		// Lists, ranges and steps.
		{"1,2,3 * * * *", []int{1, 2, 3}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"3,1,3 * * * *", []int{1, 3}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"10-15 * * * *", span(10, 15, 1), allHours, allDays, allMonths, allWeek, true, true, false},
		{"*/15 * * * *", []int{0, 15, 30, 45}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"*/7 * * * *", span(0, 59, 7), allHours, allDays, allMonths, allWeek, true, true, false},
		{"10-30/10 * * * *", []int{10, 20, 30}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"50/5 * * * *", []int{50, 55}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"*/59 * * * *", []int{0, 59}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"0-4,*/20,58-59 */6 * * *", []int{0, 1, 2, 3, 4, 20, 40, 58, 59}, []int{0, 6, 12, 18}, allDays, allMonths, allWeek, true, true, false},
		{"0 9-17 * * *", []int{0}, span(9, 17, 1), allDays, allMonths, allWeek, true, true, false},
		{"0 0 */10 * *", []int{0}, []int{0}, []int{1, 11, 21, 31}, allMonths, allWeek, true, true, false},
		{"0 0 1-31/2 * *", []int{0}, []int{0}, span(1, 31, 2), allMonths, allWeek, false, true, false},
		{"0 0 * */3 *", []int{0}, []int{0}, allDays, []int{1, 4, 7, 10}, allWeek, true, true, false},
		// Names, in any case.
		{"0 0 * JAN-MAR,dec *", []int{0}, []int{0}, allDays, []int{1, 2, 3, 12}, allWeek, true, true, false},
		{"0 0 * jan,Feb,mAR,apr,MAY,jun,jul,aug,sep,oct,nov,Dec *", []int{0}, []int{0}, allDays, allMonths, allWeek, true, true, false},
		{"0 0 * * Mon-fri", []int{0}, []int{0}, allDays, allMonths, span(1, 5, 1), true, false, false},
		{"0 0 * * SUN,sat", []int{0}, []int{0}, allDays, allMonths, []int{0, 6}, true, false, false},
		{"0 0 * * sun,mon,tue,wed,thu,fri,sat", []int{0}, []int{0}, allDays, allMonths, allWeek, true, false, false},
		{"0 0 * Feb/3 MON/2", []int{0}, []int{0}, allDays, []int{2, 5, 8, 11}, []int{1, 3, 5}, true, false, false},
		// 7 is Sunday, but only when written.
		{"0 0 * * 7", []int{0}, []int{0}, allDays, allMonths, []int{0}, true, false, false},
		{"0 0 * * 5-7", []int{0}, []int{0}, allDays, allMonths, []int{0, 5, 6}, true, false, false},
		{"0 0 * * 0,7", []int{0}, []int{0}, allDays, allMonths, []int{0}, true, false, false},
		{"0 0 * * */2", []int{0}, []int{0}, allDays, allMonths, []int{0, 2, 4, 6}, true, true, false},
		{"0 0 * * 1/2", []int{0}, []int{0}, allDays, allMonths, []int{1, 3, 5}, true, false, false},
		{"0 0 * * 1-7/2", []int{0}, []int{0}, allDays, allMonths, []int{0, 1, 3, 5}, true, false, false},
		{"0 0 * * 7/2", []int{0}, []int{0}, allDays, allMonths, []int{0}, true, false, false},
		// Vixie's star rule looks at the first character only.
		{"0 0 */2 * MON", []int{0}, []int{0}, span(1, 31, 2), allMonths, []int{1}, true, false, false},
		{"0 0 13 * FRI", []int{0}, []int{0}, []int{13}, allMonths, []int{5}, false, false, false},
		{"0 0 1-31 * 0-6", []int{0}, []int{0}, allDays, allMonths, allWeek, false, false, false},
		// White space.
		{"  0\t0  *\n* *  ", []int{0}, []int{0}, allDays, allMonths, allWeek, true, true, false},
		// Descriptors.
		{"@yearly", []int{0}, []int{0}, []int{1}, []int{1}, allWeek, false, true, false},
		{"@annually", []int{0}, []int{0}, []int{1}, []int{1}, allWeek, false, true, false},
		{"@monthly", []int{0}, []int{0}, []int{1}, allMonths, allWeek, false, true, false},
		{"@weekly", []int{0}, []int{0}, allDays, allMonths, []int{0}, true, false, false},
		{"@daily", []int{0}, []int{0}, allDays, allMonths, allWeek, true, true, false},
		{"@midnight", []int{0}, []int{0}, allDays, allMonths, allWeek, true, true, false},
		{"@hourly", []int{0}, allHours, allDays, allMonths, allWeek, true, true, false},
		{"@HOURLY", []int{0}, allHours, allDays, allMonths, allWeek, true, true, false},
		// Accepted, but no date matches.
		{"0 0 30 2 *", []int{0}, []int{0}, []int{30}, []int{2}, allWeek, false, true, true},
		{"0 0 30,31 2 *", []int{0}, []int{0}, []int{30, 31}, []int{2}, allWeek, false, true, true},
		{"0 0 31 4,6,9,11 *", []int{0}, []int{0}, []int{31}, []int{4, 6, 9, 11}, allWeek, false, true, true},
		{"0 0 31 2 */2", []int{0}, []int{0}, []int{31}, []int{2}, []int{0, 2, 4, 6}, false, true, true},
		// Either day field will do, so these can fire.
		{"0 0 30 2 MON", []int{0}, []int{0}, []int{30}, []int{2}, []int{1}, false, false, false},
		{"0 0 29 2 *", []int{0}, []int{0}, []int{29}, []int{2}, allWeek, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got uint64, want []int) {
				t.Helper()
				if g := values(got); !slices.Equal(g, want) {
					t.Errorf("%s = %v, want %v", name, g, want)
				}
			}
			check("minute", s.minute, tt.minute)
			check("hour", s.hour, tt.hour)
			check("day-of-month", s.dom, tt.dom)
			check("month", s.month, tt.mon)
			check("day-of-week", s.dow, tt.dow)
			if s.domStar != tt.domStar || s.dowStar != tt.dowStar || s.never != tt.never {
				t.Errorf("domStar, dowStar, never = %v, %v, %v, want %v, %v, %v",
					s.domStar, s.dowStar, s.never, tt.domStar, tt.dowStar, tt.never)
			}
			if want := strings.TrimSpace(tt.expr); s.String() != want {
				t.Errorf("String() = %q, want %q", s.String(), want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", `cron: empty expression`},
		{" \t\n", `cron: empty expression`},
		{"* * * *", `cron: expression "* * * *" has 4 fields, want 5 (minute hour day-of-month month day-of-week)`},
		{"*", `cron: expression "*" has 1 fields, want 5 (minute hour day-of-month month day-of-week)`},
		{"0 * * * * *", `cron: expression "0 * * * * *" has 6 fields, want 5 (minute hour day-of-month month day-of-week); seconds and year fields are not supported`},
		{"0 0 * * * * 2025", `cron: expression "0 0 * * * * 2025" has 7 fields, want 5 (minute hour day-of-month month day-of-week); seconds and year fields are not supported`},

		// Out of range, field by field.
		{"61 * * * *", `cron: minute field "61": value 61 out of range 0-59`},
		{"60 * * * *", `cron: minute field "60": value 60 out of range 0-59`},
		{"1,61 * * * *", `cron: minute field "1,61": value 61 out of range 0-59`},
		{"0-60 * * * *", `cron: minute field "0-60": value 60 out of range 0-59`},
		{"99999999999999999999 * * * *", `cron: minute field "99999999999999999999": value 99999999999999999999 out of range 0-59`},
		{"* 24 * * *", `cron: hour field "24": value 24 out of range 0-23`},
		{"* * 0 * *", `cron: day-of-month field "0": value 0 out of range 1-31`},
		{"* * 32 * *", `cron: day-of-month field "32": value 32 out of range 1-31`},
		{"* * * 0 *", `cron: month field "0": value 0 out of range 1-12`},
		{"* * * 13 *", `cron: month field "13": value 13 out of range 1-12`},
		{"* * * * 8", `cron: day-of-week field "8": value 8 out of range 0-7`},

		// Steps.
		{"*/0 * * * *", `cron: minute field "*/0": step 0 would never advance; steps start at 1`},
		{"1-5/0 * * * *", `cron: minute field "1-5/0": step 0 would never advance; steps start at 1`},
		{"*/60 * * * *", `cron: minute field "*/60": step 60 out of range 1-59`},
		{"* */24 * * *", `cron: hour field "*/24": step 24 out of range 1-23`},
		{"*/ * * * *", `cron: minute field "*/": "*/" has no step after "/"`},
		{"*/x * * * *", `cron: minute field "*/x": step "x" is not a number`},
		{"*/-1 * * * *", `cron: minute field "*/-1": step "-1" is not a number`},
		{"*/5/2 * * * *", `cron: minute field "*/5/2": "*/5/2" has more than one "/"`},
		{"/5 * * * *", `cron: minute field "/5": missing value in range`},

		// Ranges.
		{"* 5-3 * * *", `cron: hour field "5-3": range 5-3 runs backwards; ranges do not wrap around`},
		{"* * * DEC-JAN *", `cron: month field "DEC-JAN": range DEC-JAN runs backwards; ranges do not wrap around`},
		{"* * * * FRI-MON", `cron: day-of-week field "FRI-MON": range FRI-MON runs backwards; ranges do not wrap around`},
		{"* * * * 7-1", `cron: day-of-week field "7-1": range 7-1 runs backwards; ranges do not wrap around`},
		{"1- * * * *", `cron: minute field "1-": missing value in range`},
		{"-1 * * * *", `cron: minute field "-1": missing value in range`},
		{"1-2-3 * * * *", `cron: minute field "1-2-3": range "1-2-3" has more than one "-"`},
		{"*-5 * * * *", `cron: minute field "*-5": "*" cannot be one end of a range`},
		{"1-* * * * *", `cron: minute field "1-*": "*" cannot be one end of a range`},

		// Lists.
		{"1,,2 * * * *", `cron: minute field "1,,2": empty list element`},
		{", * * * *", `cron: minute field ",": empty list element`},
		{"1, * * * *", `cron: minute field "1,": empty list element`},

		// Not numbers, or names in the wrong field.
		{"x * * * *", `cron: minute field "x": "x" is not a number`},
		{"+5 * * * *", `cron: minute field "+5": "+5" is not a number`},
		{"1.5 * * * *", `cron: minute field "1.5": "1.5" is not a number`},
		{"0x10 * * * *", `cron: minute field "0x10": "0x10" is not a number`},
		{"* * * MON *", `cron: month field "MON": "MON" is not a number or a month name (JAN-DEC)`},
		{"* * * January *", `cron: month field "January": "January" is not a number or a month name (JAN-DEC)`},
		{"* * * * JAN", `cron: day-of-week field "JAN": "JAN" is not a number or a weekday name (SUN-SAT)`},
		{"* * * * Sunday", `cron: day-of-week field "Sunday": "Sunday" is not a number or a weekday name (SUN-SAT)`},
		{"* * * * ſun", `cron: day-of-week field "ſun": "ſun" is not a number or a weekday name (SUN-SAT)`},
		{"* * JAN * *", `cron: day-of-month field "JAN": "JAN" is not a number`},
		{"* * * * ５", `cron: day-of-week field "５": "５" is not a number or a weekday name (SUN-SAT)`},

		// Quartz extensions.
		{"* * ? * *", `cron: day-of-month field "?": "?" is not supported; use "*"`},
		{"* * * * ?", `cron: day-of-week field "?": "?" is not supported; use "*"`},
		{"* * L * *", `cron: day-of-month field "L": "L" (last day) is not supported`},
		{"* * l * *", `cron: day-of-month field "l": "L" (last day) is not supported`},
		{"* * L-3 * *", `cron: day-of-month field "L-3": "L" (last day) is not supported`},
		{"* * * * 5L", `cron: day-of-week field "5L": "L" (last day) is not supported`},
		{"* * 15W * *", `cron: day-of-month field "15W": "W" (nearest weekday) is not supported`},
		{"* * LW * *", `cron: day-of-month field "LW": "W" (nearest weekday) is not supported`},
		{"* * * * 1#2", `cron: day-of-week field "1#2": "#" (nth weekday of the month) is not supported`},
		{"* * * * MON#1", `cron: day-of-week field "MON#1": "#" (nth weekday of the month) is not supported`},

		// Descriptors.
		{"@reboot", `cron: descriptor "@reboot" is not supported: it names an event, not a time`},
		{"@every 5m", `cron: unknown descriptor "@every 5m" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{"@daily 0", `cron: unknown descriptor "@daily 0" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{"@", `cron: unknown descriptor "@" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{"0 0 @daily * *", `cron: day-of-month field "@daily": "@daily" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tt.expr, s, tt.want)
			}
			if s != nil {
				t.Errorf("Parse(%q) returned a schedule with its error", tt.expr)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.expr, err, tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name, expr, zone, after string
		want                    []string // successive fire times, RFC 3339 in any offset
	}{
		{"every minute", "* * * * *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z"}},
		{"strictly after, mid-minute", "* * * * *", "UTC", "2024-01-01T00:00:59.999Z",
			[]string{"2024-01-01T00:01:00Z"}},
		{"year end", "59 23 31 12 *", "UTC", "2024-06-01T00:00:00Z",
			[]string{"2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z"}},
		{"steps", "*/20 * * * *", "UTC", "2024-01-01T00:45:00Z",
			[]string{"2024-01-01T01:00:00Z", "2024-01-01T01:20:00Z", "2024-01-01T01:40:00Z", "2024-01-01T02:00:00Z"}},
		{"range with step", "10-30/10 1 * * *", "UTC", "2024-01-01T01:25:00Z",
			[]string{"2024-01-01T01:30:00Z", "2024-01-02T01:10:00Z"}},
		{"start with step", "50/5 * * * *", "UTC", "2024-01-01T00:00:00Z",
			[]string{"2024-01-01T00:50:00Z", "2024-01-01T00:55:00Z", "2024-01-01T01:50:00Z"}},
		{"month names", "0 12 1 JAN,jul *", "UTC", "2024-02-01T00:00:00Z",
			[]string{"2024-07-01T12:00:00Z", "2025-01-01T12:00:00Z", "2025-07-01T12:00:00Z"}},
		{"weekday 7 is Sunday", "0 0 * * 7", "UTC", "2024-09-01T00:00:00Z", // a Sunday
			[]string{"2024-09-08T00:00:00Z", "2024-09-15T00:00:00Z"}},
		{"@yearly", "@yearly", "UTC", "2024-01-01T00:00:00Z", []string{"2025-01-01T00:00:00Z"}},
		{"@monthly", "@monthly", "UTC", "2024-01-31T00:00:00Z", []string{"2024-02-01T00:00:00Z"}},
		{"@weekly", "@weekly", "UTC", "2024-09-04T00:00:00Z", []string{"2024-09-08T00:00:00Z"}},
		{"@daily", "@daily", "UTC", "2024-09-04T00:00:00Z", []string{"2024-09-05T00:00:00Z"}},
		{"@hourly", "@hourly", "UTC", "2024-09-04T00:00:00Z", []string{"2024-09-04T01:00:00Z"}},
		{"nil location is UTC", "0 0 * * *", "", "2024-09-04T12:00:00Z", []string{"2024-09-05T00:00:00Z"}},
		{"after given in another zone", "0 9 * * *", "Asia/Tokyo", "2024-09-04T09:00:00+09:00",
			[]string{"2024-09-05T00:00:00Z"}},
		{"half-hour zone", "0 9 * * *", "Asia/Kolkata", "2024-09-04T00:00:00Z",
			[]string{"2024-09-04T03:30:00Z", "2024-09-05T03:30:00Z"}},

		// Business hours, across a weekend and a DST change (10 March 2024).
		{"business hours", "*/15 9-17 * * MON-FRI", "America/New_York", "2024-03-08T17:10:00-05:00",
			[]string{
				"2024-03-08T17:15:00-05:00", "2024-03-08T17:30:00-05:00", "2024-03-08T17:45:00-05:00",
				"2024-03-11T09:00:00-04:00", "2024-03-11T09:15:00-04:00", "2024-03-11T09:30:00-04:00",
				"2024-03-11T09:45:00-04:00", "2024-03-11T10:00:00-04:00", "2024-03-11T10:15:00-04:00",
				"2024-03-11T10:30:00-04:00",
			}},

		// The 29th of February, every four years, and not in 2100.
		{"leap day", "0 0 29 2 *", "UTC", "2024-03-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"leap day across 2100", "0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"leap day in a zone", "30 6 29 FEB *", "Europe/Lisbon", "2024-02-29T06:30:00Z",
			[]string{"2028-02-29T06:30:00Z"}},
		{"never: 30 February", "0 0 30 2 *", "UTC", "2024-01-01T00:00:00Z", []string{""}},
		{"never: 31 April", "0 0 31 4 *", "America/New_York", "2024-01-01T00:00:00Z", []string{""}},
		{"rare: 1 February on a Monday", "0 0 */31 2 MON", "UTC", "2021-03-01T00:00:00Z",
			[]string{"2027-02-01T00:00:00Z", "2038-02-01T00:00:00Z"}},

		// Day-of-month or day-of-week when both are restricted (September
		// 2024 starts on a Sunday; 13 October is a Sunday).
		{"13th or Friday", "0 0 13 * FRI", "UTC", "2024-09-01T00:00:00Z",
			[]string{
				"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z",
				"2024-09-27T00:00:00Z", "2024-10-04T00:00:00Z", "2024-10-11T00:00:00Z",
				"2024-10-13T00:00:00Z", "2024-10-18T00:00:00Z",
			}},
		{"30 February or Monday", "0 0 30 2 MON", "UTC", "2024-02-20T00:00:00Z",
			[]string{"2024-02-26T00:00:00Z", "2025-02-03T00:00:00Z"}},
		{"1st or 15th or weekend", "0 8 1,15 * SAT,SUN", "UTC", "2024-09-01T08:00:00Z",
			[]string{"2024-09-07T08:00:00Z", "2024-09-08T08:00:00Z", "2024-09-14T08:00:00Z", "2024-09-15T08:00:00Z", "2024-09-21T08:00:00Z"}},
		{"*/2 day-of-month means both", "0 0 */2 * MON", "UTC", "2024-09-01T00:00:00Z",
			[]string{"2024-09-09T00:00:00Z", "2024-09-23T00:00:00Z", "2024-10-07T00:00:00Z", "2024-10-21T00:00:00Z"}},
		{"*/2 day-of-week means both", "0 0 13 * */5", "UTC", "2024-01-01T00:00:00Z", // Sundays and Fridays
			[]string{"2024-09-13T00:00:00Z", "2024-10-13T00:00:00Z", "2024-12-13T00:00:00Z"}},
		{"weekday only", "0 0 * * FRI", "UTC", "2024-09-01T00:00:00Z",
			[]string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z"}},

		// New York springs forward at 02:00 EST on 10 March 2024 to 03:00 EDT.
		{"NY gap: skipped time fires after the gap", "30 2 * * *", "America/New_York", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"NY gap: skipped times fire once", "0,30 2 * * *", "America/New_York", "2024-03-10T01:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"NY gap: with a time just after it", "30 2,3 * * *", "America/New_York", "2024-03-10T00:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-10T03:30:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"NY gap: every quarter hour", "*/15 * * * *", "America/New_York", "2024-03-10T01:30:00-05:00",
			[]string{"2024-03-10T01:45:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:15:00-04:00"}},
		{"NY gap: hourly", "0 * * * *", "America/New_York", "2024-03-10T00:30:00-05:00",
			[]string{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"}},
		// New York falls back at 02:00 EDT on 3 November 2024 to 01:00 EST.
		{"NY overlap: repeated time fires once, first", "30 1 * * *", "America/New_York", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
		{"NY overlap: after inside the repeat", "30 1 * * *", "America/New_York", "2024-11-03T01:10:00-05:00",
			[]string{"2024-11-04T01:30:00-05:00"}},
		{"NY overlap: after inside the first pass", "45 1 * * *", "America/New_York", "2024-11-03T01:30:00-04:00",
			[]string{"2024-11-03T01:45:00-04:00", "2024-11-04T01:45:00-05:00"}},
		{"NY overlap: hourly", "0 * * * *", "America/New_York", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T02:00:00-05:00", "2024-11-03T03:00:00-05:00"}},
		{"NY overlap: every quarter hour", "*/15 * * * *", "America/New_York", "2024-11-03T01:40:00-04:00",
			[]string{"2024-11-03T01:45:00-04:00", "2024-11-03T02:00:00-05:00"}},
		{"NY overlap: every minute from inside the repeat", "* * * * *", "America/New_York", "2024-11-03T01:30:00-05:00",
			[]string{"2024-11-03T02:00:00-05:00", "2024-11-03T02:01:00-05:00"}},
		{"NY overlap: from the repeat's last minute", "*/15 * * * *", "America/New_York", "2024-11-03T01:59:30-05:00",
			[]string{"2024-11-03T02:00:00-05:00"}},
		{"NY overlap: the time after it", "0 2 * * *", "America/New_York", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T02:00:00-05:00", "2024-11-04T02:00:00-05:00"}},

		// Lisbon springs forward at 01:00 WET on 31 March 2024 to 02:00 WEST
		// and falls back at 02:00 WEST on 27 October 2024 to 01:00 WET.
		{"Lisbon gap", "30 1 * * *", "Europe/Lisbon", "2024-03-30T12:00:00Z",
			[]string{"2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"}},
		{"Lisbon gap: every ten minutes", "*/10 1 * * *", "Europe/Lisbon", "2024-03-31T00:00:00Z",
			[]string{"2024-03-31T02:00:00+01:00", "2024-04-01T01:00:00+01:00"}},
		{"Lisbon overlap", "30 1 * * *", "Europe/Lisbon", "2024-10-26T12:00:00Z",
			[]string{"2024-10-27T01:30:00+01:00", "2024-10-28T01:30:00Z"}},
		{"Lisbon overlap: hourly", "0 * * * *", "Europe/Lisbon", "2024-10-27T00:30:00+01:00",
			[]string{"2024-10-27T01:00:00+01:00", "2024-10-27T02:00:00Z", "2024-10-27T03:00:00Z"}},

		// Lord Howe Island moves its clocks by half an hour.
		{"Lord Howe gap", "15 2 * * *", "Australia/Lord_Howe", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"}},
		// Samoa skipped 30 December 2011 entirely.
		{"Apia skipped day", "0 12 * * *", "Pacific/Apia", "2011-12-29T12:00:00-10:00",
			[]string{"2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			var loc *time.Location
			if tt.zone != "" {
				loc = mustLoad(t, tt.zone)
			}
			after, err := time.Parse(time.RFC3339Nano, tt.after)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				var want time.Time
				if w != "" {
					if want, err = time.Parse(time.RFC3339, w); err != nil {
						t.Fatal(err)
					}
				}
				got := s.Next(after, loc)
				if !got.Equal(want) {
					t.Fatalf("fire %d: Next(%s) = %s, want %s", i+1, after.Format(time.RFC3339), show(got, loc), show(want, loc))
				}
				if !got.IsZero() && got.Location() != time.UTC {
					t.Errorf("Next returned %v in %v, want UTC", got, got.Location())
				}
				after = got
			}
		})
	}
}

func show(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "zero"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(time.RFC3339)
}

// bruteNext is a reference written for obviousness: it walks wall-clock
// minutes (skipping non-matching days and hours), and maps each match to the
// first minute whose wall clock reads it or later, which is the first
// occurrence or the end of the gap that skips it.
func bruteNext(s *Schedule, after time.Time, loc *time.Location, horizon time.Duration) time.Time {
	w := after.In(loc)
	c := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, time.UTC)
	end := c.Add(horizon)
	for c.Before(end) {
		dom := s.dom&(1<<c.Day()) != 0
		dow := s.dow&(1<<int(c.Weekday())) != 0
		day := dom || dow
		if s.domStar || s.dowStar {
			day = dom && dow
		}
		switch {
		case s.month&(1<<int(c.Month())) == 0 || !day:
			c = time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<c.Hour()) == 0:
			c = c.Truncate(time.Hour).Add(time.Hour)
		case s.minute&(1<<c.Minute()) == 0:
			c = c.Add(time.Minute)
		default:
			t := time.Unix(c.Unix()-15*3600, 0) // wall clock at least an hour before c
			for {
				w := t.In(loc)
				if !time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, time.UTC).Before(c) {
					break
				}
				t = t.Add(time.Minute)
			}
			if t.After(after) {
				return t.UTC()
			}
			c = c.Add(time.Minute)
		}
	}
	return time.Time{}
}

func TestNextMatchesBruteForce(t *testing.T) {
	fields := [5][]string{
		{"*", "*/7", "0", "0,30", "15-45/10", "59", "*/15"},
		{"*", "1", "2", "1-3", "*/5", "0", "23", "0-2/2"},
		{"*", "1", "13", "29", "31", "*/2", "1-7", "30,31", "*/10"},
		{"*", "2", "3,11", "10-12", "*/4", "*"},
		{"*", "0", "MON-FRI", "5", "SUN,SAT", "*/3", "*"},
	}
	zones := []string{"America/New_York", "Europe/Lisbon", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"}
	var locs []*time.Location
	for _, z := range zones {
		locs = append(locs, mustLoad(t, z))
	}
	// Instants next to each zone's transitions in 2024, where mistakes
	// would be, plus random instants.
	var starts []time.Time
	for _, loc := range locs {
		for t := time.Date(2024, 1, 1, 0, 0, 0, 0, loc); t.Year() == 2024; {
			_, end := t.ZoneBounds()
			if end.IsZero() || end.Year() != 2024 {
				break
			}
			for _, d := range []time.Duration{-3 * time.Hour, -time.Hour, -90 * time.Second, -time.Second, 0, 30 * time.Second, 30 * time.Minute, time.Hour + 7*time.Minute} {
				starts = append(starts, end.Add(d))
			}
			t = end
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 600
	if testing.Short() {
		n = 100
	}
	const horizon = 3 * 366 * 24 * time.Hour
	for range n {
		var f [5]string
		for i := range f {
			f[i] = fields[i][rng.IntN(len(fields[i]))]
		}
		expr := strings.Join(f[:], " ")
		s, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		loc := locs[rng.IntN(len(locs))]
		var after time.Time
		if rng.IntN(2) == 0 {
			after = starts[rng.IntN(len(starts))]
		} else {
			after = time.Unix(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Unix()+rng.Int64N(3*365*86400), 0)
		}
		for range 5 {
			got := s.Next(after, loc)
			want := bruteNext(s, after, loc, horizon)
			if want.IsZero() && (got.IsZero() || got.Sub(after) > horizon-48*time.Hour) {
				break // beyond the reference's reach
			}
			if !got.Equal(want) {
				t.Fatalf("%q in %v: Next(%s) = %s, brute force says %s", expr, loc, show(after, loc), show(got, loc), show(want, loc))
			}
			after = got
		}
	}
}

func TestNextFirstOfMonthOnWeekday(t *testing.T) {
	// "*/31" is the 1st alone but begins with "*", so each of these wants
	// the 1st of one month to fall on one weekday, across centuries that
	// skip a leap year.
	for m := 1; m <= 12; m++ {
		for wd := 0; wd < 7; wd++ {
			expr := fmt.Sprintf("0 0 */31 %d %d", m, wd)
			s, err := Parse(expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, y := range []int{1, 1899, 2024, 2090, 9990} {
				after := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
				got := s.Next(after, time.UTC)
				if got.IsZero() || got.Day() != 1 || int(got.Month()) != m || int(got.Weekday()) != wd {
					t.Fatalf("%q: Next(%s) = %s", expr, after, got)
				}
				if gap := got.Year() - y; gap > 13 {
					t.Errorf("%q: Next(%s) = %s, %d years on", expr, after, got, gap)
				}
			}
		}
	}
}

func TestNextRareDays(t *testing.T) {
	// "*/7" is Sunday and begins with "*", so each of these wants one date
	// to fall on a Sunday: the 29th of February waits up to 40 years.
	for m := 1; m <= 12; m++ {
		for d := 1; d <= 31; d++ {
			expr := fmt.Sprintf("0 0 %d %d */7", d, m)
			s, err := Parse(expr)
			if err != nil {
				t.Fatal(err)
			}
			if want := d <= daysIn(2000, m); s.never == want {
				t.Fatalf("%q: never = %v", expr, s.never)
			}
			for _, y := range []int{2000, 2061, 2099} {
				after := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
				got := s.Next(after, time.UTC)
				if s.never {
					if !got.IsZero() {
						t.Fatalf("%q: Next(%s) = %s, want zero", expr, after, got)
					}
					continue
				}
				if got.IsZero() || got.Day() != d || int(got.Month()) != m || got.Weekday() != time.Sunday || got.Year()-y > 40 {
					t.Fatalf("%q: Next(%s) = %s", expr, after, got)
				}
			}
		}
	}
	s, err := Parse("0 0 29 2 */7")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Next(time.Date(2088, 3, 1, 0, 0, 0, 0, time.UTC), nil), time.Date(2128, 2, 29, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next after the 2088 Sunday 29th of February = %s, want %s", got, want)
	}
}

func TestWeekday(t *testing.T) {
	for d := time.Date(-802, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2403; d = d.AddDate(0, 0, 1) {
		if got := weekday(d.Year(), int(d.Month()), d.Day()); got != int(d.Weekday()) {
			t.Fatalf("weekday(%s) = %d, want %d", d.Format("2006-01-02"), got, d.Weekday())
		}
	}
}

func TestConcurrentNext(t *testing.T) {
	s, err := Parse("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	loc := mustLoad(t, "Europe/Lisbon")
	after := time.Date(2024, 10, 27, 0, 0, 0, 0, time.UTC)
	want := s.Next(after, loc)
	done := make(chan time.Time)
	for range 8 {
		go func() { done <- s.Next(after, loc) }()
	}
	for range 8 {
		if got := <-done; !got.Equal(want) {
			t.Errorf("concurrent Next = %v, want %v", got, want)
		}
	}
}

func ExampleSchedule_Next() {
	s, err := Parse("30 2 * * *")
	if err != nil {
		panic(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	// Clocks skip from 02:00 to 03:00 on 10 March 2024.
	t := time.Date(2024, 3, 9, 12, 0, 0, 0, ny)
	for range 3 {
		t = s.Next(t, ny)
		fmt.Println(t.In(ny).Format("Mon Jan 2 15:04 MST"))
	}
	// Output:
	// Sun Mar 10 03:00 EDT
	// Mon Mar 11 02:30 EDT
	// Tue Mar 12 02:30 EDT
}

func BenchmarkNext(b *testing.B) {
	cases := []struct{ name, expr, zone string }{
		{"every-minute", "* * * * *", "UTC"},
		{"business-hours", "*/15 9-17 * * MON-FRI", "America/New_York"},
		{"daily-in-zone", "30 2 * * *", "Europe/Lisbon"},
		{"leap-day", "0 0 29 2 *", "UTC"},
		{"13th-or-friday", "0 0 13 * FRI", "America/New_York"},
		{"never", "0 0 30 2 *", "UTC"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, err := Parse(c.expr)
			if err != nil {
				b.Fatal(err)
			}
			loc := mustLoad(b, c.zone)
			start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
			t := start
			b.ReportAllocs()
			for b.Loop() {
				// Walk the sequence, restarting before it leaves the
				// years the zone data spells out.
				if t = s.Next(t, loc); t.IsZero() || t.Year() > 2034 {
					t = start
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("*/15 9-17 1,15 JAN-JUN MON-FRI"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse checks that Parse never panics, that an accepted expression
// parses again from its String to the same schedule, and that Next moves
// strictly forward, lands on a matching wall time or the end of a gap, and
// returns zero only for schedules that can never fire.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"* * * * *", "*/15 9-17 * * MON-FRI", "0 0 29 2 *", "0 0 30 2 *", "0 0 13 * FRI",
		"0 0 */2 * MON", "30 2 * * *", "5-7/2 1,2 */3 jan-mar 5-7", "@daily", "@every 5m",
		"0 0 L * *", "1#2", "61 * * * *", "*/0 * * * *", "  1 2 3 4 5  ", "0 0 */31 2 1",
	} {
		f.Add(seed, int64(0), uint8(0))
	}
	zones := []*time.Location{time.UTC}
	for _, z := range []string{"America/New_York", "Europe/Lisbon", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kathmandu", "America/St_Johns"} {
		zones = append(zones, mustLoad(f, z))
	}
	base := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	const years300 = 300 * 365 * 86400
	f.Fuzz(func(t *testing.T, expr string, sec int64, zone uint8) {
		s, err := Parse(expr)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse(%q) returned a schedule and an error", expr)
			}
			if !strings.HasPrefix(err.Error(), "cron: ") {
				t.Fatalf("Parse(%q) error %q lacks the package prefix", expr, err)
			}
			return
		}
		again, err := Parse(s.String())
		if err != nil || *again != *s {
			t.Fatalf("Parse(%q) then Parse(String()) = %+v, %v; want %+v", expr, again, err, s)
		}
		loc := zones[int(zone)%len(zones)]
		r := sec % years300
		if r < 0 {
			r += years300
		}
		after := time.Unix(base+r, 0)
		next := s.Next(after, loc)
		if next.IsZero() {
			if !s.never {
				t.Fatalf("%q: Next(%s) in %v is zero but the schedule can fire", expr, after, loc)
			}
			return
		}
		if !next.After(after) {
			t.Fatalf("%q: Next(%s) = %s in %v, not after", expr, after, next, loc)
		}
		w := next.In(loc)
		if w.Second() == 0 && s.minute&(1<<w.Minute()) != 0 && s.hour&(1<<w.Hour()) != 0 &&
			s.month&(1<<int(w.Month())) != 0 && s.dayMatches(w.Year(), int(w.Month()), w.Day()) {
			return
		}
		// Otherwise it must be the end of a gap in the wall clock.
		_, before := next.Add(-time.Nanosecond).In(loc).Zone()
		if _, at := w.Zone(); before >= at {
			t.Fatalf("%q: Next(%s) = %s in %v matches no wall time and ends no gap", expr, after, w, loc)
		}
	})
}
