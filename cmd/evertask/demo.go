package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/internal/taskview"
	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// The demo's task types. Each is a plain struct with a stable Kind.
type (
	welcomeEmail struct {
		To string `json:"to"`
	}
	syncInventory struct {
		Warehouse string `json:"warehouse"`
	}
	importFeed struct {
		URL string `json:"url"`
	}
	heartbeat   struct{}
	sendInvoice struct {
		Number int `json:"number"`
	}
	weeklyReport struct {
		Week string `json:"week"`
	}
)

func (welcomeEmail) Kind() string  { return "demo.welcome_email" }
func (syncInventory) Kind() string { return "demo.sync_inventory" }
func (importFeed) Kind() string    { return "demo.import_feed" }
func (heartbeat) Kind() string     { return "demo.heartbeat" }
func (sendInvoice) Kind() string   { return "demo.send_invoice" }
func (weeklyReport) Kind() string  { return "demo.weekly_report" }

const (
	// defaultDemoAddr is where the demo serves its dashboard; when the port
	// is taken it takes a free one.
	defaultDemoAddr = "127.0.0.1:8080"

	heartbeatKey  = "demo-heartbeat"
	heartbeatRuns = 3
	invoiceKey    = "invoice-1042"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--db evertask-demo.db | --store postgres|mysql|redis [--dsn DSN]] [--duration 8s]", stderr)
	path := fs.String("db", defaultSQLitePath, "SQLite file the demo keeps its tasks in; run the demo twice on it to see recovery")
	name := fs.String("store", "sqlite", "store to keep the tasks in: sqlite (the --db file), postgres, mysql or redis")
	dsn := fs.String("dsn", "", "postgres URL (default "+defaultPostgresDSN+"), mysql DSN (default "+defaultMySQLDSN+") or redis address (default "+defaultRedisAddr+"), for --store other than sqlite")
	duration := fs.Duration("duration", 8*time.Second, "how long the engine runs before the graceful shutdown")
	verbose := fs.Bool("v", false, "also print the engine's and the handlers' logs on stderr")
	addr := fs.String("addr", defaultDemoAddr, "address of the dashboard during the demo (log in as admin with the printed password, or $EVERTASK_PASSWORD); \"off\" serves none")
	stay := fs.Bool("stay", false, "keep the dashboard up after the demo's shutdown, until Ctrl-C")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	if *duration <= 0 {
		return usageErr("--duration must be positive, got %v", *duration)
	}

	// Events print from their own goroutine.
	stdout = &lockedWriter{w: stdout}
	var (
		st      store.Store
		statErr error
		where   = "SQLite file " + *path
		again   = "" // the flags that name the store again, for the hint at the end
	)
	if *path != defaultSQLitePath {
		again = " --dsn " + *path
	}
	if *name == "sqlite" {
		_, statErr = os.Stat(*path)
		sq, err := sqlitestore.Open(ctx, *path, nil)
		if err != nil {
			return err
		}
		defer sq.Close()
		st = sq
	} else {
		o, err := openDemoStore(ctx, *name, *dsn)
		if err != nil {
			return err
		}
		defer o.close()
		st = o.Store
		where = *name + " store"
		again = " --store " + *name
		if *dsn != "" {
			again += " --dsn '" + *dsn + "'"
		}
	}
	fmt.Fprintf(stdout, "evertask demo on the %s, running for %v\n", where, *duration)

	before, err := store.CountByStatus(ctx, st, store.CountParams{})
	if err != nil {
		return err
	}
	earlier := 0
	for _, n := range before {
		earlier += n
	}
	if statErr == nil && earlier > 0 {
		fmt.Fprintf(stdout, "The file holds %d tasks from earlier runs: the engine recovers what they left unfinished.\n", earlier)
	} else {
		fmt.Fprintln(stdout, "A new database. Run the demo a second time to see the engine pick up where this run stops.")
	}
	if hb, err := st.GetByKey(ctx, heartbeatKey); err == nil {
		if hb.RunCount >= heartbeatRuns {
			fmt.Fprintf(stdout, "The heartbeat series already ran %d of %d times: registering it again keeps its history, so it does not start over.\n",
				hb.RunCount, heartbeatRuns)
		} else {
			fmt.Fprintf(stdout, "The heartbeat series ran %d of %d times: registering it again continues the series from its stored next run instead of restarting it.\n",
				hb.RunCount, heartbeatRuns)
		}
	}
	fmt.Fprintln(stdout)

	// Handler logs are captured into the store (see "tasks show"); the
	// console gets only the engine's errors unless -v.
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	eng, err := evertask.New(st, &evertask.Config{
		Logger:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		LogCapture: evertask.LogCaptureConfig{Enabled: true},
	})
	if err != nil {
		return err
	}
	if err := registerDemoHandlers(eng); err != nil {
		return err
	}
	dash, err := startDemoDashboard(st, eng, *addr, stdout, stderr)
	if err != nil {
		return err
	}
	defer dash.stop()

	// Subscribe before Start, so the recovery events are seen too.
	events, _ := eng.Subscribe(256)
	start := time.Now()
	tracked := newTracker()
	var printer sync.WaitGroup
	recovered := 0
	// Events wait until the dispatch lines are out, so the two do not
	// interleave; the subscription's buffer holds them meanwhile.
	ready := make(chan struct{})
	printer.Go(func() {
		<-ready
		for ev := range events {
			if ev.Type == evertask.EventRecovered {
				recovered++
			}
			tracked.add(ev.TaskID)
			fmt.Fprintln(stdout, eventLine(ev, time.Since(start)))
		}
	})

	if err := eng.Start(ctx); err != nil {
		return err
	}
	dispatchErr := dispatchDemoTasks(ctx, eng, *duration, tracked, stdout)
	close(ready)

	if dispatchErr == nil {
		select {
		case <-time.After(*duration):
		case <-ctx.Done():
			fmt.Fprintln(stdout, "interrupted")
		}
	}
	fmt.Fprintf(stdout, "%6.2fs  shutting down: running handlers finish, everything else stays recoverable\n", time.Since(start).Seconds())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err = eng.Shutdown(sctx)
	cancel()
	printer.Wait()
	if err != nil {
		fmt.Fprintf(stdout, "shutdown grace period ended: %v\n", err)
	}
	if dispatchErr != nil {
		return dispatchErr
	}
	if *stay && dash != nil && ctx.Err() == nil {
		fmt.Fprintf(stdout, "The dashboard stays up at %s until Ctrl-C.\n", dash.url)
		<-ctx.Done()
	}
	if recovered > 0 {
		fmt.Fprintf(stdout, "Recovery: %d task(s) left by an earlier run were picked up again from the store.\n", recovered)
	}
	return demoSummary(context.WithoutCancel(ctx), st, again, tracked.ids(), stdout)
}

func registerDemoHandlers(eng *evertask.Engine) error {
	errs := []error{
		evertask.Register[welcomeEmail](eng, evertask.HandlerFunc[welcomeEmail](func(ctx context.Context, t welcomeEmail) error {
			evertask.Logger(ctx).Info("sending welcome email", "to", t.To)
			return sleep(ctx, 50*time.Millisecond)
		}), nil),
		// Fails its first two attempts, then succeeds: a linear retry
		// policy of 3 retries 300ms apart absorbs it.
		evertask.Register[syncInventory](eng, evertask.HandlerFunc[syncInventory](func(ctx context.Context, t syncInventory) error {
			if a := evertask.Attempt(ctx); a < 3 {
				evertask.Logger(ctx).Warn("warehouse API timed out", "attempt", a)
				return fmt.Errorf("warehouse %s: API timed out", t.Warehouse)
			}
			evertask.Logger(ctx).Info("inventory synced", "warehouse", t.Warehouse)
			return nil
		}), &evertask.HandlerOpts{Retry: evertask.Linear(3, 300*time.Millisecond)}),
		// Always fails: after 1 + 2 retries the task ends Failed, and its
		// stored error lists every attempt.
		evertask.Register[importFeed](eng, evertask.HandlerFunc[importFeed](func(ctx context.Context, t importFeed) error {
			return fmt.Errorf("fetch %s: 503 Service Unavailable", t.URL)
		}), &evertask.HandlerOpts{Retry: evertask.Linear(2, 200*time.Millisecond)}),
		evertask.Register[heartbeat](eng, evertask.HandlerFunc[heartbeat](func(ctx context.Context, _ heartbeat) error {
			evertask.Logger(ctx).Info("still alive", "run", evertask.RunNumber(ctx))
			return nil
		}), nil),
		evertask.Register[sendInvoice](eng, evertask.HandlerFunc[sendInvoice](func(ctx context.Context, t sendInvoice) error {
			evertask.Logger(ctx).Info("invoice sent", "number", t.Number)
			return nil
		}), nil),
		evertask.Register[weeklyReport](eng, evertask.HandlerFunc[weeklyReport](func(ctx context.Context, t weeklyReport) error {
			evertask.Logger(ctx).Info("report built", "week", t.Week)
			return nil
		}), nil),
	}
	return errors.Join(errs...)
}

// dispatchDemoTasks dispatches one task of each kind and says what each
// shows.
func dispatchDemoTasks(ctx context.Context, eng *evertask.Engine, duration time.Duration, tracked *tracker, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, "   •     "+format+"\n", args...) }
	dispatch := func(t evertask.Task, opts *evertask.DispatchOpts) (uuid.UUID, error) {
		id, err := eng.Dispatch(ctx, t, opts)
		if err != nil {
			return id, fmt.Errorf("dispatch %s: %w", t.Kind(), err)
		}
		tracked.add(id)
		return id, nil
	}

	if _, err := dispatch(welcomeEmail{To: "ada@example.com"}, nil); err != nil {
		return err
	}
	say("dispatched a welcome email (runs now)")
	if _, err := dispatch(syncInventory{Warehouse: "north"}, nil); err != nil {
		return err
	}
	say("dispatched an inventory sync that fails twice, then succeeds (linear retry)")
	if _, err := dispatch(importFeed{URL: "https://feeds.example.com/prices"}, nil); err != nil {
		return err
	}
	say("dispatched a feed import that always fails (it ends Failed)")
	sched := schedule.EverySeconds(2).StartNow().AtMost(heartbeatRuns)
	if _, err := dispatch(heartbeat{}, &evertask.DispatchOpts{Schedule: &sched, Key: heartbeatKey}); err != nil {
		return err
	}
	say("registered the recurring heartbeat: %s", sched)
	first, err := dispatch(sendInvoice{Number: 1042}, &evertask.DispatchOpts{Delay: time.Second, Key: invoiceKey})
	if err != nil {
		return err
	}
	second, err := dispatch(sendInvoice{Number: 1042}, &evertask.DispatchOpts{Delay: time.Second, Key: invoiceKey})
	if err != nil {
		return err
	}
	say("dispatched invoice 1042 twice with key %q: same id both times: %v", invoiceKey, first == second)
	// Due after this run ends: it stays in the store, and the next run
	// recovers it.
	if _, err := dispatch(weeklyReport{Week: isoWeek(time.Now())}, &evertask.DispatchOpts{Delay: duration + 2*time.Second}); err != nil {
		return err
	}
	say("dispatched a weekly report due in %v, after this run ends: it waits in the store for whichever run is up then", (duration + 2*time.Second).Round(time.Second))
	fmt.Fprintln(w)
	return nil
}

// eventLine renders one event for a human.
func eventLine(ev evertask.Event, since time.Duration) string {
	var b strings.Builder
	// The tail of the id: the head of a UUIDv7 is its timestamp, the same
	// for every task of the demo.
	id := ev.TaskID.String()
	fmt.Fprintf(&b, "%6.2fs  %-10s %-20s …%s", since.Seconds(), ev.Type, ev.Kind, id[len(id)-6:])
	switch ev.Type {
	case evertask.EventStarted:
		if ev.Attempt > 1 {
			fmt.Fprintf(&b, "  attempt %d", ev.Attempt)
		}
	case evertask.EventCompleted:
		fmt.Fprintf(&b, "  in %v", ev.Duration.Round(time.Millisecond))
		if n := len(ev.Logs); n > 0 {
			fmt.Fprintf(&b, ", log: %q", ev.Logs[n-1].Message)
		}
	case evertask.EventRetried:
		fmt.Fprintf(&b, "  attempt %d failed (%v), next in %v", ev.Attempt, lastErr(ev.Err), ev.Duration)
	case evertask.EventFailed, evertask.EventTimedOut, evertask.EventPoisoned:
		// The stored error lists every attempt, one per line.
		msg := strings.ReplaceAll(fmt.Sprint(ev.Err), "\n", "\n"+strings.Repeat(" ", 47))
		fmt.Fprintf(&b, "  %s", msg)
	case evertask.EventRecovered:
		b.WriteString("  left by an earlier run, picked up again")
	case evertask.EventStopped:
		b.WriteString("  interrupted by the shutdown; the next run resumes it")
	}
	return b.String()
}

func lastErr(err error) error {
	var ae *evertask.AttemptsError
	if errors.As(err, &ae) {
		return ae.Last()
	}
	return err
}

// openDemoStore opens a server store for the demo, migrating it (the
// tasks command expects a migrated store and never migrates).
func openDemoStore(ctx context.Context, name, dsn string) (*opened, error) {
	switch name {
	case "postgres":
		pool, err := openPool(ctx, dsn, 8)
		if err != nil {
			return nil, err
		}
		st, err := pgstore.New(ctx, pool, nil)
		if err != nil {
			pool.Close()
			return nil, err
		}
		return &opened{Store: st, close: func() { st.Close(); pool.Close() }}, nil
	case "mysql":
		st, err := openMySQL(ctx, dsn, &mysqlstore.Config{MaxConns: 8})
		if err != nil {
			return nil, err
		}
		return &opened{Store: st, close: func() { st.Close() }}, nil
	case "redis":
		rdb, err := openRedis(ctx, dsn)
		if err != nil {
			return nil, err
		}
		st, err := redisstore.New(ctx, rdb, nil)
		if err != nil {
			rdb.Close()
			return nil, err
		}
		return &opened{Store: st, close: func() { st.Close(); rdb.Close() }}, nil
	}
	if err := checkStoreName(name); err != nil {
		return nil, err
	}
	return nil, usageErr("the demo runs on sqlite, postgres, mysql or redis, not %q", name)
}

// demoSummary reads back what the store holds.
func demoSummary(ctx context.Context, st store.Store, dsn string, ids []uuid.UUID, w io.Writer) error {
	counts, err := store.CountByStatus(ctx, st, store.CountParams{})
	if err != nil {
		return fmt.Errorf("count tasks: %w", err)
	}
	fmt.Fprintln(w, "\nTasks of this run, read back from the store:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTATUS\tRUNS\tAUDITS\tERROR (first line)")
	rows := make([]*store.Task, 0, len(ids))
	for _, id := range ids {
		t, err := st.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // replaced by a keyed dispatch
		}
		if err != nil {
			return fmt.Errorf("get task %s: %w", id, err)
		}
		rows = append(rows, t)
	}
	sort.Slice(rows, func(i, j int) bool { return store.CursorOf(rows[i]).Less(store.CursorOf(rows[j])) })
	for _, t := range rows {
		sa, err := st.StatusAudits(ctx, t.ID)
		if err != nil {
			return err
		}
		ra, err := st.RunsAudits(ctx, t.ID)
		if err != nil {
			return err
		}
		runs := "-"
		if t.Recurring {
			runs = fmt.Sprintf("%d/%d", t.RunCount, t.MaxRuns)
		}
		errText := taskview.FirstLine(t.Error, 50)
		if n := strings.Count(t.Error, "\n"); n > 0 {
			errText = fmt.Sprintf("%s (+%d lines)", strings.TrimSuffix(errText, " …"), n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", t.Kind, t.Status, runs, len(sa)+len(ra), errText)
	}
	tw.Flush()

	fmt.Fprint(w, "\nWhole database by status:")
	for _, s := range store.Statuses {
		if n := counts[s]; n > 0 {
			fmt.Fprintf(w, "  %s=%d", s, n)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nNext: run the demo again to see recovery, or list the tasks with")
	fmt.Fprintf(w, "  go run ./cmd/evertask tasks%s\n", dsn)
	for _, t := range rows {
		if t.Status == store.StatusFailed {
			// The short id the events print is accepted as it is.
			s := t.ID.String()
			fmt.Fprintf(w, "and retry the task that failed, by the short id the events show:\n")
			fmt.Fprintf(w, "  go run ./cmd/evertask tasks show …%s%s\n", s[len(s)-6:], dsn)
			fmt.Fprintf(w, "  go run ./cmd/evertask tasks retry …%s%s\n", s[len(s)-6:], dsn)
			break
		}
	}
	return nil
}

// tracker collects the ids of the tasks this run dispatched or touched.
type tracker struct {
	mu   sync.Mutex
	seen map[uuid.UUID]bool
	list []uuid.UUID
}

func newTracker() *tracker { return &tracker{seen: map[uuid.UUID]bool{}} }

func (t *tracker) add(id uuid.UUID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != uuid.Nil && !t.seen[id] {
		t.seen[id] = true
		t.list = append(t.list, id)
	}
}

func (t *tracker) ids() []uuid.UUID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]uuid.UUID(nil), t.list...)
}

func isoWeek(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// demoDashboard is the monitor the demo serves while it runs.
type demoDashboard struct {
	url    string
	srv    *http.Server
	served chan error
}

// startDemoDashboard serves the monitor over the demo's store and engine on
// addr (on a free port of the same host when addr's port is taken) and
// prints where and how to log in. "off" serves nothing (nil, nil).
func startDemoDashboard(st store.Store, eng *evertask.Engine, addr string, stdout, stderr io.Writer) (*demoDashboard, error) {
	if addr == "off" || addr == "" {
		return nil, nil
	}
	password := os.Getenv("EVERTASK_PASSWORD")
	printed := password == ""
	if printed {
		var err error
		if password, err = randomPassword(); err != nil {
			return nil, err
		}
	}
	h, err := monitor.New(&monitor.Config{
		Store: st, Events: eng, Users: map[string]string{"admin": password},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && addr == defaultDemoAddr {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %v: choose another --addr, or --addr off", addr, errors.Unwrap(err))
	}
	d := &demoDashboard{url: "http://" + ln.Addr().String() + "/", srv: dashboardServer(h, ""), served: make(chan error, 1)}
	go func() { d.served <- d.srv.Serve(ln) }()
	if printed {
		fmt.Fprintf(stdout, "Dashboard: %s  (log in as admin, password %s)\n", d.url, password)
	} else {
		fmt.Fprintf(stdout, "Dashboard: %s  (log in as admin with the password in $EVERTASK_PASSWORD)\n", d.url)
	}
	return d, nil
}

func (d *demoDashboard) stop() {
	if d != nil {
		stopServer(d.srv, d.served)
	}
}
