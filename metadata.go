package evertask

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// execInfo is what a running handler can learn about its execution through
// its context.
type execInfo struct {
	id        uuid.UUID
	kind      string
	runNumber int
	attempt   atomic.Int32

	loggerOnce sync.Once
	newLogger  func() *slog.Logger // built on first use: most handlers never log
	logger     *slog.Logger
}

type execInfoKey struct{}

func withExecInfo(ctx context.Context, info *execInfo) context.Context {
	return context.WithValue(ctx, execInfoKey{}, info)
}

func execInfoFrom(ctx context.Context) *execInfo {
	info, _ := ctx.Value(execInfoKey{}).(*execInfo)
	return info
}

// TaskID returns the id of the task running with ctx, or uuid.Nil outside a
// handler.
func TaskID(ctx context.Context) uuid.UUID {
	if info := execInfoFrom(ctx); info != nil {
		return info.id
	}
	return uuid.Nil
}

// Attempt returns the attempt number (1-based) of the execution running
// with ctx, or 0 outside a handler.
func Attempt(ctx context.Context) int {
	if info := execInfoFrom(ctx); info != nil {
		return int(info.attempt.Load())
	}
	return 0
}

// RunNumber returns which run of a recurring series is executing (1-based;
// 1 for one-shot tasks), or 0 outside a handler.
func RunNumber(ctx context.Context) int {
	if info := execInfoFrom(ctx); info != nil {
		return info.runNumber
	}
	return 0
}

// Logger returns the logger of the task running with ctx: it forwards to the
// engine's logger with the task's id and kind, and, when log capture is on,
// also stores the records with the task. Outside a handler it returns
// slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	info := execInfoFrom(ctx)
	if info == nil {
		return slog.Default()
	}
	info.loggerOnce.Do(func() { info.logger = info.newLogger() })
	return info.logger
}
