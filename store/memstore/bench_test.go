package memstore_test

import (
	"context"
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

// BenchmarkParallelLifecycle runs whole lifecycles from GOMAXPROCS
// goroutines on one store, to see what the single lock costs under
// contention (compare with mode=single of BenchmarkLifecycle).
func BenchmarkParallelLifecycle(b *testing.B) {
	s := memstore.New()
	ctx := context.Background()
	from := map[store.Status][]store.Status{
		store.StatusInProgress: {store.StatusQueued},
		store.StatusCompleted:  {store.StatusInProgress},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		t := &store.Task{Kind: "bench.Email", Queue: "default", Status: store.StatusWaitingQueue, Payload: []byte(`{"n":1}`)}
		for pb.Next() {
			t.ID, t.CreatedAt = uuid.Must(uuid.NewV7()), time.Now()
			if err := s.Persist(ctx, t); err != nil {
				b.Error(err)
				return
			}
			for _, to := range []store.Status{store.StatusQueued, store.StatusInProgress, store.StatusCompleted} {
				ok, err := s.Transition(ctx, store.TransitionParams{ID: t.ID, To: to, From: from[to], Now: time.Now(), AuditLevel: store.AuditNone})
				if err != nil || !ok {
					b.Errorf("transition to %s: %v, %v", to, ok, err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
