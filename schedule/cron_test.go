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
		switch r.IntN(5) {
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

// TestCronEnginesAgree compares the bit-set evaluator with cronexpr on
// random expressions.
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
