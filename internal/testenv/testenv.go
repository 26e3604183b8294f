// Package testenv tells tests where the database services are and what to
// do when one is missing: skip with a one-line reason on a developer's
// machine, fail when EVERTASK_TEST_REQUIRE_SERVICES=1 (CI).
package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
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

// probeTimeout bounds the one dial that tells whether a service listens: a
// loopback service answers in microseconds, a missing one refuses at once,
// and a black-holed address gives up here instead of in each test's
// retries.
const probeTimeout = 500 * time.Millisecond

var probes sync.Map // address -> func() error (sync.OnceValue)

// probe dials network/addr once per test binary and returns the cached
// answer: nil when something listens there.
func probe(network, addr string) error {
	f, _ := probes.LoadOrStore(network+" "+addr, sync.OnceValue(func() error {
		c, err := net.DialTimeout(network, addr, probeTimeout)
		if err != nil {
			return err
		}
		return c.Close()
	}))
	return f.(func() error)()
}

// RequireRedis checks, once per test binary, that something listens at
// RedisAddr, and calls Unavailable with the dial's error otherwise: a test
// run without Redis skips (or, under EVERTASK_TEST_REQUIRE_SERVICES=1,
// fails) in well under a second instead of letting every test's client
// retry its dial.
func RequireRedis(t testing.TB) {
	t.Helper()
	addr := RedisAddr()
	if i := strings.Index(addr, "://"); i >= 0 { // a redis:// URL
		addr = addr[i+3:]
		if at := strings.LastIndex(addr, "@"); at >= 0 {
			addr = addr[at+1:]
		}
		addr, _, _ = strings.Cut(addr, "/")
	}
	if err := probe("tcp", addr); err != nil {
		Unavailable(t, "Redis", fmt.Errorf("nothing answers at %s: %w", addr, err))
	}
}

// RequirePostgres does for PostgresURL what RequireRedis does for Redis.
func RequirePostgres(t testing.TB) {
	t.Helper()
	cfg, err := pgx.ParseConfig(PostgresURL())
	if err != nil {
		Unavailable(t, "PostgreSQL", fmt.Errorf("parse EVERTASK_TEST_POSTGRES_URL: %w", err))
		return
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	if err := probe(network, addr); err != nil {
		Unavailable(t, "PostgreSQL", fmt.Errorf("nothing answers at %s: %w", addr, err))
	}
}

// PostgresPool opens a pool on the test PostgreSQL and checks it answers,
// or calls Unavailable. The pool closes when the test ends.
func PostgresPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	RequirePostgres(t)
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
