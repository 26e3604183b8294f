package clustertest

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// The cluster settings of every node. The lease is short so a take-over
// fits a test; poll bounds how late a node notices due work nobody told it
// about. slack is what a loaded 2-core machine may add to a bound.
const (
	lease = 3 * time.Second
	poll  = 500 * time.Millisecond
	slack = 2 * time.Second

	// renewInterval is the engine's default for this lease: min(1s,
	// lease/3).
	renewInterval = time.Second
)

// logLevel is the nodes' engine log level: EVERTASK_CLUSTERTEST_LOG, or
// warn.
func logLevel() string {
	if l := os.Getenv("EVERTASK_CLUSTERTEST_LOG"); l != "" {
		return l
	}
	return "warn"
}

// kinds are the stores every scenario runs on.
var kinds = []string{"postgres", "mysql", "redis", "sqlite"}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// nodeBinary builds the node program once per test binary.
func nodeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "evertask-clustertest-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "node")
		out, err := exec.Command("go", "build", "-o", binPath, "./node").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./node: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// backend is one shared store: how the nodes open it, and the test's own
// handle on it to read the rows.
type backend struct {
	kind   string // the node's -store
	dsn    string
	schema string // PostgreSQL schema, MySQL database or Redis prefix
	st     store.Store
	pool   *pgxpool.Pool // PostgreSQL only
	mysql  *sql.DB       // MySQL only
	redis  *redis.Client // Redis only
}

// openBackend creates an empty store of its own (schema, prefix or file),
// migrated, and removes it when the test ends.
func openBackend(t *testing.T, kind string) *backend {
	t.Helper()
	ctx := context.Background()
	b := &backend{kind: kind}
	switch kind {
	case "postgres":
		pool := testenv.PostgresPool(t)
		b.pool = pool
		b.dsn, b.schema = testenv.PostgresURL(), "et_cluster_"+randomHex()
		st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: b.schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			st.Close()
			if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+b.schema+" CASCADE"); err != nil {
				t.Logf("drop schema %s: %v", b.schema, err)
			}
		})
		b.st = st
	case "mysql":
		db := testenv.MySQLDB(t, 4)
		b.mysql = db
		b.dsn, b.schema = testenv.MySQLDSN(), "et_cluster_"+randomHex()
		st, err := mysqlstore.New(ctx, db, &mysqlstore.Config{Database: b.schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			st.Close()
			if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+b.schema+"`"); err != nil {
				t.Logf("drop database %s: %v", b.schema, err)
			}
		})
		b.st = st
	case "redis":
		testenv.RequireRedis(t)
		client := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			testenv.Unavailable(t, "Redis", err)
		}
		b.redis = client
		b.dsn, b.schema = testenv.RedisAddr(), "et_cluster:"+randomHex()+":"
		st, err := redisstore.New(ctx, client, &redisstore.Opts{Prefix: b.schema})
		if err != nil {
			client.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			st.Close()
			deleteKeys(t, client, b.schema)
			client.Close()
		})
		b.st = st
	case "sqlite":
		b.dsn = filepath.Join(t.TempDir(), "cluster.db")
		st, err := sqlitestore.Open(ctx, b.dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		b.st = st
	default:
		t.Fatalf("unknown store %q", kind)
	}
	return b
}

// deleteKeys removes every key of a Redis prefix (SCAN: test cleanup only).
func deleteKeys(t *testing.T, c *redis.Client, prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "{"+prefix+"}*", 1000).Result()
		if err != nil {
			t.Logf("delete the keys of %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			c.Unlink(ctx, keys...)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

// cluster is a set of node processes on one backend, with their records in
// one directory.
type cluster struct {
	t     *testing.T
	b     *backend
	dir   string
	mu    sync.Mutex
	procs map[string]*proc
}

// newCluster makes the records directory; a failed test keeps it (any
// test with EVERTASK_CLUSTERTEST_KEEP=1), and says where, for a look at the
// records and the nodes' logs.
func newCluster(t *testing.T, b *backend) *cluster {
	dir, err := os.MkdirTemp("", "evertask-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, b: b, dir: dir, procs: map[string]*proc{}}
	t.Cleanup(c.close)
	return c
}

// proc is one node process.
type proc struct {
	c      *cluster
	id     string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed once the process was reaped
	err    error         // its exit, once exited is closed

	killedAt time.Time // when SIGKILL was sent
	deadAt   time.Time // when the process was seen gone: it did nothing after
	killed   bool
}

// start runs a node and waits for its engine to be started.
func (c *cluster) start(id string, workers int) *proc {
	c.t.Helper()
	out, err := os.Create(filepath.Join(c.dir, id+".stderr"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer out.Close() // the child holds its own descriptor
	cmd := exec.Command(nodeBinary(c.t),
		"-store", c.b.kind, "-dsn", c.b.dsn, "-schema", c.b.schema,
		"-id", id, "-records", c.dir, "-workers", strconv.Itoa(workers),
		"-lease", lease.String(), "-poll", poll.String(), "-log", logLevel())
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{c: c, id: id, cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	c.mu.Lock()
	c.procs[id] = p
	c.mu.Unlock()
	c.waitFor(15*time.Second, "node "+id+" ready", func(rs records) bool { return rs.has("ready", "-", id) })
	return p
}

// send writes a command line to the node's stdin.
func (p *proc) send(format string, args ...any) {
	p.c.t.Helper()
	if _, err := fmt.Fprintf(p.stdin, format+"\n", args...); err != nil {
		p.c.t.Fatalf("node %s: send: %v", p.id, err)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() time.Time {
	p.c.t.Helper()
	p.killedAt = time.Now()
	p.killed = true
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.c.t.Fatalf("kill %s: %v", p.id, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.c.t.Fatalf("node %s survived SIGKILL for 10s", p.id)
	}
	p.deadAt = time.Now()
	return p.killedAt
}

// signal sends sig (SIGSTOP, SIGCONT) and returns when it was sent.
func (p *proc) signal(sig syscall.Signal) time.Time {
	p.c.t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.c.t.Fatalf("signal %s to %s: %v", sig, p.id, err)
	}
	return at
}

// close kills what still runs; when the test failed it shows the nodes'
// stderr, where the engine logs.
func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := slices.Sorted(maps.Keys(c.procs))
	for _, id := range ids {
		p := c.procs[id]
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
		p.stdin.Close()
	}
	if !c.t.Failed() && os.Getenv("EVERTASK_CLUSTERTEST_KEEP") != "1" {
		os.RemoveAll(c.dir)
		return
	}
	c.t.Logf("records and node logs kept in %s", c.dir)
	for _, id := range ids {
		b, _ := os.ReadFile(filepath.Join(c.dir, id+".stderr"))
		if len(b) > 4000 {
			b = append([]byte("...\n"), b[len(b)-4000:]...)
		}
		if len(b) > 0 {
			c.t.Logf("stderr of node %s:\n%s", id, b)
		}
	}
}

func (c *cluster) proc(id string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[id]
}

// waitFor polls the records until cond holds, or fails the test. A node
// that exits unasked fails it at once, with its stderr.
func (c *cluster) waitFor(timeout time.Duration, what string, cond func(records) bool) records {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs := c.records()
		if cond(rs) {
			return rs
		}
		c.mu.Lock()
		for _, p := range c.procs {
			select {
			case <-p.exited:
				if !p.killed && p.deadAt.IsZero() {
					c.mu.Unlock()
					c.t.Fatalf("waiting for %s: node %s exited: %v", what, p.id, p.err)
				}
			default:
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %s: not after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCompleted polls the store until every id is Completed, then the
// records until each has the execution that completed it (hooksSettle), or
// fails.
func (c *cluster) waitCompleted(timeout time.Duration, ids []uuid.UUID) {
	c.t.Helper()
	c.waitStoreCompleted(timeout, ids)
	c.waitFor(hooksSettle, "the completion hooks of the Completed tasks", func(rs records) bool {
		execs := rs.executions()
		for _, id := range ids {
			if !c.completedBy(execs[id.String()]) {
				return false
			}
		}
		return true
	})
}

// hooksSettle bounds the wait for an applied record after the store says
// Completed: a node records it in the success hook, which runs after the
// outcome's write commits, so a test that read the records at once missed
// the last one (a kill test once failed that way under -race).
const hooksSettle = 10 * time.Second

// completedBy reports whether one of a Completed task's executions shows
// how: the engine applied its success (the applied record), or it ended ok
// on a node that was killed before its hook could record it.
func (c *cluster) completedBy(xs []*execution) bool {
	for _, x := range xs {
		if x.applied || x.outcome == "ok" && c.proc(x.node).killed {
			return true
		}
	}
	return false
}

// waitStoreCompleted polls the store until every id is Completed, or fails.
func (c *cluster) waitStoreCompleted(timeout time.Duration, ids []uuid.UUID) {
	c.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	left := slices.Clone(ids)
	for {
		var still []uuid.UUID
		var last *store.Task
		for _, id := range left {
			row, err := c.b.st.Get(ctx, id)
			if err != nil || row.Status != store.StatusCompleted {
				still = append(still, id)
				if err == nil {
					last = row
				}
			}
		}
		if left = still; len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			detail := ""
			if last != nil {
				detail = fmt.Sprintf("; e.g. %s is %s (owner %q, lease until %s)", last.ID, last.Status, last.Owner, last.LeaseUntil.Format(time.StampMilli))
			}
			c.t.Fatalf("%d of %d tasks not Completed after %s%s", len(left), len(ids), timeout, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// record is one line of a records file (see node/main.go).
type record struct {
	what, subject, node string
	at                  time.Time
	rest                []string
}

type records []record

// records reads every records file, each in its order. A last line
// without its newline is being written: it is left for the next read.
func (c *cluster) records() records {
	c.t.Helper()
	files, err := filepath.Glob(filepath.Join(c.dir, "*.rec"))
	if err != nil {
		c.t.Fatal(err)
	}
	sort.Strings(files)
	var rs records
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			c.t.Fatal(err)
		}
		if i := strings.LastIndexByte(string(b), '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 {
				c.t.Fatalf("%s: bad record %q", name, sc.Text())
			}
			ns, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				c.t.Fatalf("%s: bad record %q", name, sc.Text())
			}
			rs = append(rs, record{what: f[0], subject: f[1], node: f[2], at: time.Unix(0, ns), rest: f[4:]})
		}
	}
	return rs
}

// has reports whether a record what/subject/node exists ("" matches any).
func (rs records) has(what, subject, node string) bool {
	return len(rs.find(what, subject, node)) > 0
}

// find returns the records what/subject/node ("" matches any).
func (rs records) find(what, subject, node string) records {
	var out records
	for _, r := range rs {
		if r.what == what && (subject == "" || r.subject == subject) && (node == "" || r.node == node) {
			out = append(out, r)
		}
	}
	return out
}

// acks returns the acknowledged task ids, in no particular order.
func (rs records) acks() []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range rs.find("ack", "", "") {
		ids = append(ids, uuid.MustParse(r.subject))
	}
	return ids
}

// execution is one run of a handler, from its start record to its end.
type execution struct {
	task, node string
	run        int           // run number of a recurring series
	sleep      time.Duration // how long the handler meant to sleep
	start, end time.Time     // end is zero while there is no end record
	outcome    string        // ok or cancelled
	ctxdone    time.Time
	applied    bool // the engine persisted the success
}

// executions groups the records into executions, by task.
func (rs records) executions() map[string][]*execution {
	type key struct{ node, task string }
	open := map[key]*execution{}
	last := map[key]*execution{}
	out := map[string][]*execution{}
	for _, r := range rs {
		k := key{r.node, r.subject}
		switch r.what {
		case "start":
			x := &execution{task: r.subject, node: r.node, start: r.at}
			if len(r.rest) >= 3 {
				x.run, _ = strconv.Atoi(r.rest[0])
				x.sleep, _ = time.ParseDuration(r.rest[2])
			}
			open[k], last[k] = x, x
			out[r.subject] = append(out[r.subject], x)
		case "ctxdone":
			if x := open[k]; x != nil {
				x.ctxdone = r.at
			}
		case "end":
			if x := open[k]; x != nil {
				x.end = r.at
				if len(r.rest) > 0 {
					x.outcome = r.rest[0]
				}
				delete(open, k)
			}
		case "applied":
			if x := last[k]; x != nil {
				x.applied = true
			}
		}
	}
	return out
}

// endOf is when an execution certainly ended: its end record, or the death
// of its killed node; zero when it may still run.
func (c *cluster) endOf(x *execution) time.Time {
	if !x.end.IsZero() {
		return x.end
	}
	if p := c.proc(x.node); p != nil && !p.deadAt.IsZero() {
		return p.deadAt
	}
	return time.Time{}
}

// checkNoOverlap fails the test if two executions of one task overlap in
// time (an execution without end, on a live node, overlaps everything
// after its start). skip leaves executions out of the check.
func (c *cluster) checkNoOverlap(execs map[string][]*execution, skip func(*execution) bool) {
	c.t.Helper()
	bad := 0
	for task, xs := range execs {
		var kept []*execution
		for _, x := range xs {
			if skip == nil || !skip(x) {
				kept = append(kept, x)
			}
		}
		sort.Slice(kept, func(i, j int) bool { return kept[i].start.Before(kept[j].start) })
		for i := 1; i < len(kept); i++ {
			prev, cur := kept[i-1], kept[i]
			end := c.endOf(prev)
			if end.IsZero() || cur.start.Before(end) {
				bad++
				if bad <= 5 {
					c.t.Errorf("task %s ran twice at once: on %s from %s to %s, on %s from %s",
						task, prev.node, stamp(prev.start), stamp(end), cur.node, stamp(cur.start))
				}
			}
		}
	}
	if bad > 5 {
		c.t.Errorf("... %d overlapping executions in all", bad)
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(still running)"
	}
	return t.Format("15:04:05.000")
}

func randomHex() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ms formats a duration for the logged figures: milliseconds, to a tenth.
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
