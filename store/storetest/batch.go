package storetest

import (
	"context"
	"errors"
	"time"

	"github.com/evertask/evertask/store"
)

// fallbackBatch reaches the package fallbacks of the batch functions.
type fallbackBatch struct{ s store.Store }

func (f fallbackBatch) PersistMany(ctx context.Context, tasks []*store.Task) error {
	return store.PersistMany(ctx, coreOnly{f.s}, tasks)
}

func (f fallbackBatch) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	return store.TransitionMany(ctx, coreOnly{f.s}, params)
}

func directBatch(s store.Store) store.BatchStore { return s.(store.BatchStore) }

func viaFallbackBatch(s store.Store) store.BatchStore { return fallbackBatch{s} }

// batchChecks covers PersistMany and TransitionMany reached through bs.
// atomic is true for a real BatchStore, whose PersistMany is all or none.
func batchChecks(bs func(store.Store) store.BatchStore, atomic bool) []check {
	checks := []check{
		{"PersistManyWritesEveryRow", func(t tb, s store.Store) {
			var rows []*store.Task
			for i := range 50 {
				rows = append(rows, newTask(i+1))
			}
			rows[3] = fullTask(4)
			if err := bs(s).PersistMany(t.Context(), rows); err != nil {
				t.Fatalf("PersistMany: %v", err)
			}
			for _, r := range rows {
				wantRow(t, s, "after PersistMany", r)
			}
			if err := bs(s).PersistMany(t.Context(), nil); err != nil {
				t.Errorf("PersistMany(nil): %v", err)
			}
			wantRowCount(t, s, 50)
		}},
		{"TransitionManyAppliesEachWithItsAudit", func(t tb, s store.Store) {
			a, b, c, d, e := newTask(1), newTask(2), newTask(3), newTask(4), newTask(5)
			b.Status = store.StatusQueued
			c.Status = store.StatusCancelled
			d.Status = store.StatusInProgress
			e.Status = store.StatusInProgress
			persist(t, s, a, b, c, d, e)
			params := []store.TransitionParams{
				{ID: a.ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue}, Now: at(time.Second)},
				{ID: b.ID, To: store.StatusInProgress, From: []store.Status{store.StatusWaitingQueue}, Now: at(time.Second)}, // condition fails
				{ID: tid(99), To: store.StatusQueued, Now: at(time.Second)},                                                  // missing row
				{ID: c.ID, To: store.StatusQueued, IfRecoverable: true, Now: at(time.Second)},                                // not recoverable
				{ID: d.ID, To: store.StatusCompleted, Now: at(2 * time.Second), ExecutionTime: time.Second, AuditLevel: store.AuditNone},
				{ID: e.ID, To: store.StatusFailed, Now: at(3 * time.Second), Error: "boom", AuditLevel: store.AuditErrorsOnly},
			}
			applied, err := bs(s).TransitionMany(t.Context(), params)
			if err != nil {
				t.Fatalf("TransitionMany: %v", err)
			}
			want := []bool{true, false, false, false, true, true}
			if len(applied) != len(want) {
				t.Fatalf("TransitionMany returned %d results for %d params", len(applied), len(params))
			}
			for i := range want {
				if applied[i] != want[i] {
					t.Errorf("TransitionMany applied[%d] = %v, want %v", i, applied[i], want[i])
				}
			}
			wa := a.Clone()
			wa.Status = store.StatusQueued
			wantRow(t, s, "a", wa)
			wantRow(t, s, "b", b)
			wantRow(t, s, "c", c)
			wd := d.Clone()
			wd.Status, wd.LastExecutionAt, wd.ExecutionTime = store.StatusCompleted, at(2*time.Second), time.Second
			wantRow(t, s, "d", wd)
			we := e.Clone()
			we.Status, we.Error, we.LastExecutionAt = store.StatusFailed, "boom", at(3*time.Second)
			wantRow(t, s, "e", we)
			wantStatusAudits(t, s, "a", a.ID, []store.StatusAudit{{At: at(time.Second), Status: store.StatusQueued}})
			wantStatusAudits(t, s, "b", b.ID, nil)
			wantStatusAudits(t, s, "c", c.ID, nil)
			wantStatusAudits(t, s, "d at level None", d.ID, nil)
			wantStatusAudits(t, s, "e", e.ID, []store.StatusAudit{{At: at(3 * time.Second), Status: store.StatusFailed, Error: "boom"}})
			if _, err := s.Get(t.Context(), tid(99)); err == nil {
				t.Errorf("TransitionMany created a missing row")
			}
			if applied, err := bs(s).TransitionMany(t.Context(), nil); err != nil || len(applied) != 0 {
				t.Errorf("TransitionMany(nil) = %v, %v", applied, err)
			}
		}},
	}
	if !atomic {
		return append(checks, check{"PersistManyStopsAtTheFirstError", func(t tb, s store.Store) {
			held := newTask(100)
			held.Key = "held"
			persist(t, s, held)
			rows := []*store.Task{newTask(1), newTask(2), newTask(3)}
			rows[1].Key = "held"
			wantErr(t, "PersistMany with a held key", bs(s).PersistMany(t.Context(), rows), store.ErrDuplicateKey)
			wantRow(t, s, "the row before the error", rows[0])
			if _, err := s.Get(t.Context(), rows[2].ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the row after the error: Get err = %v, want ErrNotFound", err)
			}
		}})
	}
	return append(checks, check{"PersistManyIsAllOrNone", func(t tb, s store.Store) {
		held := newTask(100)
		held.Key = "held"
		persist(t, s, held)
		batch := func() []*store.Task {
			return []*store.Task{newTask(1), newTask(2), newTask(3)}
		}
		invalid := batch()
		invalid[2].Kind = ""
		wantErr(t, "PersistMany with an invalid task", bs(s).PersistMany(t.Context(), invalid), store.ErrInvalid)
		withNil := batch()
		withNil[1] = nil
		wantErr(t, "PersistMany with a nil task", bs(s).PersistMany(t.Context(), withNil), store.ErrInvalid)
		heldKey := batch()
		heldKey[2].Key = "held"
		wantErr(t, "PersistMany with a held key", bs(s).PersistMany(t.Context(), heldKey), store.ErrDuplicateKey)
		twice := batch()
		twice[0].Key, twice[2].Key = "same", "same"
		wantErr(t, "PersistMany with a key twice in the batch", bs(s).PersistMany(t.Context(), twice), store.ErrDuplicateKey)
		wantRowCount(t, s, 1)
		if _, err := s.GetByKey(t.Context(), "same"); err == nil {
			t.Errorf("a rejected batch left its key behind")
		}
	}})
}
