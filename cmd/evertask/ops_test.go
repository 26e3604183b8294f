package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// opsDB is a SQLite file with one task of each kind the operator commands
// act on.
type opsDB struct {
	path                                  string
	failed, delayed, done, running, ended *store.Task
	big                                   *store.Task // a payload of 100,000 bytes
}

func newOpsDB(t *testing.T) opsDB {
	t.Helper()
	ctx := context.Background()
	db := opsDB{path: filepath.Join(t.TempDir(), "ops.db")}
	st, err := sqlitestore.Open(ctx, db.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	task := func(kind string, status store.Status, ago time.Duration) *store.Task {
		return &store.Task{ID: idAt(now.Add(-ago)), CreatedAt: now.Add(-ago), Kind: kind, Payload: []byte(`{"n":1}`),
			Queue: "default", Status: status, AuditLevel: store.AuditFull}
	}
	db.failed = task("ops.failed", store.StatusFailed, 2*time.Hour)
	db.failed.Error, db.failed.LastExecutionAt = "boom", now.Add(-2*time.Hour)
	db.delayed = task("ops.delayed", store.StatusWaitingQueue, time.Minute)
	db.delayed.ScheduledAt = now.Add(time.Hour)
	db.done = task("ops.done", store.StatusCompleted, 3*time.Hour)
	db.done.LastExecutionAt = now.Add(-3 * time.Hour)
	db.running = task("ops.running", store.StatusInProgress, time.Second)
	// A series that used up its runs, with the next run an older version
	// left on the row.
	db.ended = task("ops.ended", store.StatusCompleted, time.Hour)
	db.ended.Recurring, db.ended.RunCount, db.ended.MaxRuns = true, 3, 3
	db.ended.Queue, db.ended.ScheduleInfo, db.ended.NextRunAt = "recurring", "every hour", now.Add(time.Hour)
	db.big = task("ops.big", store.StatusCompleted, 4*time.Hour)
	db.big.Payload = []byte(`{"blob":"` + strings.Repeat("x", 100000-11) + `"}`)
	for _, r := range []*store.Task{db.failed, db.delayed, db.done, db.running, db.ended, db.big} {
		if err := st.Persist(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// idAt returns a UUIDv7 of time at, as the engine makes the id of a task
// it creates at that time.
func idAt(at time.Time) uuid.UUID {
	id := uuid.Must(uuid.NewV7())
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id
}

func (db opsDB) get(t *testing.T, id uuid.UUID) (*store.Task, error) {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), db.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Get(context.Background(), id)
}

func (r result) wantCode(t *testing.T, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
}

func TestTaskActions(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	dsn := "sqlite:" + db.path

	r := runCLI(t, "tasks", "retry", db.failed.ID.String(), "--store", dsn)
	r.wantCode(t, exitOK, "retry of a failed task")
	if got, _ := db.get(t, db.failed.ID); got.Status != store.StatusQueued {
		t.Errorf("after retry the task is %s, want Queued", got.Status)
	}
	runCLI(t, "tasks", "retry", db.failed.ID.String(), "--store", dsn).wantCode(t, exitRefused, "second retry (now Queued)")
	runCLI(t, "tasks", "retry", db.done.ID.String(), "--store", dsn).wantCode(t, exitRefused, "retry of a completed task")

	r = runCLI(t, "tasks", "run", db.delayed.ID.String(), "--store", dsn)
	r.wantCode(t, exitOK, "run now of a delayed task")
	if got, _ := db.get(t, db.delayed.ID); got.Status != store.StatusQueued || got.ScheduledAt.After(time.Now()) {
		t.Errorf("after run now the task is %s due %v, want Queued and due", got.Status, got.ScheduledAt)
	}

	runCLI(t, "tasks", "delete", db.running.ID.String(), "--store", dsn).wantCode(t, exitRefused, "delete of a running task")
	runCLI(t, "tasks", "delete", db.done.ID.String(), "--store", dsn).wantCode(t, exitOK, "delete of a completed task")
	if _, err := db.get(t, db.done.ID); err == nil {
		t.Errorf("the deleted task is still there")
	}
	runCLI(t, "tasks", "show", db.done.ID.String(), "--store", dsn).wantCode(t, exitNotFound, "show of a deleted task")

	r = runCLI(t, "tasks", "cancel", db.running.ID.String(), "--store", dsn)
	r.wantCode(t, exitOK, "cancel of a running task")
	if got, _ := db.get(t, db.running.ID); got.Status != store.StatusCancelled {
		t.Errorf("after cancel the task is %s", got.Status)
	}
	runCLI(t, "tasks", "cancel", db.running.ID.String(), "--store", dsn).wantCode(t, exitOK, "cancel of a cancelled task")
	if st := db.statusHistory(t, db.running.ID); st[len(st)-1] != store.StatusCancelled {
		t.Errorf("status history %v does not end Cancelled", st)
	}
}

func (db opsDB) statusHistory(t *testing.T, id uuid.UUID) []store.Status {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), db.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	audits, err := st.StatusAudits(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]store.Status, len(audits))
	for i, a := range audits {
		out[len(audits)-1-i] = a.Status
	}
	return out
}

func TestShowByPrefixAndSuffix(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	id := db.failed.ID.String()
	h := hex.EncodeToString(db.failed.ID[:])
	// The demo prints "…" and the last 6 digits; a prefix of 20 digits
	// goes past the time and the counter of the ids.
	for _, q := range []string{id, "…" + id[len(id)-6:], "..." + id[len(id)-6:], h[:20], id[:23]} {
		r := runCLI(t, "tasks", "show", q, "--dsn", db.path)
		r.wantCode(t, exitOK, "show "+q)
		if !strings.Contains(r.stdout, id) {
			t.Errorf("show %s printed another task:\n%s", q, r.stdout)
		}
	}
	// Tasks made within a minute share their first 8 digits: a twin made
	// in the same millisecond shares 12.
	st, err := sqlitestore.Open(context.Background(), db.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	twin := *db.failed
	twin.ID, twin.Key = idAt(db.failed.CreatedAt), ""
	err = st.Persist(context.Background(), &twin)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "tasks", "show", h[:12], "--dsn", db.path)
	r.wantCode(t, exitNotFound, "show of an ambiguous prefix")
	if !strings.Contains(r.stderr, "give more digits") {
		t.Errorf("stderr %q does not ask for more digits", r.stderr)
	}
	r = runCLI(t, "tasks", "show", "…ffffffffffff", "--dsn", db.path)
	r.wantCode(t, exitNotFound, "show of a suffix nobody has")
	if !strings.Contains(r.stderr, "no task id matches") {
		t.Errorf("stderr %q does not say no id matches", r.stderr)
	}
}

func TestShowBoundsThePayload(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	id := db.big.ID.String()
	r := runCLI(t, "tasks", "show", id, "--dsn", db.path)
	r.wantCode(t, exitOK, "show")
	if len(r.stdout) > 10000 || !strings.Contains(r.stdout, fmt.Sprintf("(%d of 100000 bytes; --full-payload", defaultPayloadBytes)) {
		t.Errorf("show printed %d bytes; want the payload cut at %d with a note:\n%.500s", len(r.stdout), defaultPayloadBytes, r.stdout)
	}
	r = runCLI(t, "tasks", "show", id, "--dsn", db.path, "--full-payload")
	r.wantCode(t, exitOK, "show --full-payload")
	if !strings.Contains(r.stdout, string(db.big.Payload)) {
		t.Errorf("--full-payload did not print the whole payload")
	}
	r = runCLI(t, "tasks", "show", id, "--dsn", db.path, "--json")
	r.wantCode(t, exitOK, "show --json")
	var j struct {
		Payload          json.RawMessage `json:"payload"`
		PayloadText      string          `json:"payload_text"`
		PayloadBytes     int             `json:"payload_bytes"`
		PayloadTruncated bool            `json:"payload_truncated"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("show --json: %v\n%.300s", err, r.stdout)
	}
	if j.Payload != nil || len(j.PayloadText) != defaultPayloadBytes || j.PayloadBytes != 100000 || !j.PayloadTruncated {
		t.Errorf("show --json payload: %d bytes of text, %d total, truncated %v; want %d, 100000, true",
			len(j.PayloadText), j.PayloadBytes, j.PayloadTruncated, defaultPayloadBytes)
	}
}

func TestShowEndedSeriesHasNoNextRun(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	r := runCLI(t, "tasks", "show", db.ended.ID.String(), "--dsn", db.path)
	r.wantCode(t, exitOK, "show")
	if !strings.Contains(r.stdout, "3 of 3") || !strings.Contains(r.stdout, "the series has ended") {
		t.Errorf("show of an ended series:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, db.ended.NextRunAt.Local().Format("2006-01-02 15:04:05")) {
		t.Errorf("show prints the stale next run of an ended series:\n%s", r.stdout)
	}
	r = runCLI(t, "tasks", "show", db.ended.ID.String(), "--dsn", db.path, "--json")
	r.wantCode(t, exitOK, "show --json")
	var j map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	if _, ok := j["next_run_at"]; ok || j["will_run"] != false {
		t.Errorf("show --json of an ended series: next_run_at %v, will_run %v; want none and false", j["next_run_at"], j["will_run"])
	}
}

func TestReadCommandsJSON(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	r := runCLI(t, "tasks", "list", "--dsn", db.path, "--json", "--status", "Failed,InProgress")
	r.wantCode(t, exitOK, "tasks list --json")
	var list struct {
		Tasks []struct {
			ID        string    `json:"id"`
			Status    string    `json:"status"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"tasks"`
		More bool `json:"more"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("tasks list --json: %v\n%s", err, r.stdout)
	}
	if len(list.Tasks) != 2 || list.Tasks[0].ID != db.running.ID.String() || list.Tasks[1].Status != "Failed" || list.More {
		t.Errorf("tasks list --json = %+v, want the running then the failed task", list)
	}
	// Pages: --limit 1 and the cursor of each page walk the same two
	// tasks.
	var walked []string
	cursor := ""
	for range 3 {
		args := []string{"tasks", "--dsn", db.path, "--json", "--status", "Failed,InProgress", "--limit", "1"}
		if cursor != "" {
			args = append(args, "--after", cursor)
		}
		r := runCLI(t, args...)
		r.wantCode(t, exitOK, "tasks list page")
		var page struct {
			Tasks []struct {
				ID string `json:"id"`
			} `json:"tasks"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Tasks {
			walked = append(walked, x.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(walked) != 2 || walked[0] != list.Tasks[0].ID || walked[1] != list.Tasks[1].ID {
		t.Errorf("pages of one walked %v, want the two tasks of the whole list", walked)
	}
	runCLI(t, "tasks", "--dsn", db.path, "--after", "yesterday").wantCode(t, exitUsage, "bad --after")
	if list.Tasks[0].CreatedAt.Location() != time.UTC {
		t.Errorf("created_at is not UTC: %v", list.Tasks[0].CreatedAt)
	}

	runCLI(t, "queues", "pause", "default", "--dsn", db.path).wantCode(t, exitOK, "queues pause")
	r = runCLI(t, "queues", "--dsn", db.path, "--json")
	r.wantCode(t, exitOK, "queues --json")
	var qs struct {
		Queues []struct {
			Name   string         `json:"name"`
			Paused bool           `json:"paused"`
			Total  int            `json:"total"`
			Counts map[string]int `json:"counts"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &qs); err != nil {
		t.Fatalf("queues --json: %v\n%s", err, r.stdout)
	}
	if len(qs.Queues) != 2 || qs.Queues[0].Name != "default" || !qs.Queues[0].Paused || qs.Queues[0].Total != 5 || qs.Queues[0].Counts["Failed"] != 1 {
		t.Errorf("queues --json = %+v; want default paused with 5 tasks (1 Failed), and recurring", qs)
	}
	r = runCLI(t, "queues", "--dsn", db.path)
	r.wantCode(t, exitOK, "queues")
	if !strings.Contains(r.stdout, "paused since") {
		t.Errorf("queues table does not show the pause:\n%s", r.stdout)
	}
	runCLI(t, "queues", "resume", "default", "--dsn", db.path).wantCode(t, exitOK, "queues resume")
	if r := runCLI(t, "queues", "--dsn", db.path); strings.Contains(r.stdout, "paused") {
		t.Errorf("still paused after resume:\n%s", r.stdout)
	}

	r = runCLI(t, "nodes", "--dsn", db.path, "--json")
	r.wantCode(t, exitOK, "nodes --json")
	if strings.TrimSpace(r.stdout) != "{\n  \"nodes\": []\n}" {
		t.Errorf("nodes --json of a store no engine runs on = %q", r.stdout)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	r := runCLI(t, "purge", "--dsn", db.path, "--completed", "2h", "--json")
	r.wantCode(t, exitOK, "purge")
	var res map[string]float64
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("purge --json: %v\n%s", err, r.stdout)
	}
	// done (3 h) and big (4 h) are Completed one-shot tasks older than 2 h.
	if res["tasks"] != 2 {
		t.Errorf("purge --completed 2h deleted %v tasks, want 2", res["tasks"])
	}
	if _, err := db.get(t, db.failed.ID); err != nil {
		t.Errorf("purge of completed tasks deleted the failed one: %v", err)
	}
	r = runCLI(t, "purge", "--dsn", db.path, "--failed", "1d", "--progress")
	r.wantCode(t, exitOK, "purge --progress")
	if !strings.Contains(r.stdout, "purged 0 tasks") || r.stderr != "purge: counting the rows to delete\npurging: 0/0 rows (100%), 0s\n" {
		t.Errorf("purge --progress: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// Not a terminal: plain lines, the count first. The failed task is
	// older than 1 h.
	r = runCLI(t, "purge", "--dsn", db.path, "--failed", "1h", "--batch", "1", "--progress")
	r.wantCode(t, exitOK, "purge --progress")
	if !strings.Contains(r.stdout, "purged 1 tasks") || !regexp.MustCompile(`^purge: counting the rows to delete\npurging: 1/1 rows \(100%\), [0-9.]+m?s\n$`).MatchString(r.stderr) {
		t.Errorf("purge --progress of one task: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestPurgeBar(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tick := func(d time.Duration) { clock = clock.Add(d) }
	mk := func(tty bool) (*purgeBar, *strings.Builder) {
		var w strings.Builder
		b := newPurgeBar(&w, tty)
		b.now = func() time.Time { return clock }
		b.began = clock
		return b, &w
	}
	// On a terminal: one line redrawn, at most every 100 ms, cleared at
	// the end.
	b, w := mk(true)
	b.total = 200
	b.update(store.PurgeResult{Tasks: 50})
	tick(50 * time.Millisecond)
	b.update(store.PurgeResult{Tasks: 60}) // too soon: not drawn
	tick(100 * time.Millisecond)
	b.update(store.PurgeResult{Tasks: 100, Logs: 50})
	b.finish()
	want := "\rpurging [======>                       ] 50/200 rows  25% 0s" +
		"\rpurging [=====================>        ] 150/200 rows  75% 200ms" +
		"\r" + strings.Repeat(" ", len("purging [=====================>        ] 150/200 rows  75% 200ms")) + "\r"
	if w.String() != want {
		t.Errorf("terminal bar:\n%q\nwant\n%q", w.String(), want)
	}
	// Elsewhere: a line at the first batch, then at most one a second, and
	// the last state at the end.
	b, w = mk(false)
	b.total = 10
	for i := 1; i <= 12; i++ { // 2 rows grew old after the count
		tick(300 * time.Millisecond)
		b.update(store.PurgeResult{StatusAudits: i})
	}
	b.finish()
	want = "purging: 1/10 rows (10%), 300ms\n" + "purging: 5/10 rows (50%), 1.5s\n" + "purging: 9/10 rows (90%), 2.7s\n" + "purging: 12/12 rows (100%), 3.6s\n"
	if w.String() != want {
		t.Errorf("plain lines:\n%s\nwant\n%s", w.String(), want)
	}
	// A store that cannot count: the rows deleted so far.
	b, w = mk(false)
	b.update(store.PurgeResult{Tasks: 7})
	b.finish()
	if got := w.String(); !strings.HasPrefix(got, "purging: 7 rows deleted, ") || strings.Count(got, "\n") != 1 {
		t.Errorf("no total: %q", got)
	}
}

// A read command never writes: a mistyped Redis prefix is reported, and no
// key is created under it.
func TestRedisReadNeverWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, err := openRedis(ctx, testenv.RedisAddr())
	if err != nil {
		testenv.Unavailable(t, "redis", err)
	}
	defer rdb.Close()
	prefix := "evertask_clitest_" + randomSuffix() + ":"
	for _, args := range [][]string{{"tasks"}, {"queues"}, {"nodes"}, {"tasks", "show", "…abcdef"}, {"queues", "pause", "q"}} {
		r := runCLI(t, append(args, "--store", "redis", "--dsn", testenv.RedisAddr(), "--schema", prefix)...)
		r.wantCode(t, exitFail, fmt.Sprint(args))
		if !strings.Contains(r.stderr, "has no evertask data under the key prefix") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: stderr %q; want one line about the prefix", args, r.stderr)
		}
	}
	keys, err := rdb.Keys(ctx, "*"+prefix+"*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys under the mistyped prefix: %v (%v); want none", keys, err)
	}

	// With data under the prefix, every command reads it.
	st, err := redisstore.New(ctx, rdb, &redisstore.Opts{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer deleteKeys(context.Background(), rdb, "*"+prefix+"*")
	task := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), Kind: "cli.redis", Queue: "default", Status: store.StatusFailed}
	if err := st.Persist(ctx, task); err != nil {
		t.Fatal(err)
	}
	url := "redis://" + testenv.RedisAddr()
	r := runCLI(t, "tasks", "--store", url, "--schema", prefix)
	r.wantCode(t, exitOK, "tasks on redis")
	if !strings.Contains(r.stdout, task.ID.String()) {
		t.Errorf("tasks on redis:\n%s", r.stdout)
	}
	runCLI(t, "tasks", "retry", task.ID.String(), "--store", url, "--schema", prefix).wantCode(t, exitOK, "retry on redis")
	runCLI(t, "queues", "pause", "default", "--store", url, "--schema", prefix).wantCode(t, exitOK, "pause on redis")
	if p, err := st.PausedQueues(ctx); err != nil || len(p) != 1 {
		t.Errorf("paused queues after the CLI's pause: %v, %v", p, err)
	}
}

func TestPostgresCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := openPool(ctx, testenv.PostgresURL(), 2)
	if err != nil {
		testenv.Unavailable(t, "postgres", err)
	}
	defer pool.Close()
	schema := "evertask_clitest_" + randomSuffix()
	defer pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")

	// A schema without tables: one line saying how to create them.
	r := runCLI(t, "tasks", "--store", testenv.PostgresURL(), "--schema", schema)
	r.wantCode(t, exitFail, "tasks on a missing schema")
	if !strings.Contains(r.stderr, "has no evertask tables") || !strings.Contains(r.stderr, "evertask migrate") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q; want one line naming the fix", r.stderr)
	}
	st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	task := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), Kind: "cli.pg", Queue: "default", Status: store.StatusWaitingQueue,
		ScheduledAt: time.Now().Add(time.Hour)}
	if err := st.Persist(ctx, task); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "tasks", "show", "…"+task.ID.String()[30:], "--store", testenv.PostgresURL(), "--schema", schema)
	r.wantCode(t, exitOK, "show on postgres")
	runCLI(t, "tasks", "run", task.ID.String(), "--store", testenv.PostgresURL(), "--schema", schema).wantCode(t, exitOK, "run on postgres")
	if got, err := st.Get(ctx, task.ID); err != nil || got.Status != store.StatusQueued {
		t.Errorf("after run now: %+v, %v", got, err)
	}
	r = runCLI(t, "queues", "--store", testenv.PostgresURL(), "--schema", schema, "--json")
	r.wantCode(t, exitOK, "queues on postgres")
}

// Servers that cannot be reached: one line naming the server and the fix,
// exit 1, nothing from the client libraries.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tasks", "--store", "redis", "--dsn", "127.0.0.1:1"}, "cannot reach redis at 127.0.0.1:1"},
		{[]string{"queues", "--store", "redis://127.0.0.1:1"}, "cannot reach redis at 127.0.0.1:1"},
		{[]string{"nodes", "--store", "postgres://root@127.0.0.1:1/test"}, "cannot reach postgres at 127.0.0.1:1"},
		{[]string{"migrate", "--store", "postgres", "--dsn", "postgres://root@127.0.0.1:1/test"}, "cannot reach postgres at 127.0.0.1:1"},
		{[]string{"tasks", "--store", "sqlite:" + filepath.Join(t.TempDir(), "none.db")}, "does not exist: check --dsn"},
	} {
		r := runCLI(t, tc.args...)
		r.wantCode(t, exitFail, fmt.Sprint(tc.args))
		if !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("%v: stderr %q, stdout %q; want one line with %q", tc.args, r.stderr, r.stdout, tc.want)
		}
	}
}

// asCLIEnv makes the test binary run the command line (see TestMain).
const asCLIEnv = "EVERTASK_TEST_AS_CLI"

// runProcess runs the command line in a process of its own and returns
// everything it wrote.
func runProcess(t *testing.T, args ...string) result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), asCLIEnv+"=1")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// In a process of its own, nothing but the one line reaches stderr: no
// log lines of the Redis client's pool, no stack trace.
func TestProcessErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"tasks", "--store", "redis", "--dsn", "127.0.0.1:1"}, "cannot reach redis at 127.0.0.1:1", exitFail},
		{[]string{"nodes", "--store", "postgres://root@127.0.0.1:1/test"}, "cannot reach postgres at 127.0.0.1:1", exitFail},
		{[]string{"queues", "--store", "redis", "--dsn", testenv.RedisAddr(), "--schema", "evertask_clitest_" + randomSuffix() + ":"}, "has no evertask data", exitFail},
		{[]string{"tasks", "show", "42"}, `bad task id "42"`, exitUsage},
	} {
		r := runProcess(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.want)
			continue
		}
		if tc.code == exitFail && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: stderr has more than one line:\n%s", tc.args, r.stderr)
		}
	}
}

// TestPurgeStats deletes the overview's counters older than --stats and
// keeps the newer ones.
func TestPurgeStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stats.db")
	st, err := sqlitestore.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, ago := range []time.Duration{100 * 24 * time.Hour, time.Hour} {
		task := &store.Task{ID: idAt(now.Add(-ago)), CreatedAt: now.Add(-ago), Kind: fmt.Sprint("k", i), Queue: "default", Status: store.StatusInProgress}
		if err := st.Persist(ctx, task); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.Transition(ctx, store.TransitionParams{ID: task.ID, To: store.StatusCompleted, Now: now.Add(-ago), AuditLevel: store.AuditNone}); err != nil || !ok {
			t.Fatalf("Transition = %v, %v", ok, err)
		}
	}
	st.Close()
	r := runCLI(t, "purge", "--dsn", path, "--stats", "90d", "--json")
	r.wantCode(t, exitOK, "purge --stats")
	var res map[string]float64
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("purge --json: %v\n%s", err, r.stdout)
	}
	if res["stats"] != 1 || res["tasks"] != 0 {
		t.Errorf("purge --stats 90d = %v, want 1 counter and no task", r.stdout)
	}
}

// TestTasksSearchIsBounded: a --search tests at most --scan-limit tasks a
// call and says where it stopped; --after goes on from there.
func TestTasksSearchIsBounded(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	r := runCLI(t, "tasks", "--dsn", db.path, "--search", "no-such-text", "--scan-limit", "2", "--json")
	r.wantCode(t, exitOK, "tasks --search --scan-limit 2")
	var page struct {
		Tasks       []map[string]any `json:"tasks"`
		Next        string           `json:"next"`
		ScanLimited bool             `json:"scan_limited"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
		t.Fatalf("tasks --json: %v\n%s", err, r.stdout)
	}
	if len(page.Tasks) != 0 || !page.ScanLimited || page.Next == "" {
		t.Fatalf("a bounded search of 6 tasks for nothing = %s; want no task, scan_limited and a next cursor", r.stdout)
	}
	r = runCLI(t, "tasks", "--dsn", db.path, "--search", "no-such-text", "--scan-limit", "2")
	if !strings.Contains(r.stdout, "no match in the 2 tasks searched; search older ones with --after "+page.Next) {
		t.Errorf("tasks --search table: %q", r.stdout)
	}
	// Without a bound the whole table is searched: no cursor.
	r = runCLI(t, "tasks", "--dsn", db.path, "--search", "no-such-text", "--scan-limit", "0", "--json")
	if !strings.Contains(r.stdout, `"tasks": []`) || strings.Contains(r.stdout, "scan_limited") || strings.Contains(r.stdout, `"next"`) {
		t.Errorf("tasks --search --scan-limit 0 = %s; want an empty, final page", r.stdout)
	}
	// A search that matches finds its rows within the bound.
	r = runCLI(t, "tasks", "--dsn", db.path, "--search", "ops.fail", "--scan-limit", "50")
	if !strings.Contains(r.stdout, "ops.failed") {
		t.Errorf("tasks --search ops.fail: %q", r.stdout)
	}
	r = runCLI(t, "tasks", "--dsn", db.path, "--search", "x", "--scan-limit", "-1")
	r.wantCode(t, exitUsage, "tasks --scan-limit -1")
}
