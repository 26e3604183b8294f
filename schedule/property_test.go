package schedule

import (
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

var propertyZones = []string{"", "Europe/Berlin", "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata"}

var propertyCrons = []string{
	"* * * * *", "*/7 * * * *", "0 3 * * *", "30 2 * * *", "0 */6 * * 1-5", "15 10 L * *",
	"0 0 * * 5L", "0 9 * * MON#1", "0 0 15W * *", "*/20 * 2 * * *", "0 0 29 2 *", "0 30 1,2,3 * * SUN",
}

// propertySeed is fixed so failures reproduce; SCHEDULE_SEED explores others.
func propertySeed(t *testing.T) uint64 {
	if v := os.Getenv("SCHEDULE_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d", n)
		return n
	}
	return 1
}

// randomSchedule draws a valid schedule of every shape.
func randomSchedule(r *rand.Rand) Schedule {
	var s Schedule
	clock := func() Clock { return Clock{Hour: r.IntN(24), Minute: r.IntN(60), Second: r.IntN(60) * r.IntN(2)} }
	times := func() []Clock {
		n := 1 + r.IntN(3)
		c := make([]Clock, n)
		for i := range c {
			c[i] = clock()
		}
		return c
	}
	switch r.IntN(10) {
	case 0:
		s = EverySeconds(1 + r.IntN(100000))
	case 1:
		s = EveryMinutes(1 + r.IntN(600))
		if r.IntN(2) == 0 {
			s = s.AtSecond(r.IntN(60), r.IntN(60))
		}
	case 2:
		s = EveryHours(1 + r.IntN(50))
		if r.IntN(2) == 0 {
			s = s.AtMinute(r.IntN(60), r.IntN(60)).AtSecond(r.IntN(60))
		}
	case 3, 4:
		s = EveryDays(1 + r.IntN(4)*r.IntN(4)).AtTimes(times()...)
	case 5:
		s = EveryWeeks(1+r.IntN(3)).On(time.Weekday(r.IntN(7)), time.Weekday(r.IntN(7))).AtTimes(times()...)
	case 6, 7:
		s = EveryMonths(1 + r.IntN(3)*r.IntN(5))
		if r.IntN(2) == 0 {
			s = s.OnDays(1+r.IntN(31), 28+r.IntN(4))
		}
		if r.IntN(2) == 0 {
			n := 1 + r.IntN(4)
			if r.IntN(3) == 0 {
				n = -1
			}
			s = s.OnNth(n, time.Weekday(r.IntN(7)))
		}
		s = s.AtTimes(times()...)
	case 8:
		s = Cron(propertyCrons[r.IntN(len(propertyCrons))])
	case 9:
		s = Daily().AtTimes(times()...)
	}
	if s.calendar() && r.IntN(4) == 0 {
		s = s.InMonths(time.Month(1+r.IntN(12)), time.Month(1+r.IntN(12)))
	}
	if name := propertyZones[r.IntN(len(propertyZones))]; name != "" {
		loc, err := time.LoadLocation(name)
		if err != nil {
			panic(err)
		}
		s = s.In(loc)
	}
	return s
}

func randomTime(r *rand.Rand) time.Time {
	// 1990..2090, whole seconds or not.
	sec := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + r.Int64N(100*365*86400)
	return time.Unix(sec, r.Int64N(2)*r.Int64N(1e9)).UTC()
}

// TestPropertyNext: Next is strictly after its input, occurrences strictly
// increase, and a schedule survives a JSON round trip unchanged.
func TestPropertyNext(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(propertySeed(t), 2))
	for i := range 3000 {
		s := randomSchedule(r)
		if err := s.Validate(); err != nil {
			t.Fatalf("case %d: generated invalid schedule %s: %v", i, s, err)
		}
		enc, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		dec, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(dec, s) {
			t.Fatalf("case %d: round trip of %s: %v\n got %#v\nwant %#v", i, enc, err, dec, s)
		}
		after := randomTime(r)
		if n := s.Next(after); !n.IsZero() && !n.After(after) {
			t.Fatalf("case %d: %s: Next(%s) = %s is not after it", i, s, after, n)
		}
		prev := s.Next(after)
		for range 50 {
			if prev.IsZero() {
				break
			}
			n := s.Next(prev)
			if !n.IsZero() && !n.After(prev) {
				t.Fatalf("case %d: %s: occurrences not increasing: Next(%s) = %s", i, s, prev, n)
			}
			prev = n
		}
	}
}

// TestPropertyResume: the downtime rule equals the slow answer, stepping one
// occurrence at a time from the stored next run: keep it if it is in the
// future, run it if it is the only missed one, else the first occurrence
// after now.
func TestPropertyResume(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(propertySeed(t), 4))
	for i := range 3000 {
		s := randomSchedule(r)
		anchor, err := s.First(randomTime(r))
		if err != nil {
			continue // a cron with no occurrence in range
		}
		gap := s.Next(anchor).Sub(anchor)
		if gap <= 0 {
			continue
		}
		// Downtime of 0 to ~400 occurrences, sometimes none.
		now := anchor.Add(time.Duration(r.Float64() * float64(r.IntN(400)) * float64(gap)))
		if r.IntN(10) == 0 {
			now = anchor.Add(-time.Duration(r.Int64N(int64(time.Hour))))
		}
		want := slowResume(s, anchor, now)
		got := s.Resume(anchor, now)
		if !got.Equal(want) {
			t.Fatalf("case %d: %s: Resume(%s, %s) = %s, want %s",
				i, s, anchor.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), got, want)
		}
		if !got.IsZero() && !got.Equal(anchor) && !got.After(now) {
			t.Fatalf("case %d: %s: Resume returned %s, not after now %s", i, s, got, now)
		}
	}
}

func slowResume(s Schedule, next, now time.Time) time.Time {
	if next.After(now) {
		return next
	}
	succ := s.Next(next)
	if succ.IsZero() || succ.After(now) {
		return next
	}
	t := succ
	for !t.IsZero() && !t.After(now) {
		t = s.Next(t)
	}
	return t
}

// TestResumeRule checks the decided downtime rule on named cases.
func TestResumeRule(t *testing.T) {
	t.Parallel()
	s := EveryHours(1)
	next := mustTime(t, "2026-01-01T10:00:00Z")
	cases := []struct {
		name, now, want string
	}{
		{"FutureKept", "2026-01-01T09:30:00Z", "2026-01-01T10:00:00Z"},
		{"DueNowRuns", "2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"},
		{"OneMissedRunsOnce", "2026-01-01T10:59:59Z", "2026-01-01T10:00:00Z"},
		{"TwoMissedSkip", "2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z"},
		{"ManyMissedSkip", "2026-03-01T07:30:00Z", "2026-03-01T08:00:00Z"},
		{"DecadesMissed", "2056-03-01T07:30:00Z", "2056-03-01T08:00:00Z"},
	}
	for _, tc := range cases {
		if got := s.Resume(next, mustTime(t, tc.now)); !got.Equal(mustTime(t, tc.want)) {
			t.Errorf("%s: Resume(%s, %s) = %s, want %s", tc.name, next, tc.now, got, tc.want)
		}
	}
	until := s.Until(mustTime(t, "2026-01-01T12:00:00Z"))
	if got := until.Resume(next, mustTime(t, "2026-01-01T12:00:00Z")); !got.IsZero() {
		t.Errorf("Resume at run until = %s, want zero", got)
	}
	if got := until.Resume(next, mustTime(t, "2026-01-01T11:30:00Z")); !got.IsZero() {
		t.Errorf("Resume past the last occurrence before run until = %s, want zero", got)
	}
	if got := until.Resume(next, mustTime(t, "2026-01-01T10:30:00Z")); !got.Equal(next) {
		t.Errorf("Resume with one missed before run until = %s, want %s", got, next)
	}
	// A long stride calendar jumps in periods, not occurrence by occurrence.
	cal := EveryDays(3).At(6, 0).At(18, 0).In(mustLoc(t, "Europe/Berlin"))
	anchor, _ := cal.First(mustTime(t, "2026-01-01T00:00:00Z"))
	far := mustTime(t, "2150-06-01T00:00:00Z")
	if got, want := cal.Resume(anchor, far), slowResumeFrom(cal, anchor, far); !got.Equal(want) || !got.After(far) {
		t.Errorf("Resume far ahead = %s, want %s", got, want)
	}
	// Multi-slot minute and hour strides jump by periods too.
	for _, ms := range []Schedule{
		EveryMinutes(2).AtSecond(5, 35),
		EveryHours(5).AtMinute(10, 40).In(mustLoc(t, "America/New_York")),
	} {
		anchor, _ := ms.First(mustTime(t, "2026-01-01T00:00:00Z"))
		later := mustTime(t, "2027-03-01T07:31:13Z")
		if got, want := ms.Resume(anchor, later), slowResumeFrom(ms, anchor, later); !got.Equal(want) || !got.After(later) {
			t.Errorf("%s: Resume a year ahead = %s, want %s", ms, got, want)
		}
	}
	// Near the end of year 9999 nothing is left: zero, not a past time.
	if got := EveryMonths(5).Resume(mustTime(t, "2026-01-01T00:00:00Z"), mustTime(t, "9999-12-01T00:00:00Z")); !got.IsZero() {
		t.Errorf("Resume past year 9999 = %s, want zero", got)
	}
}

// slowResumeFrom steps one occurrence at a time from anchor.
func slowResumeFrom(s Schedule, anchor, now time.Time) time.Time {
	t := anchor
	for !t.IsZero() && !t.After(now) {
		t = s.Next(t)
	}
	return t
}

// TestPropertyUpcoming: Upcoming equals the slow answer, a series' life run
// on time: First, then Advance after each run, counting runs, until the
// series ends. From any point of that life, with the runs done so far, it
// lists the rest.
func TestPropertyUpcoming(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(propertySeed(t), 6))
	const n = 40
	for i := range 2000 {
		s := randomSchedule(r)
		now := randomTime(r)
		if r.IntN(2) == 0 {
			s = s.AtMost(1 + r.IntN(n))
		}
		if r.IntN(3) == 0 {
			if next := s.Next(now); !next.IsZero() {
				gap := min(next.Sub(now), 366*24*time.Hour)
				s = s.Until(next.Add(time.Duration(r.Int64N(int64(gap) * n))))
			}
		}
		switch r.IntN(4) {
		case 0:
			s = s.StartNow()
		case 1:
			s = s.StartAfter(time.Duration(1 + r.Int64N(int64(48*time.Hour))))
		}
		first, err := s.First(now)
		if err != nil {
			continue
		}
		var life []time.Time
		for t, runs := first, 0; !t.IsZero() && len(life) < n; {
			life = append(life, t)
			runs++
			t = s.Advance(t, t, runs)
		}
		k := r.IntN(len(life))
		if got := s.Upcoming(first, 0, n); !slices.Equal(got, life) {
			t.Fatalf("case %d: %s from %s:\n got %v\nwant %v", i, s, now, got, life)
		}
		if got := s.Upcoming(life[k], k, n-k); !slices.Equal(got, life[k:]) {
			t.Fatalf("case %d: %s after %d runs:\n got %v\nwant %v", i, s, k, got, life[k:])
		}
	}
}
