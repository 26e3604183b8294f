package sqlitestore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/sqlitestore"
)

// The tests of cluster mode that depend on SQLite being a file shared by
// processes: claims and writes across stores and processes, and the
// flock-based liveness of nodes. The contract itself is checked by the
// conformance suite.

// queued returns a row of queue q that is due at due (its ScheduledAt, or
// CreatedAt when zero).
func queued(t *testing.T, q string, status store.Status, created, scheduled time.Time) *store.Task {
	t.Helper()
	task := newTask(t)
	task.Queue, task.Status, task.CreatedAt, task.ScheduledAt = q, status, created, scheduled
	return task
}

// wallNow is the store's clock as a test reads it: the host's.
func wallNow() time.Time { return store.NormalizeTime(time.Now()) }

func TestClaimTakesDueRowsInOrder(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	now := wallNow()
	past := now.Add(-time.Hour)
	// In claim order: DueAt, then CreatedAt, then id.
	a := queued(t, "q", store.StatusWaitingQueue, past, time.Time{})                       // due at past
	b := queued(t, "q", store.StatusQueued, past.Add(-time.Minute), past.Add(time.Second)) // due later than a
	b.AuditLevel = store.AuditNone
	c := queued(t, "q", store.StatusCompleted, past.Add(-time.Hour), time.Time{}) // a series: due at NextRunAt
	c.Recurring, c.NextRunAt, c.AuditLevel = true, past.Add(2*time.Second), store.AuditMinimal
	d := queued(t, "q", store.StatusServiceStopped, past.Add(3*time.Second), time.Time{})
	// Never claimed now: not due, held, finished, exhausted, past RunUntil,
	// another queue.
	future := queued(t, "q", store.StatusWaitingQueue, past, now.Add(time.Hour))
	sooner := queued(t, "q", store.StatusQueued, past, now.Add(time.Minute))
	running := queued(t, "q", store.StatusInProgress, past, time.Time{})
	done := queued(t, "q", store.StatusCompleted, past, time.Time{})
	exhausted := queued(t, "q", store.StatusQueued, past, time.Time{})
	exhausted.Recurring, exhausted.RunCount, exhausted.MaxRuns = true, 3, 3
	expired := queued(t, "q", store.StatusQueued, past, time.Time{})
	expired.Recurring, expired.RunUntil = true, now.Add(-time.Minute)
	other := queued(t, "other", store.StatusQueued, past.Add(-time.Hour), time.Time{})
	all := []*store.Task{a, b, c, d, future, sooner, running, done, exhausted, expired, other}
	if err := s.PersistMany(t.Context(), all); err != nil {
		t.Fatal(err)
	}

	res, err := s.Claim(t.Context(), store.ClaimParams{Owner: "n1", Queue: "q", Limit: 3, LeaseFor: time.Minute, Now: base})
	if err != nil {
		t.Fatal(err)
	}
	if after := wallNow(); res.StoreNow.Before(now) || res.StoreNow.After(after) {
		t.Fatalf("StoreNow %v is not the host clock between %v and %v", res.StoreNow, now, after)
	}
	if got, want := ids(res.Tasks), ids([]*store.Task{a, b, c}); !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v (a, b, c in DueAt order)", got, want)
	}
	if !res.NextDue.Equal(sooner.ScheduledAt) {
		// d is left and due: only rows not due yet count.
		t.Fatalf("NextDue = %v, want the earliest not-yet-due row's %v", res.NextDue, sooner.ScheduledAt)
	}
	for _, task := range res.Tasks {
		if task.Status != store.StatusInProgress || task.Owner != "n1" || !task.LeaseUntil.Equal(res.StoreNow.Add(time.Minute)) {
			t.Fatalf("claimed row %+v: want InProgress, owner n1, lease until StoreNow+1m", task)
		}
		got, err := s.Get(t.Context(), task.ID)
		if err != nil || !got.LeaseUntil.Equal(task.LeaseUntil) || got.Owner != "n1" || got.Status != store.StatusInProgress {
			t.Fatalf("stored row %+v, %v differs from the claim's %+v", got, err, task)
		}
	}
	// Audits as if each row had gone through Queued: a (Full, WaitingQueue)
	// both, b (None) nothing, c (Minimal: no error, no audit) nothing.
	wantAudits(t, s, a.ID, store.StatusInProgress, store.StatusQueued)
	wantAudits(t, s, b.ID)
	wantAudits(t, s, c.ID)

	res, err = s.Claim(t.Context(), store.ClaimParams{Owner: "n2", Queue: "q", Limit: 10, LeaseFor: time.Minute, Now: base})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res.Tasks), ids([]*store.Task{d}); !slices.Equal(got, want) {
		t.Fatalf("second claim took %v, want only d %v", got, want)
	}
	if !res.NextDue.Equal(sooner.ScheduledAt) {
		t.Fatalf("NextDue = %v, want the earliest not-yet-due row's %v", res.NextDue, sooner.ScheduledAt)
	}
	for _, task := range []*store.Task{future, sooner, running, done, exhausted, expired, other} {
		got, err := s.Get(t.Context(), task.ID)
		if err != nil || got.Status != task.Status || got.Owner != "" {
			t.Fatalf("row that is not claimable now changed: %+v, %v", got, err)
		}
	}
}

func ids(tasks []*store.Task) []uuid.UUID {
	out := make([]uuid.UUID, len(tasks))
	for i, task := range tasks {
		out[i] = task.ID
	}
	return out
}

// wantAudits checks a row's status audits, newest first.
func wantAudits(t *testing.T, s *sqlitestore.Store, id uuid.UUID, want ...store.Status) {
	t.Helper()
	audits, err := s.StatusAudits(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]store.Status, len(audits))
	for i, a := range audits {
		got[i] = a.Status
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audits of %s = %v, want %v", id, got, want)
	}
}

// TestConcurrentClaimsAcrossStores hammers Claim from many goroutines over
// several stores on one file, each with its own writer connection as a
// separate process has: every row must be claimed exactly once, and no
// SQLITE_BUSY may surface.
func TestConcurrentClaimsAcrossStores(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "evertask.db")
	stores := []*sqlitestore.Store{open(t, path), open(t, path), open(t, path), open(t, path)}
	const rows = 600
	tasks := make([]*store.Task, rows)
	for i := range tasks {
		tasks[i] = queued(t, "q", store.StatusQueued, base.Add(time.Duration(i)*time.Microsecond), time.Time{})
	}
	if err := stores[0].PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		claimed = map[uuid.UUID]string{}
		wg      sync.WaitGroup
	)
	for g := range 32 {
		s := stores[g%len(stores)]
		owner := fmt.Sprint("node-", g)
		wg.Go(func() {
			for {
				res, err := s.Claim(t.Context(), store.ClaimParams{Owner: owner, Queue: "q", Limit: 3, LeaseFor: time.Minute, Now: base})
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(res.Tasks) == 0 {
					return
				}
				for _, task := range res.Tasks {
					mu.Lock()
					if prev, dup := claimed[task.ID]; dup {
						t.Errorf("row %s claimed by %s and %s", task.ID, prev, owner)
					}
					claimed[task.ID] = owner
					mu.Unlock()
					// A fenced write between the claims, from the holder.
					applied, err := s.Transition(t.Context(), store.TransitionParams{ID: task.ID, To: store.StatusCompleted,
						From: []store.Status{store.StatusInProgress}, Now: base, HeldBy: owner})
					if err != nil || !applied {
						t.Errorf("holder's fenced Completed: applied %v, %v", applied, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != rows {
		t.Fatalf("%d rows claimed, want %d", len(claimed), rows)
	}
}

func TestFencedWritesAndLeases(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	now := wallNow()
	held := func(owner string, until time.Time) *store.Task {
		task := queued(t, "q", store.StatusInProgress, base, time.Time{})
		task.Owner, task.LeaseUntil, task.RecoveryFailures = owner, until, 2
		mustPersist(t, s, task)
		return task
	}
	transition := func(p store.TransitionParams) bool {
		t.Helper()
		p.Now = base
		applied, err := s.Transition(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		return applied
	}

	live := held("n1", now.Add(time.Hour))
	if transition(store.TransitionParams{ID: live.ID, To: store.StatusCompleted, HeldBy: "n2"}) {
		t.Fatal("a write fenced on another owner applied")
	}
	if transition(store.TransitionParams{ID: live.ID, To: store.StatusQueued, IfRecoverable: true}) {
		t.Fatal("IfRecoverable applied to a row under a live lease")
	}
	if !transition(store.TransitionParams{ID: live.ID, To: store.StatusCompleted, HeldBy: "n1"}) {
		t.Fatal("the holder's fenced write did not apply")
	}
	got, _ := s.Get(t.Context(), live.ID)
	if got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 0 || got.Status != store.StatusCompleted {
		t.Fatalf("after the fenced Completed: %+v; want the lease cleared and RecoveryFailures 0", got)
	}

	lapsed := held("n1", now.Add(-time.Second))
	if transition(store.TransitionParams{ID: lapsed.ID, To: store.StatusCompleted, HeldBy: "n1"}) {
		t.Fatal("a fenced write applied on an expired lease")
	}
	before := wallNow()
	if !transition(store.TransitionParams{ID: lapsed.ID, To: store.StatusInProgress, IfRecoverable: true,
		Lease: &store.Lease{Owner: "n2", For: time.Minute}}) {
		t.Fatal("IfRecoverable with a Lease refused a row whose lease expired")
	}
	got, _ = s.Get(t.Context(), lapsed.ID)
	if got.Owner != "n2" || got.LeaseUntil.Before(before.Add(time.Minute)) || got.LeaseUntil.After(wallNow().Add(time.Minute)) ||
		got.RecoveryFailures != 2 {
		t.Fatalf("after the take-over: %+v; want owner n2, lease store clock + 1m, RecoveryFailures kept", got)
	}
	// A move to InProgress without a Lease keeps the lease; any other
	// unfenced write clears it.
	if !transition(store.TransitionParams{ID: lapsed.ID, To: store.StatusInProgress}) {
		t.Fatal("InProgress again did not apply")
	}
	if got, _ = s.Get(t.Context(), lapsed.ID); got.Owner != "n2" {
		t.Fatalf("InProgress without a Lease dropped the lease: %+v", got)
	}
	if !transition(store.TransitionParams{ID: lapsed.ID, To: store.StatusQueued}) {
		t.Fatal("Queued did not apply")
	}
	if got, _ = s.Get(t.Context(), lapsed.ID); got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 2 {
		t.Fatalf("an unfenced write out of InProgress: %+v; want the lease cleared, RecoveryFailures kept", got)
	}

	// TransitionMany: the fence per row, at one clock.
	x, y := held("n1", now.Add(time.Hour)), held("n2", now.Add(time.Hour))
	applied, err := s.TransitionMany(t.Context(), []store.TransitionParams{
		{ID: x.ID, To: store.StatusCompleted, Now: base, HeldBy: "n1", AuditLevel: store.AuditFull},
		{ID: y.ID, To: store.StatusCompleted, Now: base, HeldBy: "n1", AuditLevel: store.AuditFull},
	})
	if err != nil || !applied[0] || applied[1] {
		t.Fatalf("TransitionMany fenced on n1 = %v, %v; want [true false]", applied, err)
	}
	wantAudits(t, s, x.ID, store.StatusCompleted)
	wantAudits(t, s, y.ID)

	// CompleteRecurringRun and EndSeries.
	series := held("n1", now.Add(time.Hour))
	series.Recurring, series.NextRunAt = true, base
	if err := s.UpdateDefinition(t.Context(), series); err != nil {
		t.Fatal(err)
	}
	run := store.RunParams{ID: series.ID, Now: base, Status: store.StatusCompleted, NextRunAt: base.Add(time.Hour), HeldBy: "n2"}
	if ok, err := s.CompleteRecurringRun(t.Context(), run); err != nil || ok {
		t.Fatalf("CompleteRecurringRun fenced on another owner = %v, %v", ok, err)
	}
	run.HeldBy = "n1"
	if ok, err := s.CompleteRecurringRun(t.Context(), run); err != nil || !ok {
		t.Fatalf("CompleteRecurringRun by the holder = %v, %v", ok, err)
	}
	got, _ = s.Get(t.Context(), series.ID)
	if got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 0 || got.RunCount != 1 {
		t.Fatalf("after the fenced run: %+v", got)
	}
	ended := held("n1", now.Add(time.Hour))
	if ok, err := s.EndSeries(t.Context(), store.EndSeriesParams{ID: ended.ID, Status: store.StatusFailed, Now: base}); err != nil || !ok {
		t.Fatalf("EndSeries = %v, %v", ok, err)
	}
	if got, _ = s.Get(t.Context(), ended.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Fatalf("EndSeries kept the lease: %+v", got)
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	now := wallNow()
	mk := func(status store.Status, owner string, until time.Time) uuid.UUID {
		task := queued(t, "q", status, base, time.Time{})
		task.Owner, task.LeaseUntil = owner, until
		mustPersist(t, s, task)
		return task.ID
	}
	mine := mk(store.StatusInProgress, "n1", now.Add(time.Second))
	theirs := mk(store.StatusInProgress, "n2", now.Add(time.Hour))
	expired := mk(store.StatusInProgress, "n1", now.Add(-time.Millisecond))
	finished := mk(store.StatusCompleted, "", time.Time{})
	missing := uuid.Must(uuid.NewV7())
	before := wallNow()
	lost, err := s.Renew(t.Context(), store.RenewParams{Owner: "n1", LeaseFor: time.Hour,
		IDs: []uuid.UUID{mine, theirs, expired, finished, missing, theirs}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uuid.UUID{theirs, expired, finished, missing}; !slices.Equal(lost, want) {
		t.Fatalf("lost = %v, want %v", lost, want)
	}
	got, _ := s.Get(t.Context(), mine)
	if got.LeaseUntil.Before(before.Add(time.Hour)) || got.LeaseUntil.After(wallNow().Add(time.Hour)) {
		t.Fatalf("renewed lease until %v, want store clock + 1h", got.LeaseUntil)
	}
	if got, _ := s.Get(t.Context(), expired); !got.LeaseUntil.Before(now) {
		t.Fatalf("an expired lease was revived: %+v", got)
	}
	if lost, err := s.Renew(t.Context(), store.RenewParams{Owner: "n1", LeaseFor: time.Hour}); err != nil || lost != nil {
		t.Fatalf("Renew of nothing = %v, %v", lost, err)
	}
}

func TestRescue(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	now := wallNow()
	var order time.Duration
	mk := func(owner string, until time.Time, failures int, recurring bool) *store.Task {
		order += time.Second
		task := queued(t, "q", store.StatusInProgress, base.Add(order), time.Time{})
		task.Owner, task.LeaseUntil, task.RecoveryFailures, task.Error = owner, until, failures, "earlier"
		if recurring {
			task.Recurring, task.NextRunAt = true, base.Add(time.Hour)
		}
		mustPersist(t, s, task)
		return task
	}
	expired := mk("n1", now.Add(-time.Second), 0, false)
	noLease := mk("", time.Time{}, 0, false)
	gone := mk("dead", now.Add(time.Hour), 0, false)
	poisoned := mk("n1", now.Add(-time.Second), 2, false)
	poisonedSeries := mk("n1", now.Add(-time.Second), 2, true)
	live := mk("n1", now.Add(time.Hour), 0, false)

	p := store.RescueParams{Owners: []string{"dead"}, Limit: 3, MaxFailures: 3, PoisonError: "poisoned: taken over 3 times", Now: base}
	first, err := s.Rescue(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.Rescue(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(append(first, rest...)), ids([]*store.Task{expired, noLease, gone, poisoned, poisonedSeries}); !slices.Equal(got, want) {
		t.Fatalf("rescued %v, want %v (limit 3 per call, creation order)", got, want)
	}
	for _, task := range append(first, rest...) {
		stored, _ := s.Get(t.Context(), task.ID)
		if stored.Owner != "" || !stored.LeaseUntil.IsZero() || stored.Status != task.Status || stored.RecoveryFailures != task.RecoveryFailures {
			t.Fatalf("rescued row %+v is stored as %+v", task, stored)
		}
	}
	for _, task := range first {
		if task.Status != store.StatusQueued || task.RecoveryFailures != 1 || task.Error != "earlier" {
			t.Fatalf("re-queued row %+v: want Queued, RecoveryFailures 1, Error kept", task)
		}
		wantAudits(t, s, task.ID, store.StatusQueued)
	}
	for _, task := range rest {
		if task.Status != store.StatusFailed || task.Error != p.PoisonError || task.RecoveryFailures != 3 {
			t.Fatalf("poisoned row %+v", task)
		}
		if !task.NextRunAt.IsZero() {
			t.Fatalf("poisoned row %+v: a series loses its next run", task)
		}
		wantAudits(t, s, task.ID, store.StatusFailed)
	}
	if got, _ := s.Get(t.Context(), live.ID); got.Status != store.StatusInProgress || got.Owner != "n1" {
		t.Fatalf("a live lease was rescued: %+v", got)
	}
	if again, err := s.Rescue(t.Context(), p); err != nil || len(again) != 0 {
		t.Fatalf("third Rescue = %v, %v; want nothing left", again, err)
	}
}

// TestLockedFileIsUnavailable: a claim that waits out the busy timeout for
// another process's write lock is ErrUnavailable, which the engine retries.
func TestLockedFileIsUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "evertask.db")
	s, err := sqlitestore.Open(t.Context(), path, &sqlitestore.Config{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := rawDB(t, path).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Claim(t.Context(), store.ClaimParams{Owner: "n", Queue: "q", Limit: 1, LeaseFor: time.Minute, Now: base})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Claim while another connection holds the write lock: %v", err)
	}
	if _, err := s.Renew(t.Context(), store.RenewParams{Owner: "n", IDs: []uuid.UUID{uuid.New()}, LeaseFor: time.Minute}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Renew while another connection holds the write lock: %v", err)
	}
	conn.ExecContext(t.Context(), "ROLLBACK")
}

func TestNodesInProcess(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	other := open(t, path)
	started := base.Add(-time.Hour)
	n1 := store.Node{ID: "n1", Host: "h", PID: 10, StartedAt: started, Queues: map[string]int{"default": 4, "mail": 1}}
	n2 := store.Node{ID: "host/with spaces:1", PID: 11, StartedAt: started.Add(-time.Minute)}
	if err := s.JoinCluster(t.Context(), n1); err != nil {
		t.Fatal(err)
	}
	if err := other.JoinCluster(t.Context(), n2); err != nil {
		t.Fatal(err)
	}
	before := wallNow()
	n1.Queues["default"] = 8
	if err := s.JoinCluster(t.Context(), n1); err != nil { // a heartbeat
		t.Fatal(err)
	}
	nodes, err := s.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != n2.ID || nodes[1].ID != n1.ID {
		t.Fatalf("Nodes = %+v; want n2 then n1, oldest first", nodes)
	}
	if got := nodes[1]; got.Queues["default"] != 8 || got.Host != "h" || got.PID != 10 || !got.StartedAt.Equal(started) ||
		got.LastHeartbeat.Before(before) || got.Gone {
		t.Fatalf("n1 = %+v", got)
	}
	if nodes[0].Gone {
		t.Fatal("a node another store of this process holds is Gone")
	}
	// Every node has its own lock file, whatever its id.
	files, _ := filepath.Glob(filepath.Join(path+".nodes", "*.lock"))
	if len(files) != 2 || !slices.Contains(files, filepath.Join(path+".nodes", "n1.lock")) {
		t.Fatalf("lock files %v", files)
	}

	// The same id from a second open of the lock file, as from another
	// live process, is refused once the busy timeout passes.
	third, err := sqlitestore.Open(t.Context(), path, &sqlitestore.Config{BusyTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if err := third.JoinCluster(t.Context(), n2); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("JoinCluster of a node id a live store holds: %v", err)
	}

	// Close releases the lock without leaving: the node is Gone.
	other.Close()
	nodes, err = s.Nodes(t.Context())
	if err != nil || len(nodes) != 2 || !nodes[0].Gone || nodes[1].Gone {
		t.Fatalf("after the other store closed: %+v, %v; want n2 Gone, n1 not", nodes, err)
	}
	// Now the id is free to take over, and a store may leave any node.
	if err := third.JoinCluster(t.Context(), n2); err != nil {
		t.Fatalf("JoinCluster of a gone node's id: %v", err)
	}
	if err := s.LeaveCluster(t.Context(), n1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaveCluster(t.Context(), "never-joined"); err != nil {
		t.Fatalf("leaving an unknown node: %v", err)
	}
	if err := third.LeaveCluster(t.Context(), n2.ID); err != nil {
		t.Fatal(err)
	}
	if nodes, err := s.Nodes(t.Context()); err != nil || len(nodes) != 0 {
		t.Fatalf("after both left: %+v, %v", nodes, err)
	}
	if files, _ := filepath.Glob(filepath.Join(path+".nodes", "*")); len(files) != 0 {
		t.Fatalf("lock files left after leaving: %v", files)
	}
	if err := s.JoinCluster(t.Context(), store.Node{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("JoinCluster without an id: %v", err)
	}
}

// The child processes of the tests below: the test binary run again with
// childEnv set, dispatched from TestMain.
const (
	childEnv     = "EVERTASK_SQLITE_TEST_CHILD" // the mode: node or claim
	childPathEnv = "EVERTASK_SQLITE_TEST_PATH"
	childIDEnv   = "EVERTASK_SQLITE_TEST_ID"
)

// runChild runs one child mode and returns the exit code. Every mode ends
// when its stdin closes, so a child never outlives its test.
func runChild(mode string) int {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, os.Getenv(childPathEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	id := os.Getenv(childIDEnv)
	in := bufio.NewReader(os.Stdin)
	switch mode {
	case "node": // join, say so, hold the node until stdin closes
		if err := s.JoinCluster(ctx, store.Node{ID: id, PID: os.Getpid(), StartedAt: time.Now()}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("joined")
		io.Copy(io.Discard, in)
		return 0
	case "claim": // on "go", claim and complete rows until none is left
		if _, err := in.ReadString('\n'); err != nil {
			return 1
		}
		for {
			res, err := s.Claim(ctx, store.ClaimParams{Owner: id, Queue: "q", Limit: 4, LeaseFor: time.Minute, Now: time.Now()})
			if err != nil {
				fmt.Fprintln(os.Stderr, "claim:", err)
				return 1
			}
			if len(res.Tasks) == 0 {
				return 0
			}
			for _, task := range res.Tasks {
				applied, err := s.Transition(ctx, store.TransitionParams{ID: task.ID, To: store.StatusCompleted,
					From: []store.Status{store.StatusInProgress}, Now: time.Now(), HeldBy: id})
				if err != nil || !applied {
					fmt.Fprintln(os.Stderr, "complete:", applied, err)
					return 1
				}
				fmt.Println(task.ID)
			}
		}
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	err   strings.Builder
}

// startChild runs the test binary as a child in mode on the database path.
func startChild(t *testing.T, mode, path, id string) *child {
	t.Helper()
	c := &child{cmd: exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), childEnv+"="+mode, childPathEnv+"="+path, childIDEnv+"="+id)
	c.cmd.Stderr = &c.err
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewScanner(stdout)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	return c
}

// TestClaimsAcrossProcesses runs three processes that claim and complete
// the rows of one file at once: each row is taken exactly once, and none
// of them sees a busy error.
func TestClaimsAcrossProcesses(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	const rows = 300
	tasks := make([]*store.Task, rows)
	for i := range tasks {
		tasks[i] = queued(t, "q", store.StatusQueued, base.Add(time.Duration(i)*time.Microsecond), time.Time{})
	}
	if err := s.PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
	children := make([]*child, 3)
	for i := range children {
		children[i] = startChild(t, "claim", path, fmt.Sprint("proc-", i))
	}
	for _, c := range children {
		io.WriteString(c.stdin, "go\n")
	}
	claimed := map[string]int{}
	for i, c := range children {
		n := 0
		for c.out.Scan() {
			claimed[c.out.Text()]++
			n++
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v, stderr: %s", i, err, c.err.String())
		}
		t.Logf("child %d claimed %d rows", i, n)
	}
	for _, task := range tasks {
		if n := claimed[task.ID.String()]; n != 1 {
			t.Errorf("row %s claimed %d times", task.ID, n)
		}
	}
	counts, err := s.CountByStatus(t.Context(), store.CountParams{})
	if err != nil || counts[store.StatusCompleted] != rows {
		t.Fatalf("counts %v, %v; want %d Completed", counts, err, rows)
	}
}
