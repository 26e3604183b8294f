package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// bench --nodes N runs N engines as N OS processes of this command (the
// hidden subcommand benchNodeCmd) on one store: the PostgreSQL schema, Redis
// key prefix or SQLite file the parent process created. The parent and its
// nodes talk in lines: the nodes write their reports on stdout, the parent
// writes commands on their stdin, and a node's stderr is copied to the
// parent's with the node's number in front.
//
//	node -> parent: READY            store open, engine built, not started
//	                STARTED          engine started (it joined the cluster)
//	                RAN <k>          k handlers ran so far (every reportEvery, when it moved)
//	                DONE <k>         steady: the producers stopped after dispatching k tasks
//	                LAT <n> <ns>     latency: task n started ns after its dispatch
//	parent -> node: GO               start the engine (and the producers)
//	                (end of stdin)   shut the engine down, report RAN, exit
const benchNodeCmd = "bench-node"

const (
	// maxNodes bounds --nodes: each node is a process with its own pool.
	maxNodes = 64
	// nodePoolBudget is the PostgreSQL connections all the nodes' pools may
	// open together (each at most what one engine gets alone): the server
	// allows 100 by default and is shared, and on a small machine more
	// connections than cores buy nothing.
	nodePoolBudget = 48
	// reportEvery is how often a node reports its handler count: the
	// resolution of the burn's clock, next to the final store count.
	reportEvery = 5 * time.Millisecond
	// latencyQueue is the queue of the bench tasks of the latency mode
	// across nodes; the dispatching process keeps its one worker busy.
	latencyQueue = "bench"
	// nodeQuiet is how long the parent waits without a word from any node
	// before it gives up.
	nodeQuiet = time.Minute
)

// benchNodes runs c.mode across c.nodes engines on st.
func benchNodes(ctx context.Context, st *opened, c *benchConfig, stderr io.Writer) (benchResult, error) {
	if _, ok := st.Store.(store.Cluster); !ok {
		return benchResult{}, fmt.Errorf("the %s store does not implement store.Cluster: several engines cannot share it", c.store)
	}
	switch c.mode {
	case "burn":
		return benchNodesBurn(ctx, st, c, stderr)
	case "steady":
		return benchNodesSteady(ctx, st, c, stderr)
	default:
		return benchNodesLatency(ctx, st, c, stderr)
	}
}

// benchNodesBurn inserts the tasks, then starts the engines of all nodes at
// once and times until every task is Completed in the store.
func benchNodesBurn(ctx context.Context, st *opened, c *benchConfig, stderr io.Writer) (benchResult, error) {
	n := c.tasks
	baseline, err := insertBurn(ctx, st.Store, c, stderr)
	if err != nil {
		return benchResult{}, err
	}
	fmt.Fprintf(stderr, "bench burn %s: inserted %d tasks, starting %d nodes\n", c.store, n, c.nodes)
	nodes, err := startNodes(ctx, c, st.at, c.nodes, stderr)
	if err != nil {
		return benchResult{}, err
	}
	defer nodes.stop(stderr)
	if err := nodes.ready(ctx); err != nil {
		return benchResult{}, err
	}

	pids := []int{os.Getpid()}
	for _, p := range nodes.procs {
		pids = append(pids, p.Process.Pid)
	}
	cpu := startCPU(pids...)
	srv := startServerCPU(ctx, st.pool, benchAppName(st.at))
	var total atomic.Int64
	start := time.Now()
	stop := progress(c, stderr, func() string {
		d := total.Load()
		return fmt.Sprintf("%d/%d done (%.0f/s) %s", d, n, float64(d)/time.Since(start).Seconds(), nodes.counts())
	})
	defer stop()
	if err := nodes.send("GO"); err != nil {
		return benchResult{}, err
	}
	err = nodes.await(ctx, nodeQuiet, func(m nodeMsg) bool {
		total.Store(nodes.sum())
		return total.Load() >= int64(n)
	})
	if err != nil {
		return benchResult{}, fmt.Errorf("after %d of %d tasks: %w", total.Load(), n, err)
	}
	// As with one engine, the clock stops when the store says so.
	if err := waitCompleted(ctx, st.Store, baseline+n); err != nil {
		return benchResult{}, err
	}
	elapsed := time.Since(start)
	cpu.report(stderr, n)
	srv.report(ctx, stderr, n)
	return benchResult{tasks: n, elapsed: elapsed}, nil
}

// benchNodesSteady runs producers and workers on every node for
// c.duration and counts the tasks the store holds as Completed once every
// node's producers stopped.
func benchNodesSteady(ctx context.Context, st *opened, c *benchConfig, stderr io.Writer) (benchResult, error) {
	baseline, err := completed(ctx, st.Store)
	if err != nil {
		return benchResult{}, err
	}
	nodes, err := startNodes(ctx, c, st.at, c.nodes, stderr)
	if err != nil {
		return benchResult{}, err
	}
	defer nodes.stop(stderr)
	if err := nodes.ready(ctx); err != nil {
		return benchResult{}, err
	}
	start := time.Now()
	stop := progress(c, stderr, func() string {
		d := nodes.sum()
		return fmt.Sprintf("%d done (%.0f/s) %s", d, float64(d)/time.Since(start).Seconds(), nodes.counts())
	})
	defer stop()
	if err := nodes.send("GO"); err != nil {
		return benchResult{}, err
	}
	finished := 0
	err = nodes.await(ctx, c.duration+nodeQuiet, func(m nodeMsg) bool {
		if m.verb == "DONE" {
			finished++
		}
		return finished == len(nodes.procs)
	})
	if err != nil {
		return benchResult{}, err
	}
	done, err := completed(ctx, st.Store)
	elapsed := time.Since(start)
	if err != nil {
		return benchResult{}, err
	}
	return benchResult{tasks: done - baseline, elapsed: elapsed}, nil
}

// blockTask occupies the one worker of the dispatching process's latency
// queue for the whole run.
type blockTask struct{}

func (blockTask) Kind() string { return "evertask.bench.block" }

// benchNodesLatency measures dispatch to handler start across processes.
// This process is node A: it dispatches one task at a time on the queue
// latencyQueue, whose only worker here is held by a blockTask, so every
// dispatch finds no idle worker on A and goes to the c.nodes-1 node
// processes, which run latencyQueue with c.workers workers each: the path of
// a task dispatched on a saturated node. A cannot claim them either: its
// fetcher's room is its worker count with no prefetch, and the blocker
// fills it. The task carries A's clock at the call to Dispatch; the node
// that runs it reports its handler's start against it (one host, one
// clock).
func benchNodesLatency(ctx context.Context, st *opened, c *benchConfig, stderr io.Writer) (benchResult, error) {
	cfg := benchEngineConfig(c, stderr)
	cfg.Workers = 1
	cfg.Queues = []evertask.QueueConfig{{
		Name: latencyQueue, Workers: 1, WhenFull: evertask.FullQueueError,
		// Every dispatch stays in A's buffer (its worker never takes it,
		// another node runs it), so the buffer holds the whole run.
		Capacity: c.tasks + 2,
	}}
	dispatcherCluster(cfg)
	var ranHere atomic.Int64
	eng, err := newBenchEngineWith(st.Store, cfg, &evertask.HandlerOpts{Queue: latencyQueue}, func(benchTask) { ranHere.Add(1) })
	if err != nil {
		return benchResult{}, err
	}
	blocked, release := make(chan struct{}), make(chan struct{})
	err = evertask.Register[blockTask](eng, evertask.HandlerFunc[blockTask](func(ctx context.Context, _ blockTask) error {
		close(blocked)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}), &evertask.HandlerOpts{Queue: latencyQueue})
	if err != nil {
		return benchResult{}, err
	}
	if err := eng.Start(ctx); err != nil {
		return benchResult{}, err
	}
	defer shutdown(eng)
	defer close(release)
	// The blocker goes first, while A is the only node: nobody else can
	// take it.
	if _, err := eng.Dispatch(ctx, blockTask{}, nil); err != nil {
		return benchResult{}, fmt.Errorf("dispatch the blocker: %w", err)
	}
	select {
	case <-blocked:
	case <-time.After(30 * time.Second):
		return benchResult{}, errors.New("the blocker did not start within 30s")
	case <-ctx.Done():
		return benchResult{}, ctx.Err()
	}

	nodes, err := startNodes(ctx, c, st.at, c.nodes-1, stderr)
	if err != nil {
		return benchResult{}, err
	}
	defer nodes.stop(stderr)
	if err := nodes.ready(ctx); err != nil {
		return benchResult{}, err
	}
	if err := nodes.send("GO"); err != nil {
		return benchResult{}, err
	}
	started := 0
	if err := nodes.await(ctx, nodeQuiet, func(m nodeMsg) bool {
		if m.verb == "STARTED" {
			started++
		}
		return started == len(nodes.procs)
	}); err != nil {
		return benchResult{}, err
	}
	// A sends notices only to peers its rescuer has seen in the registry;
	// it looks every poll interval.
	select {
	case <-time.After(dispatcherPoll + dispatcherPoll/2):
	case <-ctx.Done():
		return benchResult{}, ctx.Err()
	}

	samples := make([]time.Duration, 0, c.tasks)
	one := func(i int) (time.Duration, error) {
		t0 := time.Now()
		if _, err := eng.Dispatch(ctx, benchTask{N: i, T0: t0.UnixNano()}, nil); err != nil {
			return 0, fmt.Errorf("dispatch: %w", err)
		}
		var lat time.Duration
		err := nodes.await(ctx, 30*time.Second, func(m nodeMsg) bool {
			if m.verb == "LAT" && m.a == int64(i) {
				lat = time.Duration(m.b)
				return true
			}
			return false
		})
		if err != nil {
			return 0, fmt.Errorf("task %d: %w", i, err)
		}
		if n := ranHere.Load(); n > 0 {
			return 0, fmt.Errorf("the dispatching process ran %d bench task(s) itself: its latency queue's only worker was to be held by the blocker", n)
		}
		return lat, nil
	}
	// One uncounted task first, so the figures are of running nodes.
	if _, err := one(-1); err != nil {
		return benchResult{}, fmt.Errorf("warm-up: %w", err)
	}
	var done atomic.Int64
	stop := progress(c, stderr, func() string { return fmt.Sprintf("%d/%d done", done.Load(), c.tasks) })
	defer stop()
	begin := time.Now()
	for i := range c.tasks {
		lat, err := one(i)
		if err != nil {
			return benchResult{}, err
		}
		samples = append(samples, lat)
		done.Add(1)
	}
	elapsed := time.Since(begin)
	slices.Sort(samples)
	return benchResult{tasks: c.tasks, elapsed: elapsed, p50: percentile(samples, 50), p99: percentile(samples, 99)}, nil
}

// dispatcherPoll is the poll interval of the dispatching process of the
// latency mode, set explicitly so the wait for its first look at the
// registry is known.
const dispatcherPoll = time.Second

// dispatcherCluster makes the dispatching process's fetchers claim no more
// than its workers' room: no prefetch.
func dispatcherCluster(cfg *evertask.Config) {
	cfg.Cluster = evertask.ClusterConfig{Prefetch: -1, PollInterval: dispatcherPoll}
}

// nodeMsg is one report line of a node process, or its exit.
type nodeMsg struct {
	node int // 1-based
	verb string
	a, b int64
	err  error // verb "EXIT": how the process ended
}

// nodeSet is the running node processes of one bench.
type nodeSet struct {
	procs []*exec.Cmd
	stdin []io.WriteCloser
	msgs  chan nodeMsg
	live  int
	// ran is each node's last RAN count; read by progress lines too.
	mu  sync.Mutex
	ran []int64
}

// startNodes starts count node processes for c on the store at at.
func startNodes(ctx context.Context, c *benchConfig, at string, count int, stderr io.Writer) (*nodeSet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start the nodes: %w", err)
	}
	conns := min(max(c.workers/4, 4), 32, max(4, nodePoolBudget/count))
	args := []string{benchNodeCmd,
		"--store", c.store, "--dsn", c.dsn, "--at", at, "--mode", c.mode,
		"--workers", strconv.Itoa(c.workers), "--producers", strconv.Itoa(c.producers),
		"--audit", c.audit.String(), "--duration", c.duration.String(),
		"--recovery-page", strconv.Itoa(c.pageSize), "--conns", strconv.Itoa(conns),
	}
	if c.store == "postgres" || c.store == "mysql" {
		fmt.Fprintf(stderr, "bench: %d node processes, pools of %d connections\n", count, conns)
	}
	s := &nodeSet{msgs: make(chan nodeMsg, 1024), ran: make([]int64, count)}
	for i := range count {
		args := args
		if c.cpuProfile != "" {
			args = append(slices.Clip(args), "--cpuprofile", fmt.Sprintf("%s.node%d", c.cpuProfile, i+1))
		}
		cmd := exec.Command(exe, args...)
		cmd.Stderr = &prefixWriter{w: stderr, prefix: fmt.Sprintf("node %d: ", i+1)}
		stdin, err := cmd.StdinPipe()
		if err == nil {
			var stdout io.ReadCloser
			if stdout, err = cmd.StdoutPipe(); err == nil {
				if err = cmd.Start(); err == nil {
					s.procs = append(s.procs, cmd)
					s.stdin = append(s.stdin, stdin)
					s.live++
					go s.read(i+1, cmd, stdout)
					continue
				}
			}
		}
		s.stop(stderr)
		return nil, fmt.Errorf("start node %d: %w", i+1, err)
	}
	return s, nil
}

// read turns node id's stdout into messages, then reports its exit.
func (s *nodeSet) read(id int, cmd *exec.Cmd, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		m := nodeMsg{node: id, verb: f[0]}
		if len(f) > 1 {
			m.a, _ = strconv.ParseInt(f[1], 10, 64)
		}
		if len(f) > 2 {
			m.b, _ = strconv.ParseInt(f[2], 10, 64)
		}
		if m.verb == "RAN" {
			s.mu.Lock()
			s.ran[id-1] = m.a
			s.mu.Unlock()
		}
		s.msgs <- m
	}
	// Wait only after every read: it closes the pipe.
	s.msgs <- nodeMsg{node: id, verb: "EXIT", err: cmd.Wait()}
}

// sum returns the handlers the nodes ran, as they last reported.
func (s *nodeSet) sum() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t int64
	for _, n := range s.ran {
		t += n
	}
	return t
}

// counts shows each node's count, for progress lines.
func (s *nodeSet) counts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := make([]string, len(s.ran))
	for i, n := range s.ran {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ready waits until every node reported READY.
func (s *nodeSet) ready(ctx context.Context) error {
	n := 0
	return s.await(ctx, nodeQuiet, func(m nodeMsg) bool {
		if m.verb == "READY" {
			n++
		}
		return n == len(s.procs)
	})
}

// send writes one command line to every node.
func (s *nodeSet) send(line string) error {
	for i, w := range s.stdin {
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return fmt.Errorf("tell node %d %s: %w", i+1, line, err)
		}
	}
	return nil
}

// await passes the nodes' messages to fn until it returns true. A node
// that exits, quiet without any message, or ctx's end stop it with an
// error.
func (s *nodeSet) await(ctx context.Context, quiet time.Duration, fn func(nodeMsg) bool) error {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case m := <-s.msgs:
			if m.verb == "EXIT" {
				s.live--
				return fmt.Errorf("node %d ended before the run did (%v); its stderr is above", m.node, exitText(m.err))
			}
			if fn(m) {
				return nil
			}
			t.Reset(quiet)
		case <-t.C:
			return fmt.Errorf("no word from the %d nodes for %s", len(s.procs), quiet)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stop ends the nodes' stdin, which shuts their engines down, and waits
// for them to exit; after 30s it kills them. It prints what each node ran.
func (s *nodeSet) stop(stderr io.Writer) {
	for _, w := range s.stdin {
		w.Close()
	}
	kill := time.NewTimer(30 * time.Second)
	defer kill.Stop()
	for s.live > 0 {
		select {
		case m := <-s.msgs:
			if m.verb == "EXIT" {
				s.live--
				if m.err != nil {
					fmt.Fprintf(stderr, "bench: node %d: %v\n", m.node, exitText(m.err))
				}
			}
		case <-kill.C:
			fmt.Fprintf(stderr, "bench: %d nodes still running 30s after the end; killing them\n", s.live)
			for _, p := range s.procs {
				p.Process.Kill()
			}
		}
	}
	if len(s.procs) > 0 && s.sum() > 0 {
		fmt.Fprintf(stderr, "bench: handlers run per node %s\n", s.counts())
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// prefixWriter writes whole lines to w with prefix in front.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, p.buf[:i+1]); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// runBenchNode is one node process of bench --nodes (hidden command): it
// opens the parent's store, builds its engine, and follows the parent's
// commands on stdin.
func runBenchNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(benchNodeCmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c benchConfig
	var audit, at string
	var conns int
	fs.StringVar(&c.store, "store", "", "")
	fs.StringVar(&c.dsn, "dsn", "", "")
	fs.StringVar(&at, "at", "", "")
	fs.StringVar(&c.mode, "mode", "", "")
	fs.IntVar(&c.workers, "workers", 1, "")
	fs.IntVar(&c.producers, "producers", 1, "")
	fs.StringVar(&audit, "audit", "none", "")
	fs.DurationVar(&c.duration, "duration", time.Second, "")
	fs.IntVar(&c.pageSize, "recovery-page", 0, "")
	fs.IntVar(&conns, "conns", 4, "")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "")
	if err := fs.Parse(args); err != nil {
		return errFlags
	}
	level, err := store.ParseAuditLevel(audit)
	if err != nil {
		return usageErr("bad --audit %q", audit)
	}
	c.audit = level
	st, err := openBenchNodeStore(ctx, c.store, c.dsn, at, conns)
	if err != nil {
		return err
	}
	defer st.close()

	out := &syncWriter{w: stdout}
	report := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	var ran atomic.Int64
	var eng *evertask.Engine
	switch c.mode {
	case "burn", "steady":
		eng, err = newBenchEngine(st.Store, &c, stderr, func(benchTask) { ran.Add(1) })
	case "latency":
		cfg := benchEngineConfig(&c, stderr)
		cfg.Workers = 1
		cfg.Queues = []evertask.QueueConfig{{Name: latencyQueue, Workers: c.workers, Capacity: 10_000}}
		eng, err = newBenchEngineWith(st.Store, cfg, &evertask.HandlerOpts{Queue: latencyQueue}, func(t benchTask) {
			at := time.Now()
			ran.Add(1)
			report("LAT %d %d", t.N, at.UnixNano()-t.T0)
		})
	default:
		return usageErr("unknown mode %q", c.mode)
	}
	if err != nil {
		return err
	}

	// The parent's commands: GO, then the end of stdin.
	goCh, endCh := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "GO" {
				close(goCh)
			}
		}
		close(endCh)
	}()
	report("READY")
	select {
	case <-goCh:
	case <-endCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	stopProfile, err := c.startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	if err := eng.Start(ctx); err != nil {
		return err
	}
	report("STARTED")
	reported := int64(-1)
	reportRan := func() {
		if n := ran.Load(); n != reported {
			reported = n
			report("RAN %d", n)
		}
	}
	defer func() {
		shutdown(eng)
		reportRan()
	}()
	var producers sync.WaitGroup
	var dispatched atomic.Int64
	var dispatchErr error
	steadyDone := make(chan struct{})
	if c.mode == "steady" {
		runCtx, cancel := context.WithTimeout(ctx, c.duration)
		defer cancel()
		var once sync.Once
		for range c.producers {
			producers.Go(func() {
				for runCtx.Err() == nil {
					n := int(dispatched.Add(1))
					if _, err := eng.Dispatch(runCtx, benchTask{N: n}, nil); err != nil {
						if runCtx.Err() == nil {
							once.Do(func() { dispatchErr = err })
							cancel()
						}
						return
					}
				}
			})
		}
		go func() { producers.Wait(); close(steadyDone) }()
	}
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if c.mode != "latency" {
				reportRan()
			}
		case <-steadyDone:
			steadyDone = nil
			if dispatchErr != nil {
				return fmt.Errorf("dispatch: %w", dispatchErr)
			}
			report("DONE %d", dispatched.Load())
		case <-endCh:
			producers.Wait()
			return nil
		case <-ctx.Done():
			producers.Wait()
			return ctx.Err()
		}
	}
}
