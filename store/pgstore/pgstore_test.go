package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store/pgstore"
)

// One pool serves the whole test binary; each test gets its own schema.
var shared struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.pool != nil {
		shared.pool.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testPool returns the shared pool, or skips (fails under
// EVERTASK_TEST_REQUIRE_SERVICES=1) when PostgreSQL cannot be reached.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	testenv.RequirePostgres(t)
	shared.once.Do(func() {
		cfg, err := pgxpool.ParseConfig(testenv.PostgresURL())
		if err != nil {
			shared.err = err
			return
		}
		// Enough for the parallel suite and the concurrency tests; the
		// machine has 2 cores, more connections only add contention.
		cfg.MaxConns = 8
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			if pool != nil {
				pool.Close()
			}
			shared.err = err
			return
		}
		shared.pool = pool
	})
	if shared.err != nil {
		testenv.Unavailable(t, "PostgreSQL", shared.err)
	}
	return shared.pool
}

// freshSchema returns a new schema name, dropped with everything in it when
// the test ends.
func freshSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "et_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a migrated store in a fresh schema.
func newStore(t testing.TB) *pgstore.Store {
	t.Helper()
	pool := testPool(t)
	s, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: freshSchema(t, pool)})
	if err != nil {
		t.Fatalf("pgstore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
