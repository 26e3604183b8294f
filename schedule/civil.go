package schedule

import "time"

// Calendar schedules are computed on civil (wall clock) time: a day number
// counted from 1970-01-01 and a second of that day. Integer day arithmetic
// avoids time.Date normalization surprises (Jan 31 + 1 month = Mar 3) and
// keeps the hot path free of allocations.

const secondsPerDay = 86400

// maxDay is 9999-12-31, the last day an occurrence may fall on: stores and
// encoding/json cannot represent later years.
var maxDay = daysFromCivil(9999, 12, 31)

// minDay is 0001-01-01.
var minDay = daysFromCivil(1, 1, 1)

// daysFromCivil returns the day number of y-m-d in the proleptic Gregorian
// calendar (Howard Hinnant's algorithm).
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// weekdayOf returns the weekday of a day number; 1970-01-01 was a Thursday.
func weekdayOf(day int64) time.Weekday {
	return time.Weekday(floorMod(day+4, 7))
}

// isoOffset is the position of wd in a Monday-first week (Monday 0).
func isoOffset(wd time.Weekday) int64 { return int64((int(wd) + 6) % 7) }

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

// monthIndex numbers months continuously (year*12 + month-1) so month
// strides are integer additions.
func monthIndex(y int64, m int) int64 { return y*12 + int64(m-1) }

func fromMonthIndex(i int64) (y int64, m int) {
	return floorDiv(i, 12), int(floorMod(i, 12)) + 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// wall is a civil instant: seconds since 1970-01-01T00:00 on the wall clock
// of some location, plus nanoseconds.
type wall struct {
	sec  int64
	nsec int64
}

func (w wall) day() int64 { return floorDiv(w.sec, secondsPerDay) }

func (w wall) secOfDay() int64 { return floorMod(w.sec, secondsPerDay) }

// toWall returns the wall clock reading of t in loc.
func toWall(t time.Time, loc *time.Location) wall {
	if loc == time.UTC {
		return wall{sec: t.Unix(), nsec: int64(t.Nanosecond())}
	}
	_, off := t.In(loc).Zone()
	return wall{sec: t.Unix() + int64(off), nsec: int64(t.Nanosecond())}
}

// offsetAt returns the UTC offset of loc at the instant unix.
func offsetAt(unix int64, loc *time.Location) int64 {
	_, off := time.Unix(unix, 0).In(loc).Zone()
	return int64(off)
}

// resolve maps a whole wall clock second to an instant in loc. A wall time
// that occurs twice (the clock falls back) maps to its first occurrence, so a
// slot runs once; one that does not exist (the clock springs forward) maps to
// the first instant after the gap, the next valid instant.
func resolve(w int64, loc *time.Location) time.Time {
	if loc == time.UTC {
		return time.Unix(w, 0).UTC()
	}
	guess := w - offsetAt(w, loc)
	t := time.Unix(guess, 0).In(loc)
	start, end := t.ZoneBounds()
	_, cur := t.Zone()
	best := int64(0)
	found := false
	try := func(off int64) {
		i := w - off
		if offsetAt(i, loc) != off {
			return
		}
		if !found || i < best {
			best, found = i, true
		}
	}
	try(int64(cur))
	if !start.IsZero() {
		try(offsetAt(start.Unix()-1, loc))
	}
	if !end.IsZero() {
		try(offsetAt(end.Unix(), loc))
	}
	if found {
		return time.Unix(best, 0).UTC()
	}
	// A gap: the answer is the transition whose wall clock jumps over w.
	for _, b := range [2]time.Time{start, end} {
		if b.IsZero() {
			continue
		}
		s := b.Unix()
		if s+offsetAt(s, loc) > w && s-1+offsetAt(s-1, loc) < w {
			return time.Unix(s, 0).UTC()
		}
	}
	// Unreachable for real zone data; stay monotone rather than fail.
	return time.Unix(guess, 0).UTC()
}
