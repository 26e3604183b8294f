package mysqlstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/storetest"
)

// TestConformance runs the store conformance suite, each check in a fresh
// database of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	testDB(t) // skip the whole suite with one reason when there is no server
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}
