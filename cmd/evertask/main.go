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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed: a server down, a task error
	exitUsage = 2 // bad command line
)

const usage = `evertask: a persistent background task engine for Go

Usage:
  evertask demo    [--db evertask-demo.db | --store postgres|mysql|redis --dsn DSN] [--duration 8s]
  evertask bench   --store memory|sqlite|postgres|mysql|redis --mode burn|steady|latency [flags]
  evertask migrate --store postgres|mysql|sqlite --dsn DSN [--schema evertask]
  evertask tasks   [--store sqlite --dsn evertask-demo.db] [--status Failed] [--limit 20]
  evertask tasks show ID [--store ... --dsn ...]

Run "evertask <command> -h" for the flags of a command.
`

// run is the whole command line, in-process so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var cmd func(context.Context, []string, io.Writer, io.Writer) error
	switch args[0] {
	case "demo":
		cmd = runDemo
	case "bench":
		cmd = runBench
	case benchNodeCmd: // not in the usage: bench --nodes starts it
		cmd = runBenchNode
	case "migrate":
		cmd = runMigrate
	case "tasks":
		cmd = runTasks
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "evertask: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errFlags):
		// The flag package already printed the problem and the usage.
		return exitUsage
	case isUsage(err):
		fmt.Fprintf(stderr, "evertask %s: %v\n\n%s", args[0], err, usage)
		return exitUsage
	}
	fmt.Fprintf(stderr, "evertask %s: %v\n", args[0], err)
	return exitFail
}

// errFlags marks a flag error the flag package has reported already.
var errFlags = errors.New("bad flags")

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("evertask "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: evertask %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments too
// ("tasks show ID --store redis"), and returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errFlags
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
