package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/evertask/evertask/store"
)

// mapErr turns driver errors into the store's sentinels at the package
// boundary; anything else passes through unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrDuplicateKey, store.ErrInvalid,
		store.ErrClosed, store.ErrUnavailable, store.ErrSchemaVersion} {
		if errors.Is(err, sentinel) {
			return err // mapped already, deeper down
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the driver interrupts a statement whose context ended with ctx.Err()
	}
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") ||
		strings.Contains(err.Error(), "sql: statement is closed") {
		// database/sql does not export these; they mean a call raced Close.
		return store.ErrClosed
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), "tasks.task_key"):
		return store.ErrDuplicateKey
	case code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: a task with this id exists", store.ErrInvalid)
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	case code&0xff == sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("file is not an SQLite database: %w", err)
	}
	return err
}
