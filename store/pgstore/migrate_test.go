package pgstore_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
)

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := freshSchema(t, pool)

	// Four processes starting at once: the advisory lock serializes them
	// and exactly one applies each migration.
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = pgstore.Migrate(t.Context(), pool, schema) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	var rows, maxVersion int
	err := pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM "+pgx.Identifier{schema}.Sanitize()+".schema_migrations").
		Scan(&rows, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	files := migrationFiles(t)
	if rows != files || maxVersion != pgstore.SchemaVersion {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d rows up to %d", rows, maxVersion, files, pgstore.SchemaVersion)
	}
	// Migrating again is a no-op.
	if err := pgstore.Migrate(t.Context(), pool, schema); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
}

func TestSchemaNewerThanCode(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	if err := pgstore.Migrate(t.Context(), pool, schema); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(t.Context(), "INSERT INTO "+pgx.Identifier{schema}.Sanitize()+".schema_migrations (version, name) VALUES ($1, 'from_the_future')",
		pgstore.SchemaVersion+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(t.Context(), pool, schema); !errors.Is(err, store.ErrSchemaVersion) {
		t.Errorf("Migrate on a newer schema: %v, want ErrSchemaVersion", err)
	}
	for _, skip := range []bool{false, true} {
		_, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: schema, SkipMigrations: skip})
		if !errors.Is(err, store.ErrSchemaVersion) {
			t.Errorf("New(SkipMigrations=%v) on a newer schema: %v, want ErrSchemaVersion", skip, err)
		}
	}
}

func TestSkipMigrationsNeedsSchema(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	_, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: schema, SkipMigrations: true})
	if err == nil || errors.Is(err, store.ErrSchemaVersion) {
		t.Errorf("New(SkipMigrations) on a missing schema: %v, want an error that is not ErrSchemaVersion", err)
	}
	if err := pgstore.Migrate(t.Context(), pool, schema); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: schema, SkipMigrations: true})
	if err != nil {
		t.Fatalf("New(SkipMigrations) on a migrated schema: %v", err)
	}
	if s.Schema() != schema {
		t.Errorf("Schema() = %q, want %q", s.Schema(), schema)
	}
}

func TestSchemaNameValidated(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	for _, name := range []string{"bad-name", `x"; DROP TABLE y; --`, "1abc", "a b", "ünïcode",
		"a23456789012345678901234567890123456789012345678901234567890abcd"} {
		if _, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: name}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("New(schema %q): %v, want ErrInvalid", name, err)
		}
		if err := pgstore.Migrate(t.Context(), pool, name); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Migrate(schema %q): %v, want ErrInvalid", name, err)
		}
	}
}

// migrationFiles counts the embedded migrations (their numbers may have
// gaps, see migrations in migrate.go).
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files: %v", err)
	}
	return len(files)
}

func TestPendingMigrationsAndALateMigration(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := t.Context()
	all, err := pgstore.PendingMigrations(ctx, pool, schema)
	if err != nil || len(all) != migrationFiles(t) || all[0] != "001_init" {
		t.Fatalf("PendingMigrations of a missing schema = %v, %v; want all %d, from 001_init", all, err, migrationFiles(t))
	}
	if err := pgstore.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	if p, err := pgstore.PendingMigrations(ctx, pool, schema); err != nil || len(p) != 0 {
		t.Fatalf("PendingMigrations after Migrate = %v, %v; want none", p, err)
	}
	// A migration that lands after a later one (branches merged in any
	// order): a schema without it gets it from Migrate, and New without
	// migrations refuses the schema until then.
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(ctx, "DROP TABLE "+q+".queue_pauses; DELETE FROM "+q+".schema_migrations WHERE name = 'queue_pause'"); err != nil {
		t.Fatal(err)
	}
	if p, err := pgstore.PendingMigrations(ctx, pool, schema); err != nil || len(p) != 1 || p[0] != "005_queue_pause" {
		t.Fatalf("PendingMigrations without 005 = %v, %v; want [005_queue_pause]", p, err)
	}
	if _, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema, SkipMigrations: true}); err == nil || !strings.Contains(err.Error(), "005_queue_pause") {
		t.Errorf("New(SkipMigrations) on a schema without 005 = %v, want an error naming it", err)
	}
	s, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
	if err != nil {
		t.Fatalf("New (migrating) on a schema without 005: %v", err)
	}
	if err := s.PauseQueue(ctx, "q", time.Now()); err != nil {
		t.Errorf("PauseQueue after the late migration: %v", err)
	}
}

// TestStatsMigrationCountsTheRowsAlreadyFinished upgrades a schema of
// version 7, whose overview read finished rows through an index, to the
// counters of 008: the outcomes already in the table are counted once.
func TestStatsMigrationCountsTheRowsAlreadyFinished(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := t.Context()
	s, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	var rows []*store.Task
	for i, st := range []store.Status{store.StatusCompleted, store.StatusCompleted, store.StatusFailed, store.StatusCancelled, store.StatusQueued} {
		rows = append(rows, &store.Task{ID: uuid.New(), CreatedAt: hour, Kind: "k", Status: st, Queue: "default",
			LastExecutionAt: hour.Add(time.Duration(i) * time.Minute), ExecutionTime: time.Second})
	}
	if err := s.PersistMany(ctx, rows); err != nil {
		t.Fatal(err)
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(ctx, "DROP TABLE "+q+".task_stats; DELETE FROM "+q+".schema_migrations WHERE version = 8"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE INDEX tasks_executed_idx ON "+q+".tasks (last_execution_at) INCLUDE (phase, kind, execution_time_us) WHERE last_execution_at IS NOT NULL"); err != nil {
		t.Fatal(err)
	}
	s, err = pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
	if err != nil {
		t.Fatalf("New (migrating to 008): %v", err)
	}
	o, err := s.Overview(ctx, store.OverviewParams{From: hour, To: hour.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.Totals(), (store.OverviewCount{Completed: 2, Failed: 1, ExecutionTime: 3 * time.Second}); got != want {
		t.Errorf("overview after the migration = %+v, want %+v (the finished rows, once)", got, want)
	}
}
