package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/evertask/evertask/store"
)

// Names of the constraints whose violations mean something to callers.
const (
	keyIndex   = "tasks_key_uq"
	taskPKey   = "tasks_pkey"
	sqlUnique  = "23505"
	sqlForeign = "23503"
	// sqlLockNotAvailable is a lock wait that ran out of lock_timeout.
	sqlLockNotAvailable = "55P03"
	sqlShutdown         = "57P01" // admin_shutdown: the server is restarting
)

// mapErr turns a driver error into the store sentinels, keeping the driver
// error in the chain for logs: a held task key is ErrDuplicateKey, a missing
// row ErrNotFound, and anything that means the server could not be reached
// or dropped the connection wraps ErrUnavailable. Context errors pass
// through unchanged so callers see ctx.Err().
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == sqlUnique && pgErr.ConstraintName == keyIndex:
			return fmt.Errorf("%w: %w", store.ErrDuplicateKey, err)
		case pgErr.Code == sqlUnique && pgErr.ConstraintName == taskPKey:
			return fmt.Errorf("%w: a task with this id exists: %w", store.ErrInvalid, err)
		case pgErr.Code == sqlForeign:
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case strings.HasPrefix(pgErr.Code, "22"):
			// Data exceptions: text that is not valid UTF-8 or holds NUL,
			// a value out of a column's range.
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		case unavailableState(pgErr.Code):
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// unavailableState reports SQLSTATEs that mean the server is going away or
// not accepting work: class 08 (connection exception), 57P01-57P03 (admin or
// crash shutdown, cannot connect now) and 53300 (too many connections).
func unavailableState(code string) bool {
	return strings.HasPrefix(code, "08") || code == sqlShutdown || code == "57P02" || code == "57P03" || code == "53300"
}

func unavailable(err error) bool {
	if pgconn.SafeToRetry(err) || errors.Is(err, puddle.ErrClosedPool) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// pgconn reports a connection that broke mid-query with a plain error
	// from its closed state.
	return strings.Contains(err.Error(), "conn closed")
}
