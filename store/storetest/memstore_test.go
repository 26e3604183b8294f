package storetest_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/storetest"
)

// TestMemstore runs the suite against the memory store from this package
// too, so a change to the suite is checked against a real store at once.
func TestMemstore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
