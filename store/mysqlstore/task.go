package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// validateCounters keeps the counters within the INT columns.
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
	err := retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.sql.insert+placeholders(1, taskColumnCount), taskArgs(nil, task)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("persist task %s: %w", task.ID, mapErr(err))
	}
	return nil
}

// Limits of one multi-row insert: rows, and bytes of payloads and
// schedules, so a statement stays well under the server's
// max_allowed_packet (16 MiB by default on MariaDB 10.11 and MySQL 8; 4
// MiB on older servers).
const (
	insertBatchRows  = 500
	insertBatchBytes = 2 << 20
)

// insertChunks splits tasks into the batches of single INSERT statements.
func insertChunks(tasks []*store.Task) [][]*store.Task {
	var (
		out   [][]*store.Task
		start int
		bytes int
	)
	for i, t := range tasks {
		size := len(t.Payload) + len(t.Schedule) + len(t.Error) + 256
		if i > start && (i-start >= insertBatchRows || bytes+size > insertBatchBytes) {
			out = append(out, tasks[start:i])
			start, bytes = i, 0
		}
		bytes += size
	}
	return append(out, tasks[start:])
}

// PersistMany implements store.BatchStore: all rows or none. A batch that
// fits one statement is one multi-row INSERT, atomic by itself; a larger
// one is several in one transaction.
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
	if len(tasks) == 0 {
		return nil
	}
	chunks := insertChunks(tasks)
	var err error
	if len(chunks) == 1 {
		err = retry(ctx, func() error { return s.insertTasks(ctx, s.db, tasks) })
	} else {
		err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
			for _, c := range chunks {
				if err := s.insertTasks(ctx, tx, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("persist %d tasks: %w", len(tasks), mapErr(err))
	}
	return nil
}

// execer is a *sql.DB, *sql.Tx or *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insertTasks writes tasks with one multi-row INSERT.
func (s *Store) insertTasks(ctx context.Context, db execer, tasks []*store.Task) error {
	args := make([]any, 0, len(tasks)*taskColumnCount)
	for _, t := range tasks {
		args = taskArgs(args, t)
	}
	_, err := db.ExecContext(ctx, s.sql.insert+placeholders(len(tasks), taskColumnCount), args...)
	return err
}

// UpdateDefinition implements store.Store.
func (s *Store) UpdateDefinition(ctx context.Context, t *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := t.ValidateDefinition(); err != nil {
		return err
	}
	var found bool
	err := retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.sql.updateDefinition, t.Kind, blobArg(t.Payload), t.Handler, t.Queue,
			keyArg(t.Key), int8(t.AuditLevel), ts(t.ScheduledAt), t.Recurring, blobArg(t.Schedule), t.ScheduleInfo,
			t.MaxRuns, ts(t.RunUntil), ts(t.NextRunAt), blobArg(store.EncodeMetadata(t.Metadata)), idArg(t.ID))
		if err != nil {
			return err
		}
		// The server counts changed rows, not matched ones (unless the DSN
		// sets clientFoundRows): an update that wrote the same values
		// reports 0, so 0 needs a look.
		if n, _ := res.RowsAffected(); n > 0 {
			found = true
			return nil
		}
		found, err = s.exists(ctx, s.db, t.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, mapErr(err))
	}
	if !found {
		return fmt.Errorf("update task %s: %w", t.ID, store.ErrNotFound)
	}
	return nil
}

// exists reports whether the row is there.
func (s *Store) exists(ctx context.Context, db execer, id uuid.UUID) (bool, error) {
	var one int
	err := db.QueryRowContext(ctx, s.sql.exists, idArg(id)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Remove implements store.Store in one transaction: the row (its logs go
// through their foreign key), then its audits. Deleting the row first takes
// its lock, so a transition in flight commits (with its audit) before the
// audits are deleted.
func (s *Store) Remove(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	var removed int64
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.sql.remove, idArg(id))
		if err != nil {
			return err
		}
		if removed, _ = res.RowsAffected(); removed == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.sql.removeStatusAudits, idArg(id)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.sql.removeRunsAudits, idArg(id))
		return err
	})
	if err != nil {
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
	t, err := scanTask(s.db.QueryRowContext(ctx, s.sql.get, idArg(id)))
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
	t, err := scanTask(s.db.QueryRowContext(ctx, s.sql.getByKey, key))
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
	var n int
	if err := s.db.QueryRowContext(ctx, s.sql.runCount, idArg(id)).Scan(&n); err != nil {
		return 0, fmt.Errorf("run count of %s: %w", id, mapErr(err))
	}
	return n, nil
}

// scanTasks reads every row of rows and closes it.
func scanTasks(rows *sql.Rows, capacity int) ([]*store.Task, error) {
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
