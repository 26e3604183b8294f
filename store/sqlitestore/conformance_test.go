package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/sqlitestore"
	"github.com/evertask/evertask/store/storetest"
)

// newStore opens a store on a fresh file of its own, closed at cleanup.
func newStore(tb testing.TB) store.Store {
	tb.Helper()
	s, err := sqlitestore.Open(tb.Context(), filepath.Join(tb.TempDir(), "evertask.db"), nil)
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}
