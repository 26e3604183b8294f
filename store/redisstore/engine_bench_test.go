package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

type noop struct {
	N int `json:"n"`
}

func (noop) Kind() string { return "redisbench.noop" }

// BenchmarkEngineBurn runs the engine on the Redis store: producers
// dispatch b.N no-op tasks while the workers run them; the clock stops at
// the last completion. One op is one task.
//
//	go test -run '^$' -bench EngineBurn -benchtime 20000x -count 5 ./store/redisstore/
func BenchmarkEngineBurn(b *testing.B) {
	for _, level := range []store.AuditLevel{store.AuditNone, store.AuditFull} {
		b.Run("audit="+level.String(), func(b *testing.B) {
			s := newSetup(b).s
			var done atomic.Int64
			finished := make(chan struct{})
			target := int64(b.N)
			eng, err := evertask.New(s, &evertask.Config{
				AuditLevel: level, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Capacity: 10_000,
			})
			if err != nil {
				b.Fatal(err)
			}
			err = evertask.Register[noop](eng, evertask.HandlerFunc[noop](func(context.Context, noop) error {
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
			b.ResetTimer()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range runtime.GOMAXPROCS(0) * 2 {
				wg.Go(func() {
					for n := next.Add(1); n <= target; n = next.Add(1) {
						if _, err := eng.Dispatch(context.Background(), noop{N: int(n)}, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			<-finished
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// BenchmarkEngineLatency dispatches one task at a time and measures from
// Dispatch to the handler's start.
func BenchmarkEngineLatency(b *testing.B) {
	s := newSetup(b).s
	started := make(chan time.Time, 1)
	eng, err := evertask.New(s, &evertask.Config{AuditLevel: store.AuditNone, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := evertask.Register[noop](eng, evertask.HandlerFunc[noop](func(context.Context, noop) error {
		started <- time.Now()
		return nil
	}), nil); err != nil {
		b.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer eng.Shutdown(context.Background())
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		at := time.Now()
		if _, err := eng.Dispatch(context.Background(), noop{N: i}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(at))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_us")
}
