package schedule_test

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/schedule"
)

func Example() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s := schedule.Daily().At(3, 0).In(berlin).
		Until(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)).AtMost(10)
	fmt.Println(s)

	// Dispatched at 01:00 Berlin time, the first run is today at 03:00.
	now := time.Date(2026, 3, 28, 1, 0, 0, 0, berlin)
	first, _ := s.First(now)
	fmt.Println(first.In(berlin))
	// Across the spring-forward night it stays at 03:00 local.
	fmt.Println(s.Next(first).In(berlin))
	// Output:
	// every day at 03:00 Europe/Berlin, until 2027-01-01, at most 10 runs
	// 2026-03-28 03:00:00 +0100 CET
	// 2026-03-29 03:00:00 +0200 CEST
}

func ExampleSchedule_At() {
	s := schedule.Daily().At(18, 0).At(9, 0).At(14, 0)
	t, _ := s.First(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	for range 4 {
		fmt.Println(t.Format(time.DateTime))
		t = s.Next(t)
	}
	// Output:
	// 2026-01-01 14:00:00
	// 2026-01-01 18:00:00
	// 2026-01-02 09:00:00
	// 2026-01-02 14:00:00
}

func ExampleSchedule_OnFirst() {
	s := schedule.Monthly().OnFirst(time.Monday).At(9, 0)
	t, _ := s.First(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for range 3 {
		fmt.Println(t.Format("Mon 2006-01-02 15:04"))
		t = s.Next(t)
	}
	// Output:
	// Mon 2026-01-05 09:00
	// Mon 2026-02-02 09:00
	// Mon 2026-03-02 09:00
}

func ExampleCron() {
	s := schedule.Cron("0 0 * * FRI#L") // an invalid term
	fmt.Println(s.Validate())
	s = schedule.Cron("0 18 * * 5L") // the last Friday of the month
	t, _ := s.First(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(t.Format("Mon 2006-01-02 15:04"))
	// Output:
	// invalid schedule: cron "0 0 * * FRI#L": day-of-week field "FRI#L": week "l" is out of range 1-5
	// Fri 2026-01-30 18:00
}

func ExampleSchedule_Resume() {
	s := schedule.EveryHours(1)
	stored := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	// Down for 30 minutes: the one missed occurrence runs at once.
	fmt.Println(s.Resume(stored, stored.Add(30*time.Minute)).Format(time.TimeOnly))
	// Down for 5 hours: no burst, the series skips to the next hour.
	fmt.Println(s.Resume(stored, stored.Add(5*time.Hour+30*time.Minute)).Format(time.TimeOnly))
	// Output:
	// 10:00:00
	// 16:00:00
}

func ExampleDecode() {
	s, err := schedule.Decode([]byte(`{"every":1,"unit":"week","weekdays":[5,1],"times":["09:30:00"]}`))
	fmt.Println(s, err)
	b, _ := s.Encode()
	fmt.Println(string(b))
	_, err = schedule.Decode([]byte(`{"every":1,"unit":"day","times":["25:00:00"]}`))
	fmt.Println(err)
	// Output:
	// every week on Monday, Friday at 09:30 <nil>
	// {"every":1,"unit":"week","times":["09:30:00"],"weekdays":[1,5]}
	// invalid schedule: decode: time "25:00:00" is not HH:MM:SS
}

// The calls an engine makes over a series' life.
func ExampleSchedule_Advance() {
	s := schedule.EveryMinutes(10).AtMost(3)
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

	// Dispatch: the first run, stored with the encoded schedule.
	next, _ := s.First(now)
	fmt.Println("first", next.Format(time.TimeOnly))

	// After run 1, which ended 2 minutes late: drift-free.
	next = s.Advance(next, next.Add(2*time.Minute), 1)
	fmt.Println("after run 1", next.Format(time.TimeOnly))

	// After run 2, which overran its successor by 5 minutes: that one runs
	// at once (it is due), no burst.
	next = s.Advance(next, next.Add(15*time.Minute), 2)
	fmt.Println("after run 2", next.Format(time.TimeOnly))

	// After run 3 the series is exhausted.
	fmt.Println("after run 3", s.Advance(next, next.Add(time.Minute), 3).IsZero())
	// Output:
	// first 10:10:00
	// after run 1 10:20:00
	// after run 2 10:30:00
	// after run 3 true
}

// The runs a series has left, with every limit applied.
func ExampleSchedule_Upcoming() {
	s := schedule.Daily().At(9, 0).StartNow().AtMost(4)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	// A new series: First applies the start option, Upcoming MaxRuns.
	first, _ := s.First(now)
	for _, t := range s.Upcoming(first, 0, 10) {
		fmt.Println(t.Format(time.DateTime))
	}

	// A stored series that has run twice, next due on the 3rd: two left.
	next := time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC)
	fmt.Println(len(s.Upcoming(next, 2, 10)), "left after 2 runs")
	fmt.Println(len(s.Upcoming(next, 4, 10)), "left after 4 runs")

	// Next is the calendar alone: it knows nothing of runs.
	fmt.Println(s.Next(time.Date(2026, 1, 4, 9, 0, 0, 0, time.UTC)).Format(time.DateTime))
	// Output:
	// 2026-01-01 12:00:00
	// 2026-01-02 09:00:00
	// 2026-01-03 09:00:00
	// 2026-01-04 09:00:00
	// 2 left after 2 runs
	// 0 left after 4 runs
	// 2026-01-05 09:00:00
}
