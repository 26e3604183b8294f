package storetest

import (
	"fmt"
	"maps"
	"time"

	"github.com/evertask/evertask/store"
)

// countOps reaches the counts: the store's own Counter or the package
// fallback over List.
type countOps struct {
	byStatus func(t tb, s store.Store, p store.CountParams) (map[store.Status]int, error)
	byQueue  func(t tb, s store.Store, p store.CountParams) (map[string]map[store.Status]int, error)
}

var directCounts = countOps{
	byStatus: func(t tb, s store.Store, p store.CountParams) (map[store.Status]int, error) {
		return s.(store.Counter).CountByStatus(t.Context(), p)
	},
	byQueue: func(t tb, s store.Store, p store.CountParams) (map[string]map[store.Status]int, error) {
		return s.(store.Counter).CountByQueue(t.Context(), p)
	},
}

var fallbackCounts = countOps{
	byStatus: func(t tb, s store.Store, p store.CountParams) (map[store.Status]int, error) {
		return store.CountByStatus(t.Context(), coreOnly{s}, p)
	},
	byQueue: func(t tb, s store.Store, p store.CountParams) (map[string]map[store.Status]int, error) {
		return store.CountByQueue(t.Context(), coreOnly{s}, p)
	},
}

func counterChecks(ops countOps) []check {
	return []check{
		countsFollowEveryWrite(ops),
		{"CountsWithAndWithoutCreatedFrom", func(t tb, s store.Store) {
			if got, err := ops.byStatus(t, s, store.CountParams{}); err != nil || len(got) != 0 {
				t.Errorf("CountByStatus of an empty store = %v, %v; want an empty map", got, err)
			}
			var rows []*store.Task
			wantAll := map[store.Status]int{}
			wantLate := map[store.Status]int{}
			queueAll := map[string]map[store.Status]int{}
			queueLate := map[string]map[store.Status]int{}
			statuses := []store.Status{store.StatusWaitingQueue, store.StatusQueued, store.StatusCompleted, store.StatusFailed, store.StatusCompleted}
			for i := range 150 {
				task := newTask(i + 1)
				task.Status = statuses[i%len(statuses)]
				task.Queue = fmt.Sprint("q", i%3)
				task.CreatedAt = at(time.Duration(i) * time.Millisecond)
				rows = append(rows, task)
				add := func(m map[store.Status]int, q map[string]map[store.Status]int) {
					m[task.Status]++
					if q[task.Queue] == nil {
						q[task.Queue] = map[store.Status]int{}
					}
					q[task.Queue][task.Status]++
				}
				add(wantAll, queueAll)
				if i >= 70 {
					add(wantLate, queueLate)
				}
			}
			persistBatches(t, s, rows)
			for _, c := range []struct {
				name   string
				p      store.CountParams
				status map[store.Status]int
				queue  map[string]map[store.Status]int
			}{
				{"all", store.CountParams{}, wantAll, queueAll},
				{"created from (inclusive, any location)", store.CountParams{CreatedFrom: at(70 * time.Millisecond).In(elsewhere)}, wantLate, queueLate},
				{"created from after every row", store.CountParams{CreatedFrom: at(time.Hour)}, map[store.Status]int{}, map[string]map[store.Status]int{}},
			} {
				got, err := ops.byStatus(t, s, c.p)
				if err != nil {
					t.Fatalf("CountByStatus(%s): %v", c.name, err)
				}
				if !maps.Equal(got, c.status) {
					t.Errorf("CountByStatus(%s) = %v, want %v", c.name, got, c.status)
				}
				gotQ, err := ops.byQueue(t, s, c.p)
				if err != nil {
					t.Fatalf("CountByQueue(%s): %v", c.name, err)
				}
				if !maps.EqualFunc(gotQ, c.queue, func(a, b map[store.Status]int) bool { return maps.Equal(a, b) }) {
					t.Errorf("CountByQueue(%s) = %v, want %v", c.name, gotQ, c.queue)
				}
			}
		}},
	}
}

// countsFollowEveryWrite changes rows through every write that moves a row
// between statuses or queues (or removes it) and compares the counts with
// the rows: stores that keep counters beside the rows must follow them all.
func countsFollowEveryWrite(ops countOps) check {
	return check{"CountsFollowEveryWrite", func(t tb, s store.Store) {
		ctx := t.Context()
		var rows []*store.Task
		for i := range 40 {
			task := newTask(i + 1)
			task.Queue = fmt.Sprint("q", i%2)
			rows = append(rows, task)
		}
		persistBatches(t, s, rows)
		now := at(time.Hour)
		for i := range 10 { // one by one
			transition(t, s, store.TransitionParams{ID: rows[i].ID, To: store.StatusQueued, Now: now})
		}
		var many []store.TransitionParams
		for i := 10; i < 20; i++ {
			many = append(many, store.TransitionParams{ID: rows[i].ID, To: store.StatusCompleted, Now: now})
		}
		if _, err := store.TransitionMany(ctx, s, many); err != nil {
			t.Fatalf("TransitionMany: %v", err)
		}
		moved := rows[20].Clone()
		moved.Queue = "elsewhere"
		if err := s.UpdateDefinition(ctx, moved); err != nil {
			t.Fatalf("UpdateDefinition: %v", err)
		}
		for _, i := range []int{21, 22, 11} {
			if err := s.Remove(ctx, rows[i].ID); err != nil {
				t.Fatalf("Remove: %v", err)
			}
		}
		if r, ok := s.(store.Retainer); ok {
			if _, err := r.Purge(ctx, store.RetentionPolicy{Now: at(1000 * time.Hour), CompletedTaskAge: time.Hour}); err != nil {
				t.Fatalf("Purge: %v", err)
			}
		}
		wantStatus := map[store.Status]int{}
		wantQueue := map[string]map[store.Status]int{}
		for _, r := range allRows(t, s) {
			wantStatus[r.Status]++
			if wantQueue[r.Queue] == nil {
				wantQueue[r.Queue] = map[store.Status]int{}
			}
			wantQueue[r.Queue][r.Status]++
		}
		got, err := ops.byStatus(t, s, store.CountParams{})
		if err != nil || !maps.Equal(got, wantStatus) {
			t.Errorf("CountByStatus after the writes = %v, %v; the rows say %v", got, err, wantStatus)
		}
		gotQ, err := ops.byQueue(t, s, store.CountParams{})
		if err != nil || !maps.EqualFunc(gotQ, wantQueue, func(a, b map[store.Status]int) bool { return maps.Equal(a, b) }) {
			t.Errorf("CountByQueue after the writes = %v, %v; the rows say %v", gotQ, err, wantQueue)
		}
	}}
}

func recoveryCounterChecks() []check {
	return []check{
		{"IncrementsAndClears", func(t tb, s store.Store) {
			rc := s.(store.RecoveryCounter)
			task := newTask(1)
			other := newTask(2)
			persist(t, s, task, other)
			for want := 1; want <= 3; want++ {
				got, err := rc.IncrementRecoveryFailures(t.Context(), task.ID)
				if err != nil || got != want {
					t.Errorf("IncrementRecoveryFailures #%d = %d, %v; want %d", want, got, err, want)
				}
			}
			want := task.Clone()
			want.RecoveryFailures = 3
			wantRow(t, s, "after three increments", want)
			wantRow(t, s, "the other row", other)
			if err := rc.ClearRecoveryFailures(t.Context(), task.ID); err != nil {
				t.Fatalf("ClearRecoveryFailures: %v", err)
			}
			wantRow(t, s, "after clear", task)
			if got, err := rc.IncrementRecoveryFailures(t.Context(), task.ID); err != nil || got != 1 {
				t.Errorf("IncrementRecoveryFailures after clear = %d, %v; want 1", got, err)
			}
			if a := statusAudits(t, s, task.ID); len(a) != 0 {
				t.Errorf("the recovery counter wrote audits: %v", a)
			}
		}},
		{"ConcurrentIncrementsAreAtomic", func(t tb, s store.Store) {
			rc := s.(store.RecoveryCounter)
			task := newTask(1)
			persist(t, s, task)
			const n = 32
			seen := make(chan int, n)
			start := make(chan struct{})
			for range n {
				go func() {
					<-start
					v, err := rc.IncrementRecoveryFailures(t.Context(), task.ID)
					if err != nil {
						t.Errorf("IncrementRecoveryFailures: %v", err)
					}
					seen <- v
				}()
			}
			close(start)
			values := map[int]bool{}
			for range n {
				values[<-seen] = true
			}
			for v := 1; v <= n; v++ {
				if !values[v] {
					t.Errorf("no increment returned %d: concurrent increments are not atomic", v)
					break
				}
			}
			if got := get(t, s, task.ID); got.RecoveryFailures != n {
				t.Errorf("RecoveryFailures = %d after %d increments", got.RecoveryFailures, n)
			}
		}},
		{"UnknownRowIsNotFound", func(t tb, s store.Store) {
			rc := s.(store.RecoveryCounter)
			_, err := rc.IncrementRecoveryFailures(t.Context(), tid(1))
			wantErr(t, "IncrementRecoveryFailures(unknown)", err, store.ErrNotFound)
			wantErr(t, "ClearRecoveryFailures(unknown)", rc.ClearRecoveryFailures(t.Context(), tid(1)), store.ErrNotFound)
			wantRowCount(t, s, 0)
		}},
	}
}

func fallbackChecks() []check {
	var out []check
	prefix := func(p string, cs []check) {
		for _, c := range cs {
			c.name = p + "/" + c.name
			out = append(out, c)
		}
	}
	prefix("Recurring", recurringChecks(fallbackRecurring))
	prefix("Batch", batchChecks(viaFallbackBatch, false))
	prefix("Counter", counterChecks(fallbackCounts))
	prefix("Stats", statsChecks(fallbackOverview))
	prefix("Stats", statsFallbackChecks())
	out = append(out, check{"Purge/UnsupportedWithoutRetainer", func(t tb, s store.Store) {
		persist(t, s, newTask(1))
		_, err := store.Purge(t.Context(), coreOnly{s}, store.RetentionPolicy{Now: base, LogAge: time.Hour})
		wantErr(t, "store.Purge without a Retainer", err, store.ErrUnsupported)
		wantRowCount(t, s, 1)
	}})
	return out
}
