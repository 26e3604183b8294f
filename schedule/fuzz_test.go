package schedule

import (
	"testing"
	"time"
)

// FuzzCron: any expression either fails to validate or yields increasing
// occurrences, in UTC and in a zone with clock changes; never a panic or a
// hang.
func FuzzCron(f *testing.F) {
	for _, seed := range append(propertyCrons,
		"", "@daily", "@every 5m", "0 0 31 2 *", "5-2 * * * *", "* * * * * * *", "0 0 ? * 7#5",
		"0 0 LW * *", "0 0 1W * *", "*/60 * * * *", "0 0 * * sun-sat/2", "1,2,,3 * * * *",
		"* 9 3 * */1", "0 9 3,* * MON", "0 9 */2 * 5L", "*/15 1-3 * * *", "@hourly") {
		f.Add(seed, int64(1767225600))
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		s := Cron(expr)
		if s.Validate() != nil {
			if !s.Next(time.Unix(0, 0)).IsZero() {
				t.Fatalf("invalid cron %q has an occurrence", expr)
			}
			return
		}
		after := time.Unix(floorMod(unix, 200*365*86400), 0).UTC() // 1970..2169
		compareCronEngines(t, expr, after.Unix())
		for _, s := range []Schedule{s, s.In(newYork)} {
			prev := after
			for range 20 {
				n := s.Next(prev)
				if n.IsZero() {
					break
				}
				if !n.After(prev) {
					t.Fatalf("%s: Next(%s) = %s is not after it", s, prev, n)
				}
				prev = n
			}
		}
	})
}

// FuzzDecode: any bytes either fail to decode or give a valid schedule that
// re-encodes to itself and computes occurrences without panicking.
func FuzzDecode(f *testing.F) {
	seeds := []Schedule{
		Daily().At(3, 0).AtMost(10), EveryMinute().AtSecond(5), EveryHours(3).AtMinute(15),
		Weekly(time.Monday).At(9, 0), Monthly().OnLast(time.Friday).InMonths(time.March),
		Cron("0 0 L * *"), EverySeconds(5).StartNow(),
	}
	for _, s := range seeds {
		b, err := s.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"unit":"day","every":1,"times":["25:00:00"]}`))
	f.Add([]byte(`{"unit":"month","every":1,"days":[31,1,31],"location":"Europe/Berlin"}`))
	f.Add([]byte(`{"cron":"0 3 * * *","run_until":"2027-01-01T00:00:00Z","start":{"at":"2026-01-01T00:00:00+02:00"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			return
		}
		b, err := s.Encode()
		if err != nil {
			t.Fatalf("decoded schedule does not encode: %v", err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		if b2, _ := again.Encode(); string(b2) != string(b) {
			t.Fatalf("round trip changed %s into %s", b, b2)
		}
		start := time.Now()
		defer func() {
			// A bounded computation must also be fast.
			if d := time.Since(start); d > time.Second {
				t.Fatalf("%s took %s", b, d)
			}
		}()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		first, err := s.First(now)
		if err != nil {
			return
		}
		prev := first
		for range 10 {
			n := s.Next(prev)
			if n.IsZero() {
				break
			}
			if !n.After(prev) {
				t.Fatalf("%s: Next(%s) = %s is not after it", b, prev, n)
			}
			prev = n
		}
		if r := s.Resume(first, now.AddDate(3, 0, 0)); !r.IsZero() && !r.Equal(first) && !r.After(now.AddDate(3, 0, 0)) {
			t.Fatalf("%s: Resume returned the past %s", b, r)
		}
	})
}

// compareCronEngines checks the bit-set evaluator against slowNext (cronexpr
// one day field at a time, combined by the same day rule) for 20
// occurrences from w (a wall second), within cronexpr's 1970-2099 range.
func compareCronEngines(t *testing.T, expr string, w int64) {
	t.Helper()
	c, err := parseCron(expr)
	if err != nil || c.fast == nil {
		return
	}
	for range 20 {
		fast, okFast := c.fast.next(w)
		slow, okSlow := c.slowNext(wall{sec: w})
		if !okSlow {
			if okFast && time.Unix(fast, 0).UTC().Year() < 2100 {
				t.Fatalf("cron %q after %s: bit sets %s, cronexpr none", expr,
					time.Unix(w, 0).UTC(), time.Unix(fast, 0).UTC())
			}
			return
		}
		if !okFast || fast != slow {
			t.Fatalf("cron %q after %s: bit sets %s (%v), cronexpr %s", expr,
				time.Unix(w, 0).UTC(), time.Unix(fast, 0).UTC(), okFast, time.Unix(slow, 0).UTC())
		}
		w = fast
	}
}
