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
		{"BerlinCronFallBackRunsOnce", Cron("*/30 * * * *").In(berlin), "2026-10-24T23:15:00Z",
			[]string{"2026-10-24T23:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z"}},
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
