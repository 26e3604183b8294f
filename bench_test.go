package evertask_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

type benchTask struct {
	N int `json:"n"`
}

func (benchTask) Kind() string { return "bench.noop" }

// BenchmarkEngine measures the whole engine: concurrent producers dispatch
// b.N no-op tasks while the workers run them; the clock stops when the last
// one completed. One op is one task.
func BenchmarkEngine(b *testing.B) {
	stores := map[string]func(b *testing.B) store.Store{
		"memory": func(*testing.B) store.Store { return memstore.New() },
		"sqlite": func(b *testing.B) store.Store { return openSQLite(b, filepath.Join(b.TempDir(), "bench.db")) },
	}
	// SQLite commits are the cost there: more workers make bigger group
	// commits, so it runs with 32 workers (the default is max(4, 2×CPUs)).
	workers := map[string]int{"memory": 0, "sqlite": 32}
	for _, name := range []string{"memory", "sqlite"} {
		for _, level := range []store.AuditLevel{store.AuditNone, store.AuditFull} {
			w := envInt("EVERTASK_BENCH_WORKERS", workers[name])
			b.Run(fmt.Sprintf("store=%s/audit=%s/workers=%d", name, level, w), func(b *testing.B) {
				benchEngine(b, stores[name](b), level, w)
			})
		}
	}
}

func benchEngine(b *testing.B, st store.Store, level store.AuditLevel, workers int) {
	var done atomic.Int64
	finished := make(chan struct{})
	target := int64(b.N)
	eng, err := evertask.New(st, &evertask.Config{
		AuditLevel: level, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Capacity: 10_000,
		DisableBatching: os.Getenv("EVERTASK_BENCH_NOBATCH") == "1",
		Workers:         workers,
	})
	if err != nil {
		b.Fatal(err)
	}
	err = evertask.Register[benchTask](eng, evertask.HandlerFunc[benchTask](func(context.Context, benchTask) error {
		if done.Add(1) == target {
			close(finished)
		}
		return nil
	}), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer eng.Shutdown(context.Background())

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	producers := envInt("EVERTASK_BENCH_PRODUCERS", 8)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := next.Add(1); n <= target; n = next.Add(1) {
				if _, err := eng.Dispatch(context.Background(), benchTask{N: int(n)}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-finished
	b.StopTimer()
	reportThroughput(b, cpu0)
}

// reportThroughput reports tasks/s, and the process's CPU time per task:
// on a machine shared with other work the wall clock says little, while
// CPU per task shows what the code costs (2 idle cores give at most
// 2e9/cpu_ns tasks/s).
func reportThroughput(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu_ns/op")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRawChannel is the physical ceiling of BenchmarkEngine: the same
// producers and no-op work over one buffered channel and worker goroutines,
// with no store, no ids and no JSON.
func BenchmarkRawChannel(b *testing.B) {
	ch := make(chan benchTask, 10_000)
	var done atomic.Int64
	finished := make(chan struct{})
	target := int64(b.N)
	workers := max(4, 2*runtime.NumCPU())
	for range workers {
		go func() {
			for range ch {
				if done.Add(1) == target {
					close(finished)
				}
			}
		}()
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range runtime.GOMAXPROCS(0) * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := next.Add(1); n <= target; n = next.Add(1) {
				ch <- benchTask{N: int(n)}
			}
		}()
	}
	wg.Wait()
	<-finished
	b.StopTimer()
	close(ch)
	reportThroughput(b, cpu0)
}

// BenchmarkLatency dispatches one task at a time and measures from the call
// to Dispatch to the handler's start; it reports the p50 and p99.
func BenchmarkLatency(b *testing.B) {
	for _, name := range []string{"memory", "sqlite"} {
		b.Run("store="+name, func(b *testing.B) {
			var st store.Store = memstore.New()
			if name == "sqlite" {
				st = openSQLite(b, filepath.Join(b.TempDir(), "bench.db"))
			}
			startedAt := make(chan time.Time, 1)
			eng, err := evertask.New(st, &evertask.Config{AuditLevel: store.AuditNone, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			_ = evertask.Register[benchTask](eng, evertask.HandlerFunc[benchTask](func(context.Context, benchTask) error {
				startedAt <- time.Now()
				return nil
			}), nil)
			if err := eng.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer eng.Shutdown(context.Background())
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := eng.Dispatch(context.Background(), benchTask{N: i}, nil); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, (<-startedAt).Sub(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_us")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_us")
		})
	}
}
