package inspect

import (
	"errors"

	"github.com/evertask/evertask/store"
)

var (
	// ErrNotFound is returned when no task has the id, or no task id starts
	// with the prefix. It is store.ErrNotFound, so either matches.
	ErrNotFound = store.ErrNotFound

	// ErrStatus is returned (wrapped, naming the status) when an action is
	// not allowed in the task's current status: retrying a task that did
	// not fail, deleting one that may still run, running a cancelled one.
	ErrStatus = errors.New("inspect: not allowed in this status")

	// ErrAmbiguous is returned by Find when more than one task id starts
	// with the prefix.
	ErrAmbiguous = errors.New("inspect: ambiguous task id prefix")

	// ErrBadID is returned by Find for text that is neither a task id nor
	// a prefix of one (hexadecimal digits and dashes, at least
	// MinPrefixLength digits).
	ErrBadID = errors.New("inspect: bad task id")

	// ErrUnsupported is returned when the store lacks the capability an
	// action needs: store.QueuePauser to pause a queue, store.Cluster to
	// list nodes, store.Retainer to purge. It is store.ErrUnsupported.
	ErrUnsupported = store.ErrUnsupported
)
