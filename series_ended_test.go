package evertask_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

type tick struct{}

func (tick) Kind() string { return "test.tick" }

// A series that ran out (3 of 3 runs) and is registered again on the next
// start, unchanged or with a limit it has used up, keeps no next run: the
// row showed "runs 3 of 3" with a next run that never came. A higher limit
// starts it again.
func TestReregisteredEndedSeriesKeepsNoNextRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		limit    int
		wantNext bool
	}{{"SameLimit", 3, false}, {"HigherLimit", 5, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := memstore.New()
			t.Cleanup(func() { _ = st.Close() })
			now := time.Now()
			sched := schedule.EveryHour().AtMost(3)
			raw, err := sched.Encode()
			if err != nil {
				t.Fatal(err)
			}
			ended := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: now.Add(-3 * time.Hour), Kind: "test.tick",
				Payload: []byte(`{}`), Queue: evertask.RecurringQueue, Key: "tick", Status: store.StatusCompleted,
				Recurring: true, Schedule: raw, RunCount: 3, MaxRuns: 3, LastExecutionAt: now.Add(-time.Hour)}
			if err := st.Persist(t.Context(), ended); err != nil {
				t.Fatal(err)
			}
			eng, err := evertask.New(st, &evertask.Config{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := evertask.Register[tick](eng, evertask.HandlerFunc[tick](func(context.Context, tick) error { return nil }), nil); err != nil {
				t.Fatal(err)
			}
			if err := eng.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
			again := schedule.EveryHour().AtMost(tc.limit)
			id, err := eng.Dispatch(t.Context(), tick{}, &evertask.DispatchOpts{Key: "tick", Schedule: &again})
			if err != nil || id != ended.ID {
				t.Fatalf("Dispatch = %s, %v; want the series %s", id, err, ended.ID)
			}
			row, err := st.Get(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if got := !row.NextRunAt.IsZero(); got != tc.wantNext {
				t.Errorf("after re-registering with AtMost(%d), next run %v (runs %d of %d); want a next run: %v",
					tc.limit, row.NextRunAt, row.RunCount, row.MaxRuns, tc.wantNext)
			}
		})
	}
}
