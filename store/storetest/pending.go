package storetest

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// pendingRows builds n rows spread over distinct creation times (many rows
// share each), with random ids so id order is unrelated to insertion order.
// Every fifth row is not recoverable. It returns the rows in insertion
// order and the recoverable ones in keyset order.
func pendingRows(n, distinctTimes int) (all, recoverable []*store.Task) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range n {
		var id uuid.UUID
		for j := range id {
			id[j] = byte(rng.UintN(256))
		}
		id[6] = id[6]&0x0f | 0x70 // version 7
		id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
		task := newTask(0)
		task.ID = id
		// Insert out of time order too.
		task.CreatedAt = at(time.Duration((i*37)%distinctTimes) * time.Millisecond)
		switch i % 10 {
		case 0:
			task.Status = store.StatusCancelled
		case 5:
			task.Status = store.StatusCompleted
		case 1, 6:
			task.Status = store.StatusQueued
		case 2:
			task.Status = store.StatusInProgress
		case 3:
			task.Status = store.StatusFailed
			task.Recurring = true
			task.NextRunAt = at(time.Hour)
		}
		all = append(all, task)
		if task.Recoverable(base) {
			recoverable = append(recoverable, task)
		}
	}
	slices.SortFunc(recoverable, func(a, b *store.Task) int {
		ca, cb := store.CursorOf(a), store.CursorOf(b)
		switch {
		case ca.Less(cb):
			return -1
		case cb.Less(ca):
			return 1
		}
		return 0
	})
	return all, recoverable
}

// persistBatches writes rows with store.PersistMany in chunks, so a store
// with a BatchStore fills quickly.
func persistBatches(t tb, s store.Store, rows []*store.Task) {
	t.Helper()
	for i := 0; i < len(rows); i += 500 {
		if err := store.PersistMany(t.Context(), s, rows[i:min(i+500, len(rows))]); err != nil {
			t.Fatalf("PersistMany: %v", err)
		}
	}
}

func pendingChecks() []check {
	return []check{
		{"KeysetPagesOver10000RowsWithTies", func(t tb, s store.Store) {
			all, want := pendingRows(10000, 100)
			persistBatches(t, s, all)

			// The default limit.
			first, err := s.RetrievePending(t.Context(), store.PendingParams{Now: base})
			if err != nil {
				t.Fatalf("RetrievePending: %v", err)
			}
			if len(first) != store.DefaultPendingLimit {
				t.Errorf("RetrievePending with Limit 0 returned %d rows, want DefaultPendingLimit %d", len(first), store.DefaultPendingLimit)
			}

			// A limit that splits the groups of equal CreatedAt.
			var got []*store.Task
			p := store.PendingParams{Now: base, Limit: 333}
			for pages := 0; ; pages++ {
				if pages > len(want)/p.Limit+2 {
					t.Fatalf("RetrievePending did not end after %d pages", pages)
				}
				page, err := s.RetrievePending(t.Context(), p)
				if err != nil {
					t.Fatalf("RetrievePending after %v: %v", p.After, err)
				}
				if len(page) > p.Limit {
					t.Fatalf("RetrievePending returned %d rows for Limit %d", len(page), p.Limit)
				}
				got = append(got, page...)
				if len(page) < p.Limit {
					break
				}
				p.After = store.CursorOf(page[len(page)-1])
			}
			if len(got) != len(want) {
				t.Errorf("paging returned %d rows, want the %d recoverable rows", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i].ID != want[i].ID || !sameTime(got[i].CreatedAt, want[i].CreatedAt) {
					t.Fatalf("row %d of the pages is %s created %s, want %s created %s (keyset order over CreatedAt, then id bytes)",
						i, got[i].ID, fmtTime(got[i].CreatedAt), want[i].ID, fmtTime(want[i].CreatedAt))
				}
			}
			if len(first) == store.DefaultPendingLimit {
				if !slices.Equal(ids(first), ids(want[:store.DefaultPendingLimit])) {
					t.Errorf("the default page is not the first %d recoverable rows", store.DefaultPendingLimit)
				}
			}
		}},
		{"CreatedBeforeIsStrict", func(t tb, s store.Store) {
			var rows []*store.Task
			for i := range 6 {
				task := newTask(i + 1)
				task.CreatedAt = at(time.Duration(i/2) * time.Second) // pairs share a time
				rows = append(rows, task)
			}
			persist(t, s, rows...)
			got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: base, CreatedBefore: at(2 * time.Second)})
			if err != nil {
				t.Fatalf("RetrievePending: %v", err)
			}
			if !slices.Equal(ids(got), ids(rows[:4])) {
				t.Errorf("RetrievePending(CreatedBefore) = %v, want the 4 rows created strictly before, in order %v", ids(got), ids(rows[:4]))
			}
			// After a cursor inside a group of equal times.
			got, err = s.RetrievePending(t.Context(), store.PendingParams{Now: base, After: store.CursorOf(rows[2]), CreatedBefore: at(3 * time.Second)})
			if err != nil {
				t.Fatalf("RetrievePending: %v", err)
			}
			if !slices.Equal(ids(got), ids(rows[3:])) {
				t.Errorf("RetrievePending(After row 2) = %v, want %v", ids(got), ids(rows[3:]))
			}
		}},
		{"EmptyStore", func(t tb, s store.Store) {
			got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: base})
			if err != nil || len(got) != 0 {
				t.Errorf("RetrievePending on an empty store = %d rows, %v", len(got), err)
			}
		}},
		{"ReturnsWholeRows", func(t tb, s store.Store) {
			task := fullTask(1)
			task.Status = store.StatusQueued
			task.RunUntil = time.Time{}
			persist(t, s, task)
			got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: base})
			if err != nil || len(got) != 1 {
				t.Fatalf("RetrievePending = %d rows, %v; want 1", len(got), err)
			}
			wantTask(t, "RetrievePending", got[0], task)
		}},
	}
}
