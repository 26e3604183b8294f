package evertask

import (
	"context"
	"sync"
	"time"
)

// The execution is the handler's context. It is cancelled by Cancel, and by
// Shutdown once its grace period ends; it has no deadline (an attempt's
// timeout is a child context). Implementing it here rather than with
// context.WithCancel(runCtx) spares every task an entry in the engine-wide
// context's children map, under its one mutex, and two allocations. It
// implements AfterFunc, so a child context the handler derives (WithTimeout
// for a call it makes) registers a callback instead of starting a
// goroutine.
type execCtx struct {
	mu     sync.Mutex
	done   chan struct{} // made on first Done
	err    error
	afters map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

// closedChan is the Done of a context cancelled before anyone asked.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (x *execution) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *execution) Done() <-chan struct{} {
	x.ctx.mu.Lock()
	defer x.ctx.mu.Unlock()
	if x.ctx.done == nil {
		if x.ctx.err != nil {
			return closedChan
		}
		x.ctx.done = make(chan struct{})
	}
	return x.ctx.done
}

func (x *execution) Err() error {
	x.ctx.mu.Lock()
	defer x.ctx.mu.Unlock()
	return x.ctx.err
}

// Value answers the metadata key with the execution itself; the engine's
// context carries no other values.
func (x *execution) Value(key any) any {
	if _, ok := key.(execInfoKey); ok {
		return x
	}
	return nil
}

// AfterFunc arranges for f to run in its own goroutine once the execution
// is cancelled (context.AfterFunc and child contexts use it).
func (x *execution) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	x.ctx.mu.Lock()
	if x.ctx.err != nil {
		x.ctx.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if x.ctx.afters == nil {
		x.ctx.afters = map[*afterFunc]struct{}{}
	}
	x.ctx.afters[a] = struct{}{}
	x.ctx.mu.Unlock()
	return func() bool {
		x.ctx.mu.Lock()
		defer x.ctx.mu.Unlock()
		if _, ok := x.ctx.afters[a]; !ok {
			return false
		}
		delete(x.ctx.afters, a)
		return true
	}
}

// cancel cancels the execution's context; calling it again does nothing.
func (x *execution) cancel() {
	x.ctx.mu.Lock()
	if x.ctx.err != nil {
		x.ctx.mu.Unlock()
		return
	}
	x.ctx.err = context.Canceled
	if x.ctx.done != nil {
		close(x.ctx.done)
	}
	afters := x.ctx.afters
	x.ctx.afters = nil
	x.ctx.mu.Unlock()
	for a := range afters {
		go a.f()
	}
}
