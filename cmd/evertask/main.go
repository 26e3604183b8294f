package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, documented in doc.go: scripts may rely on them.
const (
	exitOK       = 0
	exitFail     = 1 // the command ran and failed: a server down, a store error
	exitUsage    = 2 // bad command line: unknown command or flag, bad value
	exitNotFound = 3 // no task has the id (or several match an id prefix)
	exitRefused  = 4 // the action is not allowed: the task's status, or the store lacks the capability
)

// command is one subcommand of the CLI.
type command struct {
	name     string
	synopsis string // the usage lines, without "evertask "
	summary  string
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	hidden   bool
}

func commands() []command {
	return []command{
		{name: "demo", synopsis: "demo [--db evertask-demo.db | --store postgres|mysql|redis --dsn DSN] [--duration 8s]",
			summary: "a guided run of the engine on SQLite", run: runDemo},
		{name: "tasks", synopsis: tasksSynopsis, summary: "list, show, cancel, retry, run or delete tasks", run: runTasks},
		{name: "queues", synopsis: queuesSynopsis, summary: "list queues with their counts; pause or resume one on every node", run: runQueues},
		{name: "nodes", synopsis: "nodes [store flags] [--json]", summary: "the engines (nodes) sharing the store", run: runNodes},
		{name: "purge", synopsis: purgeSynopsis, summary: "delete old finished tasks, audits and logs", run: runPurge},
		{name: "serve", synopsis: serveSynopsis, summary: "the dashboard and HTTP API over a store (package monitor)", run: runServe},
		{name: "migrate", synopsis: "migrate --store postgres|mysql|sqlite [--dsn DSN] [--schema evertask]",
			summary: "apply the schema migrations of a store, saying what it applied", run: runMigrate},
		{name: "bench", synopsis: "bench --store memory|sqlite|postgres|mysql|redis --mode burn|steady|latency [flags]",
			summary: "throughput and latency of a store", run: runBench},
		{name: benchNodeCmd, run: runBenchNode, hidden: true}, // bench --nodes starts it
	}
}

func usage() string {
	var b strings.Builder
	b.WriteString("evertask: a persistent background task engine for Go\n\nUsage:\n")
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(&b, "  evertask %-8s %s\n", c.name, c.summary)
		}
	}
	b.WriteString(`
The store flags of tasks, queues, nodes, purge and serve:
  --store sqlite|postgres|mysql|redis, or a URL: sqlite:FILE, postgres://..., mysql://..., redis://...
          (default $EVERTASK_STORE, else sqlite)
  --dsn   the sqlite file, postgres URL, mysql DSN or redis address
  --schema the postgres schema, mysql database or redis key prefix

Exit codes: 0 done, 1 failed (store unreachable, store error), 2 bad usage,
3 task not found (or an id prefix matching several), 4 not allowed (the
task's status, or the store lacks the capability).

Run "evertask <command> --help" for the flags of a command.
`)
	return b.String()
}

// run is the whole command line, in-process so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	quietDrivers()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	switch {
	case cmd != nil:
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage())
		return exitOK
	default:
		names := make([]string, 0, len(commands()))
		for _, c := range commands() {
			if !c.hidden {
				names = append(names, c.name)
			}
		}
		fmt.Fprintf(stderr, "evertask: unknown command %q (want %s): run \"evertask help\" for what each does\n",
			args[0], strings.Join(names, ", "))
		return exitUsage
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errFlags):
		// The flag package already printed the problem and the usage.
		return exitUsage
	case isOneLine(err):
		fmt.Fprintf(stderr, "evertask %s: %v\n", cmd.name, err)
		return exitUsage
	case isUsage(err):
		// Only this command's usage: the whole list would bury the line
		// that matters.
		fmt.Fprintf(stderr, "evertask %s: %v\n\nUsage:\n%s\nRun \"evertask %s --help\" for its flags.\n",
			cmd.name, err, indentLines("evertask ", cmd.synopsis), cmd.name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "evertask %s: %v\n", cmd.name, err)
	return exitCode(err)
}

// exitCode maps a command's error to its documented exit code.
func exitCode(err error) int {
	switch {
	case errors.Is(err, inspect.ErrNotFound), errors.Is(err, inspect.ErrAmbiguous):
		return exitNotFound
	case errors.Is(err, inspect.ErrStatus), errors.Is(err, store.ErrUnsupported):
		return exitRefused
	}
	return exitFail
}

func indentLines(prefix, lines string) string {
	var b strings.Builder
	for _, l := range strings.Split(lines, "\n") {
		fmt.Fprintf(&b, "  %s%s\n", prefix, l)
	}
	return b.String()
}

// errFlags marks a flag error the flag package has reported already.
var errFlags = errors.New("bad flags")

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("evertask "+name, flag.ContinueOnError)
	// The flag package's own messages are dropped: parseFlags reports a bad
	// flag in one line with the synopsis, and prints the flags on --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n%s\nFlags:\n", indentLines("evertask ", synopsis))
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments too
// ("tasks show ID --store redis"), and returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	help := fs.Usage
	fs.Usage = func() {} // the flag package calls it on errors too
	defer func() { fs.Usage = help }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// noPositional rejects stray arguments of commands that take none.
func noPositional(args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected argument %q", strings.Join(args, " "))
	}
	return nil
}
