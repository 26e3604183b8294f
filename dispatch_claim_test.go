package evertask_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// writeCounter is the memory store with a count of the writes that take a
// new task to a worker: plain persists, persists already claimed, Queued and
// InProgress transitions, and rows a fetcher claimed.
type writeCounter struct {
	*memstore.Store
	mu                     sync.Mutex
	persisted, claimedNew  []uuid.UUID
	claimCalls             int // PersistClaimed calls
	toQueued, toInProgress int
	fetched                []uuid.UUID
}

func (c *writeCounter) Persist(ctx context.Context, t *store.Task) error {
	c.mu.Lock()
	c.persisted = append(c.persisted, t.ID)
	c.mu.Unlock()
	return c.Store.Persist(ctx, t)
}

func (c *writeCounter) PersistMany(ctx context.Context, ts []*store.Task) error {
	c.mu.Lock()
	for _, t := range ts {
		c.persisted = append(c.persisted, t.ID)
	}
	c.mu.Unlock()
	return c.Store.PersistMany(ctx, ts)
}

func (c *writeCounter) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	c.mu.Lock()
	c.claimCalls++
	for _, t := range p.Tasks {
		c.claimedNew = append(c.claimedNew, t.ID)
	}
	c.mu.Unlock()
	return c.Store.PersistClaimed(ctx, p)
}

func (c *writeCounter) count(ps ...store.TransitionParams) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		switch p.To {
		case store.StatusQueued:
			c.toQueued++
		case store.StatusInProgress:
			c.toInProgress++
		}
	}
}

func (c *writeCounter) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	c.count(p)
	return c.Store.Transition(ctx, p)
}

func (c *writeCounter) TransitionMany(ctx context.Context, ps []store.TransitionParams) ([]bool, error) {
	c.count(ps...)
	return c.Store.TransitionMany(ctx, ps)
}

func (c *writeCounter) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	res, err := c.Store.Claim(ctx, p)
	c.mu.Lock()
	for _, t := range res.Tasks {
		c.fetched = append(c.fetched, t.ID)
	}
	c.mu.Unlock()
	return res, err
}

// TestDispatchClaimsForAnIdleWorker checks the fast path of a lone node
// (issue 12): a task due now whose queue has an idle worker is stored
// already claimed, in one write, and runs without a Queued or InProgress
// transition and without a fetcher's claim; its history is the one the
// slow path writes. A task that finds no idle worker, or is due later,
// takes the slow path.
func TestDispatchClaimsForAnIdleWorker(t *testing.T) {
	t.Parallel()
	st := &writeCounter{Store: memstore.New()}
	release, running := make(chan struct{}), make(chan string, 4)
	eng := startQueueEngine(t, st, 1, 4, store.AuditFull, func(ctx context.Context, j noteJob) error {
		running <- j.Note
		if j.Note == "block" {
			<-release
		}
		return nil
	})
	events, stop := eng.Subscribe(64)
	defer stop()
	ctx := context.Background()
	dispatch := func(note string, opts *evertask.DispatchOpts) uuid.UUID {
		t.Helper()
		if opts == nil {
			opts = &evertask.DispatchOpts{}
		}
		opts.Queue = "q"
		id, err := eng.Dispatch(ctx, noteJob{Note: note}, opts)
		if err != nil {
			t.Fatalf("dispatch %s: %v", note, err)
		}
		return id
	}
	wait := func(id uuid.UUID) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		row, err := eng.Wait(wctx, id)
		if err != nil || row.Status != store.StatusCompleted {
			t.Fatalf("wait for %s: %v, %v; want Completed", id, row, err)
		}
	}
	writes := func() (persisted, claimedNew []uuid.UUID, toQueued, toInProgress int, fetched []uuid.UUID) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return slices.Clone(st.persisted), slices.Clone(st.claimedNew), st.toQueued, st.toInProgress, slices.Clone(st.fetched)
	}

	// Idle worker: one write, straight to the worker.
	fast := dispatch("fast", nil)
	wait(fast)
	persisted, claimedNew, toQueued, toInProgress, fetched := writes()
	if !slices.Equal(claimedNew, []uuid.UUID{fast}) || len(persisted) != 0 || toQueued != 0 || toInProgress != 0 || len(fetched) != 0 {
		t.Fatalf("a dispatch to an idle worker wrote: persisted %v, persisted claimed %v, %d Queued and %d InProgress transitions, fetched %v; "+
			"want one persist already claimed and nothing else before it ran", persisted, claimedNew, toQueued, toInProgress, fetched)
	}
	if got, want := statusHistory(t, st, fast), []store.Status{store.StatusCompleted, store.StatusInProgress, store.StatusQueued}; !slices.Equal(got, want) {
		t.Errorf("the fast task's status history (newest first) is %v, want %v", got, want)
	}
	if row, _ := st.Get(ctx, fast); row.Owner != "" || !row.LeaseUntil.IsZero() {
		t.Errorf("the fast task's finished row keeps the lease of %q until %s", row.Owner, row.LeaseUntil)
	}

	// The one worker busy: the next dispatch is a plain persist, and runs
	// once the worker is free.
	block := dispatch("block", nil)
	if note := <-running; note != "fast" {
		t.Fatalf("ran %q, want the fast task first", note)
	}
	if note := <-running; note != "block" {
		t.Fatalf("ran %q, want the blocking task", note)
	}
	busy := dispatch("busy", nil)
	later := dispatch("later", &evertask.DispatchOpts{Delay: 10 * time.Millisecond})
	persisted, claimedNew, _, _, _ = writes()
	if !slices.Equal(claimedNew, []uuid.UUID{fast, block}) || !slices.Equal(persisted, []uuid.UUID{busy, later}) {
		t.Errorf("with the worker busy: persisted %v, persisted claimed %v; want the busy and the delayed task persisted plainly and only the first two claimed",
			persisted, claimedNew)
	}
	close(release)
	for _, id := range []uuid.UUID{block, busy, later} {
		wait(id)
	}

	// Each task started once and completed once.
	stop()
	counts := map[uuid.UUID]map[evertask.EventType]int{}
	for ev := range events {
		if counts[ev.TaskID] == nil {
			counts[ev.TaskID] = map[evertask.EventType]int{}
		}
		counts[ev.TaskID][ev.Type]++
	}
	for _, id := range []uuid.UUID{fast, block, busy, later} {
		if c := counts[id]; c[evertask.EventStarted] != 1 || c[evertask.EventCompleted] != 1 || len(c) != 2 {
			t.Errorf("task %s events %v, want started and completed once each", id, c)
		}
	}
}

// TestDispatchManyClaimsForIdleWorkers: a DispatchMany whose tasks all
// find an idle worker of their queue stores them already claimed in one
// write, and they run without a Queued or InProgress transition and
// without a fetcher's claim. A batch larger than the idle workers takes
// the plain path whole (one all-or-none write carries rows either plain or
// all claimed).
func TestDispatchManyClaimsForIdleWorkers(t *testing.T) {
	t.Parallel()
	st := &writeCounter{Store: memstore.New()}
	eng := startQueueEngine(t, st, 3, 8, store.AuditFull, nil)
	ctx := context.Background()
	dispatchMany := func(n int) []uuid.UUID {
		t.Helper()
		tasks := make([]evertask.Task, n)
		for i := range tasks {
			tasks[i] = noteJob{Note: "many"}
		}
		ids, err := eng.DispatchMany(ctx, tasks, &evertask.DispatchOpts{Queue: "q"})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			row, err := eng.Wait(wctx, id)
			cancel()
			if err != nil || row.Status != store.StatusCompleted {
				t.Fatalf("wait for %s: %v, %v; want Completed", id, row, err)
			}
		}
		return ids
	}

	fast := dispatchMany(3)
	st.mu.Lock()
	if !slices.Equal(st.claimedNew, fast) || st.claimCalls != 1 || len(st.persisted) != 0 || st.toQueued != 0 || st.toInProgress != 0 || len(st.fetched) != 0 {
		t.Errorf("a DispatchMany of 3 tasks to 3 idle workers wrote: persisted %v, persisted claimed %v in %d calls, %d Queued and %d InProgress transitions, fetched %v; "+
			"want the 3 persisted claimed in one call and nothing else before they ran",
			st.persisted, st.claimedNew, st.claimCalls, st.toQueued, st.toInProgress, st.fetched)
	}
	st.mu.Unlock()
	if got, want := statusHistory(t, st, fast[0]), []store.Status{store.StatusCompleted, store.StatusInProgress, store.StatusQueued}; !slices.Equal(got, want) {
		t.Errorf("a fast task's status history (newest first) is %v, want %v", got, want)
	}

	slow := dispatchMany(4)
	st.mu.Lock()
	if !slices.Equal(st.claimedNew, fast) || !slices.Equal(st.persisted, slow) {
		t.Errorf("a DispatchMany of 4 tasks to 3 idle workers: persisted %v, persisted claimed %v; want the 4 persisted plainly", st.persisted, st.claimedNew)
	}
	st.mu.Unlock()
}

// gatedClaims is the memory store whose first PersistClaimed waits for a
// gate, so a second dispatch queues behind it in the engine's write lane.
type gatedClaims struct {
	*memstore.Store
	entered, gate chan struct{}
	once          sync.Once
}

func (g *gatedClaims) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.Store.PersistClaimed(ctx, p)
}

// TestAbandonedClaimOnDispatchIsGivenBack: a dispatch whose caller gives
// up while its claimed write waits behind another is told it failed, but
// the write still lands; the engine gives the row back at once, so the
// task runs now instead of after its lease (30 s) with a recovery failure
// counted.
func TestAbandonedClaimOnDispatchIsGivenBack(t *testing.T) {
	t.Parallel()
	st := &gatedClaims{Store: memstore.New(), entered: make(chan struct{}), gate: make(chan struct{})}
	eng := startQueueEngine(t, st, 2, 4, store.AuditFull, nil)
	firstDone := make(chan error, 1)
	go func() {
		_, err := eng.Dispatch(context.Background(), noteJob{Note: "first"}, &evertask.DispatchOpts{Queue: "q"})
		firstDone <- err
	}()
	<-st.entered // the first write leads the lane and waits at the gate
	ctx, cancel := context.WithCancel(context.Background())
	secondDone := make(chan error, 1)
	go func() {
		_, err := eng.Dispatch(ctx, noteJob{Note: "second"}, &evertask.DispatchOpts{Queue: "q"})
		secondDone <- err
	}()
	time.Sleep(300 * time.Millisecond) // the second write queues behind the first (its dispatch takes microseconds)
	cancel()
	if err := <-secondDone; err == nil {
		t.Fatal("the dispatch whose ctx ended while its write waited succeeded; want its ctx error")
	}
	close(st.gate)
	if err := <-firstDone; err != nil {
		t.Fatalf("first dispatch: %v", err)
	}
	// The second row was written claimed by the batch after its caller
	// left; it must run now, not after its lease.
	deadline := time.Now().Add(5 * time.Second)
	for {
		page, err := st.List(context.Background(), store.Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, row := range page.Tasks {
			if row.Status == store.StatusCompleted && row.RecoveryFailures == 0 {
				done++
			}
		}
		if len(page.Tasks) == 2 && done == 2 {
			return
		}
		if time.Now().After(deadline) {
			// The lane's writer sends the queued write after the first
			// caller got its answer, so one row alone is a verdict only now.
			if len(page.Tasks) == 1 && page.Tasks[0].Status == store.StatusCompleted {
				t.Fatal("the second dispatch never reached the write lane in 300 ms (a starved machine?): nothing to give back")
			}
			for _, row := range page.Tasks {
				t.Logf("%s: %s, owner %q, lease until %s, recovery failures %d", row.ID, row.Status, row.Owner, row.LeaseUntil, row.RecoveryFailures)
			}
			t.Fatalf("%d rows, %d completed without a recovery failure 5 s after the gate opened; want both", len(page.Tasks), done)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lateAnswerClaims is the memory store whose first PersistClaimed waits
// for a gate, then writes, and answers with its caller's ctx error if that
// ended meanwhile: a write that committed while its answer was lost to the
// cancel, as a network store's can. With releaseGate set, the give-back of
// such a row (a fenced Transition to Queued) waits for it too.
type lateAnswerClaims struct {
	*memstore.Store
	entered, gate  chan struct{}
	once           sync.Once
	releaseEntered chan struct{}
	releaseGate    chan struct{}
	released       atomic.Bool // the give-back returned
}

func (g *lateAnswerClaims) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.gate
	}
	if err := g.Store.PersistClaimed(context.WithoutCancel(ctx), p); err != nil {
		return err
	}
	return ctx.Err()
}

func (g *lateAnswerClaims) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if g.releaseGate == nil || p.To != store.StatusQueued || p.HeldBy == "" {
		return g.Store.Transition(ctx, p)
	}
	close(g.releaseEntered)
	<-g.releaseGate
	defer g.released.Store(true)
	return g.Store.Transition(ctx, p)
}

// networkClaims is lateAnswerClaims taking concurrent writes, as the
// network stores do: the engine then runs a write whose caller's ctx can
// end detached from it.
type networkClaims struct{ *lateAnswerClaims }

func (networkClaims) MaxConcurrentWrites() int { return 4 }

// abandonLeaderClaim starts an engine of one worker on st (with network,
// as a network store) and makes a dispatch (with many, a DispatchMany of
// one task) that leads its write lane alone, whose ctx ends while its
// write is in flight; it returns once that dispatch returned (an error)
// and the write was let through.
func abandonLeaderClaim(t *testing.T, st *lateAnswerClaims, many, network bool) *evertask.Engine {
	t.Helper()
	var s store.Store = st
	if network {
		s = networkClaims{st}
	}
	eng, err := evertask.New(s, &evertask.Config{Logger: quiet(),
		Queues: []evertask.QueueConfig{{Name: "q", Workers: 1, Capacity: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	err = evertask.Register[noteJob](eng, evertask.HandlerFunc[noteJob](func(ctx context.Context, j noteJob) error { return nil }),
		&evertask.HandlerOpts{Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var err error
		if many {
			_, err = eng.DispatchMany(ctx, []evertask.Task{noteJob{Note: "left"}}, &evertask.DispatchOpts{Queue: "q"})
		} else {
			_, err = eng.Dispatch(ctx, noteJob{Note: "left"}, &evertask.DispatchOpts{Queue: "q"})
		}
		done <- err
	}()
	<-st.entered // the dispatch's own write is in flight
	cancel()
	select {
	case err = <-done: // it stopped waiting when its ctx ended
		close(st.gate)
	case <-time.After(2 * time.Second):
		if network {
			t.Error("the dispatch did not return within 2 s of its ctx ending while its write was in flight")
		}
		close(st.gate) // it waits for its write, which answers with the ctx error
		err = <-done
	}
	if err == nil {
		t.Fatal("the dispatch whose ctx ended while its write was in flight succeeded; want its ctx error")
	}
	return eng
}

// TestAbandonedLeaderClaimIsGivenBack: a dispatch whose caller gives up
// while its own claimed write is in flight (it leads the write lane) is
// told it failed; when the write landed anyway, the engine gives the row
// back at once, so the task runs now instead of after its lease (30 s)
// with a recovery failure counted. Without the report of the leader's own
// write, the row stays InProgress and the test fails at its deadline. The
// same for the batch write of a DispatchMany. An in-process store's call
// is waited for (the handoff to a goroutine would cost more than its
// write); a network store's runs detached and its caller returns when its
// ctx ends.
func TestAbandonedLeaderClaimIsGivenBack(t *testing.T) {
	t.Parallel()
	for _, many := range []bool{false, true} {
		for _, network := range []bool{false, true} {
			t.Run(fmt.Sprintf("many=%t/network=%t", many, network), func(t *testing.T) {
				t.Parallel()
				testAbandonedLeaderClaim(t, many, network)
			})
		}
	}
}

func testAbandonedLeaderClaim(t *testing.T, many, network bool) {
	st := &lateAnswerClaims{Store: memstore.New(), entered: make(chan struct{}), gate: make(chan struct{})}
	eng := abandonLeaderClaim(t, st, many, network)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		page, err := st.List(context.Background(), store.Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tasks) == 1 && page.Tasks[0].Status == store.StatusCompleted && page.Tasks[0].RecoveryFailures == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, row := range page.Tasks {
				t.Logf("%s: %s, owner %q, lease until %s, recovery failures %d", row.ID, row.Status, row.Owner, row.LeaseUntil, row.RecoveryFailures)
			}
			t.Fatalf("%d rows 5 s after the abandoned write landed; want one, completed without a recovery failure", len(page.Tasks))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdownWaitsForAbandonedClaimRelease: the give-back of a row
// written claimed for a caller that left runs on its own goroutine;
// Shutdown waits for it, and leaves no goroutine behind. Not parallel, so
// that goleak sees only this test's goroutines. The give-back is held
// until Shutdown returned or 500 ms passed: a Shutdown that does not wait
// for it returns first (unless it took longer than that by itself).
func TestShutdownWaitsForAbandonedClaimRelease(t *testing.T) {
	before := goleak.IgnoreCurrent()
	st := &lateAnswerClaims{Store: memstore.New(), entered: make(chan struct{}), gate: make(chan struct{}),
		releaseEntered: make(chan struct{}), releaseGate: make(chan struct{})}
	eng := abandonLeaderClaim(t, st, false, true)
	select {
	case <-st.releaseEntered:
	case <-time.After(5 * time.Second):
		t.Fatal("the row written claimed for a caller that left was not given back within 5 s")
	}
	type result struct {
		err      error
		released bool
	}
	shutdown := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := eng.Shutdown(ctx)
		shutdown <- result{err, st.released.Load()}
	}()
	var res result
	select {
	case res = <-shutdown:
		close(st.releaseGate)
	case <-time.After(500 * time.Millisecond):
		close(st.releaseGate)
		res = <-shutdown
	}
	if res.err != nil {
		t.Fatalf("Shutdown: %v", res.err)
	}
	if !res.released {
		t.Error("Shutdown returned while the give-back of an abandoned claim was still running")
	}
	goleak.VerifyNone(t, before)
}

// startQueueEngine starts an engine on st with one queue "q" of workers
// workers whose noteJob handler is h (nil: one that returns nil), and shuts
// it down at the end of the test.
func startQueueEngine(t *testing.T, st store.Store, workers, capacity int, audit store.AuditLevel, h func(context.Context, noteJob) error) *evertask.Engine {
	t.Helper()
	if h == nil {
		h = func(context.Context, noteJob) error { return nil }
	}
	eng, err := evertask.New(st, &evertask.Config{Logger: quiet(), AuditLevel: audit,
		Queues: []evertask.QueueConfig{{Name: "q", Workers: workers, Capacity: capacity}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	if err := evertask.Register[noteJob](eng, evertask.HandlerFunc[noteJob](h), &evertask.HandlerOpts{Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return eng
}

// statusHistory is the statuses of id's audit trail, newest first.
func statusHistory(t *testing.T, st store.Store, id uuid.UUID) []store.Status {
	t.Helper()
	audits, err := st.StatusAudits(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Status
	for _, a := range audits {
		got = append(got, a.Status)
	}
	return got
}
