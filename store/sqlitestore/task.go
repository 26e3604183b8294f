package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

const (
	getTaskSQL          = `SELECT ` + taskColumns + ` FROM tasks WHERE id = ?`
	getByKeySQL         = `SELECT ` + taskColumns + ` FROM tasks WHERE task_key = ?`
	taskExistsSQL       = `SELECT 1 FROM tasks WHERE id = ?`
	removeTaskSQL       = `DELETE FROM tasks WHERE id = ?` // children go by ON DELETE CASCADE
	selectRunsSQL       = `SELECT run_count FROM tasks WHERE id = ?`
	updateDefinitionSQL = `UPDATE tasks SET kind = ?, payload = ?, handler = ?, queue = ?, task_key = ?,
	audit_level = ?, scheduled_at = ?, recurring = ?, schedule = ?, schedule_info = ?, max_runs = ?,
	run_until = ?, next_run_at = ?, metadata = ?
WHERE id = ?`
)

// insertArgs are the values of one row of insertTasksSQL for t, normalized as the
// contract says a store keeps them.
func insertArgs(t *store.Task) []any {
	return []any{
		t.ID[:], t.CreatedAt.UnixMicro(), t.Kind, t.Payload, t.Handler, t.Queue, keyArg(t.Key),
		string(t.Status), int(t.AuditLevel), micros(t.ScheduledAt), micros(t.LastExecutionAt),
		t.ExecutionTime.Microseconds(), t.Error, boolInt(t.Recurring), t.Schedule, t.ScheduleInfo,
		t.RunCount, t.MaxRuns, micros(t.RunUntil), micros(t.NextRunAt), t.RecoveryFailures,
		t.Owner, micros(t.LeaseUntil), metadataArg(t.Metadata),
	}
}

// Persist writes a new row; a held task key is store.ErrDuplicateKey.
func (s *Store) Persist(ctx context.Context, t *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := t.Validate(); err != nil {
		return err
	}
	// One statement is atomic on its own: no transaction needed.
	if _, err := s.batch.single(batchInsertTasks).ExecContext(ctx, insertArgs(t)...); err != nil {
		return fmt.Errorf("persist task %s: %w", t.ID, mapErr(err))
	}
	return nil
}

// PersistMany writes the rows in one transaction, all or none.
func (s *Store) PersistMany(ctx context.Context, tasks []*store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	for _, t := range tasks {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	if len(tasks) == 0 {
		return nil
	}
	return s.withTx(ctx, func(tx *sql.Tx) error { return s.persistMany(ctx, tx, tasks) })
}

// UpdateDefinition overwrites the definition fields (store.DefinitionFields).
func (s *Store) UpdateDefinition(ctx context.Context, t *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := t.ValidateDefinition(); err != nil {
		return err
	}
	res, err := s.writer.ExecContext(ctx, updateDefinitionSQL,
		t.Kind, t.Payload, t.Handler, t.Queue, keyArg(t.Key), int(t.AuditLevel), micros(t.ScheduledAt),
		boolInt(t.Recurring), t.Schedule, t.ScheduleInfo, t.MaxRuns, micros(t.RunUntil), micros(t.NextRunAt),
		metadataArg(t.Metadata), t.ID[:])
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, err)
	}
	return nil
}

// affectedOne maps an exec that matched no row to store.ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Remove deletes the row with its audits and logs, in one statement.
func (s *Store) Remove(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	res, err := s.stmts.removeTask.ExecContext(ctx, id[:])
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	return nil
}

// Get returns the row with the id.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	t, err := scanTask(s.stmts.getTask.QueryRowContext(ctx, id[:]))
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, mapErr(err))
	}
	return t, nil
}

// GetByKey returns the row holding the task key.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("get task by empty key: %w", store.ErrNotFound)
	}
	t, err := scanTask(s.readers.QueryRowContext(ctx, getByKeySQL, key))
	if err != nil {
		return nil, fmt.Errorf("get task by key %q: %w", key, mapErr(err))
	}
	return t, nil
}

// RunCount returns the row's real executions so far.
func (s *Store) RunCount(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int
	if err := s.readers.QueryRowContext(ctx, selectRunsSQL, id[:]).Scan(&n); err != nil {
		return 0, fmt.Errorf("run count of %s: %w", id, mapErr(err))
	}
	return n, nil
}

// metadataArg stores no metadata as NULL, else its JSON text.
func metadataArg(md map[string]string) any {
	if b := store.EncodeMetadata(md); b != nil {
		return string(b)
	}
	return nil
}
