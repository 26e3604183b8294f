package schedule

import (
	"strings"
	"testing"
	"time"
)

// The 2026 transitions: Europe/Berlin springs forward on Mar 29 (02:00 CET
// becomes 03:00 CEST at 01:00Z) and falls back on Oct 25 (03:00 CEST becomes
// 02:00 CET at 01:00Z); America/New_York springs forward on Mar 8 (02:00 EST
// becomes 03:00 EDT at 07:00Z) and falls back on Nov 1 (02:00 EDT becomes
// 01:00 EST at 06:00Z).

func TestDST(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	newYork := mustLoc(t, "America/New_York")
	cases := []struct {
		name  string
		sched Schedule
		now   string
		want  []string
	}{
		{"BerlinDailyStaysLocalAllYear", Daily().At(3, 0).In(berlin), "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"BerlinSpringForwardMissingTimeRunsAtNextValidInstant", Daily().At(2, 30).In(berlin), "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"BerlinSpringForwardMergedSlotsRunOnce", Daily().At(2, 30).At(3, 0).In(berlin), "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-30T01:00:00Z"}},
		{"BerlinFallBackAmbiguousTimeRunsOnce", Daily().At(2, 30).In(berlin), "2026-10-23T12:00:00Z",
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"BerlinFallBackDailyAt3", Daily().At(3, 0).In(berlin), "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T02:00:00Z", "2026-10-26T02:00:00Z"}},
		{"BerlinCronSpringForward", Cron("30 2 * * *").In(berlin), "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"BerlinCronFixedTimeFallBackRunsOnce", Cron("30 2 * * *").In(berlin), "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"BerlinHourlyIsAbsolute", EveryHour().AtMinute(0).In(berlin), "2026-10-24T23:30:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}},
		{"BerlinWeeklyKeepsLocalTime", Weekly(time.Sunday).At(9, 0).In(berlin), "2026-03-20T12:00:00Z",
			[]string{"2026-03-22T08:00:00Z", "2026-03-29T07:00:00Z"}},
		{"NewYorkSpringForward", Daily().At(2, 30).In(newYork), "2026-03-06T12:00:00Z",
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"NewYorkFallBackRunsOnce", Daily().At(1, 30).In(newYork), "2026-10-30T12:00:00Z",
			[]string{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"NewYorkCronSpringForward", Cron("0 30 2 * * *").In(newYork), "2026-03-06T12:00:00Z",
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"NewYorkCronFallBack", Cron("0 1 * * *").In(newYork), "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-02T06:00:00Z"}},
		{"NewYorkMonthlyKeepsLocalTime", Monthly().OnFirst(time.Sunday).At(9, 0).In(newYork), "2026-02-01T15:00:00Z",
			[]string{"2026-03-01T14:00:00Z", "2026-04-05T13:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := occurrences(t, tc.sched, mustTime(t, tc.now), len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%s from %s:\n got %v\nwant %v", tc.sched, tc.now, got, tc.want)
			}
		})
	}
}

// TestDSTCron checks Vixie cron's two rules across clock changes. A wildcard
// job (minute or hour field starting with *) runs whenever the clock shows a
// matching time: in both passes of a repeated hour, never in a gap, so it
// keeps its real-time cadence. A fixed-time job runs each wall time once:
// the first pass, or the end of the gap.
func TestDSTCron(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	newYork := mustLoc(t, "America/New_York")
	lordHowe := mustLoc(t, "Australia/Lord_Howe") // clocks change by 30 minutes
	cases := []struct {
		name  string
		sched Schedule
		now   string
		want  []string
	}{
		// Fall back.
		{"NewYorkHourlyRunsEveryRealHour", Cron("0 * * * *").In(newYork), "2026-11-01T03:30:00Z",
			[]string{"2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
		{"NewYorkHourlyMacro", Cron("@hourly").In(newYork), "2026-11-01T04:30:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
		{"NewYorkHourlyWithSeconds", Cron("0 0 * * * *").In(newYork), "2026-11-01T04:30:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
		{"NewYorkQuarterHoursInBothPasses", Cron("*/15 1-3 * * *").In(newYork), "2026-11-01T04:50:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T05:15:00Z", "2026-11-01T05:30:00Z", "2026-11-01T05:45:00Z",
				"2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z", "2026-11-01T06:30:00Z", "2026-11-01T06:45:00Z",
				"2026-11-01T07:00:00Z"}},
		{"NewYorkWildcardHourFollowsTheClock", Cron("0 */2 * * *").In(newYork), "2026-11-01T03:30:00Z",
			[]string{"2026-11-01T04:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T09:00:00Z"}},
		{"NewYorkFixedHourListRunsOnce", Cron("0 1-3 * * *").In(newYork), "2026-11-01T04:30:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
		{"NewYorkSecondsFieldDoesNotMakeItWildcard", Cron("*/20 30 1 * * *").In(newYork), "2026-11-01T05:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T05:30:20Z", "2026-11-01T05:30:40Z", "2026-11-02T06:30:00Z"}},
		{"BerlinHalfHoursInBothPasses", Cron("*/30 * * * *").In(berlin), "2026-10-24T23:15:00Z",
			[]string{"2026-10-24T23:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"}},
		{"BerlinWildcardMinuteFixedHour", Cron("* 2 * * *").In(berlin), "2026-10-25T00:58:30Z",
			[]string{"2026-10-25T00:59:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:01:00Z"}},
		{"LordHoweHalfHourChange", Cron("*/30 * * * *").In(lordHowe), "2026-04-04T13:45:00Z",
			[]string{"2026-04-04T14:00:00Z", "2026-04-04T14:30:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:30:00Z"}},
		// Spring forward.
		{"NewYorkHourlyAcrossTheGap", Cron("0 * * * *").In(newYork), "2026-03-08T05:30:00Z",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		{"NewYorkWildcardSkipsMissingTimes", Cron("30 * * * *").In(newYork), "2026-03-08T05:00:00Z",
			[]string{"2026-03-08T05:30:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z", "2026-03-08T08:30:00Z"}},
		{"NewYorkWildcardInsideTheGapWaitsADay", Cron("*/15 2 * * *").In(newYork), "2026-03-07T12:00:00Z",
			[]string{"2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"}},
		{"NewYorkFixedTimeRunsAtGapEnd", Cron("30 2 * * *").In(newYork), "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"NewYorkFixedSlotsInTheGapRunOnce", Cron("0,30 2 * * *").In(newYork), "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"}},
		{"BerlinTwentyMinutesAcrossTheGap", Cron("*/20 * * * *").In(berlin), "2026-03-29T00:30:00Z",
			[]string{"2026-03-29T00:40:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:20:00Z"}},
		{"BerlinFixedTimeRunsAtGapEnd", Cron("30 2 * * *").In(berlin), "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		// Far occurrences read on across many clock changes.
		{"NewYorkNextYear", Cron("* 0 1 1 *").In(newYork), "2026-03-01T00:00:00Z",
			[]string{"2027-01-01T05:00:00Z", "2027-01-01T05:01:00Z"}},
		{"BerlinFeb29OnASunday", Cron("0 * 29 2 */7").In(berlin), "2026-01-01T00:00:00Z",
			[]string{"2032-02-28T23:00:00Z", "2032-02-29T00:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := occurrences(t, tc.sched, mustTime(t, tc.now), len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%s from %s:\n got %v\nwant %v", tc.sched, tc.now, got, tc.want)
			}
		})
	}
}

// TestDSTCronWildcardNextFromEitherPass: a wildcard job asked from the first
// pass of a repeated hour goes on into the second pass; asked from the
// second, it does not go back.
func TestDSTCronWildcardNextFromEitherPass(t *testing.T) {
	t.Parallel()
	s := Cron("0,40 * * * *").In(mustLoc(t, "America/New_York"))
	cases := []struct{ after, want string }{
		{"2026-11-01T05:50:00Z", "2026-11-01T06:00:00Z"}, // 01:50 EDT: next is 01:00 EST
		{"2026-11-01T06:10:00Z", "2026-11-01T06:40:00Z"}, // 01:10 EST
		{"2026-11-01T06:50:00Z", "2026-11-01T07:00:00Z"}, // 01:50 EST
		{"2026-11-01T05:59:59.5Z", "2026-11-01T06:00:00Z"},
	}
	for _, tc := range cases {
		if got := s.Next(mustTime(t, tc.after)); !got.Equal(mustTime(t, tc.want)) {
			t.Errorf("Next(%s) = %s, want %s", tc.after, got.Format(time.RFC3339), tc.want)
		}
	}
}

// TestDSTCronWildcardMatchesClock compares wildcard jobs with the definition,
// minute by minute through a day around each clock change: an instant is an
// occurrence exactly when its wall clock reading matches.
func TestDSTCronWildcardMatchesClock(t *testing.T) {
	t.Parallel()
	exprs := []string{"* * * * *", "*/7 * * * *", "0 * * * *", "30 * * * *", "45 */2 * * *", "*/15 1-3 * * *", "10,50 * * * SUN", "* 2 * * *"}
	days := []struct{ zone, day string }{
		{"America/New_York", "2026-03-08"}, {"America/New_York", "2026-11-01"},
		{"Europe/Berlin", "2026-03-29"}, {"Europe/Berlin", "2026-10-25"},
		{"Australia/Lord_Howe", "2026-04-05"}, {"Australia/Lord_Howe", "2026-10-04"},
		{"America/Sao_Paulo", "2018-11-04"}, {"America/Sao_Paulo", "2019-02-17"},
	}
	for _, d := range days {
		loc := mustLoc(t, d.zone)
		day, err := time.ParseInLocation(time.DateOnly, d.day, loc)
		if err != nil {
			t.Fatal(err)
		}
		from, to := day.Add(-6*time.Hour), day.Add(30*time.Hour)
		for _, expr := range exprs {
			c, err := parseCron(expr)
			if err != nil || !c.wild || c.fast == nil {
				t.Fatalf("%q: not a wildcard job (%v)", expr, err)
			}
			s := Cron(expr).In(loc)
			next := s.Next(from)
			for m := from.Add(time.Minute); m.Before(to); m = m.Add(time.Minute) {
				w := toWall(m, loc).sec
				sec, ok := c.fast.next(w - 1)
				if matches := ok && sec == w; matches != m.Equal(next) {
					t.Fatalf("%s in %s: at %s (wall %s) match %v, but Next gives %s", expr, d.zone,
						m.Format(time.RFC3339), time.Unix(w, 0).UTC().Format(time.DateTime), matches, next.Format(time.RFC3339))
				}
				if m.Equal(next) {
					next = s.Next(m)
				}
			}
		}
	}
}

// Next from inside the repeated hour (the second pass) must not re-run a
// wall time that already ran in the first pass.
func TestDSTNextFromSecondPass(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	s := Daily().At(2, 10).At(2, 50).In(berlin)
	cases := []struct{ after, want string }{
		{"2026-10-25T00:20:00Z", "2026-10-25T00:50:00Z"}, // 02:20 CEST, first pass
		{"2026-10-25T01:20:00Z", "2026-10-26T01:10:00Z"}, // 02:20 CET, second pass: 02:50 already ran
		{"2026-10-25T01:00:00Z", "2026-10-26T01:10:00Z"}, // the transition itself
	}
	for _, tc := range cases {
		if got := s.Next(mustTime(t, tc.after)); !got.Equal(mustTime(t, tc.want)) {
			t.Errorf("Next(%s) = %s, want %s", tc.after, got.Format(time.RFC3339), tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	newYork := mustLoc(t, "America/New_York")
	cases := []struct {
		loc        *time.Location
		wall, want string
	}{
		{berlin, "2026-03-29T02:00:00Z", "2026-03-29T01:00:00Z"}, // gap start
		{berlin, "2026-03-29T02:59:59Z", "2026-03-29T01:00:00Z"}, // gap end
		{berlin, "2026-03-29T03:00:00Z", "2026-03-29T01:00:00Z"},
		{berlin, "2026-03-29T01:59:59Z", "2026-03-29T00:59:59Z"},
		{berlin, "2026-10-25T02:00:00Z", "2026-10-25T00:00:00Z"}, // first of two
		{berlin, "2026-10-25T02:59:59Z", "2026-10-25T00:59:59Z"},
		{berlin, "2026-10-25T03:00:00Z", "2026-10-25T02:00:00Z"},
		{newYork, "2026-03-08T02:30:00Z", "2026-03-08T07:00:00Z"},
		{newYork, "2026-11-01T01:30:00Z", "2026-11-01T05:30:00Z"},
		{newYork, "2026-11-01T02:00:00Z", "2026-11-01T07:00:00Z"},
	}
	for _, tc := range cases {
		w := mustTime(t, tc.wall).Unix()
		if got := resolve(w, tc.loc); !got.Equal(mustTime(t, tc.want)) {
			t.Errorf("resolve(%s in %s) = %s, want %s", tc.wall, tc.loc, got.Format(time.RFC3339), tc.want)
		}
	}
}
