package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// result is what one run measured, printed as the RESULT line.
type result struct {
	mode  string
	store string
	// nodes is how many clients (processes) worked the queue.
	nodes   int
	tasks   int
	workers int
	elapsed time.Duration
	// latencies is set in latency mode only: insert to handler start, per task.
	latencies []time.Duration
}

// line formats the result exactly like `evertask bench` does, so scripts
// parse both with one rule: space-separated key=value pairs after RESULT.
func (r *result) line() string {
	var b strings.Builder
	secs := r.elapsed.Seconds()
	perSec := 0.0
	if secs > 0 {
		perSec = float64(r.tasks) / secs
	}
	fmt.Fprintf(&b, "RESULT mode=%s store=%s nodes=%d tasks=%d workers=%d seconds=%.2f tasks_per_s=%.0f",
		r.mode, r.store, r.nodes, r.tasks, r.workers, secs, perSec)
	if r.mode == "latency" {
		fmt.Fprintf(&b, " p50_us=%d p99_us=%d",
			percentile(r.latencies, 50).Microseconds(), percentile(r.latencies, 99).Microseconds())
	}
	return b.String()
}

// percentile is the nearest-rank percentile: the smallest sample that at
// least p percent of the samples do not exceed. It sorts a copy.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// progress prints "<label>: done/total" to log once a second until stop is
// called, so a long run shows it is alive.
func progress(log io.Writer, label string, done *atomic.Int64, total int) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintf(log, "%s: %d/%d\n", label, done.Load(), total)
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}
