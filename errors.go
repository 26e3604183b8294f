package evertask

import (
	"errors"

	"github.com/evertask/evertask/store"
)

var (
	// ErrConfig is returned by New (wrapped, with the reason) for an invalid
	// configuration.
	ErrConfig = errors.New("evertask: invalid configuration")

	// ErrUnknownKind is returned by Dispatch for a task whose kind has no
	// registered handler.
	ErrUnknownKind = errors.New("evertask: no handler registered for kind")

	// ErrDuplicateHandler is returned by Register for a kind that already
	// has a handler.
	ErrDuplicateHandler = errors.New("evertask: kind already has a handler")

	// ErrPayload is returned by Dispatch (wrapped) when the task does not
	// survive a JSON round trip: the handler would get something else after
	// a restart, so it fails now rather than then.
	ErrPayload = errors.New("evertask: task does not survive a JSON round trip")

	// ErrInvalidDispatch is returned (wrapped) for contradictory or
	// malformed dispatch options.
	ErrInvalidDispatch = errors.New("evertask: invalid dispatch")

	// ErrQueueFull is returned by Dispatch into a queue configured with
	// FullQueueError when its buffer is full. The task stays persisted and is
	// recovered at the next start.
	ErrQueueFull = errors.New("evertask: queue is full")

	// ErrShutdown is returned by Dispatch after Shutdown began, and by
	// Start and Register after Shutdown: an engine does not start again
	// (make a new one with New).
	ErrShutdown = errors.New("evertask: engine is shut down")

	// ErrStarted is returned by Start when the engine already started, and
	// by Register after Start: startup recovery has already run without the
	// new handler, so tasks of its kind left by an earlier run would wait
	// for the next start. Register every handler before Start.
	ErrStarted = errors.New("evertask: engine already started")

	// ErrPayloadTooLarge is returned by Dispatch (wrapped, naming the size
	// and the limit) when a task's JSON is larger than
	// Config.MaxPayloadBytes. Nothing is written.
	ErrPayloadTooLarge = errors.New("evertask: payload too large")

	// ErrTaskFinished is returned by Cancel for a one-shot task that already
	// Completed or Failed: a cancel never overwrites a result.
	ErrTaskFinished = errors.New("evertask: task already finished")

	// ErrNoCluster is returned by the cluster calls (Nodes) of an engine
	// whose store does not implement store.Cluster.
	ErrNoCluster = errors.New("evertask: the store has no cluster capability")

	// ErrNotFound is returned by Cancel for an unknown id. It is the store's
	// sentinel, so errors.Is works with either name.
	ErrNotFound = store.ErrNotFound
)
