package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/evertask/evertask/store"
)

//go:embed migrations/*.up.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Their names
// are NNN_name.up.sql with distinct numbers. Gaps are allowed: branches
// developed side by side reserve their numbers and land in any order, and
// migrate applies every migration a file has not recorded, not only those
// above its highest version.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.up.sql")
	if err != nil {
		return nil, err
	}
	out := make([]migration, 0, len(names))
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNN_name.up.sql", base)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this code writes: the number of the
// last embedded migration.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

const (
	createVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
)`
	selectVersions = `SELECT version FROM schema_version`
	insertVersion  = `INSERT INTO schema_version (version) VALUES (?)`
)

// migrate brings the schema up to date in one transaction. The writer's
// transactions begin IMMEDIATE, so the write lock is taken before the
// version is read: two processes opening a new file at once serialize
// here, and the second finds the work done.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createVersionTable); err != nil {
		return mapErr(err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("%w: the file has schema version %d, which this code does not know (it knows up to %d)",
				store.ErrSchemaVersion, v, SchemaVersion())
		}
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, insertVersion, m.version); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, mapErr(err))
		}
	}
	return mapErr(tx.Commit())
}

// appliedVersions reads the versions recorded in schema_version.
func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, selectVersions)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, mapErr(err)
		}
		out[v] = true
	}
	return out, mapErr(rows.Err())
}
