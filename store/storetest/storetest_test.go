package storetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/evertask/evertask/store"
)

func TestNaiveStore(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T) store.Store { return newNaive("") })
}

// TestNaiveStoreCoreOnly runs the suite on a store with no optional
// capability: the capability groups skip, the fallbacks carry the rest.
func TestNaiveStoreCoreOnly(t *testing.T) {
	t.Parallel()
	Run(t, func(t *testing.T) store.Store { return coreOnly{newNaive("")} })
}

// recorder is a tb that records failures instead of failing the test, so a
// check can be run against a store that is meant to fail it.
type recorder struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	failures []string
	skipped  bool
	cleanups []func()
}

func newRecorder() *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	return &recorder{ctx: ctx, cancel: cancel}
}

func (r *recorder) Helper()                           {}
func (r *recorder) Logf(format string, args ...any)   {}
func (r *recorder) Context() context.Context          { return r.ctx }
func (r *recorder) Cleanup(f func())                  { r.mu.Lock(); r.cleanups = append(r.cleanups, f); r.mu.Unlock() }
func (r *recorder) Failed() bool                      { r.mu.Lock(); defer r.mu.Unlock(); return len(r.failures) > 0 }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// runRecorded runs one check on its own goroutine, as testing does, so
// Fatalf and Skipf can end it with runtime.Goexit.
func runRecorded(c check, s store.Store) *recorder {
	r := newRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.fn(r, s)
	}()
	<-done
	r.cancel()
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r
}

// heavyChecks are left out for the broken stores to keep the mutation check
// fast; the correct store runs them, and so do TestNaiveStore and every real
// store.
var heavyChecks = map[string]bool{"RetrievePending/KeysetPagesOver10000RowsWithTies": true}

// runSuiteRecorded runs every check of the suite against fresh stores from
// newStore, in parallel, and returns the failures by check name.
func runSuiteRecorded(newStore func() store.Store, skipHeavy bool) map[string][]string {
	var mu sync.Mutex
	out := map[string][]string{}
	var wg sync.WaitGroup
	for _, g := range groups() {
		probe := newStore()
		if g.has != nil && !g.has(probe) {
			continue
		}
		for _, c := range g.checks {
			if skipHeavy && heavyChecks[g.name+"/"+c.name] {
				continue
			}
			wg.Go(func() {
				r := runRecorded(c, newStore())
				if len(r.failures) > 0 {
					mu.Lock()
					out[g.name+"/"+c.name] = r.failures
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return out
}

// TestSuiteCatchesBrokenStores is the mutation check: each store below breaks
// one rule of the contract, and the suite must fail it, while the correct
// store passes every check through the same harness.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	bugs := []naiveBug{
		"", // the correct store
		bugMaxRunsInclusive, bugBlindRequeue, bugAuditAtNone, bugIgnoreFrom, bugDuplicateKeys,
		bugNoCopy, bugNoNormalize, bugPendingSkipsTies, bugStampEveryStatus, bugErrorOnEveryStatus,
		bugPurgeZeroAge, bugRemoveKeepsHistory, bugUpdateWholeRow, bugNoSaturation, bugRunsAuditMinimal,
		bugSearchWildcard, bugNextOnFullLastPage, bugCompleteAnyStatus, bugEndSeriesCancelled,
		bugLogsInSaveOrder, bugLevelCaseSensitive, bugCreatedBeforeIncl, bugAuditsOldestFirst,
		bugPurgeRecurring, bugErrorAgeIgnored, bugPersistManyPartial, bugCountIgnoresFrom,
		bugRunsAuditParamsErr, bugTransitionNoAudit, bugGetByEmptyKey, bugUpdateKeepsOldKey,
		bugNoValidation, bugPendingIgnoresNow,
		bugClaimNotAtomic, bugClaimFutureRows, bugClaimCreatedOrder, bugClaimTakesFinished, bugClaimQueuedAudit,
		bugNextDueAnyRow, bugLeaseFromCallerNow, bugFenceIgnored, bugFenceKeepsFailures, bugKeepsLease,
		bugRecoverableLeased, bugRenewRevives, bugRenewKeepsLength, bugRescueLiveLeases, bugRescueIgnoresOwners,
		bugRescueNeverPoisons, bugRescueNoLimit, bugLeaveKeepsNode, bugHeartbeatKept, bugNoticeToFirstOnly,
		bugSubscriptionLeaks, bugPublishBlocks, bugClaimedPersistAudit, bugClaimedLeaseCaller, bugClaimedPartial,
		bugAttemptAtNone, bugAttemptFenceIgnored, bugRemoveKeepsAttempts, bugAttemptPurgeInclusive,
		bugAttemptPurgeNoErrAge, bugAttemptsNewestFirst, bugTrimKeepsOldest, bugTrimBySaveOrder,
		bugStatusCutInclusive, bugRunsCutInclusive, bugErrorCutInclusive, bugLogCutInclusive,
		bugCompletedCutInclusive, bugFailedCutInclusive,
	}
	for _, bug := range bugs {
		name := string(bug)
		if bug == "" {
			name = "Correct"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			failures := runSuiteRecorded(func() store.Store { return newNaive(bug) }, bug != "")
			if bug == "" {
				for name, f := range failures {
					t.Errorf("the correct store fails %s: %s", name, strings.Join(f, "; "))
				}
				return
			}
			if len(failures) == 0 {
				t.Fatalf("the suite passes a store with the bug %s", bug)
			}
			names := make([]string, 0, len(failures))
			for name := range failures {
				names = append(names, name)
			}
			slices.Sort(names)
			t.Logf("caught by %d checks: %s", len(names), strings.Join(names, ", "))
		})
	}
}
