package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone data that does not depend on the machine
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// occurrences returns First(now) followed by n-1 Next steps.
func occurrences(t *testing.T, s Schedule, now time.Time, n int) []string {
	t.Helper()
	first, err := s.First(now)
	if err != nil {
		t.Fatalf("First: %v", err)
	}
	out := []string{first.Format(time.RFC3339)}
	for cur := first; len(out) < n; {
		next := s.Next(cur)
		if next.IsZero() {
			out = append(out, "none")
			break
		}
		if !next.After(cur) {
			t.Fatalf("Next(%s) = %s is not after its input", cur, next)
		}
		out = append(out, next.Format(time.RFC3339))
		cur = next
	}
	return out
}

func TestBuilders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		sched Schedule
		now   string
		want  []string
	}{
		{"EverySecondsFromNow", EverySeconds(90), "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T10:01:30Z", "2026-01-01T10:03:00Z", "2026-01-01T10:04:30Z"}},
		{"EveryMinutesKeepsPhase", EveryMinutes(15), "2026-01-01T10:17:23Z",
			[]string{"2026-01-01T10:32:23Z", "2026-01-01T10:47:23Z"}},
		{"EveryMinuteAtSecondFirstSlotThisMinute", EveryMinute().AtSecond(30), "2026-01-01T10:00:10Z",
			[]string{"2026-01-01T10:00:30Z", "2026-01-01T10:01:30Z", "2026-01-01T10:02:30Z"}},
		{"EveryMinuteAtSeveralSeconds", EveryMinute().AtSecond(45, 15), "2026-01-01T10:00:20Z",
			[]string{"2026-01-01T10:00:45Z", "2026-01-01T10:01:15Z", "2026-01-01T10:01:45Z"}},
		{"EveryHourAtMinuteAndSecond", EveryHour().AtMinute(30).AtSecond(5), "2026-01-01T10:40:00Z",
			[]string{"2026-01-01T11:30:05Z", "2026-01-01T12:30:05Z"}},
		{"EveryTwoHoursAtMinute", EveryHours(2).AtMinute(0), "2026-01-01T10:40:00Z",
			[]string{"2026-01-01T11:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T15:00:00Z"}},
		{"DailyFirstSlotIsToday", Daily().At(3, 0), "2026-01-01T01:00:00Z",
			[]string{"2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z"}},
		{"DailyAfterTheSlotIsTomorrow", Daily().At(3, 0), "2026-01-01T03:00:00Z",
			[]string{"2026-01-02T03:00:00Z", "2026-01-03T03:00:00Z"}},
		{"DailySeveralTimesAllFire", Daily().At(18, 0).At(9, 0).At(14, 0).At(9, 0), "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T14:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T09:00:00Z", "2026-01-02T14:00:00Z"}},
		{"DailyDefaultMidnight", Daily(), "2026-01-01T10:00:00Z",
			[]string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}},
		{"EveryThreeDays", EveryDays(3).At(12, 0), "2026-01-01T13:00:00Z",
			[]string{"2026-01-02T12:00:00Z", "2026-01-05T12:00:00Z", "2026-01-08T12:00:00Z"}},
		{"WeekdayList", Weekly(time.Friday, time.Monday, time.Wednesday).At(9, 0), "2026-01-01T10:00:00Z", // a Thursday
			[]string{"2026-01-02T09:00:00Z", "2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z", "2026-01-09T09:00:00Z"}},
		{"WeeklyDefaultMonday", EveryWeeks(1), "2026-01-01T10:00:00Z",
			[]string{"2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"}},
		{"EveryTwoWeeksOnTuesdayAndSunday", EveryWeeks(2).On(time.Tuesday, time.Sunday).At(8, 30), "2026-01-01T10:00:00Z",
			[]string{"2026-01-04T08:30:00Z", "2026-01-13T08:30:00Z", "2026-01-18T08:30:00Z", "2026-01-27T08:30:00Z"}},
		{"MonthlyDay31ClampsToMonthEnd", Monthly().OnDay(31).At(6, 0), "2026-03-31T07:00:00Z",
			[]string{"2026-04-30T06:00:00Z", "2026-05-31T06:00:00Z", "2026-06-30T06:00:00Z"}},
		{"MonthlyDay29InCommonYear", Monthly().OnDay(29), "2026-01-30T00:00:00Z",
			[]string{"2026-02-28T00:00:00Z", "2026-03-29T00:00:00Z"}},
		{"MonthlyDay29InLeapYear", Monthly().OnDay(29), "2028-01-30T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z"}},
		{"FebTwentyNinthOnlyInLeapYears", Monthly().OnDay(29).InMonths(time.February), "2026-03-01T00:00:00Z",
			[]string{"2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}},
		{"MonthlyDays30And31RunOnceInApril", Monthly().OnDays(31, 30), "2026-03-30T12:00:00Z",
			[]string{"2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-30T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"MonthlySeveralDaysAndTimes", Monthly().OnDays(1, 15).At(9, 0).At(17, 0), "2026-01-15T10:00:00Z",
			[]string{"2026-01-15T17:00:00Z", "2026-02-01T09:00:00Z", "2026-02-01T17:00:00Z", "2026-02-15T09:00:00Z"}},
		{"FirstMondayOfMonth", Monthly().OnFirst(time.Monday).At(9, 0), "2026-01-01T00:00:00Z",
			[]string{"2026-01-05T09:00:00Z", "2026-02-02T09:00:00Z", "2026-03-02T09:00:00Z", "2026-06-01T09:00:00Z"}[:3]},
		{"LastFridayOfMonth", Monthly().OnLast(time.Friday), "2026-01-01T00:00:00Z",
			[]string{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"}},
		{"EveryThreeMonthsOnThe15th", EveryMonths(3).OnDay(15), "2026-01-20T00:00:00Z",
			[]string{"2026-02-15T00:00:00Z", "2026-05-15T00:00:00Z", "2026-08-15T00:00:00Z"}},
		{"InMonths", Daily().At(12, 0).InMonths(time.December, time.February), "2026-02-28T13:00:00Z",
			[]string{"2026-12-01T12:00:00Z", "2026-12-02T12:00:00Z"}},
		{"Cron5Fields", Cron("0 3 * * *"), "2026-01-01T01:00:00Z",
			[]string{"2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z"}},
		{"Cron6FieldsSecondsFirst", Cron("*/20 0 12 * * *"), "2026-01-01T11:00:00Z",
			[]string{"2026-01-01T12:00:00Z", "2026-01-01T12:00:20Z", "2026-01-01T12:00:40Z", "2026-01-02T12:00:00Z"}},
		{"CronLastFriday", Cron("0 0 * * 5L"), "2026-01-01T00:00:00Z",
			[]string{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"}},
		{"CronSecondMonday", Cron("0 9 * * MON#2"), "2026-01-01T00:00:00Z",
			[]string{"2026-01-12T09:00:00Z", "2026-02-09T09:00:00Z"}},
		{"CronNearestWeekday", Cron("0 0 15W * *"), "2026-02-01T00:00:00Z", // Feb 15 2026 is a Sunday
			[]string{"2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z"}}, // Mar 15 is a Sunday too
		{"CronLastDay", Cron("0 0 L * *"), "2028-02-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"}},
		{"CronSundayAs7InRange", Cron("0 0 * * FRI-7"), "2026-01-01T00:00:00Z",
			[]string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}},
		{"CronNamesListsSteps", Cron("0 8-12/2 * JAN,MAR mon-fri"), "2026-01-30T09:00:00Z",
			[]string{"2026-01-30T10:00:00Z", "2026-01-30T12:00:00Z", "2026-03-02T08:00:00Z"}},
		{"StartNowThenInterval", EveryHours(1).StartNow(), "2026-01-01T10:17:23Z",
			[]string{"2026-01-01T10:17:23Z", "2026-01-01T11:17:23Z"}},
		{"StartNowThenCalendar", Daily().At(3, 0).StartNow(), "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T10:00:00Z", "2026-01-02T03:00:00Z"}},
		{"StartAfterDelay", EveryMinutes(10).StartAfter(time.Minute), "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T10:01:00Z", "2026-01-01T10:11:00Z"}},
		{"StartAtFuture", EveryMinutes(10).StartAt(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)), "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T12:00:00Z", "2026-01-01T12:10:00Z"}},
		{"StartAtPastSkipsOnItsGrid", EveryMinutes(10).StartAt(time.Date(2026, 1, 1, 9, 3, 0, 0, time.UTC)), "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T10:03:00Z", "2026-01-01T10:13:00Z"}},
		{"RunUntilIsExclusive", Daily().At(3, 0).Until(time.Date(2026, 1, 3, 3, 0, 0, 0, time.UTC)), "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z", "none"}},
		{"RunUntilOneSecondLater", Daily().At(3, 0).Until(time.Date(2026, 1, 3, 3, 0, 1, 0, time.UTC)), "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z", "2026-01-03T03:00:00Z", "none"}},
		{"Year9999Edge", Monthly().OnDay(31).At(23, 0), "9999-11-15T00:00:00Z",
			[]string{"9999-11-30T23:00:00Z", "9999-12-31T23:00:00Z", "none"}},
		{"Year9999EdgeInterval", EveryDays(1).At(23, 59), "9999-12-30T00:00:00Z",
			[]string{"9999-12-30T23:59:00Z", "9999-12-31T23:59:00Z", "none"}},
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

func TestBuildersAreImmutable(t *testing.T) {
	t.Parallel()
	base := Daily().At(9, 0)
	a := base.At(12, 0)
	b := base.At(15, 0)
	if len(base.Times) != 1 || len(a.Times) != 2 || len(b.Times) != 2 || a.Times[1] != At(12, 0) || b.Times[1] != At(15, 0) {
		t.Fatalf("builders share state: base %v a %v b %v", base.Times, a.Times, b.Times)
	}
	m := Monthly().OnDays(1, 2, 3, 4)
	m1 := m.OnDay(20)
	m2 := m.OnDay(10)
	if m1.Days[4] != 20 || m2.Days[4] != 10 || len(m.Days) != 4 {
		t.Fatalf("OnDays shares state: %v %v %v", m.Days, m1.Days, m2.Days)
	}
}

func TestMaxRuns(t *testing.T) {
	t.Parallel()
	s := EveryMinutes(1).AtMost(3)
	for runs, want := range []bool{false, false, false, true, true} {
		if got := s.Exhausted(runs); got != want {
			t.Errorf("Exhausted(%d) = %v, want %v", runs, got, want)
		}
	}
	if EveryMinutes(1).Exhausted(1 << 30) {
		t.Error("no MaxRuns must never be exhausted")
	}
	now := mustTime(t, "2026-01-01T10:00:00Z")
	if got := s.Advance(now, now, 3); !got.IsZero() {
		t.Errorf("Advance after the 3rd of 3 runs = %s, want zero", got)
	}
	if got, want := s.Advance(now, now, 2), now.Add(time.Minute); !got.Equal(want) {
		t.Errorf("Advance after the 2nd of 3 runs = %s, want %s", got, want)
	}
}

func TestUpcoming(t *testing.T) {
	t.Parallel()
	next := mustTime(t, "2026-01-01T10:00:00Z")
	until := mustTime(t, "2026-01-01T10:03:00Z")
	cases := []struct {
		name    string
		sched   Schedule
		next    time.Time
		runs, n int
		want    []string
	}{
		{"NoLimit", EveryMinutes(1), next, 0, 3,
			[]string{"2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", "2026-01-01T10:02:00Z"}},
		{"MaxRunsLeft", EveryMinutes(1).AtMost(5), next, 3, 10,
			[]string{"2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"}},
		{"MaxRunsReached", EveryMinutes(1).AtMost(5), next, 5, 10, nil},
		{"RunUntilExclusive", EveryMinutes(1).Until(until), next, 0, 10,
			[]string{"2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", "2026-01-01T10:02:00Z"}},
		{"NextAtRunUntil", EveryMinutes(1).Until(next), next, 0, 10, nil},
		{"TighterOfBoth", EveryMinutes(1).Until(until).AtMost(2), next, 0, 10,
			[]string{"2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"}},
		{"CalendarRunsOut", Cron("0 0 29 2 *"), mustTime(t, "9996-02-29T00:00:00Z"), 0, 3,
			[]string{"9996-02-29T00:00:00Z"}},
		{"ZeroNext", EveryMinutes(1), time.Time{}, 0, 3, nil},
		{"NoneAsked", EveryMinutes(1), next, 0, 0, nil},
		{"Invalid", EveryMinutes(0), next, 0, 3, nil},
		{"InUTC", Daily().At(3, 0).In(mustLoc(t, "Europe/Berlin")), next.In(mustLoc(t, "Asia/Tokyo")), 0, 2,
			[]string{"2026-01-01T10:00:00Z", "2026-01-02T02:00:00Z"}},
	}
	for _, tc := range cases {
		got := tc.sched.Upcoming(tc.next, tc.runs, tc.n)
		var s []string
		for _, g := range got {
			if g.Location() != time.UTC {
				t.Errorf("%s: %s is not in UTC", tc.name, g)
			}
			s = append(s, g.Format(time.RFC3339))
		}
		if strings.Join(s, " ") != strings.Join(tc.want, " ") || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: %s.Upcoming(%s, %d, %d) = %v, want %v", tc.name, tc.sched, tc.next, tc.runs, tc.n, s, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		sched Schedule
		want  string
	}{
		{"Empty", Schedule{}, "empty schedule"},
		{"StartOnly", Schedule{}.StartNow(), "empty schedule"},
		{"ZeroInterval", EveryMinutes(0), "must be positive"},
		{"NegativeInterval", EveryDays(-2), "must be positive"},
		{"HugeInterval", EveryDays(1 << 30), "out of range"},
		{"MaxRunsZero", Daily().AtMost(0), "max runs must be positive, got 0"},
		{"MaxRunsNegativeField", Schedule{Unit: UnitDay, Every: 1, MaxRuns: -1}, "max runs must be positive"},
		{"SecondOutOfRange", EveryMinute().AtSecond(60), "second 60 is out of range"},
		{"MinuteOutOfRange", EveryHour().AtMinute(-1), "minute -1 is out of range"},
		{"HourOutOfRange", Daily().At(24, 0), "time 24:00:00 is out of range"},
		{"DayOutOfRange", Monthly().OnDay(32), "day of month 32 is out of range"},
		{"DayZero", Monthly().OnDay(0), "day of month 0 is out of range"},
		{"MonthOutOfRange", Daily().InMonths(13), "month 13 is out of range"},
		{"WeekdayOutOfRange", Weekly(7), "weekday 7 is out of range"},
		{"NthOutOfRange", Monthly().OnNth(5, time.Monday), "ordinal 5 is out of range"},
		{"AtOnInterval", EveryMinutes(5).At(3, 0), "At needs a day, week or month schedule"},
		{"OnDayOnDaily", Daily().OnDay(3), "OnDay needs a month schedule"},
		{"AtSecondOnDaily", Daily().AtSecond(3), "AtSecond needs a minute or hour schedule"},
		{"CronWithFields", Schedule{Cron: "* * * * *", Times: []Clock{{}}}, "cannot be combined"},
		{"BadCron", Cron("not a cron"), "has 3 fields"},
		{"CronTooManyFields", Cron("0 0 0 * * * 2026"), "has 7 fields"},
		{"CronOutOfRange", Cron("0 25 * * *"), "hour field \"25\": value 25 is out of range 0-23"},
		{"CronReversedRange", Cron("0 20-5 * * *"), "range 20-5 is reversed"},
		{"CronBadStep", Cron("*/0 * * * *"), "step \"0\" is out of range"},
		{"CronLInMinutes", Cron("L * * * *"), "only allowed in the day fields"},
		{"CronBadHash", Cron("0 0 * * MON#6"), "week \"6\" is out of range"},
		{"UnsortedTimesLiteral", Schedule{Unit: UnitDay, Every: 1, Times: []Clock{{Hour: 9}, {Hour: 3}}}, "not sorted"},
		{"DuplicateDaysLiteral", Schedule{Unit: UnitMonth, Every: 1, Days: []int{3, 3}}, "not sorted or have duplicates"},
		{"LocalLocation", Daily().In(time.Local), "not Local"},
		{"UnknownLocation", Schedule{Unit: UnitDay, Every: 1, Location: "Mars/Olympus"}, "Mars/Olympus"},
		{"TwoStarts", Schedule{Unit: UnitDay, Every: 1, Start: Start{Now: true, After: time.Second}}, "more than one"},
		{"UnknownUnit", Schedule{Unit: "fortnight", Every: 1}, "unknown unit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.sched.Validate()
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tc.want)
			}
			if _, err := tc.sched.First(time.Now()); !errors.Is(err, ErrInvalid) {
				t.Fatalf("First() = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestFirstErrors(t *testing.T) {
	t.Parallel()
	now := mustTime(t, "2026-06-01T10:00:00Z")
	cases := []struct {
		name  string
		sched Schedule
		want  string
	}{
		{"RunUntilInPast", Daily().Until(now.Add(-time.Hour)), "is not after now"},
		{"RunUntilNow", Daily().Until(now), "is not after now"},
		{"RunUntilBeforeFirst", Daily().At(3, 0).Until(now.Add(time.Hour)), "is not after the first occurrence 2026-06-02T03:00:00Z"},
		{"RunUntilAtFirst", EveryHours(1).Until(now.Add(time.Hour)), "is not after the first occurrence"},
		{"CronNeverMatches", Cron("0 0 30 2 *"), "has no occurrence"},
		{"CronWithLPast2099", Cron("0 0 L * *"), "has no occurrence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			at := now
			if tc.name == "CronWithLPast2099" {
				at = mustTime(t, "2099-12-31T12:00:00Z")
			}
			_, err := tc.sched.First(at)
			if !errors.Is(err, ErrNoOccurrence) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("First() = %v, want ErrNoOccurrence containing %q", err, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		sched Schedule
		want  string
	}{
		{Daily().At(3, 0).In(berlin).Until(until).AtMost(10), "every day at 03:00 Europe/Berlin, until 2027-01-01, at most 10 runs"},
		{EverySeconds(30), "every 30 seconds"},
		{EveryMinute().AtSecond(15, 45), "every minute at second 15, 45"},
		{EveryHours(2).AtMinute(30).AtSecond(5), "every 2 hours at minute 30:05"},
		{Daily().At(9, 0).At(14, 0).At(18, 0), "every day at 09:00, 14:00, 18:00"},
		{Weekly(time.Monday, time.Friday).At(9, 30).StartNow(), "every week on Monday, Friday at 09:30, starting now"},
		{Monthly().OnFirst(time.Monday).OnDay(15).InMonths(time.January), "every month on day 15, the first Monday in January at 00:00"},
		{EveryMonths(3), "every 3 months on day 1 at 00:00"},
		{Cron("0 3 * * *").StartAfter(time.Hour).AtMost(1), `cron "0 3 * * *", starting after 1h0m0s, at most 1 run`},
	}
	for _, tc := range cases {
		if got := tc.sched.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
