package evertask

import (
	"context"
	"log/slog"

	"github.com/google/uuid"
)

type execInfoKey struct{}

// execFrom returns the execution running with ctx, or nil: the execution is
// itself the handler's context and answers execInfoKey with itself, which
// saves the allocations of context.WithValue on every task.
func execFrom(ctx context.Context) *execution {
	x, _ := ctx.Value(execInfoKey{}).(*execution)
	return x
}

// TaskID returns the id of the task running with ctx, or uuid.Nil outside a
// handler.
func TaskID(ctx context.Context) uuid.UUID {
	if x := execFrom(ctx); x != nil {
		return x.j.id
	}
	return uuid.Nil
}

// Attempt returns the attempt number (1-based) of the execution running
// with ctx, or 0 outside a handler.
func Attempt(ctx context.Context) int {
	if x := execFrom(ctx); x != nil {
		return int(x.attempt.Load())
	}
	return 0
}

// RunNumber returns which run of a recurring series is executing (1-based;
// 1 for one-shot tasks), or 0 outside a handler.
func RunNumber(ctx context.Context) int {
	if x := execFrom(ctx); x != nil {
		return x.runNumber
	}
	return 0
}

// Logger returns the logger of the task running with ctx: it forwards to the
// engine's logger with the task's id and kind, and, when log capture is on,
// also stores the records with the task. Outside a handler it returns
// slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	x := execFrom(ctx)
	if x == nil {
		return slog.Default()
	}
	x.loggerOnce.Do(func() { x.logger = x.newLogger() })
	return x.logger
}
