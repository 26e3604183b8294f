package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// LifecycleOpts configures BenchmarkLifecycle. A nil *LifecycleOpts means
// the defaults of every field.
type LifecycleOpts struct {
	// Rows are the sizes the store is filled to before the lifecycles are
	// measured, one sub-benchmark each. Nil means DefaultLifecycleRows.
	Rows []int
	// BatchSize is the group size of mode=batched. 0 means 100.
	BatchSize int
}

// DefaultLifecycleRows are the store sizes of BenchmarkLifecycle: the
// "no more than 1.5x slower at 1M rows than at 10k" target compares them.
var DefaultLifecycleRows = []int{10_000, 1_000_000}

// shortMaxRows is the largest size BenchmarkLifecycle fills under
// -test.short.
const shortMaxRows = 100_000

// BenchmarkLifecycle measures the write path of one task from dispatch to
// completion against a store already holding many rows, for any store:
// built-in stores call it from their bench_test.go and a custom store can
// too.
//
// One op is one task's lifecycle: Persist (WaitingQueue), Transition to
// Queued, Transition from Queued to InProgress, Transition from InProgress
// to Completed. Sub-benchmarks cover rows={opts.Rows} x audit={none,full} x
// mode={single,batched}: single makes each call on its own; batched groups
// opts.BatchSize tasks per store.PersistMany and store.TransitionMany call
// for each step. Each reports tasks/s.
//
// The store is created and filled once per rows value, outside the timer,
// with a mix of statuses like a long-running deployment's (mostly finished
// one-shots, some delayed, in-flight, failed, cancelled and recurring rows),
// through store.PersistMany in chunks. Every leaf removes the rows it adds
// every 1,000 tasks, outside the timer, so the store stays at its size and
// every size sees the same churn. Under -test.short, sizes above 100,000
// rows are skipped.
//
// Prefer -benchtime Nx (e.g. 200000x): each leaf then runs twice (b.N=1,
// then N). The fill happens once per size, -count repeats the leaves on
// the filled store. Wall time is mostly the fill and the full garbage
// collection the testing package forces before every run, which on a big
// store takes seconds; neither is timed.
func BenchmarkLifecycle(b *testing.B, newStore func(tb testing.TB) store.Store, opts *LifecycleOpts) {
	var o LifecycleOpts
	if opts != nil {
		o = *opts
	}
	if o.Rows == nil {
		o.Rows = DefaultLifecycleRows
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	for _, rows := range o.Rows {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			if testing.Short() && rows > shortMaxRows {
				b.Skipf("filling %d rows takes long; -test.short runs sizes up to %d", rows, shortMaxRows)
			}
			s := newStore(b)
			clk := &benchClock{now: time.Now().UTC().Truncate(time.Microsecond)}
			fillStore(b, s, rows, clk.now)
			for _, level := range []store.AuditLevel{store.AuditNone, store.AuditFull} {
				b.Run("audit="+level.String(), func(b *testing.B) {
					b.Run("mode=single", func(b *testing.B) {
						lifecycleLeaf(b, s, clk, level, 0)
					})
					b.Run("mode=batched", func(b *testing.B) {
						lifecycleLeaf(b, s, clk, level, o.BatchSize)
					})
				})
			}
		})
	}
}

// benchClock hands out strictly increasing microsecond times, so every row
// and transition of a run has its own time, as in a live engine.
type benchClock struct{ now time.Time }

func (c *benchClock) next() time.Time {
	c.now = c.now.Add(time.Microsecond)
	return c.now
}

var (
	benchPayload  = []byte(`{"to":"user@example.com","subject":"Welcome","template":"welcome-v2","locale":"en"}`)
	benchSchedule = []byte(`{"cron":"*/5 * * * *"}`)
	fromQueued    = []store.Status{store.StatusQueued}
	fromRunning   = []store.Status{store.StatusInProgress}
)

// fillStore persists rows tasks created before start, in chunks, with a
// realistic mix: per 100 rows, 85 Completed, 4 Failed, 2 Cancelled, 3
// delayed WaitingQueue, 1 each Queued, InProgress and ServiceStopped, and 3
// recurring series (keyed, Completed with a next run).
func fillStore(b *testing.B, s store.Store, rows int, start time.Time) {
	b.Helper()
	ctx := context.Background()
	const chunk = 1000
	queues := []string{"default", "mail", "reports"}
	levels := []store.AuditLevel{store.AuditFull, store.AuditFull, store.AuditMinimal, store.AuditNone}
	created := start.Add(-time.Duration(rows+1) * 10 * time.Microsecond)
	batch := make([]*store.Task, 0, chunk)
	for i := range rows {
		id, err := uuid.NewV7()
		if err != nil {
			b.Fatal(err)
		}
		created = created.Add(10 * time.Microsecond)
		t := &store.Task{
			ID: id, CreatedAt: created, Kind: "bench.Email", Payload: benchPayload,
			Handler: "bench.EmailHandler", Queue: queues[i%len(queues)], AuditLevel: levels[i%len(levels)],
			Status: store.StatusCompleted, LastExecutionAt: created.Add(time.Millisecond),
			ExecutionTime: 150 * time.Microsecond,
		}
		switch m := i % 100; {
		case m < 85:
		case m < 89:
			t.Status, t.Error = store.StatusFailed, "smtp: connection refused"
		case m < 91:
			t.Status, t.LastExecutionAt, t.ExecutionTime = store.StatusCancelled, time.Time{}, 0
		case m < 94:
			t.Status, t.LastExecutionAt, t.ExecutionTime = store.StatusWaitingQueue, time.Time{}, 0
			t.ScheduledAt = start.Add(time.Hour)
		case m == 94:
			t.Status, t.LastExecutionAt, t.ExecutionTime = store.StatusQueued, time.Time{}, 0
		case m == 95:
			t.Status, t.LastExecutionAt, t.ExecutionTime = store.StatusInProgress, time.Time{}, 0
		case m == 96:
			t.Status = store.StatusServiceStopped
		default:
			t.Kind, t.Recurring, t.Schedule, t.ScheduleInfo = "bench.Report", true, benchSchedule, "every 5 minutes"
			t.Key, t.RunCount, t.NextRunAt = fmt.Sprintf("report-%d", i), 12, start.Add(5*time.Minute)
		}
		batch = append(batch, t)
		if len(batch) == chunk || i == rows-1 {
			if err := store.PersistMany(ctx, s, batch); err != nil {
				b.Fatalf("fill %d rows: %v", rows, err)
			}
			batch = batch[:0]
		}
	}
}

// removeEvery is how many lifecycles BenchmarkLifecycle runs between two
// removals of the rows they added.
const removeEvery = 1000

// lifecycleLeaf runs b.N lifecycles, one at a time (batch 0) or in groups.
// Every removeEvery tasks it stops the timer and removes the rows it added,
// so the store stays at its nominal size (plus at most removeEvery rows)
// instead of growing by b.N, as a store with retention does.
func lifecycleLeaf(b *testing.B, s store.Store, clk *benchClock, level store.AuditLevel, batch int) {
	ctx := context.Background()
	// The same churn at every size, so sizes compare: a chunk of tasks
	// between removals is a fixed amount of recently touched memory.
	chunk := removeEvery
	if batch > 0 {
		chunk = max(chunk/batch, 1) * batch
	}
	ids := make([]uuid.UUID, 0, chunk)
	t := new(store.Task)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		if batch == 0 {
			// One Task reused: the contract has the store copy what it is
			// given, so the benchmark need not allocate what the store
			// must not keep anyway.
			for range n {
				ids = append(ids, lifecycleOne(b, ctx, s, t, clk, level))
			}
		} else {
			ids = lifecycleBatched(b, ctx, s, n, clk, level, batch, ids)
		}
		b.StopTimer()
		for _, id := range ids {
			if err := s.Remove(ctx, id); err != nil {
				b.Fatalf("remove benchmark row %s: %v", id, err)
			}
		}
		ids = ids[:0]
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

func newBenchTask(b *testing.B, t *store.Task, clk *benchClock, level store.AuditLevel) {
	id, err := uuid.NewV7()
	if err != nil {
		b.Fatal(err)
	}
	*t = store.Task{
		ID: id, CreatedAt: clk.next(), Kind: "bench.Email", Payload: benchPayload,
		Handler: "bench.EmailHandler", Queue: "default", Status: store.StatusWaitingQueue, AuditLevel: level,
	}
}

func lifecycleOne(b *testing.B, ctx context.Context, s store.Store, t *store.Task, clk *benchClock, level store.AuditLevel) uuid.UUID {
	newBenchTask(b, t, clk, level)
	if err := s.Persist(ctx, t); err != nil {
		b.Fatalf("persist: %v", err)
	}
	steps := [...]store.TransitionParams{
		{ID: t.ID, To: store.StatusQueued, Now: clk.next(), AuditLevel: level},
		{ID: t.ID, To: store.StatusInProgress, From: fromQueued, Now: clk.next(), AuditLevel: level},
		{ID: t.ID, To: store.StatusCompleted, From: fromRunning, Now: clk.next(), AuditLevel: level,
			ExecutionTime: 150 * time.Microsecond},
	}
	for i := range steps {
		applied, err := s.Transition(ctx, steps[i])
		if err != nil || !applied {
			b.Fatalf("transition %s to %s: applied %v, %v", t.ID, steps[i].To, applied, err)
		}
	}
	return t.ID
}

// lifecycleBatched runs count lifecycles in groups of batch.
func lifecycleBatched(b *testing.B, ctx context.Context, s store.Store, count int, clk *benchClock, level store.AuditLevel, batch int, ids []uuid.UUID) []uuid.UUID {
	tasks := make([]store.Task, batch)
	ptrs := make([]*store.Task, batch)
	params := make([]store.TransitionParams, batch)
	for done := 0; done < count; done += batch {
		n := min(batch, count-done)
		for i := range n {
			newBenchTask(b, &tasks[i], clk, level)
			ptrs[i] = &tasks[i]
			ids = append(ids, tasks[i].ID)
		}
		if err := store.PersistMany(ctx, s, ptrs[:n]); err != nil {
			b.Fatalf("persist many: %v", err)
		}
		for _, step := range [...]struct {
			to   store.Status
			from []store.Status
		}{
			{store.StatusQueued, nil},
			{store.StatusInProgress, fromQueued},
			{store.StatusCompleted, fromRunning},
		} {
			now := clk.next()
			for i := range n {
				params[i] = store.TransitionParams{
					ID: tasks[i].ID, To: step.to, From: step.from, Now: now, AuditLevel: level,
				}
				if step.to == store.StatusCompleted {
					params[i].ExecutionTime = 150 * time.Microsecond
				}
			}
			applied, err := store.TransitionMany(ctx, s, params[:n])
			if err != nil {
				b.Fatalf("transition many to %s: %v", step.to, err)
			}
			for i, ok := range applied {
				if !ok {
					b.Fatalf("transition %s to %s did not apply", tasks[i].ID, step.to)
				}
			}
		}
	}
	return ids
}
