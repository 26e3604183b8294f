// Command peers runs evertask's bench modes on the queues people compare it
// with, River (PostgreSQL) and Asynq (Redis), and prints the same
// machine-readable RESULT line as `evertask bench`, so figures from both can
// be put side by side from one machine and one run.
//
// It is a separate Go module so that River and Asynq never enter the
// library's go.mod. Run it from its own directory:
//
//	cd bench/peers && go run . river burn --tasks 50000
//
// Usage:
//
//	peers <river|river-defaults|asynq|asynq-tuned> <burn|latency> [--dsn ...] [--tasks N] [--workers N] [--timeout D]
//
// Everything it creates (a PostgreSQL schema, the content of one Redis
// database) is removed before it exits, including on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit codes: 2 follows the flag package's convention for bad usage.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// Defaults of the flags; the DSNs match the development machines' services.
const (
	defaultPostgresDSN  = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisDSN     = "redis://127.0.0.1:6379/14"
	defaultBurnTasks    = 100_000
	defaultLatencyTasks = 2_000
	// Asynq's default check interval makes every idle dequeue sleep 0.5-1.5 s,
	// so 2,000 sequential tasks would take about half an hour.
	defaultAsynqLatencyTasks = 100
	defaultTimeout           = 30 * time.Minute
)

// errUsage is returned for arguments that do not form a valid command line.
var errUsage = errors.New("usage")

// harness is one peer configuration: a queue library and its settings.
type harness struct {
	name           string // store= in the RESULT line
	defaultWorkers int
	defaultDSN     string
	run            func(ctx context.Context, o *options, log io.Writer) (*result, error)
}

var harnesses = map[string]harness{
	"river":          {name: "river", defaultWorkers: riverBenchWorkers, defaultDSN: defaultPostgresDSN, run: runRiver},
	"river-defaults": {name: "river-defaults", defaultWorkers: riverDefaultWorkers, defaultDSN: defaultPostgresDSN, run: runRiver},
	"asynq":          {name: "asynq", defaultWorkers: asynqConcurrency, defaultDSN: defaultRedisDSN, run: runAsynq},
	"asynq-tuned":    {name: "asynq-tuned", defaultWorkers: asynqConcurrency, defaultDSN: defaultRedisDSN, run: runAsynq},
}

// options is the parsed command line.
type options struct {
	harness string // key of harnesses
	mode    string // "burn" or "latency"
	dsn     string
	tasks   int
	workers int
	clients int // river burn: client processes on one schema
	timeout time.Duration
}

const usageText = `usage: peers <river|river-defaults|asynq|asynq-tuned> <burn|latency> [flags]

Harnesses:
  river           River with its benchmark's settings: MaxWorkers 2000, FetchCooldown 2ms, FetchPollInterval 20ms
  river-defaults  River with its default fetch settings, MaxWorkers 100
  asynq           Asynq, Concurrency 100, default TaskCheckInterval (1s)
  asynq-tuned     Asynq, Concurrency 100, TaskCheckInterval 10ms

Modes:
  burn     insert N no-op tasks first, then start the workers and time until all N are done
  latency  one task at a time, N times: insert to handler start (p50_us, p99_us)

Flags:
  --dsn URL       PostgreSQL URL (river*; default ` + defaultPostgresDSN + `)
                  or Redis URL/host:port (asynq*; default ` + defaultRedisDSN + `, database 14 when host:port);
                  a fresh schema is created and dropped in PostgreSQL; the Redis database is flushed before
                  and after, and only if it holds nothing but asynq: keys
  --tasks N       tasks (default 100000 for burn; 2000 for latency, 100 for asynq latency)
  --workers N     River MaxWorkers / Asynq Concurrency (default 2000 river, 100 otherwise)
  --clients N     river burn: N River clients, each its own OS process (pool, MaxWorkers),
                  on one schema; the time runs from their start to the last completion
                  (default 1: one client in this process)
  --timeout D     give up after D (default 30m)

The last line on stdout is machine-readable:
  RESULT mode=burn store=<harness> nodes=<clients> tasks=<N> workers=<W> seconds=<s> tasks_per_s=<N/s>
and latency adds p50_us=<µs> p99_us=<µs>.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, apart from the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == riverClientCmd { // not in the usage: --clients starts it
		if err := runRiverClient(ctx, args[1:], stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "peers: %s: %v\n", riverClientCmd, err)
			return exitFail
		}
		return exitOK
	}
	o, err := parseArgs(args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "peers: %v\n", err)
		}
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	h := harnesses[o.harness]
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := h.run(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "peers: %s %s: %v\n", o.harness, o.mode, err)
		return exitFail
	}
	res.nodes = o.clients
	fmt.Fprintln(stdout, res.line())
	return exitOK
}

func parseArgs(args []string) (*options, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("%w: need a harness and a mode", errUsage)
	}
	o := &options{harness: args[0], mode: args[1]}
	h, ok := harnesses[o.harness]
	if !ok {
		return nil, fmt.Errorf("%w: unknown harness %q", errUsage, o.harness)
	}
	if o.mode != "burn" && o.mode != "latency" {
		return nil, fmt.Errorf("%w: unknown mode %q", errUsage, o.mode)
	}
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // usage is printed once, by run
	fs.StringVar(&o.dsn, "dsn", h.defaultDSN, "")
	fs.IntVar(&o.tasks, "tasks", defaultTasks(o.harness, o.mode), "")
	fs.IntVar(&o.workers, "workers", h.defaultWorkers, "")
	fs.IntVar(&o.clients, "clients", 1, "")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "")
	if err := fs.Parse(args[2:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch {
	case o.tasks < 1:
		return nil, fmt.Errorf("%w: --tasks must be positive", errUsage)
	case o.workers < 1 || o.workers > 10_000:
		return nil, fmt.Errorf("%w: --workers must be between 1 and 10000", errUsage)
	case o.clients < 1 || o.clients > maxClients:
		return nil, fmt.Errorf("%w: --clients must be between 1 and %d", errUsage, maxClients)
	case o.clients > 1 && (h.defaultDSN != defaultPostgresDSN || o.mode != "burn"):
		return nil, fmt.Errorf("%w: --clients is for the river harnesses' burn", errUsage)
	case o.timeout <= 0:
		return nil, fmt.Errorf("%w: --timeout must be positive", errUsage)
	case o.dsn == "":
		return nil, fmt.Errorf("%w: --dsn must not be empty", errUsage)
	}
	return o, nil
}

func defaultTasks(harness, mode string) int {
	switch {
	case mode == "burn":
		return defaultBurnTasks
	case harness == "asynq":
		return defaultAsynqLatencyTasks
	default:
		return defaultLatencyTasks
	}
}
