package mysqlstore_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
)

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	cfg := &mysqlstore.Config{Database: freshDatabase(t), TablePrefix: "app1_"}

	// Four processes starting at once: the GET_LOCK lock serializes them
	// and exactly one applies each migration (a second CREATE TABLE would
	// fail, so an unserialized run shows as an error).
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = mysqlstore.Migrate(t.Context(), db, cfg) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	var rows, maxVersion int
	err := db.QueryRowContext(t.Context(), "SELECT COUNT(*), MAX(version) FROM `"+cfg.Database+"`.`app1_schema_migrations`").
		Scan(&rows, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	if rows != mysqlstore.SchemaVersion || maxVersion != mysqlstore.SchemaVersion {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d rows up to %d", rows, maxVersion, mysqlstore.SchemaVersion, mysqlstore.SchemaVersion)
	}
	// Migrating again, and opening, are no-ops.
	if err := mysqlstore.Migrate(t.Context(), db, cfg); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
	s, err := mysqlstore.New(t.Context(), db, cfg)
	if err != nil {
		t.Fatalf("New on migrated tables: %v", err)
	}
	s.Close()
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM `"+cfg.Database+"`.`app1_schema_migrations`").Scan(&rows); err != nil || rows != mysqlstore.SchemaVersion {
		t.Errorf("after re-opening: %d migration rows (err %v), want %d", rows, err, mysqlstore.SchemaVersion)
	}

	// Another prefix in the same database is another set of tables.
	other, err := mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: cfg.Database, TablePrefix: "app2_"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Persist(t.Context(), task(1)); err != nil {
		t.Fatal(err)
	}
	first, err := mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: cfg.Database, TablePrefix: "app1_", SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if counts, err := first.CountByStatus(t.Context(), store.CountParams{}); err != nil || len(counts) != 0 {
		t.Errorf("the app1_ tables see rows of app2_: %v, %v", counts, err)
	}
}

func TestSchemaNewerThanCode(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	cfg := &mysqlstore.Config{Database: freshDatabase(t)}
	if err := mysqlstore.Migrate(t.Context(), db, cfg); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(t.Context(), "INSERT INTO `"+cfg.Database+"`.`evertask_schema_migrations` (version, name) VALUES (?, 'from_the_future')",
		mysqlstore.SchemaVersion+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := mysqlstore.Migrate(t.Context(), db, cfg); !errors.Is(err, store.ErrSchemaVersion) {
		t.Errorf("Migrate on a newer schema: %v, want ErrSchemaVersion", err)
	}
	for _, skip := range []bool{false, true} {
		_, err := mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: cfg.Database, SkipMigrations: skip})
		if !errors.Is(err, store.ErrSchemaVersion) {
			t.Errorf("New(SkipMigrations=%v) on a newer schema: %v, want ErrSchemaVersion", skip, err)
		}
	}
}

func TestSkipMigrationsNeedsTables(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	database := freshDatabase(t)
	_, err := mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: database, SkipMigrations: true})
	if err == nil || errors.Is(err, store.ErrSchemaVersion) {
		t.Errorf("New(SkipMigrations) on missing tables: %v, want an error that is not ErrSchemaVersion", err)
	}
	s, err := mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: database, SkipMigrations: true})
	if err != nil {
		t.Fatalf("New(SkipMigrations) on migrated tables: %v", err)
	}
	defer s.Close()
	if s.Database() != database || s.TablePrefix() != mysqlstore.DefaultTablePrefix {
		t.Errorf("Database, TablePrefix = %q, %q", s.Database(), s.TablePrefix())
	}
}

func TestNamesValidated(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	for _, cfg := range []mysqlstore.Config{
		{Database: "bad-name"}, {Database: "x`; DROP TABLE y; --"}, {Database: "a b"}, {Database: "ünïcode"},
		{Database: "a2345678901234567890123456789012345678901234567890123456789012345"},
		{TablePrefix: "bad-prefix"}, {TablePrefix: "x`"}, {TablePrefix: "p23456789012345678901234567890123"},
	} {
		if _, err := mysqlstore.New(t.Context(), db, &cfg); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("New(%+v): %v, want ErrInvalid", cfg, err)
		}
		if err := mysqlstore.Migrate(t.Context(), db, &cfg); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Migrate(%+v): %v, want ErrInvalid", cfg, err)
		}
	}
}
