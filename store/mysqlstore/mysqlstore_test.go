package mysqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store/mysqlstore"
)

// One pool serves the whole test binary; each test gets its own database,
// so the tests run in parallel.
var shared struct {
	once sync.Once
	db   *sql.DB
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.db != nil {
		shared.db.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testDB returns the shared pool, or skips (fails under
// EVERTASK_TEST_REQUIRE_SERVICES=1) when the server cannot be reached.
func testDB(t testing.TB) *sql.DB {
	t.Helper()
	shared.once.Do(func() {
		// Enough for the parallel suite and the concurrency tests, and one
		// liveness session per joined node; the machine has 2 cores.
		db, err := testenv.OpenMySQL(testenv.MySQLDSN(), 24)
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			shared.err = err
			return
		}
		shared.db = db
	})
	if shared.err != nil {
		testenv.Unavailable(t, "MySQL", shared.err)
	}
	return shared.db
}

// freshDatabase returns a new database name, dropped with everything in it
// when the test ends. The store's migrations create it.
func freshDatabase(t testing.TB) string {
	t.Helper()
	db := testDB(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "et_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a migrated store in a fresh database.
func newStore(t testing.TB) *mysqlstore.Store {
	t.Helper()
	db := testDB(t)
	s, err := mysqlstore.New(t.Context(), db, &mysqlstore.Config{Database: freshDatabase(t)})
	if err != nil {
		t.Fatalf("mysqlstore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
