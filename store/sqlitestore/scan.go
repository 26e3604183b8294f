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
	var (
		t                                         store.Task
		id                                        []byte
		created                                   int64
		key                                       sql.NullString
		scheduled, lastExec, until, next, leaseAt sql.NullInt64
		execUS                                    int64
		status                                    string
		metadata                                  []byte
	)
	err := r.Scan(&id, &created, &t.Kind, &t.Payload, &t.Handler, &t.Queue, &key, &status, &t.AuditLevel,
		&scheduled, &lastExec, &execUS, &t.Error, &t.Recurring, &t.Schedule, &t.ScheduleInfo,
		&t.RunCount, &t.MaxRuns, &until, &next, &t.RecoveryFailures, &t.Owner, &leaseAt, &metadata)
	if err != nil {
		return nil, err
	}
	t.ID, err = uuid.FromBytes(id)
	if err != nil {
		return nil, err
	}
	t.CreatedAt = time.UnixMicro(created).UTC()
	t.Key = key.String
	t.Status = store.Status(status)
	t.ScheduledAt = fromMicros(scheduled)
	t.LastExecutionAt = fromMicros(lastExec)
	t.ExecutionTime = time.Duration(execUS) * time.Microsecond
	t.RunUntil = fromMicros(until)
	t.NextRunAt = fromMicros(next)
	t.LeaseUntil = fromMicros(leaseAt)
	if t.Metadata, err = store.DecodeMetadata(metadata); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	return &t, nil
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
