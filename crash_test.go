package evertask_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/sqlitestore"
)

// The crash test runs the engine in a child process (this test binary,
// re-executed), kills it with SIGKILL in the middle of the work, and lets a
// second child finish on the same SQLite file. No task may be lost; tasks
// that were running at the kill run again (at least once) and are counted.

const (
	crashEnvMode = "EVERTASK_CRASH_CHILD"
	crashEnvDB   = "EVERTASK_CRASH_DB"
	crashEnvLog  = "EVERTASK_CRASH_LOG"
	crashTasks   = 300
)

type crashJob struct {
	N int `json:"n"`
}

func (crashJob) Kind() string { return "crashtest.job" }

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped in -short")
	}
	dir := t.TempDir()
	db, execLog := filepath.Join(dir, "crash.db"), filepath.Join(dir, "executions.log")

	// First child: dispatch everything, start working, get killed.
	first := crashCommand(t, "dispatch", db, execLog)
	out, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "DISPATCHED" {
		_ = first.Process.Kill()
		t.Fatalf("first child did not dispatch: %q", lines.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	deadline := time.Now().Add(30 * time.Second)
	for countPrefix(execLog, "D ") < crashTasks/4 {
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatal("first child made no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	doneBeforeKill := countPrefix(execLog, "D ")

	// Second child: recover and finish.
	second := crashCommand(t, "recover", db, execLog)
	second.Stdout, second.Stderr = os.Stderr, os.Stderr
	if err := second.Run(); err != nil {
		t.Fatalf("second child: %v", err)
	}

	st, err := sqlitestore.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := store.CountByStatus(context.Background(), st, store.CountParams{})
	if err != nil {
		t.Fatal(err)
	}
	lost := crashTasks - counts[store.StatusCompleted]
	starts := map[string]int{}
	for _, l := range readLines(execLog) {
		if f := strings.Fields(l); f[0] == "S" {
			starts[f[1]]++
		}
	}
	reexecuted, never := 0, 0
	for n := range crashTasks {
		switch c := starts[strconv.Itoa(n)]; {
		case c == 0:
			never++
		case c > 1:
			reexecuted++
		}
	}
	t.Logf("crash test: %d tasks, %d handler runs finished before SIGKILL, lost=%d, re-executed (started twice)=%d, statuses=%v",
		crashTasks, doneBeforeKill, lost, reexecuted, counts)
	if lost != 0 || never != 0 {
		t.Errorf("lost %d tasks (%d never ran); want 0", lost, never)
	}
}

func crashCommand(t *testing.T, mode, db, execLog string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnvMode+"="+mode, crashEnvDB+"="+db, crashEnvLog+"="+execLog)
	return cmd
}

// crashChild runs the child's part when this binary was started as one, and
// reports whether it did.
func crashChild() bool {
	mode := os.Getenv(crashEnvMode)
	if mode == "" {
		return false
	}
	if err := runCrashChild(mode, os.Getenv(crashEnvDB), os.Getenv(crashEnvLog)); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	return true
}

func runCrashChild(mode, db, execLog string) error {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	logFile, err := os.OpenFile(execLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	var mu sync.Mutex
	eng, err := evertask.New(st, &evertask.Config{
		Workers: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Retry: evertask.NoRetry(),
	})
	if err != nil {
		return err
	}
	err = evertask.Register[crashJob](eng, evertask.HandlerFunc[crashJob](func(ctx context.Context, j crashJob) error {
		record := func(what string) error {
			mu.Lock()
			defer mu.Unlock()
			_, err := fmt.Fprintf(logFile, "%s %d %d\n", what, j.N, os.Getpid())
			return err
		}
		if err := record("S"); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond) // real work takes time: the kill lands mid-run
		return record("D")
	}), nil)
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	if mode == "series" || mode == "series-resume" {
		return runSeriesChild(ctx, eng, st, mode)
	}
	if mode == "dispatch" {
		for n := range crashTasks {
			if _, err := eng.Dispatch(ctx, crashJob{N: n}, nil); err != nil {
				return err
			}
		}
		fmt.Println("DISPATCHED")
		select {} // work until killed
	}
	// recover: wait until every task completed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts, err := store.CountByStatus(ctx, st, store.CountParams{})
		if err != nil {
			return err
		}
		if counts[store.StatusCompleted] == crashTasks {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("recovery did not finish: %v", counts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return eng.Shutdown(ctx)
}

// runSeriesChild registers (or, after a restart, re-registers by key: the
// idempotent startup pattern) a series of 5 runs, one a second, and waits
// until it completed.
func runSeriesChild(ctx context.Context, eng *evertask.Engine, st store.Store, mode string) error {
	s := schedule.EverySeconds(1).StartNow().AtMost(5)
	id, err := eng.Dispatch(ctx, crashJob{N: 0}, &evertask.DispatchOpts{Schedule: &s, Key: "series"})
	if err != nil {
		return err
	}
	if mode == "series" {
		select {} // run until killed
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		row, err := st.Get(ctx, id)
		if err != nil {
			return err
		}
		if row.Status == store.StatusCompleted && row.NextRunAt.IsZero() {
			// Give a wrongly scheduled extra run the chance to show.
			time.Sleep(1500 * time.Millisecond)
			return eng.Shutdown(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("series did not complete: %+v", row)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countPrefix(path, prefix string) int {
	n := 0
	for _, l := range readLines(path) {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestCrashRecurringMaxRuns runs a series limited to 5 runs in a child
// process, kills it with SIGKILL between two runs, and lets a second child
// continue: the series runs exactly 5 times in all, never restarts from its
// first run and never exceeds its limit.
func TestCrashRecurringMaxRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped in -short")
	}
	dir := t.TempDir()
	db, execLog := filepath.Join(dir, "series.db"), filepath.Join(dir, "executions.log")
	first := crashCommand(t, "series", db, execLog)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(context.Background(), db, nil)
	if err != nil {
		_ = first.Process.Kill()
		t.Fatal(err)
	}
	defer st.Close()
	// Kill right after the second run is recorded: between runs, since the
	// next one is a second away.
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := st.List(context.Background(), store.Filter{Key: "series"})
		if err == nil && len(page.Tasks) == 1 && page.Tasks[0].RunCount >= 2 {
			break
		}
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatal("the series did not run twice")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	runsBeforeKill := countPrefix(execLog, "D ")

	second := crashCommand(t, "series-resume", db, execLog)
	second.Stdout, second.Stderr = os.Stderr, os.Stderr
	if err := second.Run(); err != nil {
		t.Fatalf("second child: %v", err)
	}
	page, err := st.List(context.Background(), store.Filter{Key: "series"})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("series rows: %d, %v", len(page.Tasks), err)
	}
	row := page.Tasks[0]
	executions := countPrefix(execLog, "D ")
	t.Logf("series across SIGKILL: %d runs before the kill, %d in all, run count %d, status %s",
		runsBeforeKill, executions, row.RunCount, row.Status)
	if executions != 5 || row.RunCount != 5 || row.Status != store.StatusCompleted || !row.NextRunAt.IsZero() {
		t.Errorf("want exactly 5 executions and a completed series; got %d executions, run count %d, %s, next %v",
			executions, row.RunCount, row.Status, row.NextRunAt)
	}
}
