// Package customstore is a store written outside the evertask module, to
// show how its author runs evertask's two suites against it (see
// customstore_test.go and docs/custom-store.md).
//
// To stay short it delegates to the memory store, and it shows the smallest
// store the engine accepts: only the methods of store.Store, none of the
// optional capabilities (store.Cluster, store.BatchStore, ...). Embedding
// the interface, not *memstore.Store, is what hides them: the engine and the
// suites find no capability by type assertion and use the store package's
// fallbacks, as they would for a new backend whose author has written the
// core methods only.
package customstore

import (
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// Store is a core-only store.Store.
type Store struct {
	store.Store
	mem *memstore.Store
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	mem := memstore.New()
	return &Store{Store: mem, mem: mem}
}

// Close releases the store; every method then returns store.ErrClosed, which
// storetest checks.
func (s *Store) Close() error { return s.mem.Close() }
