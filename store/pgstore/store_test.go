package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
)

var base = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

func task(n int) *store.Task {
	return &store.Task{
		ID:         uuid.Must(uuid.NewV7()),
		CreatedAt:  base.Add(time.Duration(n) * time.Microsecond),
		Kind:       "pgstore.Test",
		Payload:    []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Handler:    "pgstore.Handler",
		Queue:      "default",
		Status:     store.StatusWaitingQueue,
		AuditLevel: store.AuditFull,
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	zone := time.FixedZone("x", -7*3600)
	full := &store.Task{
		ID: uuid.Must(uuid.NewV7()), CreatedAt: base.In(zone), Kind: "k", Payload: []byte(`{"ü":"\u0000"}`),
		Handler: "h", Queue: "q", Key: "ключ-1", Status: store.StatusFailed, AuditLevel: store.AuditErrorsOnly,
		ScheduledAt: base.Add(time.Hour), LastExecutionAt: base.Add(2 * time.Hour), ExecutionTime: 1234567891 * time.Nanosecond,
		Error: "boom", Recurring: true, Schedule: []byte(`{"cron":"* * * * *"}`), ScheduleInfo: "every minute",
		RunCount: 7, MaxRuns: 9, RunUntil: base.Add(24 * time.Hour), NextRunAt: base.Add(3 * time.Hour),
		RecoveryFailures: 2, Owner: "node-1", LeaseUntil: base.Add(time.Minute),
	}
	empty := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: base, Kind: "k", Payload: []byte{}, Status: store.StatusQueued}
	for _, in := range []*store.Task{full, empty} {
		if err := s.Persist(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := in.Normalize(); !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	if got, err := s.GetByKey(ctx, full.Key); err != nil || got.ID != full.ID {
		t.Errorf("GetByKey = %v, %v", got, err)
	}
	if _, err := s.GetByKey(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByKey(\"\") = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

// TestExistingIDIsInvalid: the contract leaves the error of a Persist of an
// existing id open (storetest Persist/ExistingIDIsRejected); pgstore says
// ErrInvalid, a caller bug, and not ErrDuplicateKey, which is about keys.
func TestExistingIDIsInvalid(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	a := task(1)
	a.Key = "same"
	if err := s.Persist(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Persist(ctx, a); !errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("Persist of an existing id = %v, want ErrInvalid", err)
	}
}

func TestPersistManyAllOrNone(t *testing.T) {
	t.Parallel()
	// 10 rows take the multi-row INSERT, 600 the COPY path.
	for _, n := range []int{10, 600} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := t.Context()
			held := task(0)
			held.Key = "held"
			if err := s.Persist(ctx, held); err != nil {
				t.Fatal(err)
			}
			batch := make([]*store.Task, n)
			for i := range batch {
				batch[i] = task(i + 1)
				batch[i].Key = fmt.Sprintf("k%d", i)
			}
			batch[n-1].Key = "held"
			if err := s.PersistMany(ctx, batch); !errors.Is(err, store.ErrDuplicateKey) {
				t.Fatalf("PersistMany with a held key = %v, want ErrDuplicateKey", err)
			}
			counts, err := s.CountByStatus(ctx, store.CountParams{})
			if err != nil {
				t.Fatal(err)
			}
			if counts[store.StatusWaitingQueue] != 1 {
				t.Fatalf("after a rejected batch: %v rows, want only the held one", counts)
			}
			batch[n-1].Key = ""
			if err := s.PersistMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, batch[n/2].ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := batch[n/2].Normalize(); !reflect.DeepEqual(got, want) {
				t.Errorf("batch row:\n got %+v\nwant %+v", got, want)
			}
			page, err := s.List(ctx, store.Filter{Limit: store.MaxListLimit})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Tasks) != n+1 {
				t.Errorf("List after the batch: %d rows, want %d", len(page.Tasks), n+1)
			}
		})
	}
}

func TestTransitionNotFoundVsNotApplied(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	tk := task(1)
	tk.Status = store.StatusCancelled
	if err := s.Persist(ctx, tk); err != nil {
		t.Fatal(err)
	}
	p := store.TransitionParams{ID: tk.ID, To: store.StatusQueued, IfRecoverable: true, Now: base}
	if ok, err := s.Transition(ctx, p); ok || err != nil {
		t.Errorf("requeue of a Cancelled row = %v, %v; want false, nil", ok, err)
	}
	p.ID = uuid.New()
	if ok, err := s.Transition(ctx, p); ok || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("transition of a missing row = %v, %v; want false, ErrNotFound", ok, err)
	}
	if _, err := s.CompleteRecurringRun(ctx, store.RunParams{ID: p.ID, Now: base, Status: store.StatusCompleted}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CompleteRecurringRun of a missing row = %v, want ErrNotFound", err)
	}
	if _, err := s.EndSeries(ctx, store.EndSeriesParams{ID: p.ID, Now: base, Status: store.StatusCompleted}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EndSeries of a missing row = %v, want ErrNotFound", err)
	}
	if ok, err := s.EndSeries(ctx, store.EndSeriesParams{ID: tk.ID, Now: base, Status: store.StatusCompleted}); ok || err != nil {
		t.Errorf("EndSeries of a Cancelled row = %v, %v; want false, nil", ok, err)
	}
	if err := s.UpdateCurrentRun(ctx, store.RunParams{ID: p.ID, Now: base}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCurrentRun of a missing row = %v, want ErrNotFound", err)
	}
}

func TestTransitionManyRepeatedIDs(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	a, b := task(1), task(2)
	a.Status, b.Status = store.StatusQueued, store.StatusQueued
	if err := s.PersistMany(ctx, []*store.Task{a, b}); err != nil {
		t.Fatal(err)
	}
	from := func(st store.Status) []store.Status { return []store.Status{st} }
	params := []store.TransitionParams{
		{ID: a.ID, To: store.StatusInProgress, From: from(store.StatusQueued), Now: base, AuditLevel: store.AuditFull},
		{ID: uuid.New(), To: store.StatusInProgress, Now: base},
		{ID: a.ID, To: store.StatusCompleted, From: from(store.StatusInProgress), Now: base.Add(time.Second), ExecutionTime: time.Second, AuditLevel: store.AuditFull},
		{ID: b.ID, To: store.StatusCompleted, From: from(store.StatusInProgress), Now: base, AuditLevel: store.AuditFull},
		{ID: b.ID, To: store.StatusInProgress, From: from(store.StatusQueued), Now: base, AuditLevel: store.AuditNone},
	}
	applied, err := s.TransitionMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false, true}; !reflect.DeepEqual(applied, want) {
		t.Errorf("applied = %v, want %v", applied, want)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusCompleted || !got.LastExecutionAt.Equal(store.NormalizeTime(base.Add(time.Second))) || got.ExecutionTime != time.Second {
		t.Errorf("a after the batch: %+v", got)
	}
	audits, _ := s.StatusAudits(ctx, a.ID)
	if len(audits) != 2 || audits[0].Status != store.StatusCompleted || audits[1].Status != store.StatusInProgress {
		t.Errorf("audits of a (newest first): %+v", audits)
	}
	if audits, _ := s.StatusAudits(ctx, b.ID); len(audits) != 0 {
		t.Errorf("audits of b at level None: %+v", audits)
	}
}

func TestCompleteRecurringRunSaturates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	tk := task(1)
	tk.Recurring, tk.Status, tk.RunCount = true, store.StatusInProgress, store.MaxRunCount
	tk.Error = "old"
	if err := s.Persist(ctx, tk); err != nil {
		t.Fatal(err)
	}
	next := base.Add(time.Minute)
	ok, err := s.CompleteRecurringRun(ctx, store.RunParams{ID: tk.ID, Now: base, Status: store.StatusCompleted,
		ExecutionTime: 5 * time.Millisecond, NextRunAt: next, AuditLevel: store.AuditMinimal})
	if !ok || err != nil {
		t.Fatalf("CompleteRecurringRun = %v, %v", ok, err)
	}
	got, _ := s.Get(ctx, tk.ID)
	if got.RunCount != store.MaxRunCount || got.Status != store.StatusCompleted || got.Error != "" ||
		!got.NextRunAt.Equal(store.NormalizeTime(next)) || got.ExecutionTime != 5*time.Millisecond {
		t.Errorf("row after the run: %+v", got)
	}
	// Minimal: no status audit for a success, one runs audit.
	sa, _ := s.StatusAudits(ctx, tk.ID)
	ra, _ := s.RunsAudits(ctx, tk.ID)
	if len(sa) != 0 || len(ra) != 1 || ra[0].Status != store.StatusCompleted {
		t.Errorf("audits: status %+v runs %+v", sa, ra)
	}
	// Not InProgress any more: a second completion does not apply.
	if ok, err := s.CompleteRecurringRun(ctx, store.RunParams{ID: tk.ID, Now: base, Status: store.StatusCompleted}); ok || err != nil {
		t.Errorf("second CompleteRecurringRun = %v, %v; want false, nil", ok, err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	testPool(t) // skip without a server, like every other test
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	pool, err := pgxpool.New(ctx, "postgres://root@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.New(ctx, pool, nil)
	pool.Close()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("New on an unreachable server = %v, want ErrUnavailable", err)
	}

	// A pool the application closed under a live store.
	cfg, err := pgxpool.ParseConfig(shared.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	own, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(ctx, own, &pgstore.Opts{Schema: freshSchema(t, shared.pool)})
	if err != nil {
		own.Close()
		t.Fatal(err)
	}
	own.Close()
	if _, err := s.Get(ctx, uuid.New()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get on a closed pool = %v, want ErrUnavailable", err)
	}
}

// TestDroppedConnection kills the store's only connection on the server,
// as a restart does: the next call fails with ErrUnavailable, and the call
// after it runs on a fresh connection.
func TestDroppedConnection(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(testPool(t).Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	own, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	s, err := pgstore.New(ctx, own, &pgstore.Opts{Schema: freshSchema(t, shared.pool)})
	if err != nil {
		t.Fatal(err)
	}
	var pid int32
	if err := own.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		var alive bool
		if err := shared.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", pid).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still alive after pg_terminate_backend", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := uuid.New()
	_, err = s.Get(ctx, id)
	t.Logf("error after the drop: %v", err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get on a terminated connection = %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after the pool reconnected = %v, want ErrNotFound", err)
	}
}
