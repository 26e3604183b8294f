package evertask

import (
	"context"
	"maps"
	"time"

	"github.com/google/uuid"
)

// DispatchInfo describes a dispatch to Middleware.Dispatch.
type DispatchInfo struct {
	TaskID    uuid.UUID
	Kind      string
	Queue     string
	Due       time.Time // zero: the task runs now
	Recurring bool
	// Metadata is stored with the task (store.Task.Metadata). The
	// middleware may add entries, a trace context for instance; the
	// handler's middleware reads them back before every attempt, on
	// whichever node runs the task.
	Metadata map[string]string
}

// AttemptInfo describes one attempt of a handler to Middleware.Attempt.
type AttemptInfo struct {
	TaskID    uuid.UUID
	Kind      string
	Queue     string
	Attempt   int // 1-based
	RunNumber int // which run of a recurring series; 1 for one-shot tasks
	// Metadata is the task's stored metadata; read it, do not change it.
	Metadata map[string]string

	x *execution
}

// AttemptFunc runs one attempt of a handler.
type AttemptFunc func(ctx context.Context, a *AttemptInfo) error

// Middleware hooks into dispatches and handler attempts. Tracing plugs in
// here (package tracing) without the engine importing a tracing library.
// Both fields are optional.
type Middleware struct {
	// Dispatch is called with each dispatch's ctx before the task is
	// persisted; it may add to d.Metadata. The function it returns (nil
	// for none) is called with the dispatch's result once the task is
	// persisted and delivered, or not. A DispatchMany calls it once per
	// task. A panic is not recovered: it is the caller's own code.
	Dispatch func(ctx context.Context, d *DispatchInfo) (done func(err error))
	// Attempt wraps every attempt of every handler, the net/http way: it
	// calls next with the context the handler gets (its own values added)
	// and returns the attempt's error. A panic in the handler reaches it
	// as a panic; the engine turns it into the attempt's error after.
	Attempt func(next AttemptFunc) AttemptFunc
}

// beginDispatch runs the dispatch middleware on a prepared dispatch: its
// metadata is the row's. It returns the functions to call with the result.
func (e *Engine) beginDispatch(ctx context.Context, d *dispatch) []func(error) {
	if len(e.dispatchMW) == 0 {
		return nil
	}
	if d.row.Metadata == nil {
		d.row.Metadata = map[string]string{}
	}
	info := &DispatchInfo{TaskID: d.row.ID, Kind: d.row.Kind, Queue: d.row.Queue, Due: d.due,
		Recurring: d.row.Recurring, Metadata: d.row.Metadata}
	var dones []func(error)
	for _, mw := range e.dispatchMW {
		if done := mw(ctx, info); done != nil {
			dones = append(dones, done)
		}
	}
	d.job.meta = d.row.Metadata
	return dones
}

// endDispatch reports a dispatch's result to its middleware, innermost
// first.
func endDispatch(dones []func(error), err error) {
	for i := len(dones) - 1; i >= 0; i-- {
		dones[i](err)
	}
}

// buildAttempt chains the attempt middleware around the handler call, the
// first in Config.Middleware outermost; nil when there is none.
func buildAttempt(mws []Middleware) AttemptFunc {
	var f AttemptFunc
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i].Attempt == nil {
			continue
		}
		if f == nil {
			f = func(ctx context.Context, a *AttemptInfo) error { return a.x.j.kind.handle(ctx, a.x.j.task) }
		}
		f = mws[i].Attempt(f)
	}
	return f
}

// unixNano is t in unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// cloneMetadata copies user metadata so that the caller's map is not
// shared with the row.
func cloneMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	return maps.Clone(md)
}
