package schedule

import (
	"slices"
	"time"
)

// Limits keep every stride under about a century, so occurrence arithmetic
// cannot overflow, and bound the work of one Next call.
var maxEvery = map[Unit]int{
	UnitSecond: 100 * 366 * 86400,
	UnitMinute: 100 * 366 * 1440,
	UnitHour:   100 * 366 * 24,
	UnitDay:    100 * 366,
	UnitWeek:   100 * 53,
	UnitMonth:  100 * 12,
}

// maxTimes bounds the slots of one period.
const maxTimes = 1440

// Validate reports whether s is well formed, with an error wrapping
// ErrInvalid that names the first problem. It does not look at the clock:
// First also checks RunUntil against the time of dispatch.
func (s Schedule) Validate() error {
	if s.err != nil {
		return invalid("%v", s.err)
	}
	if _, err := s.location(); err != nil {
		return err
	}
	if err := s.validateStart(); err != nil {
		return err
	}
	if s.MaxRuns < 0 {
		return invalid("max runs must be positive, got %d", s.MaxRuns)
	}
	if s.Cron != "" {
		if s.Unit != "" || s.Every != 0 || len(s.Times) > 0 || len(s.Weekdays) > 0 ||
			len(s.Days) > 0 || len(s.NthWeekdays) > 0 || len(s.Months) > 0 {
			return invalid("cron %q cannot be combined with interval or calendar fields", s.Cron)
		}
		_, err := parseCron(s.Cron)
		return err
	}
	if s.Unit == "" {
		if s.Every != 0 || len(s.Times) > 0 || len(s.Weekdays) > 0 || len(s.Days) > 0 ||
			len(s.NthWeekdays) > 0 || len(s.Months) > 0 {
			return invalid("schedule has calendar fields but no unit")
		}
		return invalid("empty schedule: give an interval, a calendar or a cron expression")
	}
	limit, ok := maxEvery[s.Unit]
	if !ok {
		return invalid("unknown unit %q", s.Unit)
	}
	if s.Every < 1 || s.Every > limit {
		return invalid("every %d %ss is out of range 1-%d", s.Every, s.Unit, limit)
	}
	if err := s.validateTimes(); err != nil {
		return err
	}
	if len(s.Weekdays) > 0 && s.Unit != UnitWeek {
		return invalid("weekdays need a week schedule, not %s", s.kind())
	}
	if (len(s.Days) > 0 || len(s.NthWeekdays) > 0) && s.Unit != UnitMonth {
		return invalid("days of the month need a month schedule, not %s", s.kind())
	}
	if len(s.Months) > 0 && !s.calendar() {
		return invalid("months need a day, week or month schedule, not %s", s.kind())
	}
	for _, wd := range s.Weekdays {
		if wd < time.Sunday || wd > time.Saturday {
			return invalid("weekday %d is out of range 0-6", wd)
		}
	}
	if !sortedUnique(s.Weekdays) {
		return invalid("weekdays are not sorted or have duplicates")
	}
	for _, d := range s.Days {
		if d < 1 || d > 31 {
			return invalid("day of month %d is out of range 1-31", d)
		}
	}
	if !sortedUnique(s.Days) {
		return invalid("days of month are not sorted or have duplicates")
	}
	for _, n := range s.NthWeekdays {
		if n.N != -1 && (n.N < 1 || n.N > 4) {
			return invalid("weekday ordinal %d is out of range 1-4 or -1 (last)", n.N)
		}
		if n.Weekday < time.Sunday || n.Weekday > time.Saturday {
			return invalid("weekday %d is out of range 0-6", n.Weekday)
		}
	}
	if !slices.Equal(s.NthWeekdays, normalizeNth(slices.Clone(s.NthWeekdays))) {
		return invalid("nth weekdays are not sorted or have duplicates")
	}
	for _, m := range s.Months {
		if m < time.January || m > time.December {
			return invalid("month %d is out of range 1-12", m)
		}
	}
	if !sortedUnique(s.Months) {
		return invalid("months are not sorted or have duplicates")
	}
	return nil
}

func (s Schedule) validateTimes() error {
	if len(s.Times) > maxTimes {
		return invalid("%d times is more than %d", len(s.Times), maxTimes)
	}
	for i, c := range s.Times {
		if !c.valid() {
			return invalid("time %02d:%02d:%02d is out of range", c.Hour, c.Minute, c.Second)
		}
		switch s.Unit {
		case UnitSecond:
			return invalid("a second schedule takes no times")
		case UnitMinute:
			if c.Hour != 0 || c.Minute != 0 {
				return invalid("a minute schedule takes seconds only, got %s", c)
			}
		case UnitHour:
			if c.Hour != 0 {
				return invalid("an hour schedule takes minutes and seconds only, got %s", c)
			}
		}
		if i > 0 && s.Times[i-1].seconds() >= c.seconds() {
			return invalid("times are not sorted or have duplicates")
		}
	}
	return nil
}

func (s Schedule) validateStart() error {
	n := 0
	if s.Start.Now {
		n++
	}
	if !s.Start.At.IsZero() {
		n++
	}
	if s.Start.After != 0 {
		n++
	}
	if n > 1 {
		return invalid("start sets more than one of now, at and after")
	}
	if s.Start.After < 0 {
		return invalid("start after %s is negative", s.Start.After)
	}
	if y := s.Start.At.Year(); !s.Start.At.IsZero() && (y < 1 || y > 9999) {
		return invalid("start at year %d is out of range", y)
	}
	if y := s.RunUntil.Year(); !s.RunUntil.IsZero() && (y < 1 || y > 9999) {
		return invalid("run until year %d is out of range", y)
	}
	return nil
}

func sortedUnique[T ~int](v []T) bool {
	for i := 1; i < len(v); i++ {
		if v[i-1] >= v[i] {
			return false
		}
	}
	return true
}
