package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// BenchmarkBurnCycle measures the store's side of a burn: Queued rows
// claimed in calls of claim rows, then ended Completed under their lease
// in TransitionMany batches of end rows, as the engine's fetcher and
// completer send them. One op is one row. Beside ns/op it reports the
// server's CPU time per row of the claims and of the ends (INFO cpu
// around each chunk, outside the timer), which the client's scheduling
// does not inflate.
//
//	go test -run '^$' -bench BurnCycle -benchtime 20000x -count 5 ./store/redisstore/
func BenchmarkBurnCycle(b *testing.B) {
	for _, sizes := range [][2]int{{1000, 64}, {100, 16}} {
		claim, end := sizes[0], sizes[1]
		b.Run(fmt.Sprintf("claim=%d/end=%d", claim, end), func(b *testing.B) {
			su := newSetup(b)
			ctx := b.Context()
			var claimCPU, endCPU float64
			b.ResetTimer()
			b.StopTimer()
			const chunk = 1000
			for done := 0; done < b.N; done += chunk {
				rows := make([]*store.Task, min(chunk, b.N-done))
				for i := range rows {
					tk := task(done + i)
					tk.Status = store.StatusQueued
					tk.AuditLevel = store.AuditNone
					rows[i] = tk
				}
				if err := su.s.PersistMany(ctx, rows); err != nil {
					b.Fatal(err)
				}
				_, c0 := serverMicros(b, su)
				b.StartTimer()
				var claimed []uuid.UUID
				for len(claimed) < len(rows) {
					res, err := su.s.Claim(ctx, store.ClaimParams{Owner: "node-a", Queue: "default",
						Limit: min(claim, len(rows)-len(claimed)), LeaseFor: time.Minute, Now: t0.Add(time.Hour)})
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Tasks) == 0 {
						b.Fatalf("claimed %d of %d rows", len(claimed), len(rows))
					}
					for _, tk := range res.Tasks {
						claimed = append(claimed, tk.ID)
					}
				}
				b.StopTimer()
				_, c1 := serverMicros(b, su)
				params := make([]store.TransitionParams, len(claimed))
				for i, id := range claimed {
					params[i] = store.TransitionParams{ID: id, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress},
						Now: t0.Add(time.Hour), ExecutionTime: time.Millisecond, AuditLevel: store.AuditNone, HeldBy: "node-a"}
				}
				b.StartTimer()
				transitionInChunks(b, su, params, end, true)
				b.StopTimer()
				_, c2 := serverMicros(b, su)
				claimCPU += c1 - c0
				endCPU += c2 - c1
			}
			b.ReportMetric(claimCPU/float64(b.N), "claim-cpu-µs/row")
			b.ReportMetric(endCPU/float64(b.N), "end-cpu-µs/row")
		})
	}
}
