package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// `peers river burn --clients N` runs N River clients as N OS processes of
// this command (the hidden command riverClientCmd) on one schema, as
// `evertask bench --nodes N` runs N engines: this process creates the
// schema and inserts the jobs, then starts every client at once and times
// until the clients together saw every job completed. They talk in lines:
//
//	client -> parent: READY          client built and subscribed, not started
//	                  DONE <k>       k completion events so far (every reportEvery, when it moved)
//	                  WORKED <k>     at exit: the worker ran k jobs
//	parent -> client: GO             start the client
//	                  (end of stdin) stop the client, report WORKED, exit
const riverClientCmd = "river-client"

const (
	// maxClients bounds --clients: each is a process with its own pool.
	maxClients = 64
	// reportEvery is how often a client reports its completions: the
	// resolution of the burn's clock.
	reportEvery = 5 * time.Millisecond
	// clientQuiet is how long the parent waits without a word from any
	// client before it gives up.
	clientQuiet = time.Minute
)

// riverBurnClients runs the burn with o.clients client processes; client
// (not started) only inserts. It returns how many jobs the clients' workers
// ran.
func riverBurnClients(ctx context.Context, client *river.Client[pgx.Tx], env *riverEnv, o *options, log io.Writer, res *result) (worked int64, err error) {
	if err := riverInsert(ctx, client, o, log); err != nil {
		return 0, err
	}
	log = &syncWriter{w: log}
	procs, err := startClients(o, env.schema, log)
	if err != nil {
		return 0, err
	}
	defer func() {
		w, stopErr := procs.stop(log)
		worked = w
		if err == nil {
			err = stopErr
		}
	}()
	n := 0
	if err := procs.await(ctx, clientQuiet, func(m clientMsg) bool {
		if m.verb == "READY" {
			n++
		}
		return n == len(procs.cmds)
	}); err != nil {
		return 0, err
	}
	var done atomic.Int64
	stopProgress := progress(log, "river: completed", &done, o.tasks)
	defer stopProgress()
	pids := []int{os.Getpid()}
	for _, c := range procs.cmds {
		pids = append(pids, c.Process.Pid)
	}
	cpu := startCPU(ctx, env.pool, riverAppName(env.schema), pids...)
	start := time.Now()
	if err := procs.send("GO"); err != nil {
		return 0, err
	}
	err = procs.await(ctx, clientQuiet, func(m clientMsg) bool {
		done.Store(procs.sum(procs.done))
		return done.Load() >= int64(o.tasks)
	})
	if err != nil {
		return 0, fmt.Errorf("after %d of %d jobs: %w", done.Load(), o.tasks, err)
	}
	res.elapsed = time.Since(start)
	cpu.report(ctx, log, o.tasks)
	return 0, nil
}

// clientMsg is one report line of a client process, or its exit.
type clientMsg struct {
	client int // 1-based
	verb   string
	n      int64
	err    error // verb "EXIT"
}

// clientSet is the running client processes of one burn.
type clientSet struct {
	cmds  []*exec.Cmd
	stdin []io.WriteCloser
	msgs  chan clientMsg
	live  int

	mu           sync.Mutex
	done, worked []int64 // each client's last DONE and WORKED
}

func startClients(o *options, schema string, log io.Writer) (*clientSet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start the clients: %w", err)
	}
	args := []string{riverClientCmd, "--harness", o.harness, "--dsn", o.dsn, "--schema", schema,
		"--workers", strconv.Itoa(o.workers), "--tasks", strconv.Itoa(o.tasks)}
	s := &clientSet{msgs: make(chan clientMsg, 1024), done: make([]int64, o.clients), worked: make([]int64, o.clients)}
	for i := range o.clients {
		cmd := exec.Command(exe, args...)
		cmd.Stderr = &prefixWriter{w: log, prefix: fmt.Sprintf("client %d: ", i+1)}
		stdin, err := cmd.StdinPipe()
		if err == nil {
			var stdout io.ReadCloser
			if stdout, err = cmd.StdoutPipe(); err == nil {
				if err = cmd.Start(); err == nil {
					s.cmds = append(s.cmds, cmd)
					s.stdin = append(s.stdin, stdin)
					s.live++
					go s.read(i+1, cmd, stdout)
					continue
				}
			}
		}
		s.stop(log)
		return nil, fmt.Errorf("start client %d: %w", i+1, err)
	}
	return s, nil
}

// read turns client id's stdout into messages, then reports its exit.
func (s *clientSet) read(id int, cmd *exec.Cmd, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		m := clientMsg{client: id, verb: f[0]}
		if len(f) > 1 {
			m.n, _ = strconv.ParseInt(f[1], 10, 64)
		}
		s.mu.Lock()
		switch m.verb {
		case "DONE":
			s.done[id-1] = m.n
		case "WORKED":
			s.worked[id-1] = m.n
		}
		s.mu.Unlock()
		s.msgs <- m
	}
	// Wait only after every read: it closes the pipe.
	s.msgs <- clientMsg{client: id, verb: "EXIT", err: cmd.Wait()}
}

func (s *clientSet) sum(counts []int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t int64
	for _, n := range counts {
		t += n
	}
	return t
}

func (s *clientSet) send(line string) error {
	for i, w := range s.stdin {
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return fmt.Errorf("tell client %d %s: %w", i+1, line, err)
		}
	}
	return nil
}

// await passes the clients' messages to fn until it returns true; a client
// that exits, quiet without a message, or ctx's end stop it with an error.
func (s *clientSet) await(ctx context.Context, quiet time.Duration, fn func(clientMsg) bool) error {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case m := <-s.msgs:
			if m.verb == "EXIT" {
				s.live--
				return fmt.Errorf("client %d ended before the run did (%v); its stderr is above", m.client, exitText(m.err))
			}
			if fn(m) {
				return nil
			}
			t.Reset(quiet)
		case <-t.C:
			return fmt.Errorf("no word from the %d clients for %s", len(s.cmds), quiet)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stop ends the clients' stdin, which stops them, waits for them to exit
// (killing them after cleanupTimeout) and returns the jobs they worked.
func (s *clientSet) stop(log io.Writer) (worked int64, err error) {
	for _, w := range s.stdin {
		w.Close()
	}
	kill := time.NewTimer(cleanupTimeout)
	defer kill.Stop()
	for s.live > 0 {
		select {
		case m := <-s.msgs:
			if m.verb == "EXIT" {
				s.live--
				if m.err != nil && err == nil {
					err = fmt.Errorf("client %d: %v", m.client, m.err)
				}
			}
		case <-kill.C:
			fmt.Fprintf(log, "river: %d clients still running %s after the end; killing them\n", s.live, cleanupTimeout)
			for _, c := range s.cmds {
				c.Process.Kill()
			}
		}
	}
	s.mu.Lock()
	fmt.Fprintf(log, "river: jobs worked per client %v\n", s.worked)
	s.mu.Unlock()
	return s.sum(s.worked), err
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

// runRiverClient is one client process of `river burn --clients N`
// (hidden command): a River client of the harness's settings on the
// parent's schema, following the parent's commands on stdin.
func runRiverClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(riverClientCmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{mode: "burn"}
	var schema string
	fs.StringVar(&o.harness, "harness", "river", "")
	fs.StringVar(&o.dsn, "dsn", defaultPostgresDSN, "")
	fs.StringVar(&schema, "schema", "", "")
	fs.IntVar(&o.workers, "workers", riverBenchWorkers, "")
	fs.IntVar(&o.tasks, "tasks", 0, "") // sizes the event channel: every event of the burn fits
	if err := fs.Parse(args); err != nil {
		return err
	}
	if schema == "" {
		return fmt.Errorf("%w: --schema is required", errUsage)
	}
	cfg, err := pgxpool.ParseConfig(o.dsn)
	if err != nil {
		return fmt.Errorf("parse dsn: %w", err)
	}
	// As in newRiverEnv: the pool's default size, and the search path as a
	// second guard next to River's Schema.
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = riverAppName(schema)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open pool: %w", err)
	}
	defer pool.Close()

	var worked atomic.Int64
	rcfg, err := riverConfig(o, schema, &noopWorker{worked: &worked}, stderr)
	if err != nil {
		return err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rcfg)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	events, unsubscribe := riverCompletions(client, o.tasks)
	defer unsubscribe()

	out := &syncWriter{w: stdout}
	report := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
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
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start client: %w", err)
	}
	var done, reported int64 = 0, -1
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case ev, ok := <-events:
			if runErr = riverCompleted(ev, ok); runErr != nil {
				break loop
			}
			done++
		case <-tick.C:
			if done != reported {
				reported = done
				report("DONE %d", done)
			}
		case <-endCh:
			break loop
		case <-ctx.Done():
			runErr = ctx.Err()
			break loop
		}
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stop client: %w", err)
	}
	report("WORKED %d", worked.Load())
	return runErr
}
