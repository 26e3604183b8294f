package schedule

import (
	"math/bits"
	"strconv"
	"strings"
)

// cronSet is a cron expression without L, W and # as bit sets, evaluated on
// the wall clock. Its day rule is Vixie cron's (cronStars); the fuzz test
// compares it with cronExpr.slowNext, which builds the same rule out of
// cronexpr.
type cronSet struct {
	sec, min uint64
	hour     uint32
	dom      uint32 // bits 1-31
	month    uint16 // bits 1-12
	dow      uint8  // bits 0-6, Sunday 0
	daysAnd  bool   // a day matches both day fields, else either
}

// The Gregorian calendar repeats every 400 years (146097 days, a whole
// number of weeks): no match in that span means no match ever.
const cronCycleDays = 146097

// parseCronSet returns nil when the fields need cronexpr (L, W, #). The
// fields were checked by normalizeCron.
func parseCronSet(f []string, daysAnd bool) *cronSet {
	if strings.ContainsAny(f[3], "lw") || strings.ContainsAny(f[5], "l#") {
		return nil
	}
	c := cronSet{daysAnd: daysAnd}
	var v [6]uint64
	for i := range 6 {
		var ok bool
		if v[i], ok = cronBits(i, f[i]); !ok {
			return nil
		}
	}
	c.sec, c.min, c.hour = v[0], v[1], uint32(v[2])
	c.dom, c.month, c.dow = uint32(v[3]), uint16(v[4]), uint8(v[5])
	if c.sec == 0 || c.min == 0 || c.hour == 0 || c.month == 0 {
		return nil
	}
	return &c
}

// cronBits returns the values of one field as bits.
func cronBits(i int, f string) (set uint64, ok bool) {
	lo, hi := cronMin[i], cronMax[i]
	if i == 5 {
		hi = 6
	}
	for _, term := range strings.Split(f, ",") {
		if term == "*" || term == "?" {
			for x := lo; x <= hi; x++ {
				set |= 1 << x
			}
			continue
		}
		rng, stepStr, hasStep := strings.Cut(term, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, false
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" {
			as, bs, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = cronValue(i, as); err != nil {
				return 0, false
			}
			switch {
			case isRange:
				if b, err = cronValue(i, bs); err != nil {
					return 0, false
				}
			case !hasStep:
				b = a
			}
		}
		for x := a; x <= b; x += step {
			set |= 1 << x
		}
	}
	return set, true
}

func (c *cronSet) dayMatches(d int, day int64) bool {
	dom, dow := c.dom&(1<<d) != 0, c.dow&(1<<weekdayOf(day)) != 0
	if c.daysAnd {
		return dom && dow
	}
	return dom || dow
}

// next returns the first matching wall second strictly after w.
func (c *cronSet) next(w int64) (int64, bool) {
	w++
	day, sod := floorDiv(w, secondsPerDay), floorMod(w, secondsPerDay)
	for end := day + cronCycleDays; day <= end && day <= maxDay; {
		y, m, d := civilFromDays(day)
		if c.month&(1<<m) == 0 {
			day += int64(daysIn(y, m) - d + 1) // the 1st of next month
			sod = 0
			continue
		}
		if c.dayMatches(d, day) {
			if s, ok := c.inDay(sod); ok {
				return day*secondsPerDay + s, true
			}
		}
		day++
		sod = 0
	}
	return 0, false
}

// inDay returns the first matching second of the day at or after sod.
func (c *cronSet) inDay(sod int64) (int64, bool) {
	h0, m0, s0 := int(sod/3600), int(sod/60%60), int(sod%60)
	for h := nextBit32(c.hour, h0); h < 24; h = nextBit32(c.hour, h+1) {
		mStart := 0
		if h == h0 {
			mStart = m0
		}
		for mi := nextBit64(c.min, mStart); mi < 60; mi = nextBit64(c.min, mi+1) {
			sStart := 0
			if h == h0 && mi == m0 {
				sStart = s0
			}
			if s := nextBit64(c.sec, sStart); s < 60 {
				return int64(h)*3600 + int64(mi)*60 + int64(s), true
			}
		}
	}
	return 0, false
}

// nextBit64 returns the lowest set bit at or above i, or 64.
func nextBit64(set uint64, i int) int {
	if i >= 64 {
		return 64
	}
	return i + bits.TrailingZeros64(set>>i)
}

func nextBit32(set uint32, i int) int {
	if i >= 32 {
		return 32
	}
	return i + bits.TrailingZeros32(set>>i)
}
