package evertask_test

import (
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m,
		// Handlers that ignore their context are left running on purpose
		// by the timeout tests until the test releases them.
		goleak.IgnoreTopFunction("github.com/evertask/evertask/store/enginetest.testTimeout.func2"),
	)
}

func TestEngineMemory(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}

func TestEngineSQLite(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "evertask.db"))
	})
}

func openSQLite(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
