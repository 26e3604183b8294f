package evertask

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// TaskInfo is a task as its store keeps it, with its history: what
// `evertask tasks show`, the dashboard and Engine.Task show.
type TaskInfo struct {
	store.Task
	// Attempts are the failed attempts, oldest first: every attempt whose
	// handler returned an error, panicked or timed out, with its run,
	// number, start, duration and error (a task that failed twice and then
	// succeeded has two). Kept at every audit level but AuditNone, by
	// stores that implement store.AttemptStore (every built-in store);
	// empty for others.
	Attempts []store.Attempt
	// StatusHistory is the status audit, newest first, as the task's audit
	// level keeps it.
	StatusHistory []store.StatusAudit
	// RunsHistory is the runs audit of a recurring task, newest first.
	RunsHistory []store.RunsAudit
}

// Describe reads a task and its history from st, without an engine (the
// CLI and the monitor use it). ErrNotFound (the store's sentinel) when no
// row has the id. The reads are not one snapshot: a task that moves on
// meanwhile may show a history a step ahead of its row.
func Describe(ctx context.Context, st store.Store, id uuid.UUID) (*TaskInfo, error) {
	t, err := st.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("describe task %s: %w", id, err)
	}
	info := &TaskInfo{Task: *t}
	if info.StatusHistory, err = st.StatusAudits(ctx, id); err != nil {
		return nil, fmt.Errorf("describe task %s: status history: %w", id, err)
	}
	if info.RunsHistory, err = st.RunsAudits(ctx, id); err != nil {
		return nil, fmt.Errorf("describe task %s: runs history: %w", id, err)
	}
	if as, ok := st.(store.AttemptStore); ok {
		if info.Attempts, err = as.Attempts(ctx, id); err != nil {
			return nil, fmt.Errorf("describe task %s: attempts: %w", id, err)
		}
	}
	return info, nil
}

// Task returns a task with its attempts and history (see Describe).
// ErrNotFound when no row has the id.
func (e *Engine) Task(ctx context.Context, id uuid.UUID) (*TaskInfo, error) {
	return Describe(ctx, e.store, id)
}

// Logs returns one page of a task's captured execution logs, oldest first,
// with the count of those matching q.Level over all pages (LogPage.Total).
// q.Limit 0 means store.DefaultLogLimit (100). Logs are captured only when
// Config.LogCapture.Enabled is set, and at most Config.LogCapture.MaxPerTask
// are kept per task.
func (e *Engine) Logs(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	page, err := e.store.LogsPage(ctx, q)
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs of task %s: %w", q.TaskID, err)
	}
	return page, nil
}
