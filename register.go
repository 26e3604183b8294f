package evertask

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/evertask/evertask/store"
)

// kind is a registered task type with its handler and options, type-erased
// so the engine can hold every type in one map.
type kind struct {
	name        string
	handlerName string
	queue       string // "" routes by default rules
	timeout     time.Duration
	retry       RetryPolicy
	audit       *store.AuditLevel

	decode func([]byte) (any, error)
	// asIs reports, when T is plainJSON (nil otherwise), whether a
	// dispatched value is a T: such a value equals its JSON decoded again,
	// so the decode can be skipped.
	asIs      func(Task) bool
	lossy     []fieldPath  // unexported fields JSON would drop
	checked   atomic.Int32 // dispatches whose JSON round trip was compared byte for byte
	handle    func(ctx context.Context, task any) error
	started   func(ctx context.Context, task any)
	completed func(ctx context.Context, task any)
	failed    func(ctx context.Context, task any, err error)
	retried   func(ctx context.Context, task any, attempt int, err error, delay time.Duration)
}

// Register makes h the handler of tasks of type T (of kind T.Kind()). One
// handler per kind: registering a second one is ErrDuplicateHandler. Register
// before Start, so that startup recovery knows every kind: after Start it
// returns ErrStarted, after Shutdown ErrShutdown.
func Register[T Task](e *Engine, h Handler[T], opts *HandlerOpts) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrConfig)
	}
	var zero T
	name := kindOf(zero)
	if name == "" {
		return fmt.Errorf("%w: %T.Kind() returned an empty kind", ErrConfig, zero)
	}
	var o HandlerOpts
	if opts != nil {
		o = *opts
	}
	if o.Queue != "" {
		if _, ok := e.queues[o.Queue]; !ok {
			return fmt.Errorf("%w: handler of %q names unknown queue %q", ErrConfig, name, o.Queue)
		}
	}
	if o.AuditLevel != nil && !o.AuditLevel.Valid() {
		return fmt.Errorf("%w: handler of %q has unknown audit level %d", ErrConfig, name, *o.AuditLevel)
	}
	k := &kind{
		name:        name,
		handlerName: fmt.Sprintf("%T", h),
		queue:       o.Queue,
		timeout:     o.Timeout,
		retry:       o.Retry,
		audit:       o.AuditLevel,
		decode: func(b []byte) (any, error) {
			var v T
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			return v, nil
		},
		handle: func(ctx context.Context, task any) error { return h.Handle(ctx, task.(T)) },
		lossy:  unexportedFields(reflect.TypeFor[T]()),
	}
	if plainJSON(reflect.TypeFor[T]()) {
		k.asIs = func(task Task) bool {
			_, ok := task.(T)
			return ok
		}
	}
	if hk, ok := h.(StartedHook[T]); ok {
		k.started = func(ctx context.Context, task any) { hk.OnStarted(ctx, task.(T)) }
	}
	if hk, ok := h.(CompletedHook[T]); ok {
		k.completed = func(ctx context.Context, task any) { hk.OnCompleted(ctx, task.(T)) }
	}
	if hk, ok := h.(ErrorHook[T]); ok {
		k.failed = func(ctx context.Context, task any, err error) { hk.OnError(ctx, task.(T), err) }
	}
	if hk, ok := h.(RetryHook[T]); ok {
		k.retried = func(ctx context.Context, task any, attempt int, err error, delay time.Duration) {
			hk.OnRetry(ctx, task.(T), attempt, err, delay)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stopping:
		return fmt.Errorf("register handler of %q: %w", name, ErrShutdown)
	case e.started:
		return fmt.Errorf("register handler of %q: %w (register every handler before Start: recovery ran without this one)", name, ErrStarted)
	}
	if _, ok := e.kinds[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateHandler, name)
	}
	e.kinds[name] = k
	return nil
}

// kindOf calls Kind on a zero T; for a pointer type it calls it on a new
// value, so pointer receivers work too.
func kindOf[T Task](zero T) (name string) {
	defer func() {
		if recover() != nil {
			name = ""
		}
	}()
	if rt := reflect.TypeOf(&zero).Elem(); rt.Kind() == reflect.Pointer {
		return reflect.New(rt.Elem()).Interface().(Task).Kind()
	}
	return zero.Kind()
}

func (e *Engine) kindByName(name string) *kind {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.kinds[name]
}

// payloadChecks is how many dispatches of each kind get the full round-trip
// comparison. A type that loses data through JSON does so by its shape
// (unexported fields, asymmetric marshalers), which the first dispatches
// show; the unexported-field check runs on every dispatch.
const payloadChecks = 16

// encodePayload returns the JSON of task and the value the handler will get:
// the JSON decoded again, exactly what a restart would give it. A task
// whose JSON does not decode to the same JSON loses data on the way through
// the store, and is refused now rather than surprising after a restart.
func encodePayload(k *kind, task Task) ([]byte, any, error) {
	if err := checkUnexported(task, k.lossy); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrPayload, k.name, err)
	}
	b, err := json.Marshal(task)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrPayload, k.name, err)
	}
	if k.asIs != nil && k.checked.Load() >= payloadChecks && !bytes.Contains(b, replacedRune) {
		// A plain value is its own decoded copy (a tenth of the engine's
		// CPU on the memory store went to decoding it again), unless a
		// string held invalid UTF-8, which JSON replaced.
		if k.asIs(task) {
			return b, task, nil
		}
	}
	v, err := k.decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: decode: %v", ErrPayload, k.name, err)
	}
	if k.checked.Load() < payloadChecks {
		k.checked.Add(1)
		again, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: re-encode: %v", ErrPayload, k.name, err)
		}
		if !bytes.Equal(b, again) {
			return nil, nil, fmt.Errorf("%w: %s: %s became %s", ErrPayload, k.name, b, again)
		}
	}
	return b, v, nil
}
