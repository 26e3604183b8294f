package store

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Status is the lifecycle state of a task. It is stored as its string name.
type Status string

// The statuses of a task. The happy path is WaitingQueue (persisted) ->
// Queued (handed to a worker queue) -> InProgress -> Completed, Failed,
// Cancelled or ServiceStopped. A recurring row cycles from Completed or
// Failed back to Queued when its next occurrence fires.
const (
	StatusWaitingQueue   Status = "WaitingQueue"
	StatusQueued         Status = "Queued"
	StatusInProgress     Status = "InProgress"
	StatusPending        Status = "Pending" // legacy: never written by evertask, still recoverable
	StatusCancelled      Status = "Cancelled"
	StatusCompleted      Status = "Completed"
	StatusFailed         Status = "Failed"
	StatusServiceStopped Status = "ServiceStopped"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{
	StatusWaitingQueue, StatusQueued, StatusInProgress, StatusPending,
	StatusCancelled, StatusCompleted, StatusFailed, StatusServiceStopped,
}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusWaitingQueue, StatusQueued, StatusInProgress, StatusPending,
		StatusCancelled, StatusCompleted, StatusFailed, StatusServiceStopped:
		return true
	}
	return false
}

// Terminal reports whether s ends an execution: Completed, Failed,
// Cancelled or ServiceStopped. (A terminal recurring row may still be
// recoverable; see Task.Recoverable.)
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusServiceStopped:
		return true
	}
	return false
}

// Open reports whether s is one a row passes through before it finishes:
// WaitingQueue, Queued, Pending, InProgress or ServiceStopped. A row in an
// open status is recoverable whatever its recurring fields say (run limit
// and RunUntil aside); stores index open rows together for that reason.
func (s Status) Open() bool {
	switch s {
	case StatusWaitingQueue, StatusQueued, StatusPending, StatusInProgress, StatusServiceStopped:
		return true
	}
	return false
}

// stampsLastExecution reports whether a transition to s records the
// execution time: only the ends of a real execution do (bug 72 of the
// reference: intermediate transitions must not touch LastExecutionAt).
func (s Status) stampsLastExecution() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusServiceStopped
}

// StampsLastExecution reports whether a transition to s sets LastExecutionAt
// and ExecutionTime. Stores use it so they agree on the rule.
func StampsLastExecution(s Status) bool { return s.stampsLastExecution() }

// MaxKeyLength is the longest task key, in bytes, a store accepts.
const MaxKeyLength = 200

// MaxRunCount is where CurrentRunCount saturates instead of wrapping
// (bug 32 of the reference).
const MaxRunCount = math.MaxInt32

// Task is the persisted row of one task: a one-shot dispatch or a whole
// recurring series.
//
// Zero values mean "not set": a zero time is NULL, an empty Key is no key,
// MaxRuns 0 is no limit.
type Task struct {
	ID        uuid.UUID // UUIDv7, time ordered
	CreatedAt time.Time // set at dispatch; the recovery keyset column

	Kind    string // stable task type name (the task's Kind())
	Payload []byte // JSON
	Handler string // handler type name, informational
	Queue   string // target queue, always set by the engine
	Key     string // optional unique task key, at most MaxKeyLength bytes
	// Metadata is free-form string pairs that travel with the task: the
	// engine's propagation hook stores a trace context here at dispatch and
	// reads it back before each execution, on whichever node runs it. A
	// definition field (UpdateDefinition overwrites it); nil and an empty
	// map are the same, and stores return nil for no entries. Limits:
	// ValidateMetadata.
	Metadata map[string]string

	Status     Status
	AuditLevel AuditLevel

	ScheduledAt     time.Time     // requested execution time of a delayed, scheduled or first recurring run
	LastExecutionAt time.Time     // written only by Completed, Failed and ServiceStopped transitions
	ExecutionTime   time.Duration // wall time of the last execution, retries and their delays included
	Error           string        // error text of the last failed execution; every attempt for exhausted retries

	// Recurring series.
	Recurring    bool
	Schedule     []byte    // the schedule as JSON
	ScheduleInfo string    // human description of the schedule
	RunCount     int       // real executions so far, successful and failed
	MaxRuns      int       // 0: unlimited
	RunUntil     time.Time // exclusive end of the series; zero: none
	NextRunAt    time.Time // next occurrence; zero once the series has ended

	// RecoveryFailures counts failed re-dispatches at startup recovery; the
	// engine poisons the row once it reaches its limit.
	RecoveryFailures int

	// Owner and LeaseUntil are the claim of a store.Cluster: the node
	// running the task and when its lease ends, by the store's clock. They
	// are set exactly while the row is InProgress under a lease (see
	// Cluster).
	Owner      string
	LeaseUntil time.Time
}

// Clone returns a deep copy of t, so a store never shares byte slices with
// its caller.
func (t *Task) Clone() *Task {
	if t == nil {
		return nil
	}
	c := *t
	c.Payload = cloneBytes(t.Payload)
	c.Schedule = cloneBytes(t.Schedule)
	c.Metadata = cloneMetadata(t.Metadata)
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Recoverable reports whether startup recovery must pick the row up again,
// and whether a conditional re-queue may move it to Queued. It is the one
// predicate every store uses (reference 0.3):
//
//   - the series is not exhausted: MaxRuns unset or RunCount < MaxRuns
//     (strict; a negative or zero RunCount counts as 0);
//   - RunUntil unset or RunUntil >= now;
//   - and the status is one that has not finished (WaitingQueue, Queued,
//     Pending, InProgress, ServiceStopped), or the row is a recurring series
//     with a next run that is Completed or Failed.
//
// Cancelled rows and finished one-shot rows are never recoverable.
func (t *Task) Recoverable(now time.Time) bool {
	return Recoverable(t.Status, t.Recurring, t.RunCount, t.MaxRuns, t.RunUntil, t.NextRunAt, now)
}

// Recoverable is Task.Recoverable over the individual fields, for stores that
// evaluate it without building a Task. SQL and Lua stores express the same
// rule in their own language; the conformance suite checks they agree.
//
// now is compared at the stores' precision, NormalizeTime(now): a store
// that keeps microseconds cannot see the nanoseconds of a Go clock.
func Recoverable(status Status, recurring bool, runCount, maxRuns int, runUntil, nextRunAt, now time.Time) bool {
	if maxRuns > 0 && max(runCount, 0) >= maxRuns {
		return false
	}
	if !runUntil.IsZero() && runUntil.Before(NormalizeTime(now)) {
		return false
	}
	if status.Open() {
		return true
	}
	switch status {
	case StatusCompleted, StatusFailed:
		return recurring && !nextRunAt.IsZero()
	}
	return false
}

// RecoverableStatuses are the statuses in which a row may be recoverable
// (before the recurring and limit conditions). Stores use it to narrow
// index scans.
var RecoverableStatuses = []Status{
	StatusWaitingQueue, StatusQueued, StatusPending, StatusInProgress,
	StatusServiceStopped, StatusCompleted, StatusFailed,
}

// Validate checks what every store checks before writing a new row. The
// error wraps ErrInvalid and names the problem.
func (t *Task) Validate() error {
	if err := t.ValidateDefinition(); err != nil {
		return err
	}
	if !t.Status.Valid() {
		return fmt.Errorf("%w: task %s has unknown status %q", ErrInvalid, t.ID, t.Status)
	}
	if t.RunCount < 0 || t.RecoveryFailures < 0 {
		return fmt.Errorf("%w: task %s has a negative counter", ErrInvalid, t.ID)
	}
	if t.CreatedAt.IsZero() {
		return fmt.Errorf("%w: task %s has no creation time", ErrInvalid, t.ID)
	}
	return nil
}

// ValidateDefinition checks what UpdateDefinition writes (see
// DefinitionFields): status, times and counters are not taken from the
// argument, so they are not checked. The error wraps ErrInvalid.
func (t *Task) ValidateDefinition() error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: nil task", ErrInvalid)
	case t.ID == uuid.Nil:
		return fmt.Errorf("%w: zero task id", ErrInvalid)
	case t.Kind == "":
		return fmt.Errorf("%w: task %s has an empty kind", ErrInvalid, t.ID)
	case !t.AuditLevel.Valid():
		return fmt.Errorf("%w: task %s has unknown audit level %d", ErrInvalid, t.ID, t.AuditLevel)
	case t.MaxRuns < 0 || t.MaxRuns > MaxRunCount:
		return fmt.Errorf("%w: task %s has max runs %d", ErrInvalid, t.ID, t.MaxRuns)
	}
	if err := ValidateKey(t.Key); err != nil {
		return err
	}
	if err := ValidateMetadata(t.Metadata); err != nil {
		return fmt.Errorf("task %s: %w", t.ID, err)
	}
	return nil
}

// ValidateKey checks a task key: at most MaxKeyLength bytes of valid UTF-8.
// The empty key means "no key" and is valid.
func ValidateKey(key string) error {
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: task key is %d bytes, the limit is %d", ErrInvalid, len(key), MaxKeyLength)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: task key is not valid UTF-8", ErrInvalid)
	}
	return nil
}

// NormalizeTime returns t in UTC, truncated to microseconds: exactly what a
// store gives back. The zero time stays zero.
func NormalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Normalize returns a copy of t with every time normalized, as a store keeps
// it. Stores call it on what they persist; tests compare against it.
func (t *Task) Normalize() *Task {
	c := t.Clone()
	c.CreatedAt = NormalizeTime(c.CreatedAt)
	c.ScheduledAt = NormalizeTime(c.ScheduledAt)
	c.LastExecutionAt = NormalizeTime(c.LastExecutionAt)
	c.RunUntil = NormalizeTime(c.RunUntil)
	c.NextRunAt = NormalizeTime(c.NextRunAt)
	c.LeaseUntil = NormalizeTime(c.LeaseUntil)
	c.ExecutionTime = c.ExecutionTime.Truncate(time.Microsecond)
	// Clone already turned an empty map into nil, as stores return it.
	return c
}

// IncRunCount returns n+1, saturating at MaxRunCount.
func IncRunCount(n int) int {
	if n >= MaxRunCount {
		return MaxRunCount
	}
	return max(n, 0) + 1
}
