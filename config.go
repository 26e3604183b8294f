package evertask

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

// The queues that always exist.
const (
	DefaultQueue   = "default"
	RecurringQueue = "recurring"
)

// defaultRecoveryPageSize is Config.RecoveryPageSize's default. On the
// PostgreSQL burn (100,000 tasks, 2,000 workers) pages of 100 gave 25k
// tasks/s, 1,000 gave 38k and 5,000 47k; memory grows with it.
const defaultRecoveryPageSize = 1000

// DefaultMaxPayloadBytes is Config.MaxPayloadBytes's default: 1 MiB.
const DefaultMaxPayloadBytes = 1 << 20

// FullQueueBehavior says what an immediate dispatch does when its queue's
// buffer is full. Timed dispatches (delayed, scheduled, recurring) never
// block: they retry shortly after (Config.FullQueueRetryDelay). No
// behaviour makes Dispatch wait after the task's row is written (see
// Engine.Dispatch).
type FullQueueBehavior int

const (
	// FullQueueUnset takes the queue's default: Wait for "default" and
	// "recurring", FallbackToDefault for other queues.
	FullQueueUnset FullQueueBehavior = iota
	// FullQueueWait lets the task wait for a free worker. In a cluster
	// (every built-in store) it waits Queued in the store until a fetcher
	// claims it, and Dispatch does not wait. On a store without
	// store.Cluster it waits in the queue's in-memory overflow, and
	// Dispatch, before writing, waits while the buffer and the overflow
	// hold Capacity tasks each; when ctx ends then, nothing is written.
	FullQueueWait
	// FullQueueError returns ErrQueueFull; the task stays persisted
	// (WaitingQueue) and is recovered at the next start.
	FullQueueError
	// FullQueueFallback hands the task to the "default" queue (waiting there
	// as FullQueueWait does if it is full too; in a cluster, in the store for
	// a fetcher of its own queue). The task keeps its own queue's timeout
	// and retry policy.
	FullQueueFallback
)

func (b FullQueueBehavior) String() string {
	switch b {
	case FullQueueWait:
		return "wait"
	case FullQueueError:
		return "error"
	case FullQueueFallback:
		return "fallback"
	}
	return "unset"
}

// QueueConfig configures one queue: a bounded buffer and a fixed number of
// worker goroutines.
type QueueConfig struct {
	// Name of the queue; required. Configuring "default" or "recurring"
	// replaces their defaults.
	Name string
	// Workers is how many tasks of the queue run at once; required, at
	// least 1.
	Workers int
	// Capacity of the queue's buffer; 0 means 500.
	Capacity int
	// WhenFull: see FullQueueBehavior. Default FullQueueFallback.
	WhenFull FullQueueBehavior
	// Timeout of each attempt for tasks of this queue whose handler sets
	// none; 0 uses Config.Timeout.
	Timeout time.Duration
	// Retry for tasks of this queue whose handler sets none; nil uses
	// Config.Retry.
	Retry RetryPolicy
}

// LogCaptureConfig turns on the capture of handler logs into the store.
type LogCaptureConfig struct {
	// Enabled stores the records a handler writes through Logger(ctx).
	// Default false: records only go to Config.Logger.
	Enabled bool
	// MinLevel is the lowest level stored; default slog.LevelInfo. It does
	// not filter what reaches Config.Logger.
	MinLevel slog.Level
	// MaxPerExecution caps the records stored per execution; past it one
	// truncation marker is stored. 0 means 1000; negative means no cap.
	MaxPerExecution int
	// MaxPerTask caps the records a task keeps over all its executions
	// (retries of one execution and the runs of a recurring series add
	// up), as the original's MaxExecutionLogsPerTask. Past it the oldest
	// records are deleted after each save, so the newest MaxPerTask stay;
	// with a store that is not a store.LogTrimmer (every built-in store
	// is one) the newest records of the execution that reaches the cap are
	// dropped instead. 0 means 1000; negative means no cap.
	MaxPerTask int
}

// Config configures an Engine. A nil *Config uses every default.
type Config struct {
	// Logger receives the engine's own logs and, by default, handler logs.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Tests inject their own.
	Now func() time.Time

	// Workers and Capacity size the "default" queue (and "recurring",
	// unless Queues configures it): default max(4, 2×CPUs) workers and a
	// buffer of max(1000, 200×CPUs).
	Workers  int
	Capacity int
	// Queues adds queues or replaces "default" and "recurring".
	Queues []QueueConfig

	// Retry is the default retry policy: Linear(3, 500ms).
	Retry RetryPolicy
	// Timeout is the default per-attempt timeout; 0 means none.
	Timeout time.Duration
	// AuditLevel is the default audit level; the zero value is AuditFull.
	AuditLevel store.AuditLevel
	// LogCapture configures the capture of handler logs.
	LogCapture LogCaptureConfig

	// RecoveryPageSize is how many rows startup recovery reads at once;
	// default 1000. It bounds recovery's memory: about four pages per queue
	// are held at once, so large payloads call for a smaller page. A
	// larger one recovers a big backlog faster (fewer round trips).
	RecoveryPageSize int
	// MaxRecoveryFailures is how many failed re-dispatches of one row
	// recovery tolerates before it marks the row Failed; default 5. The
	// count outlives a restart only on a store.RecoveryCounter.
	MaxRecoveryFailures int
	// FullQueueRetryDelay is how long a timed task that found its queue
	// full waits before the next try; default 2s.
	FullQueueRetryDelay time.Duration
	// MaxPayloadBytes is the largest task payload (its JSON) Dispatch
	// accepts; a larger one is ErrPayloadTooLarge and nothing is written.
	// Default 1 MiB (DefaultMaxPayloadBytes): a task row is read whole by
	// recovery, the fetchers and the dashboard, so a big document belongs
	// in a blob store with its reference in the task. Negative means no
	// limit but the store's own.
	MaxPayloadBytes int
	// DisableBatching makes every store write its own round trip. By default
	// the status writes of concurrent workers are grouped into one
	// TransitionMany call when the store implements store.BatchStore.
	DisableBatching bool

	// Retention makes the engine delete old history on its own; off by
	// default (see RetentionConfig).
	Retention RetentionConfig

	// Observer receives lifecycle events, store errors and take-overs
	// synchronously (package metrics uses it). Default: none.
	Observer Observer
	// Middleware hooks into dispatches and handler attempts (package
	// tracing uses it), the first outermost. Default: none.
	Middleware []Middleware

	// Cluster configures how the engine shares its store with other
	// engines (nodes). It applies when the store implements store.Cluster,
	// as every built-in store does; see the README's "Several processes".
	Cluster ClusterConfig
}

// ClusterConfig configures the engine as one node of a cluster: any number
// of engines on one store, which claim due work under leases.
type ClusterConfig struct {
	// NodeID names this engine in leases and in the nodes registry; it
	// must be unique among the engines running at once on the store.
	// Default: host-pid-random, new at every start.
	NodeID string
	// LeaseDuration is how long a claim holds a task without renewal: a
	// node that dies (or stops answering) loses its tasks to the others
	// this long after its last renewal, plus one PollInterval. Default 30s.
	LeaseDuration time.Duration
	// RenewInterval is how often the node renews the leases it holds, in
	// one store call, and refreshes its heartbeat. It also bounds how long
	// a cancel from another node takes to stop a handler when the store
	// has no notifier. Default min(1s, LeaseDuration/3); at most
	// LeaseDuration/2.
	RenewInterval time.Duration
	// PollInterval is how often the node looks for due work when no notice
	// woke it, and the rescue leader for expired leases while a node of the
	// registry is stale, until every lease that node can hold has run out
	// (else once a LeaseDuration). Default 1s.
	PollInterval time.Duration
	// Prefetch is how many tasks per queue the node claims beyond its busy
	// workers, so a worker finds its next task without a round trip and
	// claims come in batches (a PostgreSQL claim of 1,000 rows cost 30 µs a
	// row, one of 200 rows 70 µs). Claimed tasks wait in this node's buffer
	// under its lease, out of the other nodes' reach. Default: the queue's
	// Capacity while the node is alone on the store, its worker count while
	// other nodes are registered, so a backlog spreads over them; negative
	// means none.
	Prefetch int
}

// resolved is Config with every default applied and validated.
type resolvedConfig struct {
	Config
	queues map[string]QueueConfig
}

func resolveConfig(c *Config) (*resolvedConfig, error) {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cpus := runtime.NumCPU()
	switch {
	case cfg.Workers < 0:
		return nil, fmt.Errorf("%w: Workers is %d, must be at least 1", ErrConfig, cfg.Workers)
	case cfg.Workers == 0:
		cfg.Workers = max(4, 2*cpus)
	}
	switch {
	case cfg.Capacity < 0:
		return nil, fmt.Errorf("%w: Capacity is %d, must be at least 1", ErrConfig, cfg.Capacity)
	case cfg.Capacity == 0:
		cfg.Capacity = max(1000, 200*cpus)
	}
	if cfg.Retry == nil {
		cfg.Retry = Linear(3, 500*time.Millisecond)
	}
	if !cfg.AuditLevel.Valid() {
		return nil, fmt.Errorf("%w: unknown audit level %d", ErrConfig, cfg.AuditLevel)
	}
	if cfg.LogCapture.MaxPerExecution == 0 {
		cfg.LogCapture.MaxPerExecution = 1000
	}
	if cfg.MaxPayloadBytes == 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if cfg.LogCapture.MaxPerTask == 0 {
		cfg.LogCapture.MaxPerTask = 1000
	}
	if cfg.RecoveryPageSize <= 0 {
		cfg.RecoveryPageSize = defaultRecoveryPageSize
	}
	if cfg.MaxRecoveryFailures <= 0 {
		cfg.MaxRecoveryFailures = 5
	}
	if cfg.FullQueueRetryDelay <= 0 {
		cfg.FullQueueRetryDelay = 2 * time.Second
	}

	if err := resolveCluster(&cfg.Cluster); err != nil {
		return nil, err
	}

	r := &resolvedConfig{Config: cfg, queues: map[string]QueueConfig{}}
	base := QueueConfig{Workers: cfg.Workers, Capacity: cfg.Capacity, WhenFull: FullQueueWait}
	for _, name := range []string{DefaultQueue, RecurringQueue} {
		q := base
		q.Name = name
		r.queues[name] = q
	}
	for _, q := range cfg.Queues {
		if strings.TrimSpace(q.Name) == "" {
			return nil, fmt.Errorf("%w: a queue has no name", ErrConfig)
		}
		if q.Workers < 1 {
			return nil, fmt.Errorf("%w: queue %q has %d workers, must be at least 1", ErrConfig, q.Name, q.Workers)
		}
		if q.Capacity < 0 {
			return nil, fmt.Errorf("%w: queue %q has capacity %d", ErrConfig, q.Name, q.Capacity)
		}
		if q.Capacity == 0 {
			q.Capacity = 500
		}
		if q.WhenFull == FullQueueUnset {
			q.WhenFull = FullQueueFallback
			if q.Name == DefaultQueue || q.Name == RecurringQueue {
				q.WhenFull = FullQueueWait
			}
		}
		if q.Name == DefaultQueue && q.WhenFull == FullQueueFallback {
			q.WhenFull = FullQueueWait // falling back to itself is waiting (bug 49)
		}
		r.queues[q.Name] = q
	}
	return r, nil
}

func resolveCluster(c *ClusterConfig) error {
	switch {
	case c.LeaseDuration < 0 || c.RenewInterval < 0 || c.PollInterval < 0:
		return fmt.Errorf("%w: Cluster durations must not be negative", ErrConfig)
	case strings.ContainsAny(c.NodeID, " \t\n"):
		return fmt.Errorf("%w: Cluster.NodeID %q contains white space", ErrConfig, c.NodeID)
	case len(c.NodeID) > 200:
		return fmt.Errorf("%w: Cluster.NodeID is %d bytes, the limit is 200", ErrConfig, len(c.NodeID))
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 30 * time.Second
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = min(time.Second, c.LeaseDuration/3)
	}
	if c.RenewInterval > c.LeaseDuration/2 {
		return fmt.Errorf("%w: Cluster.RenewInterval %s is more than half of LeaseDuration %s: a lease would expire between renewals",
			ErrConfig, c.RenewInterval, c.LeaseDuration)
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	return nil
}
