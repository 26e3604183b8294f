// Package testenv tells tests where the database services are and what to
// do when one is missing: skip with a one-line reason on a developer's
// machine, fail when EVERTASK_TEST_REQUIRE_SERVICES=1 (CI).
package testenv

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Connection strings of the services, from the environment or the loopback
// defaults of the development machines.
func PostgresURL() string {
	return env("EVERTASK_TEST_POSTGRES_URL", "postgres://root@127.0.0.1:5432/test?sslmode=disable")
}

// MySQLDSN is a go-sql-driver/mysql DSN.
func MySQLDSN() string {
	return env("EVERTASK_TEST_MYSQL_URL", "root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC")
}

// MySQLDB opens a pool on the test MySQL/MariaDB server (MySQLDSN, with
// interpolateParams on unless the DSN sets it) of at most conns
// connections, and checks it answers, or calls Unavailable. The pool
// closes when the test ends.
func MySQLDB(t testing.TB, conns int) *sql.DB {
	t.Helper()
	db, err := OpenMySQL(MySQLDSN(), conns)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		Unavailable(t, "MySQL", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// OpenMySQL opens a pool on dsn as the tests use it: interpolateParams on
// unless the DSN sets it, conns connections open and idle at most.
func OpenMySQL(dsn string, conns int) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.InterpolateParams = true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// RedisAddr is host:port of the Redis server.
func RedisAddr() string { return env("EVERTASK_TEST_REDIS_URL", "127.0.0.1:6379") }

// PostgresPool opens a pool on the test PostgreSQL and checks it answers,
// or calls Unavailable. The pool closes when the test ends.
func PostgresPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, PostgresURL())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		Unavailable(t, "PostgreSQL", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// RequireServices reports whether missing services must fail tests.
func RequireServices() bool { return os.Getenv("EVERTASK_TEST_REQUIRE_SERVICES") == "1" }

// Unavailable skips the test because a service could not be reached, or
// fails it when services are required.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if RequireServices() {
		t.Fatalf("%s is required (EVERTASK_TEST_REQUIRE_SERVICES=1) but unavailable: %v", service, err)
	}
	t.Skipf("%s unavailable, skipping (set EVERTASK_TEST_REQUIRE_SERVICES=1 to fail instead): %v", service, err)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
