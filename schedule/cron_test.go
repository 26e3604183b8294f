package schedule

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// randomCronField draws a term list for field i (of second minute hour dom
// month dow).
func randomCronField(r *rand.Rand, i int) string {
	lo, hi := cronMin[i], cronMax[i]
	if r.IntN(3) == 0 {
		return [2]string{"*", "?"}[r.IntN(2)]
	}
	terms := make([]string, 1+r.IntN(3))
	for k := range terms {
		a := lo + r.IntN(hi-lo+1)
		b := a + r.IntN(hi-a+1)
		switch r.IntN(6) {
		case 5:
			terms[k] = "*" // after another term: a full field that does not start with *
		case 0:
			terms[k] = fmt.Sprint(a)
		case 1:
			terms[k] = fmt.Sprintf("%d-%d", a, b)
		case 2:
			terms[k] = fmt.Sprintf("*/%d", 1+r.IntN(hi))
		case 3:
			terms[k] = fmt.Sprintf("%d/%d", a, 1+r.IntN(hi))
		default:
			terms[k] = fmt.Sprintf("%d-%d/%d", a, b, 1+r.IntN(hi))
		}
	}
	return strings.Join(terms, ",")
}

// TestCronEnginesAgree compares the bit-set evaluator with slowNext, built
// on cronexpr, on random expressions.
func TestCronEnginesAgree(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(propertySeed(t), 5))
	compared := 0
	for range 1500 {
		fields := make([]string, 6)
		for i := range fields {
			fields[i] = randomCronField(r, i)
		}
		if r.IntN(2) == 0 {
			fields = fields[1:]
		}
		expr := strings.Join(fields, " ")
		if Cron(expr).Validate() != nil {
			continue
		}
		if c, err := parseCron(expr); err != nil || c.fast == nil {
			t.Fatalf("cron %q: no bit-set form (%v)", expr, err)
		}
		compareCronEngines(t, expr, randomTime(r).Unix())
		compared++
	}
	if compared < 500 {
		t.Fatalf("only %d of 1500 random expressions were valid", compared)
	}
}

// TestCronDayFields checks Vixie cron's day rule: when the day-of-month or
// the day-of-week field starts with * (or ?), a day matches both fields;
// when neither does, it matches either. The rule reads the first character,
// not the set: "*/1" counts as *, "1-31" and "3,*" do not.
func TestCronDayFields(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, expr string
		want       []string
	}{
		{"StepOfOneInWeekdayIsStar", "* 9 3 * */1",
			[]string{"2026-01-03T09:00:00Z", "2026-01-03T09:01:00Z"}},
		{"StepOfOneInWeekdayOnlyThe3rd", "0 9 3 * */1",
			[]string{"2026-01-03T09:00:00Z", "2026-02-03T09:00:00Z"}},
		{"StepOfOneInMonthDayIsStar", "0 9 */1 * MON",
			[]string{"2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"}},
		{"StarStepIntersects", "0 9 */2 * MON",
			[]string{"2026-01-05T09:00:00Z", "2026-01-19T09:00:00Z", "2026-02-09T09:00:00Z"}},
		{"RangeStepIsRestrictedSoUnion", "0 9 1-31/2 * MON",
			[]string{"2026-01-01T09:00:00Z", "2026-01-03T09:00:00Z", "2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z",
				"2026-01-09T09:00:00Z", "2026-01-11T09:00:00Z", "2026-01-12T09:00:00Z", "2026-01-13T09:00:00Z"}},
		{"BothRestrictedUnion", "0 9 3 * MON",
			[]string{"2026-01-03T09:00:00Z", "2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"}},
		{"StarLaterInListIsRestrictedAndFull", "0 9 3,* * MON",
			[]string{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"}},
		{"QuestionMarkIsStar", "0 9 ? * MON",
			[]string{"2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"}},
		{"SixFields", "0 0 9 */1 * MON",
			[]string{"2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"}},
		{"WeeklyMacroSundaysOnly", "@weekly",
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"MonthlyMacroFirstOnly", "@monthly",
			[]string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		// The same rule for expressions cronexpr evaluates.
		{"StarStepAndLastFriday", "0 9 */2 * 5L",
			[]string{"2026-02-27T09:00:00Z", "2026-03-27T09:00:00Z", "2026-05-29T09:00:00Z"}},
		{"LastDayAndStarStep", "0 9 L * */3",
			[]string{"2026-01-31T09:00:00Z", "2026-02-28T09:00:00Z", "2026-05-31T09:00:00Z"}},
		{"LastDayAndStepOfOne", "0 9 L * */1",
			[]string{"2026-01-31T09:00:00Z", "2026-02-28T09:00:00Z"}},
		{"FirstAndFirstMondayUnion", "0 9 1 * MON#1",
			[]string{"2026-01-01T09:00:00Z", "2026-01-05T09:00:00Z", "2026-02-01T09:00:00Z", "2026-02-02T09:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := occurrences(t, Cron(tc.expr), mustTime(t, "2026-01-01T00:00:00Z"), len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("cron %q:\n got %v\nwant %v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestCronBeyond2099(t *testing.T) {
	t.Parallel()
	got := Cron("0 0 1 1 *").Next(time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %s, want %s", got, want)
	}
	if got := Cron("0 0 29 2 *").Next(time.Date(9996, 3, 1, 0, 0, 0, 0, time.UTC)); !got.IsZero() {
		t.Errorf("Feb 29 after 9996 = %s, want none", got)
	}
	if got := Cron("0 0 30 2 *").Next(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); !got.IsZero() {
		t.Errorf("Feb 30 = %s, want none", got)
	}
}
