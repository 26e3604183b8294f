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
	"slices"
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
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			panic(fmt.Sprintf("pgstore: two migrations have version %d", out[i].version))
		}
	}
	return out
}()

// SchemaVersion is the schema version this package writes and reads: the
// number of its last migration. Numbers may have gaps (branches developed
// side by side reserve theirs and land in any order): Migrate applies every
// migration a schema has not recorded, not only those above its highest.
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
	applied, err := appliedVersions(ctx, tx, q)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	if v, unknown := unknownVersion(applied); unknown {
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

// appliedVersions reads the versions recorded in the schema.
func appliedVersions(ctx context.Context, db querier, q string) (map[int]bool, error) {
	rows, err := db.Query(ctx, "SELECT version FROM "+q+".schema_migrations")
	if err != nil {
		return nil, mapErr(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(map[int]bool, len(vs))
	for _, v := range vs {
		out[int(v)] = true
	}
	return out, nil
}

// unknownVersion returns a recorded version this code has no migration
// for: a newer evertask wrote the schema.
func unknownVersion(applied map[int]bool) (int, bool) {
	for v := range applied {
		if v > SchemaVersion || !slices.ContainsFunc(migrations, func(m migration) bool { return m.version == v }) {
			return v, true
		}
	}
	return 0, false
}

// checkVersion verifies, without changing anything, that the schema is
// exactly at SchemaVersion; New uses it when migrations are skipped.
func checkVersion(ctx context.Context, pool *pgxpool.Pool, schema, q string) error {
	applied, err := appliedVersions(ctx, pool, q)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return fmt.Errorf("check schema %s: %w", schema, err)
		}
		return fmt.Errorf("check schema %s (run Migrate first): %w", schema, err)
	}
	if v, unknown := unknownVersion(applied); unknown {
		return fmt.Errorf("check schema %s: %w: database has version %d, this code knows up to %d", schema, store.ErrSchemaVersion, v, SchemaVersion)
	}
	for _, m := range migrations {
		if !applied[m.version] {
			return fmt.Errorf("check schema %s: database lacks migration %03d_%s: run Migrate", schema, m.version, m.name)
		}
	}
	return nil
}
