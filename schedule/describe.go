package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// String describes s for people, e.g. "every day at 03:00 Europe/Berlin,
// until 2027-01-01, at most 10 runs". The dashboard shows it; it is stored
// next to the schedule.
func (s Schedule) String() string {
	var b strings.Builder
	s.describeCore(&b)
	if s.Location != "" {
		b.WriteString(" " + s.Location)
	}
	switch {
	case s.Start.Now:
		b.WriteString(", starting now")
	case !s.Start.At.IsZero():
		b.WriteString(", starting at " + fmtDate(s.Start.At))
	case s.Start.After > 0:
		b.WriteString(", starting after " + s.Start.After.String())
	}
	if !s.RunUntil.IsZero() {
		b.WriteString(", until " + fmtDate(s.RunUntil))
	}
	if s.MaxRuns == 1 {
		b.WriteString(", at most 1 run")
	} else if s.MaxRuns > 0 {
		fmt.Fprintf(&b, ", at most %d runs", s.MaxRuns)
	}
	return b.String()
}

func (s Schedule) describeCore(b *strings.Builder) {
	if s.Cron != "" {
		fmt.Fprintf(b, "cron %q", s.Cron)
		return
	}
	if s.Unit == "" {
		b.WriteString("empty schedule")
		return
	}
	if s.Every == 1 {
		b.WriteString("every " + string(s.Unit))
	} else {
		fmt.Fprintf(b, "every %d %ss", s.Every, s.Unit)
	}
	switch s.Unit {
	case UnitMinute:
		if len(s.Times) > 0 {
			b.WriteString(" at second " + join(s.Times, func(c Clock) string { return strconv.Itoa(c.Second) }))
		}
		return
	case UnitHour:
		if len(s.Times) > 0 {
			b.WriteString(" at minute " + join(s.Times, func(c Clock) string {
				if c.Second != 0 {
					return fmt.Sprintf("%02d:%02d", c.Minute, c.Second)
				}
				return strconv.Itoa(c.Minute)
			}))
		}
		return
	case UnitWeek:
		days := s.Weekdays
		if len(days) == 0 {
			days = []time.Weekday{time.Monday}
		}
		b.WriteString(" on " + join(days, time.Weekday.String))
	case UnitMonth:
		var parts []string
		for _, d := range s.Days {
			parts = append(parts, "day "+strconv.Itoa(d))
		}
		for _, n := range s.NthWeekdays {
			parts = append(parts, "the "+ordinal(n.N)+" "+n.Weekday.String())
		}
		if len(parts) == 0 {
			parts = []string{"day 1"}
		}
		b.WriteString(" on " + strings.Join(parts, ", "))
	}
	if len(s.Months) > 0 {
		b.WriteString(" in " + join(s.Months, time.Month.String))
	}
	if s.calendar() {
		b.WriteString(" at " + join(s.times(), Clock.String))
	}
}

func join[T any](v []T, f func(T) string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "first"
	case 2:
		return "second"
	case 3:
		return "third"
	case 4:
		return "fourth"
	case -1:
		return "last"
	}
	return strconv.Itoa(n) + "th"
}

// fmtDate prints a date alone when the time is midnight UTC.
func fmtDate(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}
