package store

import "errors"

var (
	// ErrNotFound is returned when no task has the given id or key.
	ErrNotFound = errors.New("store: task not found")

	// ErrDuplicateKey is returned by Persist and PersistMany when another
	// task already holds the task key. Nothing of the rejected write is
	// kept. It is not retryable: read the winner with GetByKey instead.
	ErrDuplicateKey = errors.New("store: duplicate task key")

	// ErrInvalid is returned (wrapped, with the reason) when an argument is
	// malformed: a nil task, a zero id, an empty kind, a key longer than
	// MaxKeyLength, an unknown status or audit level, a negative limit.
	// Nothing is written. Not retryable.
	ErrInvalid = errors.New("store: invalid argument")

	// ErrClosed is returned by every method of a store that was closed.
	ErrClosed = errors.New("store: closed")

	// ErrUnavailable is returned (wrapped) when the backing service could not
	// be reached or dropped the connection. The write may or may not have
	// been applied; conditional transitions are safe to retry, because a
	// repeat of an applied one reports applied=false instead of writing
	// twice.
	ErrUnavailable = errors.New("store: backend unavailable")

	// ErrSchemaVersion is returned when opening a database whose schema was
	// written by a newer version of evertask than this one.
	ErrSchemaVersion = errors.New("store: schema is newer than this version of evertask")
)
