package evertask

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Observer receives what the engine does, synchronously, on the goroutine
// doing it. Metrics plug in here (package metrics) without the engine
// importing a metrics library. Every field is optional; an unset one costs
// the engine one comparison. The functions must be quick, must not block
// and must not call back into the engine: they run on workers and on the
// engine's background loops.
type Observer struct {
	// Event receives every lifecycle event the engine emits, whether or not
	// anything subscribed, and before subscribers do. Unlike a
	// subscription it never drops one.
	Event func(Event)
	// StoreError is called when a store call of the engine fails for a
	// reason other than the task's state (a held key or a missing row are
	// answers, not errors) or the engine's own shutdown. op names the call:
	// "persist", "transition", "claim", "renew", "heartbeat", "rescue",
	// "recover", "save logs".
	StoreError func(op string, err error)
	// TakeOver is called for each task this node takes back from a node
	// whose lease on it expired or that is proven gone.
	TakeOver func(taskID uuid.UUID, kind, queue string)
}

// storeErr tells the observer about a failed store call.
func (e *Engine) storeErr(op string, err error) {
	f := e.cfg.Observer.StoreError
	if f == nil || err == nil {
		return
	}
	if errors.Is(err, context.Canceled) {
		return // a caller's cancel or the engine's shutdown, not the store
	}
	if errors.Is(err, store.ErrDuplicateKey) || errors.Is(err, store.ErrNotFound) {
		return
	}
	f(op, err)
}
