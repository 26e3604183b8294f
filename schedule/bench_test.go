package schedule

import (
	"container/heap"
	"runtime"
	"testing"
	"time"
)

func benchSchedules(b *testing.B) []struct {
	name string
	s    Schedule
} {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		s    Schedule
	}{
		{"EverySeconds", EverySeconds(30)},
		{"EveryMinuteAtSecond", EveryMinute().AtSecond(15, 45)},
		{"EveryHourAtMinute", EveryHour().AtMinute(5, 35)},
		{"DailyAt3Times", Daily().At(9, 0).At(14, 0).At(18, 0)},
		{"DailyAtBerlin", Daily().At(3, 0).In(berlin)},
		{"WeeklyDays", Weekly(time.Monday, time.Wednesday, time.Friday).At(9, 30)},
		{"MonthlyDay31", Monthly().OnDay(31).At(6, 0)},
		{"MonthlyFirstMonday", Monthly().OnFirst(time.Monday).At(8, 0)},
		{"MonthlyInMonths", Monthly().OnDays(1, 15).InMonths(time.March, time.September)},
		{"Cron", Cron("*/15 9-17 * * MON-FRI")},
		{"CronBerlin", Cron("0 3 * * *").In(berlin)},
		{"CronLastFriday", Cron("0 18 * * 5L")},
	}
}

// BenchmarkNext steps through occurrences: one Next per op.
func BenchmarkNext(b *testing.B) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, bc := range benchSchedules(b) {
		b.Run(bc.name, func(b *testing.B) {
			s := bc.s
			t := start
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i&127 == 0 {
					t = start // stay far from year 9999
				}
				t = s.Next(t)
				i++
			}
			if t.IsZero() {
				b.Fatal("no occurrence")
			}
		})
	}
}

// BenchmarkResume skips a year of downtime.
func BenchmarkResume(b *testing.B) {
	stored := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := stored.AddDate(1, 0, 0).Add(17 * time.Minute)
	for _, bc := range []struct {
		name string
		s    Schedule
	}{
		{"EveryMinuteJump", EveryMinutes(1)},
		{"Every3DaysPeriodJump", EveryDays(3).At(6, 0).At(18, 0)},
		{"DailyPhaseFree", Daily().At(3, 0)},
		{"Cron", Cron("*/15 9-17 * * MON-FRI")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			first, err := bc.s.First(stored)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if bc.s.Resume(first, now).IsZero() {
					b.Fatal("zero")
				}
			}
		})
	}
}

// series is what an engine's timer heap could hold per recurring series.
type series struct {
	next  time.Time
	sched Schedule
	id    [16]byte
}

type seriesHeap []*series

func (h seriesHeap) Len() int           { return len(h) }
func (h seriesHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h seriesHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seriesHeap) Push(x any)        { *h = append(*h, x.(*series)) }
func (h *seriesHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// BenchmarkHeap100k schedules 100,000 recurring series of mixed shapes: their
// first occurrence computed and pushed onto a container/heap. One op is the
// whole 100,000; B/series is the live heap memory per series (schedule,
// heap entry and slice), measured with runtime.MemStats.
func BenchmarkHeap100k(b *testing.B) {
	const n = 100_000
	shapes := benchSchedules(b)
	scheds := make([]Schedule, n)
	for i := range scheds {
		s := shapes[i%len(shapes)].s
		// Vary the times so series do not share one slot.
		if s.calendar() {
			s = s.At(i%24, i%60)
		}
		scheds[i] = s
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	build := func() *seriesHeap {
		h := make(seriesHeap, 0, n)
		for i := range scheds {
			first, err := scheds[i].First(now)
			if err != nil {
				b.Fatal(err)
			}
			heap.Push(&h, &series{next: first, sched: scheds[i], id: [16]byte{byte(i), byte(i >> 8), byte(i >> 16)}})
		}
		return &h
	}

	// Memory: series decoded from their stored JSON, as after a recovery,
	// so each holds its own schedule slices.
	encoded := make([][]byte, n)
	for i := range scheds {
		var err error
		if encoded[i], err = scheds[i].Encode(); err != nil {
			b.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := make(seriesHeap, 0, n)
	for i := range encoded {
		s, err := Decode(encoded[i])
		if err != nil {
			b.Fatal(err)
		}
		first, err := s.First(now)
		if err != nil {
			b.Fatal(err)
		}
		heap.Push(&h, &series{next: first, sched: s})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSeries := float64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(h)
	runtime.KeepAlive(encoded)
	h = nil

	b.ReportAllocs()
	for b.Loop() {
		h := build()
		if h.Len() != n {
			b.Fatal("short heap")
		}
	}
	b.ReportMetric(perSeries, "B/series")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/series")
}
