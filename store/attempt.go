package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Attempt is one failed attempt of a task's execution. The engine retries a
// failing handler within one execution, so without this record the errors of
// the attempts before a successful one would exist only as events, which a
// slow subscriber may lose.
type Attempt struct {
	ID     int64 // increasing per store, set by the store; orders a task's attempts
	TaskID uuid.UUID
	// Run is the execution the attempt belongs to: 1 for a one-shot task,
	// RunCount+1 at the time for an occurrence of a recurring series.
	Run int
	// Number is the 1-based attempt within the execution.
	Number    int
	StartedAt time.Time
	Duration  time.Duration
	Error     string
}

// AttemptParams describes one failed attempt to record.
type AttemptParams struct {
	Attempt    Attempt
	AuditLevel AuditLevel
	// HeldBy fences the write as TransitionParams.HeldBy does: it applies
	// only while HeldBy holds the row's lease (Cluster stores only).
	HeldBy string
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *AttemptParams) Validate() error {
	a := &p.Attempt
	switch {
	case a.TaskID == uuid.Nil:
		return errInvalid("zero task id")
	case a.Run < 1 || a.Number < 1:
		return errInvalid("attempt of %s needs a run and a number from 1 (got run %d, number %d)", a.TaskID, a.Run, a.Number)
	case a.StartedAt.IsZero():
		return errInvalid("attempt of %s has no start time", a.TaskID)
	case a.Duration < 0:
		return errInvalid("attempt of %s has a negative duration", a.TaskID)
	case !p.AuditLevel.Valid():
		return errInvalid("unknown audit level %d", p.AuditLevel)
	}
	return nil
}

// AttemptAuditRequired is the audit policy for failed attempts: every level
// that records errors (all but None) keeps them.
func AttemptAuditRequired(level AuditLevel) bool { return level != AuditNone }

// AttemptStore keeps the failed attempts of each task. It is optional: a
// store without it shows only the last error of a task (Task.Error).
//
// Attempts are part of a task's history: Remove deletes them with the row,
// as do the task rules of Purge, and Purge deletes those that started
// before RetentionPolicy.AttemptCutoff (ErrorAuditAge when set, else
// StatusAuditAge), counting them in PurgeResult.Attempts.
type AttemptStore interface {
	// RecordAttempt appends one failed attempt when
	// AttemptAuditRequired(params.AuditLevel), setting Attempt.ID; at
	// AuditNone it writes nothing and reports true. It reports false, with
	// nothing written, when HeldBy is set and does not hold the row's lease.
	// ErrNotFound when the row does not exist.
	RecordAttempt(ctx context.Context, params AttemptParams) (applied bool, err error)

	// Attempts returns a task's recorded attempts, oldest first (by ID),
	// with StartedAt as NormalizeTime gives it and Duration truncated to
	// the microsecond. For a task that does not exist it returns either no
	// attempts or ErrNotFound, as the audit reads do.
	Attempts(ctx context.Context, taskID uuid.UUID) ([]Attempt, error)
}

// QueuePause is one paused queue.
type QueuePause struct {
	Queue    string
	PausedAt time.Time
}

// QueuePauser keeps which queues are paused, for every node sharing the
// store and across restarts. A paused queue still accepts dispatches; no
// node starts its tasks until it is resumed. It is optional: without it
// queues cannot be paused.
type QueuePauser interface {
	// PauseQueue pauses a queue at now. Pausing a paused queue keeps its
	// first PausedAt. The empty queue name is ErrInvalid.
	PauseQueue(ctx context.Context, queue string, now time.Time) error
	// ResumeQueue resumes a queue; resuming a queue that is not paused is
	// a no-op.
	ResumeQueue(ctx context.Context, queue string) error
	// PausedQueues lists the paused queues ordered by name.
	PausedQueues(ctx context.Context) ([]QueuePause, error)
}

// AttemptCutoff returns the cutoff of the attempts rule: attempts that
// started before it are old. It is ErrorAuditAge's cutoff when that is set,
// else StatusAuditAge's; false when neither is set.
func (p *RetentionPolicy) AttemptCutoff() (time.Time, bool) {
	if p.ErrorAuditAge > 0 {
		return p.Cutoff(p.ErrorAuditAge)
	}
	return p.Cutoff(p.StatusAuditAge)
}
