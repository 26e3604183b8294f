package schedule

import (
	"fmt"
	"time"
)

// Bounds on the work of one computation, so a pathological or corrupt
// schedule ends with "no occurrence" instead of hanging.
const (
	maxPeriodSteps = 4096   // periods visited looking for an allowed one
	maxResolve     = 64     // retries around clock changes
	maxWalk        = 100000 // occurrences stepped by Resume before it gives up walking
)

// midnight is the default time of day of calendar schedules.
var midnight = []Clock{{}}

// Next returns the first occurrence strictly after after, or the zero time
// when there is none (the series reached RunUntil, the calendar ran out, or
// the schedule is invalid). It is drift-free when given the previous
// occurrence's scheduled time rather than the time a run ended.
//
// Next is the calendar alone: it applies RunUntil but neither Start, which
// only First reads, nor MaxRuns, which needs the count of runs Next is not
// given (Resume steps over missed occurrences with it, and those never
// count). To list the runs a series has left, use Upcoming; after a run,
// Advance.
//
// Intervals step from after: EverySeconds(90).Next(t) is t+90s. Calendar
// slots (At, On, OnDay, cron) are absolute: Daily().At(3, 0).Next(t) is the
// first 03:00 after t. With a stride above one (EveryDays(2)), the stride is
// counted from after's period, so after should be an occurrence.
//
// The result is in UTC. Schedule satisfies interface{ Next(time.Time)
// time.Time }.
func (s Schedule) Next(after time.Time) time.Time {
	return s.limit(s.next(after, s.Every))
}

// limit applies RunUntil and the year-9999 edge.
func (s *Schedule) limit(t time.Time) time.Time {
	if t.IsZero() || t.Year() > 9999 {
		return time.Time{}
	}
	if !s.RunUntil.IsZero() && !t.Before(s.RunUntil) {
		return time.Time{}
	}
	return t
}

// next is Next without the limits, with an explicit stride (First uses 1 so a
// calendar's first run is its next slot).
func (s *Schedule) next(after time.Time, stride int) time.Time {
	loc, err := s.location()
	if err != nil || after.Year() > 9999 {
		return time.Time{}
	}
	if s.Cron != "" {
		return s.nextCron(after, loc)
	}
	if stride < 1 || stride > maxEvery[s.Unit] {
		return time.Time{}
	}
	n := int64(stride)
	switch s.Unit {
	case UnitSecond:
		return addSeconds(after, n)
	case UnitMinute:
		if len(s.Times) == 0 {
			return addSeconds(after, 60*n)
		}
		return s.nextInPeriod(after, 60, n, 0)
	case UnitHour:
		if len(s.Times) == 0 {
			return addSeconds(after, 3600*n)
		}
		// The minute of the hour is read on the local clock (zones at
		// :30 or :45 offsets), the hours themselves are absolute.
		off := int64(0)
		if loc != time.UTC {
			off = offsetAt(after.Unix(), loc)
		}
		return s.nextInPeriod(after, 3600, n, off)
	case UnitDay, UnitWeek, UnitMonth:
		return s.nextCalendar(after, loc, n)
	}
	return time.Time{}
}

func addSeconds(t time.Time, n int64) time.Time {
	return time.Unix(t.Unix()+n, int64(t.Nanosecond())).UTC()
}

// nextInPeriod handles minute and hour schedules with slots: the first slot
// after t in t's period, else the first slot stride periods later.
func (s *Schedule) nextInPeriod(t time.Time, period, stride, off int64) time.Time {
	u := t.Unix() + off
	base := floorDiv(u, period) * period
	within := u - base
	for _, c := range s.Times {
		if sec := c.seconds(); sec > within && sec < period {
			return time.Unix(base+sec-off, 0).UTC()
		}
	}
	first := s.Times[0].seconds()
	if first >= period {
		return time.Time{}
	}
	return time.Unix(base+stride*period+first-off, 0).UTC()
}

// nextCalendar finds the next slot on the wall clock and maps it to an
// instant. A slot can map to an instant that is not after t when the clock
// fell back (the wall time already ran in the first pass): such slots are
// skipped, which is what makes an ambiguous time run once.
func (s *Schedule) nextCalendar(t time.Time, loc *time.Location, stride int64) time.Time {
	w := toWall(t, loc)
	for range maxResolve {
		sec, ok := s.nextWall(w, stride)
		if !ok {
			return time.Time{}
		}
		r := resolve(sec, loc)
		if r.After(t) {
			return r
		}
		// Skip every wall time that ran before t in the first pass.
		w = wall{sec: max(sec, t.Unix()+offsetAt(r.Unix(), loc))}
	}
	return time.Time{}
}

// nextCron follows Vixie cron across clock changes. A wildcard job (minute
// or hour field starting with *) runs whenever the clock shows a matching
// time; a fixed-time job runs each wall-clock time once, like a calendar:
// at its first occurrence when the clock falls back, at the end of the gap
// when it springs forward (Vixie runs the fixed-time jobs it skipped right
// after the jump).
func (s *Schedule) nextCron(t time.Time, loc *time.Location) time.Time {
	c, err := parseCron(s.Cron)
	if err != nil {
		return time.Time{}
	}
	if c.wild {
		return nextCronOnClock(c, t, loc)
	}
	w := toWall(t, loc)
	for range maxResolve {
		sec, ok := c.next(w)
		if !ok {
			return time.Time{}
		}
		r := resolve(sec, loc)
		if r.After(t) {
			return r
		}
		w = wall{sec: max(sec, t.Unix()+offsetAt(r.Unix(), loc))}
	}
	return time.Time{}
}

// maxClockChanges bounds the clock changes nextCronOnClock reads past: two
// a year for five centuries, more than the gap between two occurrences of
// any expression (the calendar repeats every 400 years).
const maxClockChanges = 1024

// nextCronOnClock returns the first instant after t at which the wall clock
// of loc shows a time the expression matches. Within one UTC offset the wall
// clock is monotone, so that is the first matching wall time after t's
// reading, if it comes before the offset changes; else the search goes on
// from the change, where the clock may jump ahead (a wall time in the gap
// never shows) or back (the repeated hour shows, and matches, again).
func nextCronOnClock(c *cronExpr, t time.Time, loc *time.Location) time.Time {
	u := t.Unix() + 1 // occurrences are whole seconds
	from := u + offsetAt(u, loc) - 1
	sec, ok := c.next(wall{sec: from})
	for range maxClockChanges {
		if !ok {
			return time.Time{}
		}
		if loc == time.UTC {
			return time.Unix(sec, 0).UTC()
		}
		off := offsetAt(u, loc)
		_, end := time.Unix(u, 0).In(loc).ZoneBounds()
		if at := sec - off; end.IsZero() || at < end.Unix() {
			return time.Unix(at, 0).UTC()
		}
		u = end.Unix()
		start := u + offsetAt(u, loc) // the clock's first reading after the change
		// sec is the first match after from: it still is the first at or
		// after start unless the clock went back to or before from, or
		// jumped past sec.
		if start <= from || sec < start {
			from = start - 1
			sec, ok = c.next(wall{sec: from})
		}
	}
	return time.Time{}
}

func (s *Schedule) times() []Clock {
	if len(s.Times) == 0 {
		return midnight
	}
	return s.Times
}

func (s *Schedule) monthAllowed(m int) bool {
	if len(s.Months) == 0 {
		return true
	}
	for _, x := range s.Months {
		if int(x) == m {
			return true
		}
	}
	return false
}

// nextWall returns the first wall clock second strictly after w: a later
// slot in w's period, else the first slot stride periods on.
func (s *Schedule) nextWall(w wall, stride int64) (int64, bool) {
	day, sod := w.day(), w.secOfDay()
	times := s.times()
	later := int64(-1) // first time of day after w, if any
	for _, c := range times {
		if sec := c.seconds(); sec > sod {
			later = sec
			break
		}
	}
	switch s.Unit {
	case UnitDay:
		if later >= 0 && s.dayAllowed(day) {
			return day*secondsPerDay + later, true
		}
		return s.firstFrom(day+stride, stride)
	case UnitWeek:
		mask := s.weekdayMask()
		start := day - isoOffset(weekdayOf(day))
		for off := isoOffset(weekdayOf(day)); off < 7; off++ {
			d := start + off
			if mask&(1<<off) == 0 || !s.dayAllowed(d) {
				continue
			}
			if d == day {
				if later >= 0 {
					return d*secondsPerDay + later, true
				}
				continue
			}
			return d*secondsPerDay + times[0].seconds(), true
		}
		return s.firstFrom(weekNumber(start)+stride, stride)
	case UnitMonth:
		y, m, d := civilFromDays(day)
		if s.monthAllowed(m) {
			mask := s.monthDayMask(y, m)
			for dd := d; dd <= daysIn(y, m); dd++ {
				if mask&(1<<dd) == 0 {
					continue
				}
				if dd == d {
					if later >= 0 {
						return day*secondsPerDay + later, true
					}
					continue
				}
				return (day+int64(dd-d))*secondsPerDay + times[0].seconds(), true
			}
		}
		return s.firstFrom(monthIndex(y, m)+stride, stride)
	}
	return 0, false
}

func (s *Schedule) dayAllowed(day int64) bool {
	if len(s.Months) == 0 {
		return true
	}
	_, m, _ := civilFromDays(day)
	return s.monthAllowed(m)
}

// firstFrom returns the first slot of period p (a day number, a week number
// counted in Monday-first weeks, or a month index), or of the first period
// p+k*stride that has one.
func (s *Schedule) firstFrom(p, stride int64) (int64, bool) {
	first := s.times()[0].seconds()
	switch s.Unit {
	case UnitDay:
		for range maxPeriodSteps {
			if p > maxDay || p < minDay {
				return 0, false
			}
			if s.dayAllowed(p) {
				return p*secondsPerDay + first, true
			}
			if stride == 1 {
				// Jump to the 1st of the next month.
				y, m, d := civilFromDays(p)
				p += int64(daysIn(y, m) - d + 1)
				continue
			}
			p += stride
		}
	case UnitWeek:
		mask := s.weekdayMask()
		for range maxPeriodSteps {
			start := weekStart(p)
			if start > maxDay || start < minDay-7 {
				return 0, false
			}
			for off := int64(0); off < 7; off++ {
				if mask&(1<<off) != 0 && s.dayAllowed(start+off) {
					if start+off > maxDay {
						return 0, false
					}
					return (start+off)*secondsPerDay + first, true
				}
			}
			p += stride
		}
	case UnitMonth:
		for range maxPeriodSteps {
			y, m := fromMonthIndex(p)
			if y > 9999 || y < 1 {
				return 0, false
			}
			if s.monthAllowed(m) {
				mask := s.monthDayMask(y, m)
				for d := 1; d <= 31; d++ {
					if mask&(1<<d) != 0 {
						return (daysFromCivil(y, m, d))*secondsPerDay + first, true
					}
				}
			}
			p += stride
		}
	}
	return 0, false
}

// weekdayMask has bit i set for the i-th day of a Monday-first week.
func (s *Schedule) weekdayMask() uint8 {
	if len(s.Weekdays) == 0 {
		return 1 // Monday
	}
	var mask uint8
	for _, wd := range s.Weekdays {
		if wd >= time.Sunday && wd <= time.Saturday {
			mask |= 1 << isoOffset(wd)
		}
	}
	return mask
}

// monthDayMask has bit d set for each day d of month y-m the schedule runs
// on. Days past the month's end mean its last day.
func (s *Schedule) monthDayMask(y int64, m int) uint32 {
	dim := daysIn(y, m)
	if len(s.Days) == 0 && len(s.NthWeekdays) == 0 {
		return 1 << 1
	}
	var mask uint32
	for _, d := range s.Days {
		if d >= 1 && d <= 31 {
			mask |= 1 << min(d, dim)
		}
	}
	if len(s.NthWeekdays) > 0 {
		first := weekdayOf(daysFromCivil(y, m, 1))
		last := weekdayOf(daysFromCivil(y, m, dim))
		for _, n := range s.NthWeekdays {
			if n.Weekday < time.Sunday || n.Weekday > time.Saturday {
				continue
			}
			var d int
			switch {
			case n.N >= 1 && n.N <= 4:
				d = 1 + (int(n.Weekday)-int(first)+7)%7 + 7*(n.N-1)
			case n.N == -1:
				d = dim - (int(last)-int(n.Weekday)+7)%7
			default:
				continue
			}
			mask |= 1 << d
		}
	}
	return mask
}

// First returns the first run of a new series dispatched at now, or an error
// naming why it has none (wrapping ErrInvalid or ErrNoOccurrence):
//
//   - Start.Now: now; Start.After: now plus the delay; Start.At: that time
//     (a past one is treated like a stored next run after downtime, see
//     Resume);
//   - otherwise a calendar or cron schedule's next slot after now (daily at
//     03:00 dispatched at 01:00 runs today at 03:00), and an interval's
//     first step from now (every 5 minutes: now plus 5 minutes).
//
// RunUntil must be after now and after the first run.
func (s Schedule) First(now time.Time) (time.Time, error) {
	if err := s.Validate(); err != nil {
		return time.Time{}, err
	}
	now = normTime(now)
	if !s.RunUntil.IsZero() && !s.RunUntil.After(now) {
		return time.Time{}, fmt.Errorf("%w: run until %s is not after now (%s)",
			ErrNoOccurrence, fmtTime(s.RunUntil), fmtTime(now))
	}
	var first time.Time
	switch {
	case s.Start.Now:
		first = now
	case s.Start.After > 0:
		first = now.Add(s.Start.After)
	case !s.Start.At.IsZero():
		first = s.Resume(s.Start.At, now)
	case s.Cron == "" && len(s.Times) == 0 && !s.calendar():
		first = s.next(now, s.Every)
	default:
		first = s.next(now, 1)
	}
	if first.IsZero() || first.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%w: %s has no occurrence after %s", ErrNoOccurrence, s, fmtTime(now))
	}
	if !s.RunUntil.IsZero() && !first.Before(s.RunUntil) {
		return time.Time{}, fmt.Errorf("%w: run until %s is not after the first occurrence %s",
			ErrNoOccurrence, fmtTime(s.RunUntil), fmtTime(first))
	}
	return first, nil
}

// Exhausted reports whether a series with runs real executions has reached
// MaxRuns (strictly: MaxRuns 10 allows exactly 10 runs).
func (s Schedule) Exhausted(runs int) bool {
	return s.MaxRuns > 0 && runs >= s.MaxRuns
}

// Advance returns the next run after an execution scheduled at scheduled
// ended at now, runs being the real executions so far including this one,
// or the zero time when the series ends. It is Next from the scheduled
// time (drift-free) followed by Resume, so a run that overran its next
// occurrence is followed by one immediate run, not a burst.
func (s Schedule) Advance(scheduled, now time.Time, runs int) time.Time {
	if s.Exhausted(runs) {
		return time.Time{}
	}
	return s.Resume(s.Next(scheduled), now)
}

// Upcoming returns up to n runs a series has left: next (its next run) and
// the occurrences after it, before RunUntil and within MaxRuns, runs being
// the real executions so far (as for Advance). It is the one way to ask
// when a schedule runs that applies every limit:
//
//   - a new series: first, err := s.First(now), which applies Start, then
//     s.Upcoming(first, 0, n);
//   - a stored series: s.Upcoming(row.NextRunAt, row.RunCount, n), after
//     Resume if that next run is in the past.
//
// It returns nil when nothing is left: n below 1, next zero or not before
// RunUntil, MaxRuns reached, or an invalid schedule. The times are in UTC.
func (s Schedule) Upcoming(next time.Time, runs, n int) []time.Time {
	if n < 1 || next.IsZero() || s.Exhausted(runs) || s.Validate() != nil {
		return nil
	}
	if s.MaxRuns > 0 {
		n = min(n, s.MaxRuns-runs)
	}
	t := s.limit(next.UTC())
	if t.IsZero() {
		return nil
	}
	out := make([]time.Time, 0, min(n, 64))
	for ; !t.IsZero() && len(out) < n; t = s.Next(t) {
		out = append(out, t)
	}
	return out
}

// Resume applies the downtime rule to a series whose next run is next when
// the engine looks at it at now (at recovery, or after a late run):
//
//   - next in the future: next, unchanged;
//   - next missed, but its successor is after now (exactly one missed
//     occurrence, or the last one): next itself, which is due, so it runs
//     once, immediately, and the series continues from its scheduled time;
//   - more than one missed: the first occurrence after now. Missed
//     occurrences never run (no catch-up burst) and never count as runs.
//
// It returns the zero time when the series has ended (RunUntil reached). The
// skip is calendar-exact: a constant-step interval jumps in O(1) and checks
// the jump, a calendar with a stride jumps to the right period, and
// everything else walks a bounded number of occurrences; the result is
// never at or before now.
func (s Schedule) Resume(next, now time.Time) time.Time {
	if next.IsZero() {
		return time.Time{}
	}
	if !s.RunUntil.IsZero() && (!now.Before(s.RunUntil) || !next.Before(s.RunUntil)) {
		return time.Time{}
	}
	if next.After(now) {
		return next
	}
	succ := s.Next(next)
	if succ.IsZero() || succ.After(now) {
		return next
	}
	return s.skip(succ, now)
}

// skip returns the first occurrence after now of the series through anchor,
// an occurrence at or before now.
func (s *Schedule) skip(anchor, now time.Time) time.Time {
	if s.phaseFree() {
		return s.Next(now)
	}
	if step, ok := s.uniformStep(); ok {
		if t, ok := s.jump(anchor, now, step); ok {
			return t
		}
	}
	t := anchor
	if s.calendar() || len(s.Times) > 0 {
		t = s.periodJump(anchor, now)
	}
	for range maxWalk {
		if t.IsZero() || t.After(now) {
			return t
		}
		t = s.Next(t)
	}
	// Only hour schedules in zones with half-hour clock changes walk this
	// far (years of downtime); never return the past, even if the phase of
	// a stride above one is lost.
	return s.Next(now)
}

// phaseFree reports whether the occurrences do not depend on where the
// series started, so the first one after now is simply Next(now).
func (s *Schedule) phaseFree() bool {
	if s.Cron != "" {
		return true
	}
	return s.Every == 1 && (s.calendar() || len(s.Times) > 0)
}

// uniformStep returns the constant distance between occurrences, in seconds,
// for schedules that have one.
func (s *Schedule) uniformStep() (int64, bool) {
	n := int64(s.Every)
	switch {
	case s.Unit == UnitSecond:
		return n, true
	case s.Unit == UnitMinute && len(s.Times) <= 1:
		return 60 * n, true
	case s.Unit == UnitHour && len(s.Times) <= 1:
		return 3600 * n, true
	case s.Location == "" && len(s.Months) == 0 && len(s.Times) <= 1:
		// In UTC a day is always 86400 seconds.
		switch {
		case s.Unit == UnitDay:
			return 86400 * n, true
		case s.Unit == UnitWeek && len(s.Weekdays) <= 1:
			return 7 * 86400 * n, true
		}
	}
	return 0, false
}

// jump computes anchor + k*step, the first such time after now, and checks
// that the schedule really steps from the previous one to it.
func (s *Schedule) jump(anchor, now time.Time, step int64) (time.Time, bool) {
	diff := now.Unix() - anchor.Unix()
	if diff < 0 || step <= 0 {
		return time.Time{}, false
	}
	k := diff/step + 1
	cand := time.Unix(anchor.Unix()+k*step, int64(anchor.Nanosecond())).UTC()
	if prev := time.Unix(cand.Unix()-step, int64(anchor.Nanosecond())).UTC(); k > 1 && prev.After(now) {
		cand = prev
	}
	prev := time.Unix(cand.Unix()-step, int64(anchor.Nanosecond())).UTC()
	if !cand.After(now) || prev.After(now) {
		return time.Time{}, false
	}
	if cand.Year() > 9999 {
		return time.Time{}, true
	}
	if !s.next(prev, s.Every).Equal(cand) {
		return time.Time{}, false
	}
	return s.limit(cand), true
}

// periodJump returns an occurrence of the series through anchor that is at
// most a couple of periods before now, so the walk after it is short. A
// stride-N calendar runs only in the periods anchor's period + k*N.
func (s *Schedule) periodJump(anchor, now time.Time) time.Time {
	loc, err := s.location()
	if err != nil {
		return time.Time{}
	}
	stride := int64(s.Every)
	if s.Unit == UnitMinute || s.Unit == UnitHour {
		// Absolute periods; an hour is read with the anchor's offset, as
		// Next does, so the grid matches its steps.
		period, off := int64(60), int64(0)
		if s.Unit == UnitHour {
			period, off = 3600, offsetAt(anchor.Unix(), loc)
		}
		pa, pn := floorDiv(anchor.Unix()+off, period), floorDiv(now.Unix()+off, period)
		k := (pn - pa) / stride
		if k < 2 || len(s.Times) == 0 || !sameHourGrid(loc, anchor, now) {
			return anchor
		}
		t := time.Unix((pa+(k-1)*stride)*period+s.Times[0].seconds()-off, 0).UTC()
		if !t.After(anchor) {
			return anchor
		}
		return s.limit(t)
	}
	pa, pn := s.period(toWall(anchor, loc)), s.period(toWall(now, loc))
	k := (pn - pa) / stride
	if k < 2 {
		return anchor
	}
	sec, ok := s.firstFrom(pa+(k-1)*stride, stride)
	if !ok {
		return time.Time{}
	}
	t := resolve(sec, loc)
	if !t.After(anchor) {
		return anchor
	}
	return s.limit(t)
}

// period numbers w's day, Monday-first week or month.
func (s *Schedule) period(w wall) int64 {
	day := w.day()
	switch s.Unit {
	case UnitWeek:
		return weekNumber(day - isoOffset(weekdayOf(day)))
	case UnitMonth:
		y, m, _ := civilFromDays(day)
		return monthIndex(y, m)
	}
	return day
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Weeks are numbered from the Monday 1970-01-05 (day 4).
func weekNumber(monday int64) int64 { return floorDiv(monday-4, 7) }

func weekStart(week int64) int64 { return week*7 + 4 }

// sameHourGrid reports whether every UTC offset of loc between from and to
// has the same minutes and seconds, so local hours stay on one absolute
// grid. Zones with half-hour clock changes (Australia/Lord_Howe) do not:
// their hour schedules are walked, not jumped.
func sameHourGrid(loc *time.Location, from, to time.Time) bool {
	if loc == time.UTC {
		return true
	}
	_, off := from.In(loc).Zone()
	t := from
	for range 4096 {
		_, o := t.In(loc).Zone()
		if floorMod(int64(o-off), 3600) != 0 {
			return false
		}
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || end.After(to) {
			return true
		}
		t = end
	}
	return false
}
