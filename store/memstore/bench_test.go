package memstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/storetest"
	"github.com/google/uuid"
)

// BenchmarkLifecycle: go test -run '^$' -bench Lifecycle -benchtime 200000x -count 5 ./store/memstore/
func BenchmarkLifecycle(b *testing.B) {
	storetest.BenchmarkLifecycle(b, func(testing.TB) store.Store { return memstore.New() }, nil)
}

// BenchmarkParallelLifecycle measures the single lock under contention:
// GOMAXPROCS goroutines each run whole lives of tasks (persist, queued, in
// progress, completed, removed) on one store. Compare -cpu 1 with -cpu 2:
//
//	go test -run '^$' -bench ParallelLifecycle -benchtime 200000x -count 5 -cpu 1,2 ./store/memstore/
func BenchmarkParallelLifecycle(b *testing.B) {
	s := memstore.New()
	ctx := context.Background()
	var clock atomic.Int64 // microseconds, shared so times advance across goroutines
	clock.Store(time.Now().UnixMicro())
	now := func() time.Time { return time.UnixMicro(clock.Add(1)) }
	steps := []struct {
		to   store.Status
		from []store.Status
	}{
		{store.StatusQueued, nil},
		{store.StatusInProgress, []store.Status{store.StatusQueued}},
		{store.StatusCompleted, []store.Status{store.StatusInProgress}},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		t := &store.Task{Kind: "bench.Email", Queue: "default", Status: store.StatusWaitingQueue, Payload: []byte(`{"n":1}`)}
		for pb.Next() {
			t.ID, t.CreatedAt = uuid.Must(uuid.NewV7()), now()
			if err := s.Persist(ctx, t); err != nil {
				b.Error(err)
				return
			}
			for _, st := range steps {
				ok, err := s.Transition(ctx, store.TransitionParams{ID: t.ID, To: st.to, From: st.from, Now: now(), AuditLevel: store.AuditNone})
				if err != nil || !ok {
					b.Errorf("transition to %s: %v, %v", st.to, ok, err)
					return
				}
			}
			if err := s.Remove(ctx, t.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
