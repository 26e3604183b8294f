package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/evertask/evertask/store"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	stmts   []string // with the table placeholders
}

var migrationName = regexp.MustCompile(`^(\d{3})_([a-z0-9_]+)\.up\.sql$`)

// migrations are the embedded files in version order. A malformed file name
// is a programming error caught by every test, so it panics.
var migrations = func() []migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			panic("mysqlstore: malformed migration file name " + e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		v, _ := strconv.Atoi(m[1])
		out = append(out, migration{version: v, name: m[2], stmts: splitStatements(string(b))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("mysqlstore: migration versions must be 1..n without gaps, found %d at position %d", m.version, i+1))
		}
	}
	return out
}()

// splitStatements splits a migration file at the semicolons that end a
// line, dropping comment lines, since the driver runs one statement per
// call unless the DSN allows several.
func splitStatements(src string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for line := range strings.Lines(src) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			if stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); stmt != "" {
				out = append(out, stmt)
			}
			cur.Reset()
		}
	}
	if stmt := strings.TrimSpace(cur.String()); stmt != "" {
		out = append(out, stmt)
	}
	return out
}

// SchemaVersion is the schema version this package writes and reads.
var SchemaVersion = len(migrations)

// migrateLockWait is how long Migrate waits, in seconds, for another
// process that migrates the same tables.
const migrateLockWait = 120

// Migrate creates the database (when cfg names one that is missing) and the
// tables, and applies the embedded migrations they lack. It holds a GET_LOCK
// lock named after the database and prefix while it works, so several
// processes starting at once apply each migration exactly once; the others
// wait and find it applied. MySQL commits each DDL statement on its own, so
// unlike PostgreSQL a migration that fails half way is not rolled back: its
// version is recorded only after its last statement, and the error names
// it. A schema written by a newer version of evertask gives an error
// wrapping store.ErrSchemaVersion. cfg may be nil; only Database and
// TablePrefix are read.
func Migrate(ctx context.Context, db *sql.DB, cfg *Config) error {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	n, err := newNames(&c)
	if err != nil {
		return err
	}
	return migrate(ctx, db, &n)
}

func migrate(ctx context.Context, db *sql.DB, n *names) error {
	what := n.prefix + "*"
	if n.database != "" {
		what = n.database + "." + what
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", what, mapErr(err))
	}
	defer conn.Close()
	database := n.database
	if database == "" {
		var cur sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&cur); err != nil {
			return fmt.Errorf("migrate %s: %w", what, mapErr(err))
		}
		if !cur.Valid {
			return fmt.Errorf("%w: migrate %s: the connection selected no database: name one in the DSN or in Config.Database", store.ErrInvalid, what)
		}
		database = cur.String
	}
	lock := lockName("migrate", database, n.prefix)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", lock, migrateLockWait).Scan(&got); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", what, mapErr(err))
	}
	if got.Int64 != 1 {
		return fmt.Errorf("migrate %s: %w: another process held the migration lock for %d s", what, store.ErrUnavailable, migrateLockWait)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", lock) //nolint:errcheck // the lock also ends with the session

	// DDL runs only when something is missing, so an application user
	// without CREATE rights can open tables an administrator migrated.
	var hasDB, hasTable bool
	err = conn.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?),
		EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?)`,
		database, database, n.prefix+"schema_migrations").Scan(&hasDB, &hasTable)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", what, mapErr(err))
	}
	if !hasDB {
		if _, err := conn.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+database+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			return fmt.Errorf("migrate %s: create database: %w", what, mapErr(err))
		}
	}
	if !hasTable {
		ddl := "CREATE TABLE IF NOT EXISTS " + n.migrations + ` (
			version INT NOT NULL PRIMARY KEY,
			name VARCHAR(255) NOT NULL,
			applied_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6))
		) ENGINE = InnoDB`
		if _, err := conn.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("migrate %s: %w", what, mapErr(err))
		}
	}
	current, err := readVersion(ctx, conn, n)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", what, err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("migrate %s: %w: database at version %d, this code knows %d", what, store.ErrSchemaVersion, current, SchemaVersion)
	}
	for _, m := range migrations[current:] {
		for i, stmt := range m.stmts {
			if _, err := conn.ExecContext(ctx, n.fill(stmt)); err != nil {
				return fmt.Errorf("migrate %s: apply %03d_%s, statement %d of %d (earlier ones stay applied): %w",
					what, m.version, m.name, i+1, len(m.stmts), mapErr(err))
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+n.migrations+" (version, name) VALUES (?, ?)", m.version, m.name); err != nil {
			return fmt.Errorf("migrate %s: record %03d: %w", what, m.version, mapErr(err))
		}
	}
	return nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readVersion(ctx context.Context, db queryRower, n *names) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+n.migrations).Scan(&v)
	return v, mapErr(err)
}

// PendingMigrations returns the names (NNN_name) of the migrations Migrate
// would apply, all of them when the database or its version table does not
// exist, without changing anything. Tables written by a newer version of
// evertask give an error wrapping store.ErrSchemaVersion. cfg may be nil;
// only Database and TablePrefix are read.
func PendingMigrations(ctx context.Context, db *sql.DB, cfg *Config) ([]string, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	n, err := newNames(&c)
	if err != nil {
		return nil, err
	}
	v, err := readVersion(ctx, db, &n)
	var myErr *mysql.MySQLError
	switch {
	case errors.As(err, &myErr) && (myErr.Number == 1146 || myErr.Number == 1049): // no table, no database
		v = 0
	case err != nil:
		return nil, fmt.Errorf("read schema %s: %w", n.migrations, err)
	case v > SchemaVersion:
		return nil, fmt.Errorf("read schema %s: %w: database at version %d, this code knows %d", n.migrations, store.ErrSchemaVersion, v, SchemaVersion)
	}
	var out []string
	for _, m := range migrations[v:] {
		out = append(out, fmt.Sprintf("%03d_%s", m.version, m.name))
	}
	return out, nil
}

// checkVersion verifies, without changing anything, that the tables are
// exactly at SchemaVersion; New uses it when migrations are skipped.
func checkVersion(ctx context.Context, db *sql.DB, n *names) error {
	v, err := readVersion(ctx, db, n)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return fmt.Errorf("check schema %s: %w", n.migrations, err)
		}
		return fmt.Errorf("check schema %s (run Migrate first): %w", n.migrations, err)
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("check schema %s: %w: database at version %d, this code knows %d", n.migrations, store.ErrSchemaVersion, v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("check schema %s: database at version %d, this code needs %d: run Migrate", n.migrations, v, SchemaVersion)
	}
	return nil
}

// lockName is the name of a GET_LOCK lock of these tables. Such locks are
// server-wide and their names at most 64 characters, so the name holds a
// hash of the database, the prefix and what it is for.
func lockName(purpose, database, prefix string, more ...string) string {
	h := fnv.New64a()
	h.Write([]byte(database + "\x00" + prefix))
	for _, m := range more {
		h.Write([]byte("\x00" + m))
	}
	return fmt.Sprintf("evertask.%s.%016x", purpose, h.Sum64())
}
