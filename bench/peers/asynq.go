package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	// asynqConcurrency is the worker count of both Asynq variants.
	asynqConcurrency = 100
	// asynqTunedCheckInterval replaces Asynq's 1 s default: an idle server
	// sleeps between a half and one and a half of it before looking again.
	asynqTunedCheckInterval = 10 * time.Millisecond
	// asynqDB is the Redis database used when --dsn is host:port; the Redis
	// store's tests use database 0, so a high number is out of their way.
	asynqDB       = 14
	asynqQueue    = "default"
	asynqTaskType = "peers:noop"
	// asynqKeyPrefix starts every key Asynq writes: a database holding only
	// such keys holds nothing but leftovers of earlier runs.
	asynqKeyPrefix = "asynq:"
	// asynqEnqueuers enqueue the burn backlog in parallel; Asynq has no batch
	// enqueue, and the backlog is not part of the timed phase.
	asynqEnqueuers = 8
	// asynqDrainPoll is how often the end of a burn is checked once every
	// handler has run, until Asynq has marked the last task done.
	asynqDrainPoll = time.Millisecond
)

// asynqEnv is one Redis database, emptied before and after the run.
type asynqEnv struct {
	opt asynq.RedisClientOpt
	rdb *redis.Client
}

func parseRedisDSN(dsn string) (asynq.RedisClientOpt, error) {
	if !strings.Contains(dsn, "://") {
		return asynq.RedisClientOpt{Addr: dsn, DB: asynqDB}, nil
	}
	conn, err := asynq.ParseRedisURI(dsn)
	if err != nil {
		return asynq.RedisClientOpt{}, err
	}
	opt, ok := conn.(asynq.RedisClientOpt)
	if !ok {
		return asynq.RedisClientOpt{}, fmt.Errorf("%q: only redis:// and rediss:// URLs of one server are supported", dsn)
	}
	return opt, nil
}

func newAsynqEnv(ctx context.Context, dsn string, log io.Writer) (*asynqEnv, error) {
	opt, err := parseRedisDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	rdb, ok := opt.MakeRedisClient().(*redis.Client)
	if !ok {
		return nil, errors.New("asynq returned an unexpected redis client type")
	}
	env := &asynqEnv{opt: opt, rdb: rdb}
	if err := env.checkOnlyAsynqKeys(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("flush db %d: %w", opt.DB, err)
	}
	fmt.Fprintf(log, "asynq: using redis %s db %d (flushed)\n", opt.Addr, opt.DB)
	return env, nil
}

// checkOnlyAsynqKeys refuses a database that holds anything but Asynq's
// keys, so a wrong --dsn never flushes someone's data.
func (e *asynqEnv) checkOnlyAsynqKeys(ctx context.Context) error {
	n, err := e.rdb.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("redis %s db %d: %w", e.opt.Addr, e.opt.DB, err)
	}
	if n == 0 {
		return nil
	}
	iter := e.rdb.Scan(ctx, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		if !strings.HasPrefix(iter.Val(), asynqKeyPrefix) {
			return fmt.Errorf("redis db %d holds key %q, not Asynq's; refusing to flush it (choose another db in --dsn)", e.opt.DB, iter.Val())
		}
	}
	return iter.Err()
}

func (e *asynqEnv) close(ctx context.Context, log io.Writer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		fmt.Fprintf(log, "asynq: flush db %d: %v (flush it by hand)\n", e.opt.DB, err)
	} else {
		fmt.Fprintf(log, "asynq: flushed db %d\n", e.opt.DB)
	}
	e.rdb.Close()
}

func runAsynq(ctx context.Context, o *options, log io.Writer) (*result, error) {
	env, err := newAsynqEnv(ctx, o.dsn, log)
	if err != nil {
		return nil, err
	}
	defer env.close(ctx, log)

	client := asynq.NewClientFromRedisClient(env.rdb)
	inspector := asynq.NewInspectorFromRedisClient(env.rdb)
	cfg := asynq.Config{
		Concurrency: o.workers,
		LogLevel:    asynq.WarnLevel,
		Queues:      map[string]int{asynqQueue: 1},
	}
	if o.harness == "asynq-tuned" {
		cfg.TaskCheckInterval = asynqTunedCheckInterval
	}
	res := &result{mode: o.mode, store: o.harness, tasks: o.tasks, workers: o.workers}
	switch o.mode {
	case "burn":
		err = asynqBurn(ctx, client, inspector, env.opt, cfg, o, log, res)
	default:
		err = asynqLatency(ctx, client, env.opt, cfg, o, log, res)
	}
	if err != nil {
		return nil, err
	}

	// Check the run did what it claims: every task processed, none failed,
	// nothing left in the queue.
	warmup := 0
	if o.mode == "latency" {
		warmup = 1
	}
	info, err := inspector.GetQueueInfo(asynqQueue)
	if err != nil {
		return nil, fmt.Errorf("queue info: %w", err)
	}
	if info.Size != 0 || info.ProcessedTotal != o.tasks+warmup || info.FailedTotal != 0 {
		return nil, fmt.Errorf("queue after the run: size %d, processed %d (want %d), failed %d",
			info.Size, info.ProcessedTotal, o.tasks+warmup, info.FailedTotal)
	}
	return res, nil
}

func noopTask(i int) *asynq.Task {
	return asynq.NewTask(asynqTaskType, strconv.AppendInt(nil, int64(i), 10))
}

func asynqBurn(ctx context.Context, client *asynq.Client, inspector *asynq.Inspector, opt asynq.RedisClientOpt, cfg asynq.Config, o *options, log io.Writer, res *result) error {
	if err := asynqEnqueueAll(ctx, client, o.tasks, log); err != nil {
		return err
	}
	fmt.Fprintf(log, "asynq: enqueued %d tasks; starting server\n", o.tasks)

	var handled atomic.Int64
	allHandled := make(chan struct{})
	handler := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if handled.Add(1) == int64(o.tasks) {
			close(allHandled)
		}
		return nil
	})
	stopProgress := progress(log, "asynq: handled", &handled, o.tasks)
	defer stopProgress()
	srv := asynq.NewServer(opt, cfg)
	start := time.Now()
	if err := srv.Start(handler); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer srv.Shutdown()
	select {
	case <-ctx.Done():
		return fmt.Errorf("after %d of %d tasks: %w", handled.Load(), o.tasks, ctx.Err())
	case <-allHandled:
	}
	// A handler's return is not the end of the task: Asynq then removes it
	// from the active list. The run ends when the queue is empty.
	for {
		info, err := inspector.GetQueueInfo(asynqQueue)
		if err != nil {
			return fmt.Errorf("queue info: %w", err)
		}
		if info.Size == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the last %d tasks to be marked done: %w", info.Size, ctx.Err())
		case <-time.After(asynqDrainPoll):
		}
	}
	res.elapsed = time.Since(start)
	return nil
}

func asynqEnqueueAll(ctx context.Context, client *asynq.Client, n int, log io.Writer) error {
	var (
		enqueued atomic.Int64
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	stopProgress := progress(log, "asynq: enqueued", &enqueued, n)
	defer stopProgress()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range asynqEnqueuers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := client.EnqueueContext(ctx, noopTask(int(i)), asynq.Queue(asynqQueue)); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("enqueue: %w", err) })
					cancel()
					return
				}
				enqueued.Add(1)
			}
		})
	}
	wg.Wait()
	return firstErr
}

func asynqLatency(ctx context.Context, client *asynq.Client, opt asynq.RedisClientOpt, cfg asynq.Config, o *options, log io.Writer, res *result) error {
	type start struct {
		id string
		at time.Time
	}
	started := make(chan start, 1)
	handler := asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		at := time.Now()
		id, _ := asynq.GetTaskID(ctx)
		select { // one task at a time is waited for; never block a worker
		case started <- start{id: id, at: at}:
		default:
		}
		return nil
	})
	srv := asynq.NewServer(opt, cfg)
	if err := srv.Start(handler); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer srv.Shutdown()

	one := func(num int) (time.Duration, error) {
		t0 := time.Now()
		info, err := client.EnqueueContext(ctx, noopTask(num), asynq.Queue(asynqQueue))
		if err != nil {
			return 0, fmt.Errorf("enqueue: %w", err)
		}
		for {
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("waiting for the handler: %w", ctx.Err())
			case s := <-started:
				if s.id == info.ID {
					return max(s.at.Sub(t0), time.Nanosecond), nil
				}
			}
		}
	}
	// One uncounted task first, so the figures are of a running server.
	if _, err := one(-1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var done atomic.Int64
	stopProgress := progress(log, "asynq: latency samples", &done, o.tasks)
	defer stopProgress()
	res.latencies = make([]time.Duration, 0, o.tasks)
	begin := time.Now()
	for i := range o.tasks {
		lat, err := one(i)
		if err != nil {
			return fmt.Errorf("task %d of %d: %w", i+1, o.tasks, err)
		}
		res.latencies = append(res.latencies, lat)
		done.Add(1)
	}
	res.elapsed = time.Since(begin)
	return nil
}
