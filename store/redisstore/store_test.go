package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/redisstore"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC)

func task(n int) *store.Task {
	return &store.Task{
		ID:         uuid.Must(uuid.NewV7()),
		CreatedAt:  t0.Add(time.Duration(n) * time.Microsecond),
		Kind:       "test.Task",
		Payload:    []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Handler:    "test.Handler",
		Queue:      "default",
		Status:     store.StatusWaitingQueue,
		AuditLevel: store.AuditFull,
	}
}

func TestDuplicateKeyUnderConcurrency(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]uuid.UUID, n)
	for i := range n {
		wg.Go(func() {
			tk := task(i)
			tk.Key = "unique-ключ"
			ids[i] = tk.ID
			errs[i] = su.s.Persist(t.Context(), tk)
		})
	}
	wg.Wait()
	var winner uuid.UUID
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = ids[i]
		case errors.Is(err, store.ErrDuplicateKey):
			if _, gerr := su.s.Get(t.Context(), ids[i]); !errors.Is(gerr, store.ErrNotFound) {
				t.Errorf("loser %s was written (Get: %v)", ids[i], gerr)
			}
		default:
			t.Errorf("Persist %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d persists won, want exactly 1", wins)
	}
	got, err := su.s.GetByKey(t.Context(), "unique-ключ")
	if err != nil || got.ID != winner {
		t.Fatalf("GetByKey = %v, %v; want %s", got, err, winner)
	}
	if n, err := su.c.ZCard(t.Context(), "{"+su.prefix+"}all").Result(); err != nil || n != 1 {
		t.Fatalf("all index holds %d rows (%v), want 1", n, err)
	}
	checkIndexes(t, su)
}

func TestPersistManyAllOrNone(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	held := task(0)
	held.Key = "k1"
	if err := su.s.Persist(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	a, b := task(1), task(2)
	b.Key = "k1"
	if err := su.s.PersistMany(t.Context(), []*store.Task{a, b}); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("PersistMany with a held key: %v, want ErrDuplicateKey", err)
	}
	c, d := task(3), task(4)
	c.Key, d.Key = "k2", "k2"
	if err := su.s.PersistMany(t.Context(), []*store.Task{c, d}); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("PersistMany with a key twice: %v, want ErrDuplicateKey", err)
	}
	for _, id := range []uuid.UUID{a.ID, b.ID, c.ID, d.ID} {
		if _, err := su.s.Get(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("row %s of a rejected batch: %v, want ErrNotFound", id, err)
		}
	}
	checkIndexes(t, su)
}

func TestConditionalTransitionOneWinner(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	tk := task(0)
	tk.Status = store.StatusQueued
	if err := su.s.Persist(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	const n = 32
	var wg sync.WaitGroup
	applied := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p := store.TransitionParams{
				ID: tk.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
				Now: t0.Add(time.Second), AuditLevel: store.AuditFull,
			}
			if i%2 == 0 {
				var a []bool
				a, errs[i] = su.s.TransitionMany(t.Context(), []store.TransitionParams{p})
				if len(a) == 1 {
					applied[i] = a[0]
				}
				return
			}
			applied[i], errs[i] = su.s.Transition(t.Context(), p)
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("transition %d: %v", i, errs[i])
		}
		if applied[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d transitions applied, want exactly 1", wins)
	}
	audits, err := su.s.StatusAudits(t.Context(), tk.ID)
	if err != nil || len(audits) != 1 || audits[0].Status != store.StatusInProgress {
		t.Fatalf("audits = %+v, %v; want one InProgress", audits, err)
	}
	checkIndexes(t, su)
}

func TestIndexesFollowTransitions(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	now := t0.Add(time.Hour)
	var ids []uuid.UUID
	for i := range 20 {
		tk := task(i)
		tk.Queue = []string{"a", "b", "c:Queued"}[i%3]
		if i%4 == 0 {
			tk.Recurring = true
			tk.NextRunAt = now
			tk.MaxRuns = 2
		}
		if i%5 == 0 {
			tk.Key = fmt.Sprintf("key-%d", i)
		}
		if err := su.s.Persist(ctx, tk); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	checkIndexes(t, su)
	tr := func(id uuid.UUID, to store.Status) {
		t.Helper()
		if _, err := su.s.Transition(ctx, store.TransitionParams{ID: id, To: to, Now: now, AuditLevel: store.AuditFull}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		tr(id, store.StatusQueued)
		tr(id, store.StatusInProgress)
		switch i % 4 {
		case 0:
			ok, err := su.s.CompleteRecurringRun(ctx, store.RunParams{ID: id, Now: now, Status: store.StatusCompleted, NextRunAt: now.Add(time.Minute)})
			if err != nil || !ok {
				t.Fatalf("CompleteRecurringRun: %v %v", ok, err)
			}
		case 1:
			tr(id, store.StatusFailed)
		case 2:
			tr(id, store.StatusCancelled)
		case 3:
			tr(id, store.StatusCompleted)
		}
	}
	checkIndexes(t, su)
	// A second run reaches MaxRuns 2: the row leaves the recoverable index.
	tr(ids[0], store.StatusInProgress)
	if ok, err := su.s.CompleteRecurringRun(ctx, store.RunParams{ID: ids[0], Now: now, Status: store.StatusCompleted, NextRunAt: now.Add(time.Minute)}); err != nil || !ok {
		t.Fatalf("CompleteRecurringRun: %v %v", ok, err)
	}
	if ok, err := su.s.EndSeries(ctx, store.EndSeriesParams{ID: ids[4], Status: store.StatusCompleted, Now: now}); err != nil || !ok {
		t.Fatalf("EndSeries: %v %v", ok, err)
	}
	upd := task(99)
	upd.ID, upd.Queue, upd.Key, upd.Recurring = ids[1], "moved", "new-key", true
	if err := su.s.UpdateDefinition(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if err := su.s.Remove(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, su)
	wantCounts(t, su, map[store.Status]int{store.StatusCompleted: 10, store.StatusFailed: 5, store.StatusCancelled: 4})
	// Purge everything finished: the one-shot rows go, with their audits.
	res, err := su.s.Purge(ctx, store.RetentionPolicy{Now: now.Add(48 * time.Hour), CompletedTaskAge: time.Hour, FailedTaskAge: time.Hour, BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tasks != 13 {
		t.Fatalf("purged %d tasks, want 13 (%+v)", res.Tasks, res)
	}
	checkIndexes(t, su)
}

// TestBatchIndexMovesNetOut checks the buffered index writes of
// TransitionMany: a batch that moves rows through several statuses, some
// back to where they started, leaves each index entry where the last
// transition put it; and a batch too big for one variadic command (Lua's
// unpack stops near 8000 values) moves every entry.
func TestBatchIndexMovesNetOut(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	now := t0.Add(time.Hour)
	var tasks []*store.Task
	for i := range 4200 {
		tk := task(i)
		tk.Status = store.StatusQueued
		tk.Queue = []string{"a", "b"}[i%2]
		tasks = append(tasks, tk)
	}
	if err := su.s.PersistMany(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	// With From, a move between open statuses takes the script's light path
	// (it reads no recoverable or retention field); without, the full one.
	step := func(id uuid.UUID, to store.Status, from ...store.Status) store.TransitionParams {
		return store.TransitionParams{ID: id, To: to, From: from, Now: now, AuditLevel: store.AuditFull}
	}
	var ps []store.TransitionParams
	for i, tk := range tasks {
		if i%2 == 0 {
			ps = append(ps, step(tk.ID, store.StatusInProgress, store.StatusQueued))
		} else {
			ps = append(ps, step(tk.ID, store.StatusInProgress))
		}
	}
	// The first rows move again in the same batch: on to Completed, or
	// back to Queued, or on and back (Queued -> InProgress -> Queued -> InProgress).
	for i, tk := range tasks[:30] {
		switch i % 3 {
		case 0:
			ps = append(ps, step(tk.ID, store.StatusCompleted, store.StatusInProgress))
		case 1:
			ps = append(ps, step(tk.ID, store.StatusQueued, store.StatusInProgress))
		case 2:
			ps = append(ps, step(tk.ID, store.StatusQueued), step(tk.ID, store.StatusInProgress, store.StatusQueued))
		}
	}
	applied, err := su.s.TransitionMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range applied {
		if !ok {
			t.Fatalf("transition %d (%s to %s) not applied", i, ps[i].ID, ps[i].To)
		}
	}
	checkIndexes(t, su)
	wantCounts(t, su, map[store.Status]int{store.StatusCompleted: 10, store.StatusQueued: 10, store.StatusInProgress: 4180})
}

// TestSkewedUnionWalks checks the union walks where one source holds most
// rows, one holds none of the older rows and many of the newer, and many
// hold a few (the open status sets of a dozen queues, and rec):
// RetrievePending (oldest first) and List (newest first), at several page
// sizes, give every row once and in order, as the read sizes of the sources
// grow and shrink between rounds.
func TestSkewedUnionWalks(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	now := t0.Add(time.Hour)
	open := []store.Status{store.StatusQueued, store.StatusWaitingQueue, store.StatusPending, store.StatusInProgress, store.StatusServiceStopped}
	var tasks []*store.Task
	for i := range 700 {
		tk := task(i)
		switch {
		case i >= 350 && i%2 == 0 && i%7 != 0:
			// Sets with nothing in the first rounds of a walk, then half the
			// rows: the rounds read them at the least, then must grow.
			tk.Queue, tk.Status = "late", store.StatusQueued
		case i < 200 && i%2 == 1 && i%7 != 0:
			tk.Queue, tk.Status = "early", store.StatusPending
		case i%7 != 0: // most rows: Queued in one queue, the older half past RunUntil
			tk.Queue, tk.Status = "big", store.StatusQueued
			if i < 350 {
				tk.RunUntil = now.Add(-time.Minute)
			}
		case i%21 == 0: // finished: not recoverable, but listed
			tk.Queue, tk.Status = fmt.Sprintf("q%d", i%12), store.StatusCompleted
		case i%35 == 0: // recurring and finished with a next run: in rec
			tk.Queue, tk.Status, tk.Recurring, tk.NextRunAt = fmt.Sprintf("q%d", i%12), store.StatusCompleted, true, now
		default:
			tk.Queue, tk.Status = fmt.Sprintf("q%d", i%12), open[i%len(open)]
		}
		if i%50 == 0 || i%25 == 1 {
			tk.Kind = "rare"
		}
		tasks = append(tasks, tk)
	}
	if err := su.s.PersistMany(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	// Rows the walks read and skip (past RunUntil, or of another kind) make
	// one call take several rounds, across the point where "late" starts.
	var wantPending, wantOpenNewest, wantOpenOldest []uuid.UUID
	for _, tk := range tasks { // created in order, a microsecond apart
		if tk.Recoverable(now) {
			wantPending = append(wantPending, tk.ID)
		}
		if slices.Contains(open, tk.Status) && tk.Kind == "rare" {
			wantOpenNewest = append([]uuid.UUID{tk.ID}, wantOpenNewest...)
			wantOpenOldest = append(wantOpenOldest, tk.ID)
		}
	}
	for _, limit := range []int{1, 7, 100, 1000} {
		var got []uuid.UUID
		var after store.Cursor
		for {
			rows, err := su.s.RetrievePending(ctx, store.PendingParams{Limit: limit, After: after, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				got = append(got, r.ID)
				after = store.CursorOf(r)
			}
			if len(rows) < limit {
				break
			}
		}
		if !slices.Equal(got, wantPending) {
			t.Errorf("RetrievePending in pages of %d: %d rows, want %d in creation order", limit, len(got), len(wantPending))
		}
		for _, oldest := range []bool{false, true} {
			got = got[:0]
			f := store.Filter{Statuses: open, Kind: "rare", Limit: min(limit, store.MaxListLimit), Oldest: oldest}
			for {
				page, err := su.s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page.Tasks {
					got = append(got, r.ID)
				}
				if page.Next == nil {
					break
				}
				f.After = *page.Next
			}
			if want := map[bool][]uuid.UUID{false: wantOpenNewest, true: wantOpenOldest}[oldest]; !slices.Equal(got, want) {
				t.Errorf("List of one kind in the open statuses, oldest first %v, in pages of %d: %d rows, want %d in order", oldest, limit, len(got), len(want))
			}
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	key := "{" + su.prefix + "}version"
	if v, err := su.c.Get(t.Context(), key).Result(); err != nil || v != fmt.Sprint(redisstore.SchemaVersion) {
		t.Fatalf("version key = %q, %v", v, err)
	}
	if _, err := redisstore.New(t.Context(), su.c, &redisstore.Opts{Prefix: su.prefix}); err != nil {
		t.Fatalf("reopen at the same version: %v", err)
	}
	// A version 1 prefix: its recoverable index held one-shot rows too.
	// Opening it takes them out and raises the version, so version 1 code
	// cannot misread the rows written from then on.
	ctx := t.Context()
	var oneShot []string
	for i := range 2500 {
		tk := task(i)
		tk.Status = store.StatusQueued
		if i%500 == 0 {
			tk.Recurring = true
		}
		if err := su.s.Persist(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if !tk.Recurring {
			oneShot = append(oneShot, fmt.Sprintf("%016x%s", uint64(tk.CreatedAt.UnixMicro())^(1<<63), tk.ID))
		}
	}
	rec := "{" + su.prefix + "}rec"
	for _, m := range oneShot {
		su.c.ZAdd(ctx, rec, redis.Z{Member: m})
	}
	su.c.Set(ctx, key, 1, 0)
	if _, err := redisstore.New(ctx, su.c, &redisstore.Opts{Prefix: su.prefix}); err != nil {
		t.Fatalf("open a version 1 prefix: %v", err)
	}
	if v, err := su.c.Get(ctx, key).Result(); err != nil || v != fmt.Sprint(redisstore.SchemaVersion) {
		t.Fatalf("version key after opening a version 1 prefix = %q, %v; want %d", v, err, redisstore.SchemaVersion)
	}
	checkIndexes(t, su)

	// A version 2 prefix: one sorted set of retention entries per status,
	// scored by the retention time. Opening it moves them to the lists of
	// version 3, a page at a time, and Purge finds every row.
	p := "{" + su.prefix + "}"
	var finished []redis.Z
	for i := range 2500 {
		tk := task(10_000 + i)
		tk.Status = store.StatusCompleted
		tk.LastExecutionAt = t0.Add(time.Duration(i) * 3 * time.Millisecond) // over 8 seconds
		if err := su.s.Persist(ctx, tk); err != nil {
			t.Fatal(err)
		}
		finished = append(finished, redis.Z{Score: float64(tk.LastExecutionAt.UnixMicro()), Member: tk.ID.String()})
	}
	lists, err := su.c.ZRange(ctx, p+"finb:Completed", 0, -1).Result()
	if err != nil || len(lists) < 8 {
		t.Fatalf("seconds of the finished rows: %v, %v", lists, err)
	}
	for _, sec := range lists {
		su.c.Del(ctx, p+"fin:Completed:"+sec)
	}
	su.c.Del(ctx, p+"finb:Completed")
	su.c.ZAdd(ctx, p+"fin:Completed", finished...)
	su.c.Set(ctx, key, 2, 0)
	s3, err := redisstore.New(ctx, su.c, &redisstore.Opts{Prefix: su.prefix})
	if err != nil {
		t.Fatalf("open a version 2 prefix: %v", err)
	}
	if v, err := su.c.Get(ctx, key).Result(); err != nil || v != fmt.Sprint(redisstore.SchemaVersion) {
		t.Fatalf("version key after opening a version 2 prefix = %q, %v; want %d", v, err, redisstore.SchemaVersion)
	}
	checkIndexes(t, su)
	// A version 2 process still running writes to the old set: Purge
	// moves what it finds there first.
	late := task(20_000)
	late.Status, late.LastExecutionAt = store.StatusCompleted, t0
	if err := s3.Persist(ctx, late); err != nil {
		t.Fatal(err)
	}
	if n, err := su.c.LRem(ctx, p+fmt.Sprintf("fin:Completed:%d", t0.Unix()), 0, late.ID.String()).Result(); n != 1 {
		t.Fatalf("take the late row's list entry: %d, %v", n, err)
	}
	su.c.ZAdd(ctx, p+"fin:Completed", redis.Z{Score: float64(t0.UnixMicro()), Member: late.ID.String()})
	res, err := s3.Purge(ctx, store.RetentionPolicy{Now: t0.Add(time.Hour), CompletedTaskAge: time.Minute})
	if err != nil || res.Tasks != 2501 {
		t.Fatalf("Purge after the upgrade: %+v, %v; want 2501 tasks", res, err)
	}
	checkIndexes(t, su)

	// A version 3 prefix: no due or lease index. Opening it builds both
	// from the rows, a page at a time.
	var leasedRows []*store.Task
	for i := range 1500 {
		tk := task(30_000 + i)
		tk.Status = store.StatusQueued
		switch i % 3 {
		case 1:
			tk.ScheduledAt = t0.Add(time.Duration(i) * time.Second)
		case 2:
			tk.Status, tk.Owner, tk.LeaseUntil = store.StatusInProgress, "n1", t0.Add(time.Duration(i)*time.Second)
			leasedRows = append(leasedRows, tk)
		}
		if err := s3.Persist(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{p + "due:default", p + "lease"} {
		if n, err := su.c.Del(ctx, k).Result(); n != 1 || err != nil {
			t.Fatalf("delete %s: %d, %v", k, n, err)
		}
	}
	su.c.Set(ctx, key, 3, 0)
	if _, err := redisstore.New(ctx, su.c, &redisstore.Opts{Prefix: su.prefix}); err != nil {
		t.Fatalf("open a version 3 prefix: %v", err)
	}
	if v, err := su.c.Get(ctx, key).Result(); err != nil || v != fmt.Sprint(redisstore.SchemaVersion) {
		t.Fatalf("version key after opening a version 3 prefix = %q, %v; want %d", v, err, redisstore.SchemaVersion)
	}
	if n, err := su.c.ZCard(ctx, p+"lease").Result(); err != nil || n != int64(len(leasedRows)) {
		t.Fatalf("lease index after the upgrade holds %d, %v; want %d", n, err, len(leasedRows))
	}
	checkIndexes(t, su)
	su.c.Set(t.Context(), key, redisstore.SchemaVersion+1, 0)
	if _, err := redisstore.New(t.Context(), su.c, &redisstore.Opts{Prefix: su.prefix}); !errors.Is(err, store.ErrSchemaVersion) {
		t.Fatalf("open a newer version: %v, want ErrSchemaVersion", err)
	}
	su.c.Set(t.Context(), key, 0, 0)
	if _, err := redisstore.New(t.Context(), su.c, &redisstore.Opts{Prefix: su.prefix}); !errors.Is(err, store.ErrSchemaVersion) {
		t.Fatalf("open version 0: %v, want ErrSchemaVersion", err)
	}
	su.c.Set(t.Context(), key, "garbage", 0)
	if _, err := redisstore.New(t.Context(), su.c, &redisstore.Opts{Prefix: su.prefix}); !errors.Is(err, store.ErrSchemaVersion) {
		t.Fatalf("open a garbage version: %v, want ErrSchemaVersion", err)
	}
}

func TestErrorsMapped(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	if _, err := su.s.Get(t.Context(), uuid.Must(uuid.NewV7())); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	// A server nobody listens on.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer dead.Close()
	if _, err := redisstore.New(t.Context(), dead, nil); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("New on a dead server: %v, want ErrUnavailable", err)
	}
	// A client closed under the store.
	c := client(t)
	s, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: su.prefix})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Persist(t.Context(), task(1)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Persist on a closed client: %v, want ErrUnavailable", err)
	}
	s.Close()
	if err := s.Persist(t.Context(), task(1)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Persist on a closed store: %v, want ErrClosed", err)
	}
}

func TestKeysShareOneSlot(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	tk := task(0)
	tk.Key = "k"
	if err := su.s.Persist(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	if err := su.s.SaveLogs(t.Context(), tk.ID, []store.ExecutionLog{{ID: uuid.Must(uuid.NewV7()), TaskID: tk.ID, At: t0, Level: "Information", Message: "m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := su.s.Transition(t.Context(), store.TransitionParams{ID: tk.ID, To: store.StatusQueued, Now: t0, AuditLevel: store.AuditFull}); err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, su)
	if len(keys) < 8 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	slot := func(k string) int64 { return su.c.ClusterKeySlot(t.Context(), k).Val() }
	want := slot(keys[0])
	for _, k := range keys {
		if got := slot(k); got != want {
			t.Errorf("key %s in slot %d, want %d like %s", k, got, want, keys[0])
		}
	}
}

func scanKeys(t *testing.T, su setup) []string {
	t.Helper()
	var keys []string
	iter := su.c.Scan(t.Context(), 0, "{"+su.prefix+"}*", 1000).Iterator()
	for iter.Next(t.Context()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// checkIndexes rebuilds every index from the rows and compares it with what
// the scripts maintained.
// wantCounts checks CountByStatus over the whole store.
func wantCounts(t *testing.T, su setup, want map[store.Status]int) {
	t.Helper()
	counts, err := su.s.CountByStatus(t.Context(), store.CountParams{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("CountByStatus = %v, want %v", counts, want)
	}
}

func checkIndexes(t *testing.T, su setup) {
	t.Helper()
	ctx := t.Context()
	p := "{" + su.prefix + "}"
	members, err := su.c.ZRange(ctx, p+"all", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	wantFin := map[string][]string{} // list key -> ids it must hold
	wantKeys := map[string]string{}
	wantDue := map[string]map[string]float64{} // due key -> member -> score
	mayLackDue := map[string]bool{}            // rows whose RunUntil passed: Claim drops them
	leased := map[string]float64{}             // InProgress rows with an owner -> lease score
	storeNow, err := su.s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		id, err := uuid.Parse(m[16:])
		if err != nil {
			t.Fatal(err)
		}
		tk, err := su.s.Get(ctx, id)
		if err != nil {
			t.Fatalf("index entry %s without row: %v", m, err)
		}
		qs := p + "qs:" + string(tk.Status) + ":" + tk.Queue
		want[qs] = append(want[qs], m)
		// The recoverable index holds the recurring rows recoverable while
		// RunUntil has not passed (one-shot ones are found by status).
		if tk.Recurring && tk.Recoverable(time.Time{}) {
			want[p+"rec"] = append(want[p+"rec"], m)
		}
		if !tk.Recurring && (tk.Status == store.StatusCompleted || tk.Status == store.StatusFailed || tk.Status == store.StatusCancelled) {
			// The list of the second of its retention score.
			at := tk.LastExecutionAt
			if at.IsZero() {
				at = tk.CreatedAt
			}
			sec := at.UnixMicro() / 1e6
			if at.UnixMicro()%1e6 < 0 {
				sec-- // floor
			}
			k := fmt.Sprintf("%sfin:%s:%d", p, tk.Status, sec)
			wantFin[k] = append(wantFin[k], id.String())
			if _, err := su.c.ZScore(ctx, p+"finb:"+string(tk.Status), fmt.Sprint(sec)).Result(); err != nil {
				t.Errorf("second %d of %s not in finb:%s: %v", sec, id, tk.Status, err)
			}
		}
		if tk.Key != "" {
			wantKeys[tk.Key] = id.String()
		}
		// The due index: Claimable rows but for RunUntil, scored by DueAt.
		if tk.Status != store.StatusInProgress && tk.Recoverable(time.Time{}) {
			dk := p + "due:" + tk.Queue
			if wantDue[dk] == nil {
				wantDue[dk] = map[string]float64{}
			}
			wantDue[dk][m] = float64(tk.DueAt().UnixMicro())
			if !tk.RunUntil.IsZero() && tk.RunUntil.Before(storeNow) {
				mayLackDue[m] = true
			}
		}
		if tk.Status == store.StatusInProgress && tk.Owner != "" {
			leased[m] = float64(tk.LeaseUntil.UnixMicro())
			if tk.LeaseUntil.IsZero() {
				leased[m] = 0
			}
		}
	}
	for _, q := range []string{"default", "a", "b", "c:Queued", "moved"} {
		if wantDue[p+"due:"+q] == nil {
			wantDue[p+"due:"+q] = map[string]float64{}
		}
	}
	for k, w := range wantDue {
		got, err := su.c.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, z := range got {
			m := z.Member.(string)
			seen[m] = true
			if score, ok := w[m]; !ok || score != z.Score {
				t.Errorf("due index %s holds %s at %v; want it at %v (listed: %v)", k, m, z.Score, score, ok)
			}
		}
		for m := range w {
			if !seen[m] && !mayLackDue[m] {
				t.Errorf("due index %s lacks %s", k, m)
			}
		}
	}
	// The lease index holds InProgress rows with an owner only, at their
	// lease's end (a row given an owner by a step without a lease is not
	// in it).
	gotLease, err := su.c.ZRangeWithScores(ctx, p+"lease", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range gotLease {
		if score, ok := leased[z.Member.(string)]; !ok || score != z.Score {
			t.Errorf("lease index holds %s at %v; want %v (an InProgress row with an owner: %v)", z.Member, z.Score, score, ok)
		}
	}
	for _, st := range store.Statuses {
		// Version 2's sorted sets are gone.
		if n, err := su.c.Exists(ctx, p+"fin:"+string(st)).Result(); err != nil || n != 0 {
			t.Errorf("version 2 retention set fin:%s exists (%d, %v)", st, n, err)
		}
		for _, q := range []string{"default", "a", "b", "c:Queued", "moved"} {
			want[p+"qs:"+string(st)+":"+q] = append(want[p+"qs:"+string(st)+":"+q], []string(nil)...)
		}
	}
	want[p+"rec"] = append(want[p+"rec"], []string(nil)...)
	for k, w := range want {
		got, err := su.c.ZRange(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(w)
		if !slices.Equal(got, w) && !(len(got) == 0 && len(w) == 0) {
			t.Errorf("index %s = %v, want %v", k, got, w)
		}
	}
	// A retention list may hold stale entries too (rows that moved on or
	// went: Purge drops them), but never lacks a finished row.
	for k, w := range wantFin {
		got, err := su.c.LRange(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range w {
			if !slices.Contains(got, id) {
				t.Errorf("retention list %s lacks %s", k, id)
			}
		}
	}
	gotKeys, err := su.c.HGetAll(ctx, p+"keys").Result()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotKeys) != fmt.Sprint(wantKeys) {
		t.Errorf("key hash = %v, want %v", gotKeys, wantKeys)
	}
}

func TestAuditIDsIncreaseAcrossBatches(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	var tasks []*store.Task
	for i := range 5 {
		tasks = append(tasks, task(i))
	}
	if err := su.s.PersistMany(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	var ps []store.TransitionParams
	for _, to := range []store.Status{store.StatusQueued, store.StatusInProgress} {
		for _, tk := range tasks {
			ps = append(ps, store.TransitionParams{ID: tk.ID, To: to, Now: t0, AuditLevel: store.AuditFull})
		}
	}
	if _, err := su.s.TransitionMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if _, err := su.s.Transition(ctx, store.TransitionParams{ID: tasks[0].ID, To: store.StatusCompleted, Now: t0, AuditLevel: store.AuditFull}); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var last int64
	for i, tk := range tasks {
		audits, err := su.s.StatusAudits(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if i == 0 {
			want = 3
		}
		if len(audits) != want {
			t.Fatalf("task %d has %d audits, want %d", i, len(audits), want)
		}
		for j, a := range audits {
			if seen[a.ID] {
				t.Errorf("audit id %d used twice", a.ID)
			}
			seen[a.ID] = true
			if j > 0 && a.ID >= audits[j-1].ID {
				t.Errorf("task %d: audits not newest first: %d after %d", i, a.ID, audits[j-1].ID)
			}
		}
		if i == 0 {
			last = audits[0].ID
		}
	}
	for id := range seen {
		if id > last {
			t.Errorf("audit %d of the batch is above the later single audit %d", id, last)
		}
	}
}

func TestListScanLimitGivesShortPagesThatContinue(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	s, err := redisstore.New(ctx, su.c, &redisstore.Opts{Prefix: su.prefix, ListScanLimit: 40})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []*store.Task
	var want []uuid.UUID
	for i := range 300 {
		tk := task(i)
		if i%29 == 0 {
			tk.Handler = "needle.Ünicode"
			want = append(want, tk.ID)
		}
		tasks = append(tasks, tk)
	}
	if err := s.PersistMany(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	f := store.Filter{Search: "ÜNICODE", Oldest: true, Limit: 3}
	var got []uuid.UUID
	calls := 0
	for {
		calls++
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tasks) > 3 {
			t.Fatalf("page of %d rows, limit 3", len(page.Tasks))
		}
		for _, tk := range page.Tasks {
			got = append(got, tk.ID)
		}
		if page.Next == nil {
			break
		}
		f.After = *page.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("search found %v, want %v", got, want)
	}
	if calls < 300/40 {
		t.Fatalf("%d calls: the scan limit of 40 entries per call was not applied", calls)
	}
}

func TestRetrievePendingSkipsExpiredRunUntil(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	now := t0.Add(time.Hour)
	var tasks []*store.Task
	var want []uuid.UUID
	for i := range 250 {
		tk := task(i)
		tk.Recurring = true
		tk.NextRunAt = now
		tk.Status = store.StatusCompleted
		switch {
		case i%3 == 0:
			tk.RunUntil = now.Add(-time.Microsecond) // expired
		case i%3 == 1:
			tk.RunUntil = now // exactly now: still recoverable
			want = append(want, tk.ID)
		default:
			want = append(want, tk.ID)
		}
		tasks = append(tasks, tk)
	}
	if err := su.s.PersistMany(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	p := store.PendingParams{Now: now, Limit: 7}
	for {
		page, err := su.s.RetrievePending(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		p.After = store.CursorOf(page[len(page)-1])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pending = %d rows, want %d", len(got), len(want))
	}
}

func TestLongHistoryReadInChunks(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	tk := task(0)
	if err := su.s.Persist(ctx, tk); err != nil {
		t.Fatal(err)
	}
	const n = 2500
	logs := make([]store.ExecutionLog, n)
	run := uuid.Must(uuid.NewV7())
	for i := range logs {
		level := "Information"
		if i%7 == 0 {
			level = "Error"
		}
		logs[i] = store.ExecutionLog{ID: run, TaskID: tk.ID, At: t0, Level: level, Message: fmt.Sprintf("m%d", i), Seq: n - i}
	}
	if err := su.s.SaveLogs(ctx, tk.ID, logs); err != nil {
		t.Fatal(err)
	}
	got, err := su.s.Logs(ctx, tk.ID)
	if err != nil || len(got) != n {
		t.Fatalf("Logs = %d rows, %v; want %d", len(got), err, n)
	}
	for i := 1; i < n; i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("log %d has seq %d after %d", i, got[i].Seq, got[i-1].Seq)
		}
	}
	page, err := su.s.LogsPage(ctx, store.LogQuery{TaskID: tk.ID, Level: "error", Offset: 300, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != (n+6)/7 || len(page.Logs) != 10 || page.Logs[0].Level != "Error" {
		t.Fatalf("LogsPage = total %d, %d rows; want %d and 10", page.Total, len(page.Logs), (n+6)/7)
	}

	var ps []store.TransitionParams
	for i := range 1100 {
		to := []store.Status{store.StatusQueued, store.StatusWaitingQueue}[i%2]
		ps = append(ps, store.TransitionParams{ID: tk.ID, To: to, Now: t0.Add(time.Duration(i) * time.Microsecond), AuditLevel: store.AuditFull})
	}
	if _, err := su.s.TransitionMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	audits, err := su.s.StatusAudits(ctx, tk.ID)
	if err != nil || len(audits) != 1100 {
		t.Fatalf("StatusAudits = %d rows, %v; want 1100", len(audits), err)
	}
	for i := 1; i < len(audits); i++ {
		if audits[i].ID >= audits[i-1].ID || !audits[i].At.Before(audits[i-1].At) {
			t.Fatalf("audit %d (%d at %v) not older than %d at %v", i, audits[i].ID, audits[i].At, audits[i-1].ID, audits[i-1].At)
		}
	}
}

// Purge takes the seconds before the cutoff's whole, and reads the
// cutoff's own second through in small batches, deleting only the rows
// finished before the cutoff.
func TestPurgeWithinTheCutoffSecond(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	cut := t0.Add(10 * time.Hour).Truncate(time.Second).Add(500 * time.Millisecond)
	finish := func(n int, at time.Time) {
		tk := task(n)
		tk.Status = store.StatusInProgress
		if err := su.s.Persist(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if ok, err := su.s.Transition(ctx, store.TransitionParams{ID: tk.ID, To: store.StatusCompleted, Now: at}); !ok || err != nil {
			t.Fatalf("complete: %v, %v", ok, err)
		}
	}
	for i := range 300 { // 150 before the cutoff, then 150 from it on, in its second
		finish(i, cut.Add(time.Duration(i-150)*time.Millisecond))
	}
	for i := range 50 { // the second before
		finish(1000+i, cut.Add(-time.Second).Truncate(time.Second).Add(time.Duration(i)*time.Millisecond))
	}
	pol := store.RetentionPolicy{Now: cut.Add(time.Hour), CompletedTaskAge: time.Hour, BatchSize: 7}
	res, err := su.s.Purge(ctx, pol)
	if err != nil || res.Tasks != 200 {
		t.Fatalf("Purge: %+v, %v; want 200 tasks", res, err)
	}
	counts, err := su.s.CountByStatus(ctx, store.CountParams{})
	if err != nil || counts[store.StatusCompleted] != 150 {
		t.Fatalf("Completed rows left: %v, %v; want 150", counts, err)
	}
	if res, err := su.s.Purge(ctx, pol); err != nil || res.Tasks != 0 {
		t.Fatalf("second Purge: %+v, %v; want nothing", res, err)
	}
	checkIndexes(t, su)
}
