package sqlitestore_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite" // the "sqlite" driver, to inspect files directly

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/sqlitestore"
	"github.com/evertask/evertask/store/storetest"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode)) // a child process of a cluster test
	}
	goleak.VerifyTestMain(m)
}

// newStore opens a store on a fresh file of its own, closed at cleanup.
func newStore(tb testing.TB) store.Store {
	tb.Helper()
	s, err := sqlitestore.Open(tb.Context(), filepath.Join(tb.TempDir(), "evertask.db"), nil)
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

// open opens a store on path and closes it at the end of the test.
func open(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// setup returns a store on a fresh file and the file's path.
func setup(t *testing.T) (*sqlitestore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evertask.db")
	return open(t, path), path
}

var base = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newTask(t *testing.T) *store.Task {
	t.Helper()
	return &store.Task{
		ID:        uuid.Must(uuid.NewV7()),
		CreatedAt: base,
		Kind:      "send-mail",
		Payload:   []byte(`{"to":"a@b"}`),
		Queue:     "default",
		Status:    store.StatusWaitingQueue,
	}
}

func mustPersist(t *testing.T, s store.Store, tasks ...*store.Task) {
	t.Helper()
	for _, task := range tasks {
		if err := s.Persist(t.Context(), task); err != nil {
			t.Fatalf("Persist: %v", err)
		}
	}
}

func TestMigrationsTwiceAndReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "evertask.db")
	s, err := sqlitestore.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	task := newTask(t)
	task.Key = "survivor"
	mustPersist(t, s, task)
	if _, err := s.Transition(t.Context(), store.TransitionParams{ID: task.ID, To: store.StatusQueued, Now: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := open(t, path)
	got, err := s2.Get(t.Context(), task.ID)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.Status != store.StatusQueued || got.Key != "survivor" {
		t.Fatalf("after reopen: %+v", got)
	}
	audits, err := s2.StatusAudits(t.Context(), task.ID)
	if err != nil || len(audits) != 1 {
		t.Fatalf("audits after reopen = %v, %v", audits, err)
	}
	if n, want := versionRows(t, path), migrationFiles(t); n != want {
		t.Fatalf("schema_version has %d rows, want %d (one per migration, applied once)", n, want)
	}
}

// rawDB opens the file with the plain driver, to inspect or tamper with it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// versionRows counts the migrations recorded in the file, and checks the
// highest is SchemaVersion.
func versionRows(t *testing.T, path string) int {
	t.Helper()
	var n, top int
	if err := rawDB(t, path).QueryRow(`SELECT count(*), max(version) FROM schema_version`).Scan(&n, &top); err != nil {
		t.Fatal(err)
	}
	if top != sqlitestore.SchemaVersion() {
		t.Fatalf("highest recorded version %d, want SchemaVersion %d", top, sqlitestore.SchemaVersion())
	}
	return n
}

// migrationFiles counts the embedded migrations (their numbers may have
// gaps, see migrations in migrate.go).
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files: %v", err)
	}
	return len(files)
}

func TestConcurrentOpenOfNewFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "evertask.db")
	const n = 4
	stores := make([]*sqlitestore.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = sqlitestore.Open(t.Context(), path, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	task := newTask(t)
	mustPersist(t, stores[0], task)
	if _, err := stores[n-1].Get(t.Context(), task.ID); err != nil {
		t.Fatalf("another store on the file does not see the row: %v", err)
	}
	if got, want := versionRows(t, path), migrationFiles(t); got != want {
		t.Fatalf("schema_version has %d rows, want %d", got, want)
	}
}

func TestOpenRejectsNonDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notes.txt")
	junk := strings.Repeat("this is a text file, not a database\n", 100)
	if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sqlitestore.Open(t.Context(), path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded")
	}
	if !strings.Contains(err.Error(), "not an SQLite database") {
		t.Fatalf("error does not say what is wrong: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != junk {
		t.Fatal("Open modified the file")
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	s.Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_version (version) VALUES (?)`, sqlitestore.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s2, err := sqlitestore.Open(t.Context(), path, nil)
	if err == nil {
		s2.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, store.ErrSchemaVersion) {
		t.Fatalf("err = %v, want ErrSchemaVersion", err)
	}
}

func TestOpenRejectsMemory(t *testing.T) {
	t.Parallel()
	if _, err := sqlitestore.Open(t.Context(), ":memory:", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

// TestRecoverableAgreesWithGo checks the SQL predicate against
// store.Recoverable on the boundaries: RetrievePending and a conditional
// transition must pick exactly the rows the Go predicate accepts.
func TestRecoverableAgreesWithGo(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	now := base.Add(500 * time.Nanosecond) // a bound between two stored microseconds
	var tasks []*store.Task
	for _, st := range store.Statuses {
		for _, recurring := range []bool{false, true} {
			for _, next := range []time.Time{{}, base.Add(time.Hour)} {
				for _, limits := range []struct{ runs, max int }{{0, 0}, {2, 3}, {3, 3}, {4, 3}} {
					for _, until := range []time.Time{{}, base, base.Add(time.Microsecond), now.Add(-time.Hour)} {
						task := newTask(t)
						task.Status, task.Recurring, task.NextRunAt = st, recurring, next
						task.RunCount, task.MaxRuns, task.RunUntil = limits.runs, limits.max, until
						tasks = append(tasks, task)
					}
				}
			}
		}
	}
	if err := s.PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]bool{}
	for _, task := range tasks {
		if task.Normalize().Recoverable(now) {
			want[task.ID] = true
		}
	}
	got := map[uuid.UUID]bool{}
	var after store.Cursor
	for {
		page, err := s.RetrievePending(t.Context(), store.PendingParams{After: after, Limit: 7, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, task := range page {
			if got[task.ID] {
				t.Fatalf("row %s returned twice", task.ID)
			}
			got[task.ID] = true
		}
		after = store.CursorOf(page[len(page)-1])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RetrievePending picked %d rows, Go predicate %d", len(got), len(want))
	}
	params := make([]store.TransitionParams, len(tasks))
	for i, task := range tasks {
		params[i] = store.TransitionParams{ID: task.ID, To: store.StatusQueued, IfRecoverable: true, Now: now}
	}
	applied, err := s.TransitionMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range tasks {
		if applied[i] != want[task.ID] {
			t.Errorf("conditional requeue of %+v applied=%v, Go predicate says %v", task, applied[i], want[task.ID])
		}
	}
}

// TestBatchesAcrossChunks runs batches whose sizes cross the multi-row
// statement chunks (256, 64, 16, 4, 1), with a mix of transitions that
// apply and that do not, and a repeated id that must see its first
// transition, as a loop of single Transitions would.
func TestBatchesAcrossChunks(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	const n = 256 + 64 + 16 + 4 + 3
	tasks := make([]*store.Task, n)
	for i := range tasks {
		tasks[i] = newTask(t)
		if i%3 == 0 {
			tasks[i].Status = store.StatusQueued
		}
	}
	if err := s.PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
	params := make([]store.TransitionParams, n)
	for i, task := range tasks {
		params[i] = store.TransitionParams{ID: task.ID, To: store.StatusInProgress,
			From: []store.Status{store.StatusQueued}, Now: base, AuditLevel: store.AuditFull}
	}
	params = append(params, store.TransitionParams{ID: uuid.Must(uuid.NewV7()), To: store.StatusQueued, Now: base})
	applied, err := s.TransitionMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range tasks {
		got, err := s.Get(t.Context(), task.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := i%3 == 0
		if applied[i] != want || (got.Status == store.StatusInProgress) != want {
			t.Fatalf("row %d: applied %v, status %s; want applied %v", i, applied[i], got.Status, want)
		}
		audits, err := s.StatusAudits(t.Context(), task.ID)
		if err != nil || (len(audits) == 1) != want || len(audits) > 1 {
			t.Fatalf("row %d: audits %+v, %v", i, audits, err)
		}
	}
	if applied[n] {
		t.Fatal("a missing row reported applied")
	}

	// The same id twice: the second step sees the first one's result.
	id := tasks[1].ID // WaitingQueue
	applied, err = s.TransitionMany(t.Context(), []store.TransitionParams{
		{ID: id, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue}, Now: base},
		{ID: id, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: base},
	})
	if err != nil || !applied[0] || !applied[1] {
		t.Fatalf("repeated id: applied %v, %v", applied, err)
	}
	// All or none: a duplicate key late in a batch writes nothing.
	more := make([]*store.Task, 70)
	for i := range more {
		more[i] = newTask(t)
	}
	more[0].Key, more[69].Key = "twice", "twice"
	if err := s.PersistMany(t.Context(), more); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("PersistMany with a repeated key: %v", err)
	}
	if _, err := s.Get(t.Context(), more[1].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PersistMany kept a row of a failed batch: %v", err)
	}
}

// TestLockedByAnotherProcessIsUnavailable holds the write lock from another
// connection, as a second process would, past the busy timeout.
func TestLockedByAnotherProcessIsUnavailable(t *testing.T) {
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
	if err := s.Persist(t.Context(), newTask(t)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Persist while another connection holds the write lock: %v", err)
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.Persist(t.Context(), newTask(t)); err != nil {
		t.Fatalf("Persist after the lock was released: %v", err)
	}
}
