package storetest_test

import (
	"fmt"
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/storetest"
)

// A store's own test file runs the suite with a constructor that returns a
// fresh, isolated store per call. Here the memory store needs no cleanup
// beyond Close; a database store would create a schema or key prefix per
// call and drop it in t.Cleanup.
func ExampleRun() {
	conformance := func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s := memstore.New()
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	}
	_ = conformance // in a _test.go file: func TestConformance(t *testing.T) { ... }

	// Run logs which optional capabilities it found; the groups of missing
	// ones are skipped and their fallbacks tested instead.
	fmt.Println(store.Capabilities(memstore.New()))
	// Output: [RecurringStore BatchStore RecoveryCounter Counter Retainer Cluster Notifier ClaimingPersister AttemptStore QueuePauser Stats LogTrimmer]
}
