package redisstore_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
)

// BenchmarkEndBatch measures the script that ends executions: one
// TransitionMany of a batch of InProgress rows to Completed (rows of 4
// kinds, one minute), the engine's completion path. One op is one row. It
// also reports the server's own time in EVALSHA per row and its CPU time
// per row (INFO commandstats and cpu around each 1,000 rows, outside the
// timer): the client's scheduling does not inflate them, and the CPU time
// not even the server's, but other clients of the same server would.
//
//	go test -run '^$' -bench EndBatch -benchtime 20000x -count 5 ./store/redisstore/
func BenchmarkEndBatch(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprint("batch=", n), func(b *testing.B) {
			su := newSetup(b)
			now := t0.Add(time.Hour)
			var serverUS, cpuUS float64
			b.ResetTimer()
			b.StopTimer()
			// Rows are persisted a chunk at a time outside the timer and
			// the server's counters read around each chunk's ends.
			const chunk = 1000
			for done := 0; done < b.N; done += chunk {
				rows := make([]*store.Task, min(chunk, b.N-done))
				params := make([]store.TransitionParams, len(rows))
				for i := range rows {
					tk := task(done + i)
					tk.Kind = fmt.Sprint("kind-", i%4)
					tk.Status = store.StatusInProgress
					rows[i] = tk
					params[i] = store.TransitionParams{ID: tk.ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress},
						Now: now, ExecutionTime: time.Millisecond, AuditLevel: store.AuditNone}
				}
				if err := su.s.PersistMany(b.Context(), rows); err != nil {
					b.Fatal(err)
				}
				us0, cpu0 := serverMicros(b, su)
				b.StartTimer()
				transitionInChunks(b, su, params, n, false)
				b.StopTimer()
				us1, cpu1 := serverMicros(b, su)
				serverUS += us1 - us0
				cpuUS += cpu1 - cpu0
			}
			b.ReportMetric(serverUS/float64(b.N), "server-µs/row")
			b.ReportMetric(cpuUS/float64(b.N), "server-cpu-µs/row")
		})
	}
}

// transitionInChunks writes params in TransitionMany calls of n each; with
// mustApply, a transition the store did not apply fails the benchmark.
func transitionInChunks(b *testing.B, su setup, params []store.TransitionParams, n int, mustApply bool) {
	b.Helper()
	for i := 0; i < len(params); i += n {
		ok, err := su.s.TransitionMany(b.Context(), params[i:min(i+n, len(params))])
		if err != nil {
			b.Fatal(err)
		}
		for _, applied := range ok {
			if mustApply && !applied {
				b.Fatal("a transition under a held lease was refused")
			}
		}
	}
}

// serverMicros returns the server's total time in EVALSHA so far and its
// CPU time (user and system) so far, in µs. The CPU time also counts the
// INFO command that reads it, the same for every call measured.
func serverMicros(b *testing.B, su setup) (evalsha, cpu float64) {
	b.Helper()
	info, err := su.c.Info(b.Context(), "commandstats", "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	num := func(v string) float64 {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	found := false
	for line := range strings.SplitSeq(info, "\n") {
		switch {
		case strings.HasPrefix(line, "cmdstat_evalsha:"):
			for f := range strings.SplitSeq(strings.TrimSpace(strings.TrimPrefix(line, "cmdstat_evalsha:")), ",") {
				if v, ok := strings.CutPrefix(f, "usec="); ok {
					evalsha, found = num(v), true
				}
			}
		case strings.HasPrefix(line, "used_cpu_user:"), strings.HasPrefix(line, "used_cpu_sys:"):
			_, v, _ := strings.Cut(line, ":")
			cpu += num(v) * 1e6
		}
	}
	if !found {
		b.Fatal("no cmdstat_evalsha in INFO commandstats")
	}
	return evalsha, cpu
}
