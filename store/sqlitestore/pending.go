package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

// PendingMigrations returns the names (NNN_name) of the migrations Open
// would apply to the database file at path, without changing or creating
// it: all of them for a file that does not exist or has no evertask
// tables. A file written by a newer version of evertask gives an error
// wrapping store.ErrSchemaVersion.
func PendingMigrations(ctx context.Context, path string) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	if _, err := os.Stat(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read schema of %s: %w", path, err)
	} else if err == nil {
		db := sql.OpenDB(connector{dsn: readerDSN(path, 5*time.Second)})
		defer db.Close()
		var tables int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).Scan(&tables); err != nil {
			return nil, fmt.Errorf("read schema of %s: %w", path, mapErr(err))
		}
		if tables > 0 {
			rows, err := db.QueryContext(ctx, selectVersions)
			if err != nil {
				return nil, fmt.Errorf("read schema of %s: %w", path, mapErr(err))
			}
			defer rows.Close()
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					return nil, fmt.Errorf("read schema of %s: %w", path, mapErr(err))
				}
				applied[v] = true
			}
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("read schema of %s: %w", path, mapErr(err))
			}
		}
	}
	known := map[int]bool{}
	var pending []string
	for _, m := range ms {
		known[m.version] = true
		if !applied[m.version] {
			pending = append(pending, strings.TrimSuffix(m.name, ".up.sql"))
		}
	}
	for v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("%w: %s has schema version %d, this code knows up to %d", store.ErrSchemaVersion, path, v, SchemaVersion())
		}
	}
	return pending, nil
}
