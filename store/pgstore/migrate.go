package pgstore

import (
	"context"
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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string // with the {schema} placeholder
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
			panic("pgstore: malformed migration file name " + e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		v, _ := strconv.Atoi(m[1])
		out = append(out, migration{version: v, name: m[2], sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	// Gaps are allowed: branches developed side by side reserve their
	// numbers and land in any order, and Migrate applies every migration
	// a schema has not recorded, not only those above its highest version.
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			panic(fmt.Sprintf("pgstore: migrations %s and %s have the same version %d", out[i-1].name, out[i].name, out[i].version))
		}
	}
	return out
}()

// SchemaVersion is the schema version this package writes and reads: the
// number of its last migration.
var SchemaVersion = migrations[len(migrations)-1].version

// DefaultSchema is the schema used when Opts.Schema is empty.
const DefaultSchema = "evertask"

var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// quoteSchema validates a schema name and returns it quoted. Only plain
// identifiers are accepted, so the name is never a vehicle for SQL.
func quoteSchema(schema string) (string, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if !identPattern.MatchString(schema) {
		return "", fmt.Errorf("%w: schema %q is not a plain identifier (letters, digits, _; at most 63 bytes)", store.ErrInvalid, schema)
	}
	return pgx.Identifier{schema}.Sanitize(), nil
}

// lockKey derives the advisory lock of a schema's migrations, so processes
// migrating different schemas do not wait for each other.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("evertask/pgstore migrate " + schema))
	return int64(h.Sum64())
}

// Migrate creates the schema when missing and applies the embedded
// migrations it lacks, in one transaction under a transaction-level advisory
// lock, so several processes starting at once apply each migration exactly
// once and a failed migration leaves nothing behind. A schema written by a
// newer version of evertask gives an error wrapping store.ErrSchemaVersion.
// An empty schema means DefaultSchema.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if schema == "" {
		schema = DefaultSchema
	}
	q, err := quoteSchema(schema)
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, mapErr(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schema)); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", schema, mapErr(err))
	}
	// DDL runs only when something is missing, so an application role
	// without CREATE rights can open a schema an administrator migrated.
	var hasSchema, hasTable bool
	err = tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL",
		schema, q+".schema_migrations").Scan(&hasSchema, &hasTable)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, mapErr(err))
	}
	if !hasSchema {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+q); err != nil {
			return fmt.Errorf("migrate %s: create schema: %w", schema, mapErr(err))
		}
	}
	if !hasTable {
		ddl := "CREATE TABLE " + q + ".schema_migrations (" +
			"version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("migrate %s: %w", schema, mapErr(err))
		}
	}
	applied, err := readVersions(ctx, tx, q)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	if v := unknownVersion(applied); v != 0 {
		return fmt.Errorf("migrate %s: %w: database has version %d, this code knows up to %d", schema, store.ErrSchemaVersion, v, SchemaVersion)
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{schema}", q)); err != nil {
			return fmt.Errorf("migrate %s: apply %03d_%s: %w", schema, m.version, m.name, mapErr(err))
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+q+".schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fmt.Errorf("migrate %s: record %03d: %w", schema, m.version, mapErr(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", schema, mapErr(err))
	}
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readVersions returns the versions recorded in the schema.
func readVersions(ctx context.Context, db querier, q string) (map[int]bool, error) {
	rows, err := db.Query(ctx, "SELECT version FROM "+q+".schema_migrations")
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

// unknownVersion returns a recorded version this code has no migration
// for (written by a newer evertask), or 0.
func unknownVersion(applied map[int]bool) int {
	known := map[int]bool{}
	for _, m := range migrations {
		known[m.version] = true
	}
	for v := range applied {
		if !known[v] {
			return v
		}
	}
	return 0
}

// pending returns the migrations not recorded in applied.
func pending(applied map[int]bool) []string {
	var out []string
	for _, m := range migrations {
		if !applied[m.version] {
			out = append(out, fmt.Sprintf("%03d_%s", m.version, m.name))
		}
	}
	return out
}

// PendingMigrations returns the names (NNN_name) of the migrations Migrate
// would apply to schema, all of them when the schema or its version table
// does not exist, without changing anything. A schema written by a newer
// version of evertask gives an error wrapping store.ErrSchemaVersion. An
// empty schema means DefaultSchema.
func PendingMigrations(ctx context.Context, pool *pgxpool.Pool, schema string) ([]string, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	q, err := quoteSchema(schema)
	if err != nil {
		return nil, err
	}
	var hasTable bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", q+".schema_migrations").Scan(&hasTable); err != nil {
		return nil, fmt.Errorf("read schema %s: %w", schema, mapErr(err))
	}
	applied := map[int]bool{}
	if hasTable {
		if applied, err = readVersions(ctx, pool, q); err != nil {
			return nil, fmt.Errorf("read schema %s: %w", schema, err)
		}
	}
	if v := unknownVersion(applied); v != 0 {
		return nil, fmt.Errorf("read schema %s: %w: database has version %d, this code knows up to %d", schema, store.ErrSchemaVersion, v, SchemaVersion)
	}
	return pending(applied), nil
}

// checkVersion verifies, without changing anything, that the schema has
// every migration of this code and none it does not know; New uses it when
// migrations are skipped.
func checkVersion(ctx context.Context, pool *pgxpool.Pool, schema, q string) error {
	applied, err := readVersions(ctx, pool, q)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return fmt.Errorf("check schema %s: %w", schema, err)
		}
		return fmt.Errorf("check schema %s (run Migrate first): %w", schema, err)
	}
	if v := unknownVersion(applied); v != 0 {
		return fmt.Errorf("check schema %s: %w: database has version %d, this code knows up to %d", schema, store.ErrSchemaVersion, v, SchemaVersion)
	}
	if p := pending(applied); len(p) > 0 {
		return fmt.Errorf("check schema %s: database lacks migrations %s: run Migrate", schema, strings.Join(p, ", "))
	}
	return nil
}
