package schedule

import (
	"fmt"
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
// ranges, drops Sunday from day-of-week ranges ending in 7, and its Next
// mutates the expression (so a cached one is used under a lock).

type cronExpr struct {
	// fast evaluates expressions without L, W and # with bit sets, without
	// locks or allocations; cronexpr handles the rest.
	fast *cronSet

	mu   sync.Mutex
	expr *cronexpr.Expression
}

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
	fields, err := normalizeCron(expr)
	if err != nil {
		return nil, err
	}
	parsed, err := safeParse(strings.Join(fields, " ") + " *")
	if err != nil {
		return nil, invalid("cron %q: %v", expr, err)
	}
	c := &cronExpr{expr: parsed, fast: parseCronSet(fields)}
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

// slowNext asks cronexpr; its occurrences end in 2099.
func (c *cronExpr) slowNext(w wall) (sec int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
	}()
	t := c.expr.Next(time.Unix(w.sec, w.nsec).UTC())
	if t.IsZero() {
		return 0, false
	}
	return t.Unix(), true
}

// normalizeCron checks the expression and returns its six fields (second
// minute hour dom month dow), lower case, with the day of week expanded to
// 0-6; with a year field appended cronexpr reads them unambiguously.
func normalizeCron(expr string) ([]string, error) {
	if len(expr) > 256 {
		return nil, invalid("cron expression is longer than 256 bytes")
	}
	for _, r := range expr {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			strings.ContainsRune("*?,/-#@ \t", r)) {
			return nil, invalid("cron %q: unexpected character %q", expr, r)
		}
	}
	fields := strings.Fields(expr)
	if len(fields) == 1 && strings.HasPrefix(fields[0], "@") {
		m, ok := cronMacros[strings.ToLower(fields[0])]
		if !ok {
			return nil, invalid("cron %q: unknown macro", expr)
		}
		fields = strings.Fields(m)
	}
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return nil, invalid("cron %q has %d fields, want 5 (minute hour day month weekday) or 6 (with a leading second)", expr, len(fields))
	}
	for i, f := range fields {
		if strings.Contains(f, "@") {
			return nil, invalid("cron %q: a macro must be the whole expression", expr)
		}
		nf, err := checkCronField(i, strings.ToLower(f))
		if err != nil {
			return nil, invalid("cron %q: %s field %q: %v", expr, cronFieldNames[i], f, err)
		}
		fields[i] = nf
	}
	return fields, nil
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
