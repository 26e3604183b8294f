// Command node is one engine of the multi-process cluster tests (package
// clustertest): a real OS process on a shared store, killed, paused and
// restarted by the test.
//
// It records what it does in <records>/<id>.rec, one line per event, each
// appended with a single write(2) on an O_APPEND file: a SIGKILL cannot lose
// a line whose write returned, and lines of concurrent goroutines never
// interleave. Every line is "<what> <subject> <node> <time> <details...>",
// the time in Unix nanoseconds of this host's clock:
//
//	ready - <node> <t>                         the engine started
//	ack <task> <node> <t> <n>                  Dispatch returned the id of task n
//	dispatched - <node> <t> <count>            a dispatch loop is over
//	dispatcherr <n> <node> <t> <error...>      a Dispatch failed; task n is tried again
//	series <task> <node> <t>                   the recurring series is registered
//	start <task> <node> <t> <run> <attempt> <sleep>  the handler began
//	ctxdone <task> <node> <t>                  the handler saw its context end
//	end <task> <node> <t> ok|cancelled         the handler returned
//	applied <task> <node> <t>                  the engine persisted its success (OnCompleted)
//	error <task> <node> <t> <error...>         the execution ended without success (OnError)
//	cancel <task> <node> <t>                   Cancel is about to be called
//	cancelret <task> <node> <t> ok|<error...>  Cancel returned
//
// Commands arrive on stdin, one a line:
//
//	dispatch <count> <sleep> [<delay> [<every>]]  dispatch count tasks (0: until halt)
//	recurring <key> <seconds> <maxruns> <sleep>   register a series every <seconds>
//	cancel <task>                                 cancel a task
//	halt                                          stop the dispatch loops
//	quit                                          shut down and exit (as SIGTERM does)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// job is the one task kind: it sleeps for Sleep, or until its context ends.
type job struct {
	N     int           `json:"n"`
	From  string        `json:"from"`
	Sleep time.Duration `json:"sleep"`
}

func (job) Kind() string { return "clustertest.job" }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

type options struct {
	store, dsn, schema string
	id, records        string
	workers            int
	lease, renew, poll time.Duration
	logLevel           string
}

func run() error {
	var o options
	flag.StringVar(&o.store, "store", "", "postgres, mysql, redis or sqlite")
	flag.StringVar(&o.dsn, "dsn", "", "PostgreSQL URL, MySQL DSN, Redis host:port or SQLite file")
	flag.StringVar(&o.schema, "schema", "", "PostgreSQL schema, MySQL database or Redis key prefix")
	flag.StringVar(&o.id, "id", "", "node id (also names the records file)")
	flag.StringVar(&o.records, "records", "", "directory of the records files")
	flag.IntVar(&o.workers, "workers", 4, "workers of each queue")
	flag.DurationVar(&o.lease, "lease", 0, "Cluster.LeaseDuration (0: default)")
	flag.DurationVar(&o.renew, "renew", 0, "Cluster.RenewInterval (0: default)")
	flag.DurationVar(&o.poll, "poll", 0, "Cluster.PollInterval (0: default)")
	flag.StringVar(&o.logLevel, "log", "warn", "engine log level: debug, info, warn, error")
	flag.Parse()
	if o.id == "" || o.records == "" {
		return errors.New("-id and -records are required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	f, err := os.OpenFile(filepath.Join(o.records, o.id+".rec"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	r := &recorder{f: f, node: o.id}

	st, closeStore, err := openStore(ctx, o)
	if err != nil {
		return err
	}
	defer closeStore()

	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return err
	}
	eng, err := evertask.New(st, &evertask.Config{
		Workers:    o.workers,
		AuditLevel: store.AuditFull,
		// One attempt: a second start of a task always means a second
		// execution, which is what the tests count.
		Retry:  evertask.NoRetry(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", o.id),
		Cluster: evertask.ClusterConfig{
			NodeID: o.id, LeaseDuration: o.lease, RenewInterval: o.renew, PollInterval: o.poll,
		},
	})
	if err != nil {
		return err
	}
	if err := evertask.Register[job](eng, &handler{r: r}, nil); err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	r.rec("ready", "", "")

	c := &commands{eng: eng, r: r}
	c.halt = make(chan struct{})
	lines := make(chan string)
	go func() {
		// stdin closes when the test ends or dies: the node goes too.
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "quit" {
				break loop
			}
			if err := c.do(ctx, line); err != nil {
				fmt.Fprintf(os.Stderr, "node %s: %q: %v\n", o.id, line, err)
			}
		}
	}
	c.stopDispatching()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return eng.Shutdown(sctx)
}

// openStore opens the shared store. The test has migrated it already.
func openStore(ctx context.Context, o options) (store.Store, func(), error) {
	switch o.store {
	case "postgres":
		pool, err := pgxpool.New(ctx, o.dsn)
		if err != nil {
			return nil, nil, err
		}
		st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: o.schema, SkipMigrations: true})
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return st, func() { st.Close(); pool.Close() }, nil
	case "redis":
		rdb := redis.NewClient(&redis.Options{Addr: o.dsn})
		st, err := redisstore.New(ctx, rdb, &redisstore.Opts{Prefix: o.schema})
		if err != nil {
			rdb.Close()
			return nil, nil, err
		}
		return st, func() { st.Close(); rdb.Close() }, nil
	case "mysql":
		st, err := mysqlstore.Open(ctx, o.dsn, &mysqlstore.Config{Database: o.schema, SkipMigrations: true, MaxConns: 8})
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	case "sqlite":
		st, err := sqlitestore.Open(ctx, o.dsn, nil)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown -store %q", o.store)
}

// recorder appends the record lines.
type recorder struct {
	f    *os.File
	node string
}

// rec appends "<what> <subject> <node> <now> <rest>" (subject "-" when
// empty; rest may be empty) in one write(2); the file is O_APPEND, so concurrent lines stay
// whole. A record that cannot be written makes every later check wrong:
// the node dies loudly instead.
func (r *recorder) rec(what, subject, rest string) {
	var b strings.Builder
	if subject == "" {
		subject = "-"
	}
	b.WriteString(what)
	b.WriteByte(' ')
	b.WriteString(subject)
	fmt.Fprintf(&b, " %s %d", r.node, time.Now().UnixNano())
	if rest != "" {
		b.WriteByte(' ')
		b.WriteString(rest)
	}
	b.WriteByte('\n')
	if _, err := r.f.Write([]byte(b.String())); err != nil {
		fmt.Fprintln(os.Stderr, "node: record:", err)
		os.Exit(3)
	}
}

// handler runs a job and records it; its hooks record what the engine made
// of the outcome.
type handler struct{ r *recorder }

func (h *handler) Handle(ctx context.Context, j job) error {
	id := evertask.TaskID(ctx).String()
	h.r.rec("start", id, fmt.Sprintf("%d %d %s", evertask.RunNumber(ctx), evertask.Attempt(ctx), j.Sleep))
	t := time.NewTimer(j.Sleep)
	defer t.Stop()
	select {
	case <-t.C:
		h.r.rec("end", id, "ok")
		return nil
	case <-ctx.Done():
		h.r.rec("ctxdone", id, "")
		h.r.rec("end", id, "cancelled")
		return ctx.Err()
	}
}

// OnCompleted runs after the success was persisted: a refused (fenced)
// write never gets here.
func (h *handler) OnCompleted(ctx context.Context, j job) {
	h.r.rec("applied", evertask.TaskID(ctx).String(), "")
}

func (h *handler) OnError(ctx context.Context, j job, err error) {
	h.r.rec("error", evertask.TaskID(ctx).String(), oneLine(err.Error()))
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// commands runs the stdin commands.
type commands struct {
	eng     *evertask.Engine
	r       *recorder
	mu      sync.Mutex
	halt    chan struct{} // closed by halt: the dispatch loops stop
	next    int           // the next task number of this node
	loops   sync.WaitGroup
	stopped bool
}

func (c *commands) do(ctx context.Context, line string) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case "dispatch":
		return c.dispatch(ctx, f[1:])
	case "recurring":
		return c.recurring(ctx, f[1:])
	case "cancel":
		if len(f) != 2 {
			return errors.New("usage: cancel <task>")
		}
		id, err := uuid.Parse(f[1])
		if err != nil {
			return err
		}
		go func() {
			c.r.rec("cancel", id.String(), "")
			res := "ok"
			if err := c.eng.Cancel(ctx, id); err != nil {
				res = oneLine(err.Error())
			}
			c.r.rec("cancelret", id.String(), res)
		}()
		return nil
	case "halt":
		c.stopDispatching()
		return nil
	}
	return fmt.Errorf("unknown command %q", f[0])
}

func (c *commands) stopDispatching() {
	c.mu.Lock()
	if !c.stopped {
		c.stopped = true
		close(c.halt)
	}
	c.mu.Unlock()
	c.loops.Wait()
}

// dispatch starts a loop that dispatches count tasks (0: until halt), one
// every <every>, each sleeping <sleep> and delayed by <delay>. A failed
// Dispatch is retried with the same task number, as an application would;
// the ack is written only once Dispatch returned the id.
func (c *commands) dispatch(ctx context.Context, args []string) error {
	if len(args) < 2 || len(args) > 4 {
		return errors.New("usage: dispatch <count> <sleep> [<delay> [<every>]]")
	}
	count, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	var d [3]time.Duration
	for i, a := range args[1:] {
		if d[i], err = time.ParseDuration(a); err != nil {
			return err
		}
	}
	sleep, delay, every := d[0], d[1], d[2]
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("halted")
	}
	c.loops.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.loops.Done()
		sent := 0
		for count == 0 || sent < count {
			select {
			case <-c.halt:
				c.r.rec("dispatched", "", strconv.Itoa(sent))
				return
			case <-ctx.Done():
				return
			default:
			}
			c.mu.Lock()
			n := c.next
			c.next++
			c.mu.Unlock()
			for {
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				id, err := c.eng.Dispatch(dctx, job{N: n, From: c.r.node, Sleep: sleep}, &evertask.DispatchOpts{Delay: delay})
				cancel()
				if err == nil {
					c.r.rec("ack", id.String(), strconv.Itoa(n))
					break
				}
				c.r.rec("dispatcherr", strconv.Itoa(n), oneLine(err.Error()))
				select {
				case <-c.halt:
					c.r.rec("dispatched", "", strconv.Itoa(sent))
					return
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			sent++
			if every > 0 {
				select {
				case <-c.halt:
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		}
		c.r.rec("dispatched", "", strconv.Itoa(sent))
	}()
	return nil
}

// recurring registers a series under a key: every <seconds>, at most
// <maxruns> runs, each sleeping <sleep>.
func (c *commands) recurring(ctx context.Context, args []string) error {
	if len(args) != 4 {
		return errors.New("usage: recurring <key> <seconds> <maxruns> <sleep>")
	}
	secs, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	runs, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	sleep, err := time.ParseDuration(args[3])
	if err != nil {
		return err
	}
	s := schedule.EverySeconds(secs).AtMost(runs)
	// The same definition on every node, as an application registers its
	// series at every start: the payload names no node.
	id, err := c.eng.Dispatch(ctx, job{Sleep: sleep}, &evertask.DispatchOpts{Key: args[0], Schedule: &s})
	if err != nil {
		return err
	}
	c.r.rec("series", id.String(), "")
	return nil
}
