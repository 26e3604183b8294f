package customstore_test

import (
	"testing"

	"example.com/customstore"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
	"github.com/evertask/evertask/store/storetest"
)

// newStore returns a fresh, isolated store per call, as both suites require:
// their subtests run in parallel, one store each. A database-backed store
// would create a schema, database or key prefix here and drop it in
// t.Cleanup.
func newStore(t *testing.T) store.Store {
	s := customstore.New()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance checks the store's methods against the contract.
func TestConformance(t *testing.T) {
	storetest.Run(t, newStore)
}

// TestEngine runs real engines over the store.
func TestEngine(t *testing.T) {
	enginetest.Run(t, newStore)
}
