package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/evertask/evertask/store"
)

// Server error numbers that mean something to callers.
const (
	erDupEntry          = 1062 // a unique index refused the row
	erNoReferencedRow   = 1452 // a foreign key refused the row (ER_NO_REFERENCED_ROW_2)
	erLockDeadlock      = 1213 // the transaction was chosen as a deadlock victim and rolled back
	erLockWaitTimeout   = 1205 // a lock wait timed out; the statement rolled back
	erTooManyConns      = 1040
	erServerShutdown    = 1053
	erConnKilled        = 1927 // MariaDB: the connection was killed
	erQueryInterrupted  = 1317
	erConnCountError    = 1203 // too many connections of the user
	erReadOnly          = 1290 // --read-only: a replica, or a server being switched over
	erDataTooLong       = 1406
	erTruncatedWrong    = 1366 // incorrect string value: text that is not valid UTF-8
	erOutOfRange        = 1264
	erTruncatedWrongVal = 1292
)

// mapErr turns a driver error into the store sentinels, keeping the driver
// error in the chain for logs: a held task key is ErrDuplicateKey, a missing
// row ErrNotFound, and anything that means the server could not be reached,
// dropped the connection or kept failing on lock conflicts wraps
// ErrUnavailable. Context errors pass through unchanged so callers see
// ctx.Err().
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erDupEntry:
			// MariaDB names the index 'task_key_uq', MySQL 8 'table.task_key_uq'.
			if strings.Contains(me.Message, "task_key_uq'") {
				return fmt.Errorf("%w: %w", store.ErrDuplicateKey, err)
			}
			return fmt.Errorf("%w: a task with this id exists: %w", store.ErrInvalid, err)
		case erNoReferencedRow:
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case erDataTooLong, erTruncatedWrong, erOutOfRange, erTruncatedWrongVal:
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		case erLockDeadlock, erLockWaitTimeout, erTooManyConns, erServerShutdown, erConnKilled,
			erQueryInterrupted, erConnCountError, erReadOnly:
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// lockConflict reports a deadlock or a lock wait timeout: the work rolled
// back and may run again.
func lockConflict(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == erLockDeadlock || me.Number == erLockWaitTimeout)
}

// unavailable reports errors of a connection that could not be made or
// broke: the driver's invalid connection, a network error, a pool the
// application closed.
func unavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// database/sql reports a closed *sql.DB with an unexported error.
	return strings.Contains(err.Error(), "sql: database is closed")
}
