package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evertask/evertask/store"
)

// uuidArg is an id as a parameter: a pgtype.UUID, which pgx encodes from
// its bytes in every query mode. A uuid.UUID would go through its
// driver.Valuer, a string round trip that took a third of the client's CPU
// in a PostgreSQL burn; a bare [16]byte has no encoding when the server does
// not describe the parameter (the simple protocol, TestConformanceExecModes).
func uuidArg(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// uuidDest is where a scan writes an id, as 16 bytes for the same reason.
func uuidDest(id *uuid.UUID) *[16]byte { return (*[16]byte)(id) }

// ts is a time as a parameter: the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: store.NormalizeTime(t), Valid: true}
}

// fromTS reads a time column back: NULL is the zero time.
func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return store.NormalizeTime(v.Time)
}

// Bounds for keyset comparisons where a side is open.
var (
	minTime = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	maxTime = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
)

func upperBound(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return maxTime
	}
	return ts(t)
}

func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// keyArg is the key column: no key is NULL, so the unique index ignores it.
func keyArg(key string) *string {
	if key == "" {
		return nil
	}
	return &key
}

// taskArgs are the insert parameters of t in taskColumns order.
func taskArgs(t *store.Task) []any {
	return []any{
		uuidArg(t.ID), ts(t.CreatedAt), t.Kind, t.Payload, t.Handler, t.Queue, keyArg(t.Key),
		string(t.Status), int16(t.AuditLevel), ts(t.ScheduledAt), ts(t.LastExecutionAt),
		micros(t.ExecutionTime), t.Error, t.Recurring, t.Schedule, t.ScheduleInfo,
		int32(t.RunCount), int32(t.MaxRuns), ts(t.RunUntil), ts(t.NextRunAt),
		int32(t.RecoveryFailures), t.Owner, ts(t.LeaseUntil), metadataArg(t.Metadata),
	}
}

// metadataArg is the metadata column: no entries is NULL, else the JSON
// object as text (pgx sends a string to a jsonb column as its text form).
func metadataArg(md map[string]string) *string {
	b := store.EncodeMetadata(md)
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// scanTask reads one row in taskColumns order.
func scanTask(row pgx.Row) (*store.Task, error) { return scanTaskAfter(row) }

// taskColumnCount is the number of columns in taskColumns.
const taskColumnCount = 24

// scanTaskAfter reads one row whose taskColumns follow the columns that
// prefix scans into.
func scanTaskAfter(row pgx.Row, prefix ...any) (*store.Task, error) {
	// Every scan target lives in the task's own allocation: each variable
	// whose address goes to Scan would otherwise escape on its own, an
	// allocation per column and row. The times and counters scan straight
	// into the task's fields (timeDest, microsDest), which keeps that one
	// allocation at 448 bytes (it was 704 with a pgtype.Timestamptz per time
	// column).
	var rec struct {
		t        store.Task
		metadata []byte
		key      *string
		status   string
		level    int16
	}
	t := &rec.t
	// The list of targets is recycled: built fresh, it was a 400-byte
	// allocation per row.
	dp := scanDests.Get().(*[]any)
	dest := append(append((*dp)[:0], prefix...), uuidDest(&t.ID), (*timeDest)(&t.CreatedAt), &t.Kind, &t.Payload, &t.Handler, &t.Queue, &rec.key, &rec.status, &rec.level,
		(*timeDest)(&t.ScheduledAt), (*timeDest)(&t.LastExecutionAt), (*microsDest)(&t.ExecutionTime), &t.Error, &t.Recurring, &t.Schedule, &t.ScheduleInfo,
		&t.RunCount, &t.MaxRuns, (*timeDest)(&t.RunUntil), (*timeDest)(&t.NextRunAt), &t.RecoveryFailures, &t.Owner, (*timeDest)(&t.LeaseUntil), &rec.metadata)
	err := row.Scan(dest...)
	clear(dest) // drop the references to this task before the list is reused
	*dp = dest[:0]
	scanDests.Put(dp)
	if err != nil {
		return nil, err
	}
	if rec.key != nil {
		t.Key = *rec.key
	}
	// An empty byte slice comes back nil, as store.Task.Clone gives it.
	if len(t.Payload) == 0 {
		t.Payload = nil
	}
	if len(t.Schedule) == 0 {
		t.Schedule = nil
	}
	t.Status = store.Status(rec.status)
	t.AuditLevel = store.AuditLevel(rec.level)
	if t.Metadata, err = store.DecodeMetadata(rec.metadata); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	rec.metadata, rec.key = nil, nil // the task keeps the allocation alive
	return t, nil
}

// scanDests recycles the target lists of scanTaskAfter.
var scanDests = sync.Pool{New: func() any { s := make([]any, 0, taskColumnCount+4); return &s }}

// timeDest scans a timestamptz column into a time.Time as fromTS reads it
// (NULL is the zero time). A pointer to it is a scan target that costs no
// allocation of its own.
type timeDest time.Time

func (d *timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d = timeDest(fromTS(v))
	return nil
}

// microsDest scans a bigint of microseconds into a time.Duration.
type microsDest time.Duration

func (d *microsDest) ScanInt64(v pgtype.Int8) error {
	if !v.Valid {
		return errors.New("execution_time_us is NULL")
	}
	*d = microsDest(time.Duration(v.Int64) * time.Microsecond)
	return nil
}

func scanTasks(rows pgx.Rows, capacity int) ([]*store.Task, error) {
	defer rows.Close()
	out := make([]*store.Task, 0, capacity)
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// validateCounters keeps the counters within the integer columns.
func validateCounters(t *store.Task) error {
	if t.RunCount > store.MaxRunCount || t.MaxRuns > store.MaxRunCount || t.RecoveryFailures > store.MaxRunCount {
		return fmt.Errorf("%w: task %s has a counter over %d", store.ErrInvalid, t.ID, store.MaxRunCount)
	}
	return nil
}

// Persist implements store.Store.
func (s *Store) Persist(ctx context.Context, task *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := task.Validate(); err != nil {
		return err
	}
	if err := validateCounters(task); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.sql.insert, taskArgs(task)...); err != nil {
		return fmt.Errorf("persist task %s: %w", task.ID, mapErr(err))
	}
	return nil
}

// copyThreshold is the batch size from which PersistMany uses COPY inside a
// transaction; below it one multi-row INSERT (a single round trip, atomic
// by itself) is faster.
const copyThreshold = 512

// PersistMany implements store.BatchStore: all rows or none.
func (s *Store) PersistMany(ctx context.Context, tasks []*store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	for _, t := range tasks {
		if err := t.Validate(); err != nil {
			return err
		}
		if err := validateCounters(t); err != nil {
			return err
		}
	}
	switch {
	case len(tasks) == 0:
		return nil
	case len(tasks) == 1:
		return s.Persist(ctx, tasks[0])
	case len(tasks) >= copyThreshold:
		return s.persistCopy(ctx, tasks)
	}
	n := len(tasks)
	_, err := s.pool.Exec(ctx, s.sql.insertMany, taskArrays(tasks)...)
	if err != nil {
		return fmt.Errorf("persist %d tasks: %w", n, mapErr(err))
	}
	return nil
}

// taskArrays are the 24 column arrays of sqlInsertMany for tasks.
func taskArrays(tasks []*store.Task) []any {
	n := len(tasks)
	var (
		ids                                       = make([]pgtype.UUID, n)
		created, sched, last, until, next, leases = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		kinds, handlers, queues, statuses, errs   = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		infos, owners                             = make([]string, n), make([]string, n)
		metadata                                  = make([]*string, n)
		keys                                      = make([]*string, n)
		payloads, schedules                       = make([][]byte, n), make([][]byte, n)
		levels                                    = make([]int16, n)
		execs                                     = make([]int64, n)
		recurring                                 = make([]bool, n)
		runCounts, maxRuns, recFails              = make([]int32, n), make([]int32, n), make([]int32, n)
	)
	for i, t := range tasks {
		ids[i], created[i], kinds[i], payloads[i], handlers[i], queues[i] = uuidArg(t.ID), ts(t.CreatedAt), t.Kind, t.Payload, t.Handler, t.Queue
		keys[i], statuses[i], levels[i], sched[i], last[i] = keyArg(t.Key), string(t.Status), int16(t.AuditLevel), ts(t.ScheduledAt), ts(t.LastExecutionAt)
		execs[i], errs[i], recurring[i], schedules[i], infos[i] = micros(t.ExecutionTime), t.Error, t.Recurring, t.Schedule, t.ScheduleInfo
		runCounts[i], maxRuns[i], until[i], next[i] = int32(t.RunCount), int32(t.MaxRuns), ts(t.RunUntil), ts(t.NextRunAt)
		recFails[i], owners[i], leases[i] = int32(t.RecoveryFailures), t.Owner, ts(t.LeaseUntil)
		metadata[i] = metadataArg(t.Metadata)
	}
	return []any{ids, created, kinds, payloads, handlers, queues, keys,
		statuses, levels, sched, last, execs, errs, recurring, schedules, infos, runCounts, maxRuns,
		until, next, recFails, owners, leases, metadata}
}

// persistCopy writes a large batch with COPY in one transaction, so a held
// key anywhere in it leaves nothing written.
func (s *Store) persistCopy(ctx context.Context, tasks []*store.Task) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "tasks"}, copyColumns,
			pgx.CopyFromSlice(len(tasks), func(i int) ([]any, error) { return taskArgs(tasks[i]), nil }))
		return err
	})
	if err != nil {
		return fmt.Errorf("persist %d tasks: %w", len(tasks), mapErr(err))
	}
	return nil
}

var copyColumns = []string{
	"id", "created_at", "kind", "payload", "handler", "queue", "key", "status", "audit_level",
	"scheduled_at", "last_execution_at", "execution_time_us", "error", "recurring", "schedule", "schedule_info",
	"run_count", "max_runs", "run_until", "next_run_at", "recovery_failures", "owner", "lease_until", "metadata",
}

// UpdateDefinition implements store.Store.
func (s *Store) UpdateDefinition(ctx context.Context, t *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := t.ValidateDefinition(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.sql.updateDefinition, uuidArg(t.ID), t.Kind, t.Payload, t.Handler, t.Queue,
		keyArg(t.Key), int16(t.AuditLevel), ts(t.ScheduledAt), t.Recurring, t.Schedule, t.ScheduleInfo,
		int32(t.MaxRuns), ts(t.RunUntil), ts(t.NextRunAt), metadataArg(t.Metadata))
	if err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update task %s: %w", t.ID, store.ErrNotFound)
	}
	return nil
}

// Remove implements store.Store in one round trip and one transaction:
// the row, then its audits, then commit; the logs go with the row through
// their foreign key. Deleting the row first takes its lock, so a transition
// in flight commits (with its audit) before the audits are deleted, each
// statement seeing what committed before it.
func (s *Store) Remove(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	batch.Queue(s.sql.remove, uuidArg(id))
	batch.Queue(s.sql.removeStatusAudits, uuidArg(id))
	batch.Queue(s.sql.removeRunsAudits, uuidArg(id))
	batch.Queue("COMMIT")
	results := s.pool.SendBatch(ctx, batch)
	var removed int64
	for i := range batch.Len() {
		tag, err := results.Exec()
		if err != nil {
			results.Close()
			return fmt.Errorf("remove task %s: %w", id, mapErr(err))
		}
		if i == 1 {
			removed = tag.RowsAffected()
		}
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("remove task %s: %w", id, mapErr(err))
	}
	if removed == 0 {
		return fmt.Errorf("remove task %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	t, err := scanTask(s.pool.QueryRow(ctx, s.sql.get, uuidArg(id)))
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, mapErr(err))
	}
	return t, nil
}

// GetByKey implements store.Store.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("get task by empty key: %w", store.ErrNotFound)
	}
	t, err := scanTask(s.pool.QueryRow(ctx, s.sql.getByKey, key))
	if err != nil {
		return nil, fmt.Errorf("get task by key %q: %w", key, mapErr(err))
	}
	return t, nil
}

// RunCount implements store.Store.
func (s *Store) RunCount(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int32
	if err := s.pool.QueryRow(ctx, s.sql.runCount, uuidArg(id)).Scan(&n); err != nil {
		return 0, fmt.Errorf("run count of %s: %w", id, mapErr(err))
	}
	return int(n), nil
}
