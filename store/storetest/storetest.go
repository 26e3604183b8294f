package storetest

import (
	"context"
	"testing"

	"github.com/evertask/evertask/store"
)

// tb is the part of testing.TB the checks use. *testing.T satisfies it; the
// suite's own tests pass a recorder so they can prove that a broken store
// fails at least one check without failing themselves.
type tb interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	Context() context.Context
}

// check is one behaviour, run on its own fresh store.
type check struct {
	name string
	fn   func(t tb, s store.Store)
}

// group is a set of checks about one method or capability. needs, when set,
// names the optional interface the group exercises; stores without it skip
// the group.
type group struct {
	name   string
	needs  string
	has    func(store.Store) bool
	checks []check
}

// groups lists every group of the suite in the order Run runs them.
func groups() []group {
	return []group{
		{name: "Persist", checks: persistChecks()},
		{name: "UpdateDefinition", checks: updateDefinitionChecks()},
		{name: "Metadata", checks: metadataChecks()},
		{name: "Remove", checks: removeChecks()},
		{name: "Invalid", checks: invalidChecks()},
		{name: "Transition", checks: transitionChecks()},
		{name: "AuditPolicy", checks: auditPolicyChecks()},
		{name: "Recoverable", checks: recoverableChecks()},
		{name: "RetrievePending", checks: pendingChecks()},
		{name: "List", checks: listChecks()},
		{name: "Recurring", checks: coreRecurringChecks()},
		{name: "Logs", checks: logChecks()},
		{name: "Lifecycle", checks: lifecycleChecks()},
		{
			name: "RecurringStore", needs: "RecurringStore",
			has:    func(s store.Store) bool { _, ok := s.(store.RecurringStore); return ok },
			checks: recurringChecks(directRecurring),
		},
		{
			name: "BatchStore", needs: "BatchStore",
			has:    func(s store.Store) bool { _, ok := s.(store.BatchStore); return ok },
			checks: batchChecks(directBatch, true),
		},
		{
			name: "RecoveryCounter", needs: "RecoveryCounter",
			has:    func(s store.Store) bool { _, ok := s.(store.RecoveryCounter); return ok },
			checks: recoveryCounterChecks(),
		},
		{
			name: "Counter", needs: "Counter",
			has:    func(s store.Store) bool { _, ok := s.(store.Counter); return ok },
			checks: counterChecks(directCounts),
		},
		{
			name: "Retainer", needs: "Retainer",
			has:    func(s store.Store) bool { _, ok := s.(store.Retainer); return ok },
			checks: retainerChecks(),
		},
		{
			name: "AttemptStore", needs: "AttemptStore",
			has:    func(s store.Store) bool { _, ok := s.(store.AttemptStore); return ok },
			checks: attemptChecks(),
		},
		{
			name: "LogTrimmer", needs: "LogTrimmer",
			has:    func(s store.Store) bool { _, ok := s.(store.LogTrimmer); return ok },
			checks: logTrimmerChecks(),
		},
		{
			name: "Cluster", needs: "Cluster",
			has:    func(s store.Store) bool { _, ok := s.(store.Cluster); return ok },
			checks: append(clusterChecks(), claimingPersisterChecks()...),
		},
		{
			name: "Notifier", needs: "Notifier",
			has:    func(s store.Store) bool { _, ok := s.(store.Notifier); return ok },
			checks: notifierChecks(),
		},
		{
			name: "Stats", needs: "Stats",
			has:    func(s store.Store) bool { _, ok := s.(store.Stats); return ok },
			checks: append(statsChecks(directOverview), statsOwnChecks()...),
		},
		{
			name: "QueuePauser", needs: "QueuePauser",
			has:    func(s store.Store) bool { _, ok := s.(store.QueuePauser); return ok },
			checks: pauseChecks(),
		},
		// The engine calls the package functions, which fall back to core
		// calls for stores without a capability. Hiding the capabilities
		// runs those fallbacks against every store.
		{name: "Fallback", checks: fallbackChecks()},
	}
}

// Run runs the conformance suite against the stores newStore returns. Every
// subtest calls newStore once for a fresh, empty store of its own and runs
// in parallel with the others, so newStore must isolate what it returns (a
// new schema, key prefix or file per call) and release it with t.Cleanup.
//
// Groups that exercise an optional capability the store lacks are skipped
// with the reason; the package functions that fall back to core calls are
// tested against every store in the Fallback group.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	probe := newStore(t)
	if probe == nil {
		t.Fatalf("storetest.Run: newStore returned a nil store")
	}
	caps := store.Capabilities(probe)
	t.Logf("store %T implements optional capabilities %v", probe, caps)
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			if g.has != nil && !g.has(probe) {
				t.Skipf("%T does not implement store.%s (it implements %v); the engine uses the fallback of the store package, covered by the Fallback group",
					probe, g.needs, caps)
			}
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, newStore(t))
				})
			}
		})
	}
}
