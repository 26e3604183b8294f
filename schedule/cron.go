package schedule

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/cronexpr"
)

// cronexpr is wrapped here so nothing else depends on it. Expressions
// without L, W and # are evaluated by cronSet instead (no lock, no
// allocation, no 2099 limit; a test checks both agree). cronexpr needs an
// adapter: it reads 6 fields as "minute ... year" (we want a leading seconds
// field), ignores fields past the 7th, panics or misbehaves on reversed
// ranges, drops Sunday from day-of-week ranges ending in 7, decides the
// day-of-month/day-of-week rule differently from Vixie cron (see
// cronStars), and its Next mutates the expression (so cached ones are used
// under a lock).

type cronExpr struct {
	// fast evaluates expressions without L, W and # with bit sets, without
	// locks or allocations; cronexpr handles the rest.
	fast *cronSet

	// wild is Vixie cron's wildcard job: the minute or hour field starts
	// with * (or ?). It runs when the real clock shows a matching time,
	// see nextCronOnClock.
	wild bool
	// daysAnd: a day must match both day fields, else either (cronStars).
	daysAnd bool

	mu sync.Mutex
	// byDom and byDow are the expression with the other day field
	// replaced by *, so cronexpr only ever sees one restricted day field
	// and its own day rule never applies; slowNext combines them.
	byDom, byDow *cronexpr.Expression
}

// cronStars records which fields start with * (or ?). Vixie cron reads two
// rules off a field's first character, before its terms are expanded, and so
// do we:
//
//   - Days: when the day-of-month or the day-of-week field starts with *, a
//     day must match both fields; otherwise (both restricted) it matches
//     either. "*/2" and "*/1" start with *, so "0 9 3 * */1" runs on the
//     3rd only and "0 9 */2 * MON" on odd days that are Mondays; "1-31/2"
//     does not, so "0 9 1-31/2 * MON" runs on odd days and on Mondays.
//     A field that is exactly * matches every day, so either rule gives
//     the other field alone.
//   - Clock changes: a job whose minute or hour field starts with * is a
//     wildcard job that follows the real clock; any other is a fixed-time
//     job that runs once per wall-clock time (see nextCronOnClock).
type cronStars struct {
	minute, hour, dom, dow bool
}

func starred(field string) bool { return field[0] == '*' || field[0] == '?' }

var (
	crons     sync.Map // normalized expression -> *cronExpr
	cronCount atomic.Int64
)

const maxCachedCrons = 4096

var cronMacros = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

var cronFieldNames = [6]string{"second", "minute", "hour", "day-of-month", "month", "day-of-week"}

var cronMax = [6]int{59, 59, 23, 31, 12, 7}
var cronMin = [6]int{0, 0, 0, 1, 1, 0}

var monthNames = map[string]int{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// parseCron returns the cached parsed expression.
func parseCron(expr string) (*cronExpr, error) {
	if v, ok := crons.Load(expr); ok {
		return v.(*cronExpr), nil
	}
	fields, stars, err := normalizeCron(expr)
	if err != nil {
		return nil, err
	}
	c := &cronExpr{
		wild:    stars.minute || stars.hour,
		daysAnd: stars.dom || stars.dow,
	}
	// Every field is in one of the two, so parsing them checks them all.
	byDom, byDow := slices.Clone(fields), slices.Clone(fields)
	byDom[5], byDow[3] = "*", "*"
	if c.byDom, err = safeParse(strings.Join(byDom, " ") + " *"); err != nil {
		return nil, invalid("cron %q: %v", expr, err)
	}
	if c.byDow, err = safeParse(strings.Join(byDow, " ") + " *"); err != nil {
		return nil, invalid("cron %q: %v", expr, err)
	}
	c.fast = parseCronSet(fields, c.daysAnd)
	if cronCount.Add(1) <= maxCachedCrons {
		crons.Store(expr, c)
	}
	return c, nil
}

func safeParse(line string) (e *cronexpr.Expression, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("parser panic: %v", r)
		}
	}()
	return cronexpr.Parse(line)
}

// next returns the first wall clock second strictly after w, or ok false.
func (c *cronExpr) next(w wall) (sec int64, ok bool) {
	if c.fast != nil {
		return c.fast.next(w.sec)
	}
	return c.slowNext(w)
}

// maxDayRounds bounds the alternation in slowNext. Each round moves past at
// least one day that matches one day field, and cronexpr ends in 2099, so
// real expressions never come near it.
const maxDayRounds = 1 << 16

// slowNext asks cronexpr, one day field at a time, and applies the day rule
// itself: the earlier of the two for either, else the first time both
// expressions share. Its occurrences end in 2099.
func (c *cronExpr) slowNext(w wall) (sec int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
	}()
	from := time.Unix(w.sec, w.nsec).UTC()
	a := c.byDom.Next(from)
	if !c.daysAnd {
		b := c.byDow.Next(from)
		if a.IsZero() || (!b.IsZero() && b.Before(a)) {
			a = b
		}
		if a.IsZero() {
			return 0, false
		}
		return a.Unix(), true
	}
	// Occurrences are whole seconds: Next(x - 1s) is the first at or
	// after x.
	for range maxDayRounds {
		if a.IsZero() {
			return 0, false
		}
		b := c.byDow.Next(a.Add(-time.Second))
		if b.IsZero() {
			return 0, false
		}
		if b.Equal(a) {
			return a.Unix(), true
		}
		if a = c.byDom.Next(b.Add(-time.Second)); a.Equal(b) {
			return a.Unix(), true
		}
	}
	return 0, false
}

// normalizeCron checks the expression and returns its six fields (second
// minute hour dom month dow), lower case, with the day of week expanded to
// 0-6 (with a year field appended cronexpr reads them unambiguously), and
// which fields started with * before that expansion.
func normalizeCron(expr string) ([]string, cronStars, error) {
	if len(expr) > 256 {
		return nil, cronStars{}, invalid("cron expression is longer than 256 bytes")
	}
	for _, r := range expr {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			strings.ContainsRune("*?,/-#@ \t", r)) {
			return nil, cronStars{}, invalid("cron %q: unexpected character %q", expr, r)
		}
	}
	fields := strings.Fields(expr)
	if len(fields) == 1 && strings.HasPrefix(fields[0], "@") {
		m, ok := cronMacros[strings.ToLower(fields[0])]
		if !ok {
			return nil, cronStars{}, invalid("cron %q: unknown macro", expr)
		}
		fields = strings.Fields(m)
	}
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return nil, cronStars{}, invalid("cron %q has %d fields, want 5 (minute hour day month weekday) or 6 (with a leading second)", expr, len(fields))
	}
	// The macros expand to fields with the flags Vixie cron gives them:
	// @hourly's hour and @weekly's day of month are *.
	stars := cronStars{minute: starred(fields[1]), hour: starred(fields[2]), dom: starred(fields[3]), dow: starred(fields[5])}
	for i, f := range fields {
		if strings.Contains(f, "@") {
			return nil, cronStars{}, invalid("cron %q: a macro must be the whole expression", expr)
		}
		nf, err := checkCronField(i, strings.ToLower(f))
		if err != nil {
			return nil, cronStars{}, invalid("cron %q: %s field %q: %v", expr, cronFieldNames[i], f, err)
		}
		fields[i] = nf
	}
	return fields, stars, nil
}

// checkCronField rejects what cronexpr mishandles (reversed or out-of-range
// ranges) and expands plain day-of-week terms to a list of 0-6, so 7 and
// ranges ending on Sunday mean Sunday.
func checkCronField(i int, f string) (string, error) {
	var out []string
	for _, term := range strings.Split(f, ",") {
		if term == "" {
			return "", fmt.Errorf("empty list item")
		}
		if special, err := cronSpecial(i, term); err != nil {
			return "", err
		} else if special {
			out = append(out, term)
			continue
		}
		if term == "*" || term == "?" {
			out = append(out, term)
			continue
		}
		rng, stepStr, hasStep := strings.Cut(term, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > cronMax[i] {
				return "", fmt.Errorf("step %q is out of range 1-%d", stepStr, cronMax[i])
			}
			step = n
		}
		lo, hi := cronMin[i], cronMax[i]
		if i == 5 {
			hi = 6
		}
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(i, a); err != nil {
				return "", err
			}
			switch {
			case isRange:
				if hi, err = cronValue(i, b); err != nil {
					return "", err
				}
				if i == 5 && hi == 0 && lo > 0 {
					hi = 7 // MON-SUN
				}
				if lo > hi {
					return "", fmt.Errorf("range %s is reversed", rng)
				}
			case hasStep:
				hi = cronMax[i]
				if i == 5 {
					lo, hi = lo%7, 6 // 7/2 starts on Sunday
				}
			default:
				hi = lo
			}
		}
		if i != 5 {
			out = append(out, term)
			continue
		}
		// Expand day-of-week terms ourselves (7 is Sunday).
		for v := lo; v <= hi; v += step {
			out = append(out, strconv.Itoa(v%7))
		}
	}
	if len(out) == 0 {
		return "", fmt.Errorf("no values")
	}
	return strings.Join(out, ","), nil
}

func cronValue(i int, s string) (int, error) {
	if i == 4 {
		if v, ok := monthNames[s]; ok {
			return v, nil
		}
	}
	if i == 5 {
		if v, ok := dayNames[s]; ok {
			return v, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || len(s) > 2 {
		return 0, fmt.Errorf("value %q is not a number or name", s)
	}
	if v < cronMin[i] || v > cronMax[i] {
		return 0, fmt.Errorf("value %d is out of range %d-%d", v, cronMin[i], cronMax[i])
	}
	return v, nil
}

// cronSpecial reports whether term is one of the day-field extensions (L,
// LW, 15W in the day of month; 5L, FRI#2 in the day of week), which are
// passed to cronexpr as they are once their numbers are checked.
func cronSpecial(i int, term string) (bool, error) {
	switch i {
	case 3:
		if term == "l" || term == "lw" {
			return true, nil
		}
		if d, ok := strings.CutSuffix(term, "w"); ok {
			if _, err := cronValue(i, d); err != nil {
				return false, err
			}
			return true, nil
		}
	case 5:
		if d, n, ok := strings.Cut(term, "#"); ok {
			if _, err := cronValue(i, d); err != nil {
				return false, err
			}
			if len(n) != 1 || n[0] < '1' || n[0] > '5' {
				return false, fmt.Errorf("week %q is out of range 1-5", n)
			}
			return true, nil
		}
		if d, ok := strings.CutSuffix(term, "l"); ok {
			if _, err := cronValue(i, d); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	if strings.ContainsAny(term, "#") || (i != 4 && i != 5 && strings.ContainsAny(term, "lw")) {
		return false, fmt.Errorf("%q: L, W and # are only allowed in the day fields", term)
	}
	return false, nil
}
