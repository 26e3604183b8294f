package evertask

import (
	"context"
	"time"

	"github.com/evertask/evertask/store"
)

// Task is a unit of work: a plain struct that survives a JSON round trip,
// with a stable name. Kind identifies the task type in the store, so
// renaming the Go type does not break the recovery of rows written before.
type Task interface {
	Kind() string
}

// Handler runs tasks of one type. A handler value is shared by all
// executions and may run concurrently: keep per-execution state on the
// stack, not in the handler.
type Handler[T Task] interface {
	Handle(ctx context.Context, task T) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc[T Task] func(ctx context.Context, task T) error

// Handle calls f(ctx, task).
func (f HandlerFunc[T]) Handle(ctx context.Context, task T) error { return f(ctx, task) }

// The optional hooks a handler may implement. Each receives the execution's
// context (with the task's metadata, see TaskID and Logger) and the task.
// A hook's panic is recovered and logged; it never fails the task.

// StartedHook is called before the first attempt of an execution.
type StartedHook[T Task] interface {
	OnStarted(ctx context.Context, task T)
}

// CompletedHook is called after the success was persisted.
type CompletedHook[T Task] interface {
	OnCompleted(ctx context.Context, task T)
}

// ErrorHook is called when an execution ends without success: a final
// failure, a timeout, a cancellation or a shutdown. err is the error of the
// last attempt itself, never a wrapper of all attempts, so errors.Is and
// errors.As work as for the handler's own return value.
type ErrorHook[T Task] interface {
	OnError(ctx context.Context, task T, err error)
}

// RetryHook is called after a failed attempt, before waiting delay for the
// next one. attempt is the number of the attempt that failed (1-based).
type RetryHook[T Task] interface {
	OnRetry(ctx context.Context, task T, attempt int, err error, delay time.Duration)
}

// HandlerOpts are the per-type options of Register. A nil *HandlerOpts uses
// every default.
type HandlerOpts struct {
	// Queue routes the type's tasks; empty means "default" (or "recurring"
	// for recurring dispatches). An unknown queue is an error at Register.
	Queue string
	// Timeout bounds each attempt; 0 uses the queue's, then the engine's.
	// A negative value means no timeout even if the queue has one.
	Timeout time.Duration
	// Retry decides retries; nil uses the queue's, then the engine's.
	Retry RetryPolicy
	// AuditLevel, when set, is the type's default level (a dispatch may
	// override it).
	AuditLevel *store.AuditLevel
}
