// Package storetest is the conformance suite for implementations of
// store.Store. Every built-in store runs it, and so should yours: it is the
// executable form of the rules written in the store package's doc comments,
// the way fstest.TestFS is for fs.FS.
//
// # Testing your implementation
//
// Call Run from a test in your store's package, with a function that returns
// a fresh, empty store each time it is called:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			db := openTestDatabase(t)            // your own helper
//			schema := "evertask_" + randomSuffix() // one schema per call
//			s, err := mystore.New(db, &mystore.Config{Schema: schema})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { dropSchema(db, schema) })
//			return s
//		})
//	}
//
// Each subtest calls the function once and runs in parallel with the others,
// so the stores it returns must not share rows: use a new schema, database,
// key prefix or file per call and release it with t.Cleanup. A store that
// needs a server should skip (or, in CI, fail) when the server cannot be
// reached, before calling Run.
//
// Run store/enginetest's Run with the same function too: it runs real
// engines over the store and catches what a direct call cannot (the order
// and concurrency in which the engine uses the methods). docs/custom-store.md
// and the module in examples/customstore show both suites on a store
// written outside this module.
//
// Run with the race detector, since several checks race 32 goroutines
// against one row:
//
//	go test -race -run TestConformance ./...
//
// Subtests are named after the behaviour they check, such as
// Transition/ConditionalHasExactlyOneWinner or
// Recoverable/ThroughConditionalRequeue, so -run can select one while you fix
// it. The suite never reads the wall clock: every time is derived from a
// fixed base time, so a failure reproduces exactly. The Cluster group is the
// exception it has to be: leases run on the store's own clock, so its rows
// are placed relative to Cluster.Now with margins of minutes, and the few
// checks about expiry take a lease of 300ms and poll Now until it ran out.
//
// # What it checks
//
// Every method of store.Store with valid and invalid input (ErrInvalid,
// nothing written, no panic), the round trip of every field at microsecond
// UTC precision, every cell of the audit policy, the recoverable predicate's
// truth table through both RetrievePending and conditional transitions,
// keyset pagination over 10,000 rows with tied creation times, List filters
// and search text taken literally, compare-and-set transitions and the
// unique task key under 32 concurrent goroutines, the compound recurring
// steps (no half state), execution logs ordering and paging, and the
// cascades of Remove.
//
// # Optional capabilities
//
// A store may implement store.RecurringStore, store.BatchStore,
// store.RecoveryCounter, store.Counter, store.Retainer, store.Cluster and
// store.Notifier. Run logs the ones it finds (store.Capabilities) and skips
// the group of each missing one with the reason. The Cluster group checks
// claims under 32 concurrent claimers, due order, leases, fenced writes,
// rescue and the node registry; the Notifier group checks the fan-out of
// notices. A store without Cluster may keep or clear Owner and LeaseUntil
// when a row leaves InProgress; a Cluster store must clear them. The
// Fallback group runs against every store: it hides the
// capabilities and calls the store package's functions (CompleteRecurringRun,
// EndSeries, PersistMany, TransitionMany, CountByStatus, CountByQueue), so
// the fallbacks the engine uses are proven against your core methods too.
//
// The suite writes about 12,000 rows in total, 10,000 of them into one store
// through store.PersistMany: on a network database it takes seconds when
// PersistMany is batched. The race detector slows stores written in pure Go
// the most (an embedded SQL engine runs about 20 times slower under -race).
package storetest
