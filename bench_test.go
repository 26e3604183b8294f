package evertask_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/evertask/evertask/metrics"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/tracing"
)

// BenchmarkEngine measures the whole engine (dispatch, run a no-op,
// complete) on the embedded stores; see enginetest.BenchmarkThroughput.
// EVERTASK_BENCH_WORKERS, _PRODUCERS and _NOBATCH=1 override the setup;
// EVERTASK_BENCH_METRICS=1 turns on package metrics (a fresh registry) and
// EVERTASK_BENCH_TRACING=1 package tracing (an SDK provider that records
// every span and exports none), to measure what they cost.
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
				o := enginetest.BenchOpts{
					Audit: level, Workers: w, Producers: envInt("EVERTASK_BENCH_PRODUCERS", 8),
					NoBatch: os.Getenv("EVERTASK_BENCH_NOBATCH") == "1",
				}
				if os.Getenv("EVERTASK_BENCH_METRICS") == "1" {
					m, err := metrics.New(&metrics.Config{Registerer: prometheus.NewRegistry()})
					if err != nil {
						b.Fatal(err)
					}
					o.Observer = m.Observer()
				}
				if os.Getenv("EVERTASK_BENCH_TRACING") == "1" {
					tp := sdktrace.NewTracerProvider()
					b.Cleanup(func() { tp.Shutdown(context.Background()) })
					o.Middleware = append(o.Middleware, tracing.Middleware(&tracing.Config{TracerProvider: tp}))
				}
				enginetest.BenchmarkThroughput(b, stores[name](b), o)
			})
		}
	}
}

// BenchmarkRawChannel is the physical ceiling of BenchmarkEngine: the same
// producers and no-op work over one buffered channel and worker goroutines,
// with no store, no ids and no JSON.
func BenchmarkRawChannel(b *testing.B) {
	ch := make(chan enginetest.Job, 10_000)
	var done atomic.Int64
	finished := make(chan struct{})
	target := int64(b.N)
	for range max(4, 2*runtime.NumCPU()) {
		go func() {
			for range ch {
				if done.Add(1) == target {
					close(finished)
				}
			}
		}()
	}
	b.ResetTimer()
	cpu0 := enginetest.CPUTime()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for n := next.Add(1); n <= target; n = next.Add(1) {
				ch <- enginetest.Job{N: int(n)}
			}
		})
	}
	wg.Wait()
	<-finished
	b.StopTimer()
	close(ch)
	enginetest.ReportThroughput(b, cpu0)
}

// BenchmarkLatency measures dispatch to handler start, one task at a time.
func BenchmarkLatency(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) { enginetest.BenchmarkLatency(b, memstore.New()) })
	b.Run("store=sqlite", func(b *testing.B) {
		enginetest.BenchmarkLatency(b, openSQLite(b, filepath.Join(b.TempDir(), "bench.db")))
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
