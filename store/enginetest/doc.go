// Package enginetest is the engine's behaviour suite: it runs real
// evertask engines over a store and checks what a user of the engine sees
// (a task runs once, retries, times out, is cancelled, survives a restart,
// keeps its audit trail and logs, recurs on schedule, is shared between
// cluster nodes, ...). Every built-in store runs it, and so should a custom
// one.
//
// It is the second half of testing a store. store/storetest calls the
// store's methods directly and checks the contract written in the store
// package's doc comments; enginetest checks that the engine, which uses those
// methods in its own order and concurrency, behaves over your store as it
// does over the built-in ones. A behaviour that holds on one store and not
// on another is a store bug the conformance suite missed, so run both. The
// package sits beside storetest, under store/, because both are for the
// author of a store; it imports the evertask package, which the store
// packages never do.
//
// # Testing your implementation
//
// Call Run from a test in your store's package (it must be an external test
// package, or any package other than evertask itself), with the same kind of
// constructor storetest.Run takes: a fresh, empty, isolated store per call.
//
//	func TestEngine(t *testing.T) {
//		enginetest.Run(t, func(t *testing.T) store.Store {
//			s := mystore.New(openTestDatabase(t)) // one schema per call
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// Subtests run in parallel and wait on conditions with deadlines (seconds,
// not sleeps), so a slow store fails with "timed out after ... waiting for
// ..." rather than hanging. The engines log to io.Discard.
//
// Groups that need an optional capability skip without it: Cluster and
// Inspect need store.Cluster, and so do the multi-node parts of Events,
// FullQueue and QueuePause; the attempt checks in History need
// store.AttemptStore; QueuePause needs store.QueuePauser. See
// docs/custom-store.md for a store outside this module running both suites.
//
// BenchmarkThroughput and BenchmarkLatency measure the whole engine over a
// store; the root package's and the Redis store's benchmarks call them.
package enginetest
