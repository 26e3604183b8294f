package enginetest

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// BenchOpts sizes BenchmarkThroughput.
type BenchOpts struct {
	Audit     store.AuditLevel
	Workers   int  // default queue workers; 0: the engine's default
	Producers int  // goroutines dispatching; 0: 8
	NoBatch   bool // Config.DisableBatching
	// Observer and Middleware go to the engine's Config (the cost of
	// metrics and tracing).
	Observer   evertask.Observer
	Middleware []evertask.Middleware
}

// BenchmarkThroughput measures the whole engine on st: producers dispatch
// b.N no-op tasks while the workers run them; the clock stops when the last
// one ran. One op is one task. It reports tasks/s and the process's CPU time
// per task: on a shared machine the wall clock says little, while CPU per
// task shows what the code costs.
func BenchmarkThroughput(b *testing.B, st store.Store, o BenchOpts) {
	var done atomic.Int64
	finished := make(chan struct{})
	target := int64(b.N)
	eng := benchEngine(b, st, &evertask.Config{
		AuditLevel: o.Audit, Workers: o.Workers, Capacity: 10_000, DisableBatching: o.NoBatch,
		Observer: o.Observer, Middleware: o.Middleware,
	}, func() {
		if done.Add(1) == target {
			close(finished)
		}
	})
	producers := o.Producers
	if producers == 0 {
		producers = 8
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range producers {
		wg.Go(func() {
			for n := next.Add(1); n <= target; n = next.Add(1) {
				if _, err := eng.Dispatch(context.Background(), Job{N: int(n)}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-finished
	b.StopTimer()
	ReportThroughput(b, cpu0)
}

// BenchmarkLatency dispatches one task at a time on st and measures from the
// call to Dispatch to the handler's start; it reports the p50 and p99.
func BenchmarkLatency(b *testing.B, st store.Store) {
	started := make(chan time.Time, 1)
	eng := benchEngine(b, st, &evertask.Config{AuditLevel: store.AuditNone}, func() { started <- time.Now() })
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := eng.Dispatch(context.Background(), Job{N: i}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_us")
}

func benchEngine(b *testing.B, st store.Store, cfg *evertask.Config, ran func()) *evertask.Engine {
	b.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := evertask.New(st, cfg)
	if err != nil {
		b.Fatal(err)
	}
	err = evertask.Register[Job](eng, evertask.HandlerFunc[Job](func(context.Context, Job) error {
		ran()
		return nil
	}), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	return eng
}

// ReportThroughput reports tasks/s and the process's CPU time per op since
// cpu0 (2 idle cores give at most 2e9/cpu_ns tasks/s).
func ReportThroughput(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu_ns/op")
}

// CPUTime returns the process's user and system CPU time.
func CPUTime() time.Duration { return cpuTime() }
