package sqlitestore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// taskColumns is the column list every task query selects and scanTask
// reads, in this order.
const taskColumns = `id, created_at, kind, payload, handler, queue, task_key, status, audit_level,
	scheduled_at, last_execution_at, execution_time_us, error, recurring, schedule, schedule_info,
	run_count, max_runs, run_until, next_run_at, recovery_failures, owner, lease_until, metadata`

type scanner interface{ Scan(dest ...any) error }

// scanTask reads one row of taskColumns.
func scanTask(r scanner) (*store.Task, error) {
	// Every scan target lives in the task's own allocation: each variable
	// whose address goes to Scan would otherwise escape on its own, an
	// allocation per column and row.
	var rec struct {
		t                                         store.Task
		id, metadata                              []byte
		created, execUS                           int64
		key                                       sql.NullString
		scheduled, lastExec, until, next, leaseAt sql.NullInt64
		status                                    string
	}
	t := &rec.t
	err := r.Scan(&rec.id, &rec.created, &t.Kind, &t.Payload, &t.Handler, &t.Queue, &rec.key, &rec.status, &t.AuditLevel,
		&rec.scheduled, &rec.lastExec, &rec.execUS, &t.Error, &t.Recurring, &t.Schedule, &t.ScheduleInfo,
		&t.RunCount, &t.MaxRuns, &rec.until, &rec.next, &t.RecoveryFailures, &t.Owner, &rec.leaseAt, &rec.metadata)
	if err != nil {
		return nil, err
	}
	t.ID, err = uuid.FromBytes(rec.id)
	if err != nil {
		return nil, err
	}
	t.CreatedAt = time.UnixMicro(rec.created).UTC()
	t.Key = rec.key.String
	t.Status = store.Status(rec.status)
	t.ScheduledAt = fromMicros(rec.scheduled)
	t.LastExecutionAt = fromMicros(rec.lastExec)
	t.ExecutionTime = time.Duration(rec.execUS) * time.Microsecond
	t.RunUntil = fromMicros(rec.until)
	t.NextRunAt = fromMicros(rec.next)
	t.LeaseUntil = fromMicros(rec.leaseAt)
	if t.Metadata, err = store.DecodeMetadata(rec.metadata); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	rec.id, rec.metadata, rec.status = nil, nil, "" // the task keeps the allocation alive
	return t, nil
}

// scanTasks reads every row of rows and closes it.
func scanTasks(rows *sql.Rows, capHint int) ([]*store.Task, error) {
	defer rows.Close()
	out := make([]*store.Task, 0, capHint)
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// micros is the stored form of a time: unix microseconds, NULL for the zero
// time. UnixMicro rounds toward the past, which is NormalizeTime's
// truncation for every time, before 1970 too.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// ceilMicros is the smallest stored value not before t: a stored time s
// satisfies s >= t exactly when s >= ceilMicros(t), and s < t exactly when
// s < ceilMicros(t). Bounds the caller gives with nanoseconds compare
// correctly against microsecond rows this way.
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// keyArg stores the empty key as NULL, which the partial unique index
// leaves out.
func keyArg(key string) any {
	if key == "" {
		return nil
	}
	return key
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// microsDest scans a time column (unix microseconds) for sqlread: NULL is
// the zero time.
type microsDest struct{ t *time.Time }

func (d microsDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(x).UTC()
	default:
		return fmt.Errorf("sqlitestore: cannot read a time from %T", v)
	}
	return nil
}

// idDest scans an id column (16 bytes) for sqlread.
type idDest struct{ id *uuid.UUID }

func (d idDest) Scan(v any) error {
	b, ok := v.([]byte)
	if !ok || len(b) != len(d.id) {
		return fmt.Errorf("sqlitestore: an id of %T (%d bytes), want 16 bytes", v, len(b))
	}
	copy(d.id[:], b)
	return nil
}
