package mysqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
)

var base = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

func task(n int) *store.Task {
	return &store.Task{
		ID:         uuid.Must(uuid.NewV7()),
		CreatedAt:  base.Add(time.Duration(n) * time.Microsecond),
		Kind:       "mysqlstore.Test",
		Payload:    []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Handler:    "mysqlstore.Handler",
		Queue:      "default",
		Status:     store.StatusWaitingQueue,
		AuditLevel: store.AuditFull,
	}
}

// withParams returns the test DSN with extra parameters.
func withParams(t *testing.T, params string) string {
	t.Helper()
	dsn := testenv.MySQLDSN()
	if strings.Contains(dsn, "?") {
		return dsn + "&" + params
	}
	return dsn + "?" + params
}

// TestTimeZones writes and reads through sessions in other time zones and
// with every parseTime/loc setting of the driver: what comes back is the
// UTC instant that went in, and the store's clock is UTC.
func TestTimeZones(t *testing.T) {
	t.Parallel()
	testDB(t)
	database := freshDatabase(t)
	tz := url.QueryEscape("'+05:30'")
	tz2 := url.QueryEscape("'-09:00'")
	var stores []*mysqlstore.Store
	for _, params := range []string{
		"time_zone=" + tz + "&parseTime=true&loc=" + url.QueryEscape("Asia/Kolkata"),
		"time_zone=" + tz2 + "&parseTime=false",
		"time_zone=" + tz2 + "&parseTime=true&loc=Local",
		"parseTime=true&loc=UTC",
	} {
		s, err := mysqlstore.Open(t.Context(), withParams(t, params), &mysqlstore.Config{Database: database, MaxConns: 2})
		if err != nil {
			t.Fatalf("Open(%s): %v", params, err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	zone := time.FixedZone("x", -7*3600)
	in := task(1)
	in.CreatedAt = base.In(zone)
	in.ScheduledAt = base.Add(time.Hour).In(time.FixedZone("y", 11*3600))
	in.NextRunAt = time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC) // a DST change in Europe
	in.LeaseUntil = base.Add(time.Minute)
	in.Owner = "n"
	for i, w := range stores {
		in.ID = uuid.Must(uuid.NewV7())
		if err := w.Persist(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		for j, r := range stores {
			got, err := r.Get(t.Context(), in.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := in.Normalize(); !reflect.DeepEqual(got, want) {
				t.Errorf("written through session %d, read through %d:\n got %+v\nwant %+v", i, j, got, want)
			}
		}
	}
	for i, s := range stores {
		now, err := s.Now(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(now); d < -time.Minute || d > time.Minute || now.Location() != time.UTC {
			t.Errorf("store %d: Now() = %s, %s from this host's clock; want UTC within a minute", i, now, d)
		}
	}
	// The cutoffs of recovery compare in UTC too.
	page, err := stores[0].RetrievePending(t.Context(), store.PendingParams{Now: base, CreatedBefore: base.Add(time.Second).In(zone)})
	if err != nil || len(page) != len(stores) {
		t.Errorf("RetrievePending through a +05:30 session: %d rows, %v; want %d", len(page), err, len(stores))
	}
}

func TestDuplicateKeyVsID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	a, b := task(1), task(2)
	a.Key, b.Key = "same", "same"
	if err := s.Persist(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Persist(ctx, b); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("second Persist with the key = %v, want ErrDuplicateKey", err)
	}
	if err := s.Persist(ctx, a); !errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("Persist of an existing id = %v, want ErrInvalid", err)
	}
	// Many rows without a key.
	for i := range 3 {
		if err := s.Persist(ctx, task(10+i)); err != nil {
			t.Errorf("row %d without a key: %v", i, err)
		}
	}
}

// TestLargeBatches crosses the statement limits of the store: a
// PersistMany of several INSERT statements (all or none), and a
// TransitionMany over more rows than one lock, write-back and audit
// statement hold.
func TestLargeBatches(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	const n = 2300
	batch := make([]*store.Task, n)
	for i := range batch {
		batch[i] = task(i)
		batch[i].Key = fmt.Sprintf("k%d", i)
	}
	held := task(-1)
	held.Key = "k2200"
	if err := s.Persist(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := s.PersistMany(ctx, batch); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("PersistMany with a held key in its fifth statement = %v, want ErrDuplicateKey", err)
	}
	if counts, _ := s.CountByStatus(ctx, store.CountParams{}); counts[store.StatusWaitingQueue] != 1 {
		t.Fatalf("after the rejected batch: %v, want only the held row", counts)
	}
	if err := s.Remove(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PersistMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	params := make([]store.TransitionParams, 0, n+1)
	for _, tk := range batch {
		params = append(params, store.TransitionParams{ID: tk.ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue},
			Now: base, AuditLevel: store.AuditFull})
	}
	params = append(params, store.TransitionParams{ID: batch[0].ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
		Now: base.Add(time.Second), AuditLevel: store.AuditFull})
	applied, err := s.TransitionMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range applied {
		if !ok {
			t.Fatalf("transition %d did not apply", i)
		}
	}
	counts, _ := s.CountByStatus(ctx, store.CountParams{})
	if counts[store.StatusQueued] != n-1 || counts[store.StatusInProgress] != 1 {
		t.Errorf("counts after the batch: %v", counts)
	}
	if audits, _ := s.StatusAudits(ctx, batch[0].ID); len(audits) != 2 || audits[0].Status != store.StatusInProgress {
		t.Errorf("audits of the row changed twice in the batch: %+v", audits)
	}
}

// TestDeadlocksRetried runs batches that lock the same rows from both
// ends at once; the store orders its locks, and what deadlocks anyway is
// retried: every transition applies exactly once.
func TestConcurrentBatchesOverlap(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	const n = 200
	rows := make([]*store.Task, n)
	for i := range rows {
		rows[i] = task(i)
		rows[i].Status = store.StatusQueued
	}
	if err := s.PersistMany(ctx, rows); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]bool, 8)
	errs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			params := make([]store.TransitionParams, n)
			for i := range n {
				r := rows[i]
				if w%2 == 1 {
					r = rows[n-1-i]
				}
				params[i] = store.TransitionParams{ID: r.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
					Now: base, AuditLevel: store.AuditFull}
			}
			results[w], errs[w] = s.TransitionMany(ctx, params)
		})
	}
	wg.Wait()
	won := map[int]int{}
	for w := range 8 {
		if errs[w] != nil {
			t.Fatalf("batch %d: %v", w, errs[w])
		}
		for i, ok := range results[w] {
			if ok {
				idx := i
				if w%2 == 1 {
					idx = n - 1 - i
				}
				won[idx]++
			}
		}
	}
	for i := range n {
		if won[i] != 1 {
			t.Errorf("row %d was claimed by %d batches, want 1", i, won[i])
		}
	}
}

// TestDroppedConnection kills the store's only connection on the server
// while a call waits on it, as a server restart does: the call fails with
// ErrUnavailable, and the next call runs on a fresh connection. (An idle
// connection killed between calls never shows: the driver checks an idle
// connection before it uses it and dials a new one.)
func TestDroppedConnection(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	database := freshDatabase(t)
	own, err := testenv.OpenMySQL(testenv.MySQLDSN(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	s, err := mysqlstore.New(ctx, own, &mysqlstore.Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	row := task(1)
	if err := s.Persist(ctx, row); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := own.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	// Another session holds the row, so the store's transition waits.
	holder, err := testDB(t).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, "SELECT id FROM `"+database+"`.`evertask_tasks` WHERE id = ? FOR UPDATE", row.ID[:]); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Transition(ctx, store.TransitionParams{ID: row.ID, To: store.StatusQueued, Now: base})
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		err := testDB(t).QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND COMMAND = 'Query'", id).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transition never waited for the row lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := testDB(t).ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatal(err)
	}
	err = <-done
	t.Logf("error after the kill: %v", err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Transition on a killed connection = %v, want ErrUnavailable", err)
	}
	holder.Rollback()
	if got, err := s.Get(ctx, row.ID); err != nil || got.Status != store.StatusWaitingQueue {
		t.Errorf("Get after the pool reconnected = %v, %v; want the row unchanged", got, err)
	}
	// A pool the application closed under a live store.
	own.Close()
	if _, err := s.Get(ctx, row.ID); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get on a closed pool = %v, want ErrUnavailable", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	testDB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := mysqlstore.Open(ctx, "root@tcp(127.0.0.1:1)/test?timeout=2s", nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open on an unreachable server = %v, want ErrUnavailable", err)
	}
	if _, err := mysqlstore.Open(ctx, "root@tcp(127.0.0.1:3306", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open with a malformed DSN = %v, want ErrInvalid", err)
	}
	if _, err := mysqlstore.New(ctx, nil, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("New(nil) = %v, want ErrInvalid", err)
	}
}

// TestPersistTx writes inside the caller's transaction: a rolled-back row
// never exists, a held key leaves the transaction usable, a committed row
// is there.
func TestPersistTx(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	held := task(1)
	held.Key = "held"
	if err := s.Persist(ctx, held); err != nil {
		t.Fatal(err)
	}
	begin := func() *sql.Tx {
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	tx := begin()
	gone := task(2)
	if err := s.PersistTx(ctx, tx, gone); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rolled-back row: %v, want ErrNotFound", err)
	}

	tx = begin()
	dup := task(3)
	dup.Key = "held"
	if err := s.PersistTx(ctx, tx, dup); !errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("PersistTx with a held key: %v, want ErrDuplicateKey", err)
	}
	if err := s.PersistTx(ctx, tx, held); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PersistTx of an existing id: %v, want ErrInvalid", err)
	}
	kept := task(4)
	if err := s.PersistTx(ctx, tx, kept); err != nil {
		t.Fatalf("PersistTx after a refused one: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, kept.ID); err != nil || got.ID != kept.ID {
		t.Errorf("committed row: %v, %v", got, err)
	}
	if err := s.PersistTx(ctx, nil, task(5)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PersistTx(nil tx): %v, want ErrInvalid", err)
	}
}
