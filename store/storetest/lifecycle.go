package storetest

import (
	"context"
	"errors"

	"github.com/evertask/evertask/store"
)

// calls invokes every method of the store, and of the capabilities it has,
// with valid arguments for a row that exists, and returns the errors by
// method name.
func calls(ctx context.Context, s store.Store, task *store.Task) map[string]error {
	id := task.ID
	out := map[string]error{}
	run := func(name string, err error) { out[name] = err }
	next := newTask(900)
	run("Persist", s.Persist(ctx, next))
	upd := task.Clone()
	upd.Payload = []byte(`{}`)
	run("UpdateDefinition", s.UpdateDefinition(ctx, upd))
	_, err := s.Get(ctx, id)
	run("Get", err)
	_, err = s.GetByKey(ctx, "k")
	run("GetByKey", err)
	_, err = s.List(ctx, store.Filter{})
	run("List", err)
	_, err = s.RetrievePending(ctx, store.PendingParams{Now: base})
	run("RetrievePending", err)
	_, err = s.Transition(ctx, store.TransitionParams{ID: id, To: store.StatusQueued, Now: base})
	run("Transition", err)
	_, err = s.RunCount(ctx, id)
	run("RunCount", err)
	run("UpdateCurrentRun", s.UpdateCurrentRun(ctx, store.RunParams{ID: id, Now: base}))
	run("SaveLogs", s.SaveLogs(ctx, id, []store.ExecutionLog{logRecord(id, 1, 0, "Information", "x")}))
	_, err = s.Logs(ctx, id)
	run("Logs", err)
	_, err = s.LogsPage(ctx, store.LogQuery{TaskID: id})
	run("LogsPage", err)
	_, err = s.StatusAudits(ctx, id)
	run("StatusAudits", err)
	_, err = s.RunsAudits(ctx, id)
	run("RunsAudits", err)
	if rs, ok := s.(store.RecurringStore); ok {
		_, err = rs.CompleteRecurringRun(ctx, store.RunParams{ID: id, Now: base, Status: store.StatusCompleted})
		run("CompleteRecurringRun", err)
		_, err = rs.EndSeries(ctx, store.EndSeriesParams{ID: id, Now: base, Status: store.StatusCompleted})
		run("EndSeries", err)
	}
	if bs, ok := s.(store.BatchStore); ok {
		run("PersistMany", bs.PersistMany(ctx, []*store.Task{newTask(901)}))
		_, err = bs.TransitionMany(ctx, []store.TransitionParams{{ID: id, To: store.StatusQueued, Now: base}})
		run("TransitionMany", err)
	}
	if rc, ok := s.(store.RecoveryCounter); ok {
		_, err = rc.IncrementRecoveryFailures(ctx, id)
		run("IncrementRecoveryFailures", err)
		run("ClearRecoveryFailures", rc.ClearRecoveryFailures(ctx, id))
	}
	if c, ok := s.(store.Counter); ok {
		_, err = c.CountByStatus(ctx, store.CountParams{})
		run("CountByStatus", err)
		_, err = c.CountByQueue(ctx, store.CountParams{})
		run("CountByQueue", err)
	}
	if r, ok := s.(store.Retainer); ok {
		_, err = r.Purge(ctx, store.RetentionPolicy{Now: base, LogAge: 1})
		run("Purge", err)
	}
	run("Remove", s.Remove(ctx, id))
	return out
}

func lifecycleChecks() []check {
	return []check{
		{"CancelledContextIsReported", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.Key = "k"
			persist(t, s, task)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			for name, err := range calls(ctx, s, task) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s with a cancelled context: err = %v, want errors.Is(err, context.Canceled)", name, err)
				}
			}
		}},
		{"ClosedStoreReturnsErrClosed", func(t tb, s store.Store) {
			c, ok := s.(interface{ Close() error })
			if !ok {
				t.Skipf("%T has no Close() error method", s)
			}
			task := recurringTask(1)
			task.Key = "k"
			persist(t, s, task)
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Closing twice is safe, as stopping twice is everywhere else.
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v, want nil", err)
			}
			for name, err := range calls(t.Context(), s, task) {
				if !errors.Is(err, store.ErrClosed) {
					t.Errorf("%s on a closed store: err = %v, want ErrClosed", name, err)
				}
			}
		}},
	}
}
