package timerheap

import (
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkSchedule100k parks 100,000 recurring series (one entry each, a
// day apart over a year) and reports the time per Schedule and the heap's
// memory per series. It measures the timer heap alone; a series' decoded
// schedule is measured in package schedule.
func BenchmarkSchedule100k(b *testing.B) {
	const series = 100_000
	ids := make([]uuid.UUID, series)
	for i := range ids {
		ids[i], _ = uuid.NewV7()
	}
	base := time.Now()
	var perSeries float64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		h := New(time.Now, func(uuid.UUID, *int) {})
		b.StartTimer()
		for i, id := range ids {
			h.Schedule(id, base.Add(time.Duration(i%365)*24*time.Hour+time.Duration(i)*time.Second), nil)
		}
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		perSeries = float64(after.HeapAlloc-before.HeapAlloc) / series
		runtime.KeepAlive(h)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*series), "ns/series")
	b.ReportMetric(perSeries, "B/series")
}
