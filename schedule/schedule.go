package schedule

import (
	"fmt"
	"slices"
	"time"
)

// Unit is the period of an interval schedule.
type Unit string

// The units of an interval schedule. Second, minute and hour intervals are
// durations: every hour is every 3600 seconds, also across a clock change.
// Day, week and month intervals are calendar periods in the schedule's
// location, so "every day at 03:00" stays at 03:00 local all year.
const (
	UnitSecond Unit = "second"
	UnitMinute Unit = "minute"
	UnitHour   Unit = "hour"
	UnitDay    Unit = "day"
	UnitWeek   Unit = "week"
	UnitMonth  Unit = "month"
)

// Clock is a time of day. A minute schedule uses only Second and an hour
// schedule only Minute and Second. It encodes as "15:04:05".
type Clock struct {
	Hour, Minute, Second int
}

// At returns the Clock h:m:00.
func At(h, m int) Clock { return Clock{Hour: h, Minute: m} }

func (c Clock) seconds() int64 { return int64(c.Hour)*3600 + int64(c.Minute)*60 + int64(c.Second) }

func (c Clock) valid() bool {
	return c.Hour >= 0 && c.Hour < 24 && c.Minute >= 0 && c.Minute < 60 && c.Second >= 0 && c.Second < 60
}

// String returns "15:04", or "15:04:05" when the second is set.
func (c Clock) String() string {
	if c.Second != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", c.Hour, c.Minute, c.Second)
	}
	return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute)
}

// NthWeekday selects the N-th given weekday of a month: N is 1 to 4 for the
// first to fourth, or -1 for the last.
type NthWeekday struct {
	N       int          `json:"n"`
	Weekday time.Weekday `json:"weekday"`
}

// Start says when the first run of a new series happens. At most one field
// is set; with none, the first run is the schedule's first occurrence after
// the dispatch. Start is only read by First: after a restart a series
// continues from its stored next run.
type Start struct {
	// Now runs the first occurrence at dispatch time.
	Now bool `json:"now,omitempty"`
	// At runs the first occurrence at this instant.
	At time.Time `json:"at,omitzero"`
	// After runs the first occurrence this long after the dispatch.
	After time.Duration `json:"after,omitempty"`
}

// IsZero reports whether no start option is set.
func (s Start) IsZero() bool { return !s.Now && s.At.IsZero() && s.After == 0 }

// Schedule is a recurring schedule. It is a plain value: the builder methods
// return modified copies, and it round-trips through JSON unchanged, which is
// how a store keeps it. Build one with the constructors (EverySeconds, Daily,
// Weekly, Monthly, Cron, ...), then refine it.
//
// Exactly one of Cron and Unit is set. Next, First and Resume assume a valid
// schedule (see Validate): on an invalid one they return the zero time,
// never panic and never loop forever.
type Schedule struct {
	// Cron is a cron expression (5 fields, or 6 with a leading seconds
	// field). It excludes every calendar field below.
	Cron string `json:"cron,omitempty"`

	// Every is the stride of an interval schedule, in Units: every Every
	// seconds, minutes, hours, days, weeks or months.
	Every int  `json:"every,omitempty"`
	Unit  Unit `json:"unit,omitempty"`

	// Times are the slots inside each period, sorted and without
	// duplicates: seconds of a minute (UnitMinute), minutes and seconds of
	// an hour (UnitHour), or times of day (day, week and month units; the
	// default is midnight). Without Times a second, minute or hour
	// schedule is a plain interval from its previous run.
	Times []Clock `json:"times,omitempty"`
	// Weekdays are the days of a week schedule (default Monday).
	Weekdays []time.Weekday `json:"weekdays,omitempty"`
	// Days are the days of a month schedule (1 to 31). A day the month
	// does not have means its last day: day 31 runs on April 30.
	Days []int `json:"days,omitempty"`
	// NthWeekdays are more days of a month schedule, such as the first
	// Monday. A month schedule with neither Days nor NthWeekdays runs on
	// the 1st.
	NthWeekdays []NthWeekday `json:"nth_weekdays,omitempty"`
	// Months restricts day, week and month schedules to these months.
	Months []time.Month `json:"months,omitempty"`

	// Location is the IANA time zone the calendar is read in; empty is
	// UTC.
	Location string `json:"location,omitempty"`

	// Start is the first run of a new series.
	Start Start `json:"start,omitzero"`
	// RunUntil ends the series: no occurrence at or after it (exclusive).
	RunUntil time.Time `json:"run_until,omitzero"`
	// MaxRuns ends the series after this many real executions; 0 is no
	// limit. Only what knows the run count applies it: Exhausted, Advance
	// and Upcoming, not Next.
	MaxRuns int `json:"max_runs,omitempty"`

	// err is the first misuse of a builder method, reported by Validate.
	err error
}

// EverySeconds runs every n seconds.
func EverySeconds(n int) Schedule { return every(n, UnitSecond) }

// EveryMinutes runs every n minutes.
func EveryMinutes(n int) Schedule { return every(n, UnitMinute) }

// EveryMinute runs every minute; refine it with AtSecond.
func EveryMinute() Schedule { return every(1, UnitMinute) }

// EveryHours runs every n hours.
func EveryHours(n int) Schedule { return every(n, UnitHour) }

// EveryHour runs every hour; refine it with AtMinute and AtSecond.
func EveryHour() Schedule { return every(1, UnitHour) }

// EveryDays runs every n days, at midnight unless At says otherwise.
func EveryDays(n int) Schedule { return every(n, UnitDay) }

// Daily runs every day, at midnight unless At says otherwise.
func Daily() Schedule { return every(1, UnitDay) }

// EveryWeeks runs every n weeks (weeks start on Monday), on Monday unless On
// says otherwise, at midnight unless At says otherwise.
func EveryWeeks(n int) Schedule { return every(n, UnitWeek) }

// Weekly runs every week on the given days (Monday if none), at midnight
// unless At says otherwise.
func Weekly(days ...time.Weekday) Schedule { return every(1, UnitWeek).On(days...) }

// EveryMonths runs every n months, on the 1st unless OnDay, OnDays or OnNth
// says otherwise, at midnight unless At says otherwise.
func EveryMonths(n int) Schedule { return every(n, UnitMonth) }

// Monthly runs every month, on the 1st unless OnDay, OnDays or OnNth says
// otherwise, at midnight unless At says otherwise.
func Monthly() Schedule { return every(1, UnitMonth) }

// Cron runs on a cron expression: 5 fields (minute hour day-of-month month
// day-of-week) or 6 with a leading seconds field. Fields take lists (1,15),
// ranges (1-5), steps (*/10, 5-30/5), month and weekday names (JAN, MON),
// "?" for any, and in the day fields L (last day, 5L last Friday), W
// (nearest weekday, 15W, LW) and # (MON#2, the second Monday). The macros
// @yearly, @monthly, @weekly, @daily and @hourly are accepted. Expressions
// using L, W or # end with the year 2099, others with 9999.
//
// Two rules follow Vixie cron, which reads them off a field's first
// character ("?" counts as "*"):
//
//   - Days: when the day-of-month or the day-of-week field starts with *,
//     a day must match both; otherwise it matches either. "0 9 3 * */1"
//     runs on the 3rd, "0 9 */2 * MON" on odd-numbered Mondays, and
//     "0 9 1-31/2 * MON" on odd days and on Mondays.
//   - Clock changes (with In): a wildcard job, whose minute or hour field
//     starts with *, runs whenever the clock shows a matching time, so
//     "0 * * * *" runs every real hour, twice in the repeated hour when the
//     clock falls back, and a time the clock skips never runs. Any other
//     job is fixed-time and runs each wall time once, like a calendar: the
//     first pass of a repeated hour, the end of a gap. "0 1-3 * * *" is
//     fixed-time.
func Cron(expr string) Schedule { return Schedule{Cron: expr} }

func every(n int, u Unit) Schedule {
	s := Schedule{Every: n, Unit: u}
	if n <= 0 {
		s.err = fmt.Errorf("every %d %ss: the interval must be positive", n, u)
	}
	return s
}

// fail records the first builder misuse.
func (s Schedule) fail(format string, args ...any) Schedule {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
	return s
}

// AtSecond runs a minute schedule at these seconds of the minute, or sets the
// second of an hour schedule's slots (one value).
func (s Schedule) AtSecond(seconds ...int) Schedule {
	switch s.Unit {
	case UnitMinute:
		times := make([]Clock, 0, len(seconds))
		for _, sec := range seconds {
			if sec < 0 || sec > 59 {
				return s.fail("second %d is out of range 0-59", sec)
			}
			times = append(times, Clock{Second: sec})
		}
		s.Times = normalizeClocks(times)
	case UnitHour:
		if len(seconds) != 1 {
			return s.fail("AtSecond on an hour schedule takes one second, got %d", len(seconds))
		}
		if seconds[0] < 0 || seconds[0] > 59 {
			return s.fail("second %d is out of range 0-59", seconds[0])
		}
		times := slices.Clone(s.Times)
		if len(times) == 0 {
			times = []Clock{{}}
		}
		for i := range times {
			times[i].Second = seconds[0]
		}
		s.Times = normalizeClocks(times)
	default:
		return s.fail("AtSecond needs a minute or hour schedule, not %s", s.kind())
	}
	return s
}

// AtMinute runs an hour schedule at these minutes of the hour.
func (s Schedule) AtMinute(minutes ...int) Schedule {
	if s.Unit != UnitHour {
		return s.fail("AtMinute needs an hour schedule, not %s", s.kind())
	}
	sec := 0
	if len(s.Times) > 0 {
		sec = s.Times[0].Second
	}
	times := make([]Clock, 0, len(minutes))
	for _, m := range minutes {
		if m < 0 || m > 59 {
			return s.fail("minute %d is out of range 0-59", m)
		}
		times = append(times, Clock{Minute: m, Second: sec})
	}
	s.Times = normalizeClocks(times)
	return s
}

// At adds the time of day h:m to a day, week or month schedule. Every listed
// time runs.
func (s Schedule) At(h, m int) Schedule { return s.AtTimes(Clock{Hour: h, Minute: m}) }

// AtTimes adds times of day to a day, week or month schedule. Every listed
// time runs; duplicates run once.
func (s Schedule) AtTimes(times ...Clock) Schedule {
	if !s.calendar() {
		return s.fail("At needs a day, week or month schedule, not %s", s.kind())
	}
	for _, c := range times {
		if !c.valid() {
			return s.fail("time %02d:%02d:%02d is out of range", c.Hour, c.Minute, c.Second)
		}
	}
	s.Times = normalizeClocks(append(slices.Clone(s.Times), times...))
	return s
}

// On adds days of the week to a week schedule.
func (s Schedule) On(days ...time.Weekday) Schedule {
	if s.Unit != UnitWeek {
		return s.fail("On needs a week schedule, not %s", s.kind())
	}
	s.Weekdays = normalize(append(slices.Clone(s.Weekdays), days...))
	return s
}

// OnDay adds a day of the month (1 to 31) to a month schedule. A day the
// month does not have means its last day.
func (s Schedule) OnDay(day int) Schedule { return s.OnDays(day) }

// OnDays adds days of the month to a month schedule.
func (s Schedule) OnDays(days ...int) Schedule {
	if s.Unit != UnitMonth {
		return s.fail("OnDay needs a month schedule, not %s", s.kind())
	}
	s.Days = normalize(append(slices.Clone(s.Days), days...))
	return s
}

// OnFirst adds the first given weekday of the month to a month schedule.
func (s Schedule) OnFirst(wd time.Weekday) Schedule { return s.OnNth(1, wd) }

// OnLast adds the last given weekday of the month to a month schedule.
func (s Schedule) OnLast(wd time.Weekday) Schedule { return s.OnNth(-1, wd) }

// OnNth adds the n-th given weekday of the month (n 1 to 4, or -1 for the
// last) to a month schedule.
func (s Schedule) OnNth(n int, wd time.Weekday) Schedule {
	if s.Unit != UnitMonth {
		return s.fail("OnNth needs a month schedule, not %s", s.kind())
	}
	s.NthWeekdays = normalizeNth(append(slices.Clone(s.NthWeekdays), NthWeekday{N: n, Weekday: wd}))
	return s
}

// InMonths restricts a day, week or month schedule to the given months.
func (s Schedule) InMonths(months ...time.Month) Schedule {
	if !s.calendar() {
		return s.fail("InMonths needs a day, week or month schedule, not %s", s.kind())
	}
	s.Months = normalize(append(slices.Clone(s.Months), months...))
	return s
}

// In reads the schedule's calendar in loc, which must be UTC or an IANA
// location loaded with time.LoadLocation (its name is what is stored). A nil
// loc means UTC.
func (s Schedule) In(loc *time.Location) Schedule {
	if loc == nil || loc == time.UTC || loc.String() == "UTC" {
		s.Location = ""
		return s
	}
	s.Location = loc.String()
	return s
}

// StartNow runs the first occurrence at dispatch, then follows the schedule.
func (s Schedule) StartNow() Schedule {
	s.Start = Start{Now: true}
	return s
}

// StartAt runs the first occurrence at t, then follows the schedule from t.
func (s Schedule) StartAt(t time.Time) Schedule {
	if t.IsZero() {
		return s.fail("StartAt needs a time")
	}
	s.Start = Start{At: normTime(t)}
	return s
}

// StartAfter runs the first occurrence d after dispatch, then follows the
// schedule from there.
func (s Schedule) StartAfter(d time.Duration) Schedule {
	if d <= 0 {
		return s.fail("StartAfter needs a positive delay, got %s", d)
	}
	s.Start = Start{After: d}
	return s
}

// Until ends the series before t: no occurrence at or after t runs.
func (s Schedule) Until(t time.Time) Schedule {
	if t.IsZero() {
		return s.fail("Until needs a time")
	}
	s.RunUntil = normTime(t)
	return s
}

// AtMost ends the series after n real executions, successful or failed.
func (s Schedule) AtMost(n int) Schedule {
	if n <= 0 {
		return s.fail("max runs must be positive, got %d", n)
	}
	s.MaxRuns = n
	return s
}

// normTime is how a store keeps a time: UTC, microseconds.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (s Schedule) calendar() bool {
	return s.Cron == "" && (s.Unit == UnitDay || s.Unit == UnitWeek || s.Unit == UnitMonth)
}

// kind names the schedule's shape in builder errors.
func (s Schedule) kind() string {
	switch {
	case s.Cron != "":
		return "a cron schedule"
	case s.Unit == "":
		return "an empty schedule"
	}
	return "a " + string(s.Unit) + " schedule"
}

func normalize[T ~int](v []T) []T {
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	return slices.Compact(v)
}

func normalizeClocks(c []Clock) []Clock {
	if len(c) == 0 {
		return nil
	}
	slices.SortFunc(c, func(a, b Clock) int { return int(a.seconds() - b.seconds()) })
	return slices.CompactFunc(c, func(a, b Clock) bool { return a.seconds() == b.seconds() })
}

func normalizeNth(v []NthWeekday) []NthWeekday {
	if len(v) == 0 {
		return nil
	}
	slices.SortFunc(v, func(a, b NthWeekday) int {
		if a.N != b.N {
			return a.N - b.N
		}
		return int(a.Weekday) - int(b.Weekday)
	})
	return slices.Compact(v)
}
