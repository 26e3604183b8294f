package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// --clients starts client processes of os.Executable(), which is this
	// test binary: it then runs the command, not the tests.
	if len(os.Args) > 1 && os.Args[1] == riverClientCmd {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// The services come from the same variables as the root module's
// internal/testenv, which this separate module cannot import.
func postgresURL() string {
	return envOr("EVERTASK_TEST_POSTGRES_URL", defaultPostgresDSN)
}

// redisDSN keeps database 14 even when the variable names another server.
func redisDSN() string {
	if addr := os.Getenv("EVERTASK_TEST_REDIS_URL"); addr != "" && !strings.Contains(addr, "://") {
		return "redis://" + addr + "/" + strconv.Itoa(asynqDB)
	}
	return defaultRedisDSN
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// unavailable skips when a service is missing, or fails under
// EVERTASK_TEST_REQUIRE_SERVICES=1 as CI sets it.
func unavailable(t *testing.T, service string, err error) {
	t.Helper()
	if os.Getenv("EVERTASK_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is required (EVERTASK_TEST_REQUIRE_SERVICES=1) but unavailable: %v", service, err)
	}
	t.Skipf("%s unavailable, skipping (set EVERTASK_TEST_REQUIRE_SERVICES=1 to fail instead): %v", service, err)
}

func requirePostgres(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
}

// requireRedis returns a client of the database the asynq harnesses use.
func requireRedis(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := parseRedisDSN(redisDSN())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB, Username: opt.Username, Password: opt.Password})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		unavailable(t, "Redis", err)
	}
	return rdb
}

var resultLine = regexp.MustCompile(`^RESULT mode=(burn|latency) store=(\S+) nodes=(\d+) tasks=(\d+) workers=(\d+) seconds=\d+\.\d\d tasks_per_s=\d+(?: p50_us=(\d+) p99_us=(\d+))?$`)

// runOK runs the command and checks its last stdout line describes the run
// that was asked for. It returns what the run wrote to stderr.
func runOK(t *testing.T, harness, mode, dsn string, tasks int, extra ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append([]string{harness, mode, "--dsn", dsn, "--tasks", strconv.Itoa(tasks), "--timeout", "2m"}, extra...)
	clients := "1"
	for i, a := range extra {
		if a == "--clients" {
			clients = extra[i+1]
		}
	}
	if code := run(t.Context(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("run %v: exit %d\nstderr:\n%s", args, code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	m := resultLine.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last stdout line %q is not a RESULT line", last)
	}
	if m[1] != mode || m[2] != harness || m[3] != clients || m[4] != strconv.Itoa(tasks) {
		t.Errorf("RESULT line %q, want mode=%s store=%s nodes=%s tasks=%d", last, mode, harness, clients, tasks)
	}
	if want := strconv.Itoa(harnesses[harness].defaultWorkers); m[5] != want {
		t.Errorf("RESULT line %q, want workers=%s", last, want)
	}
	if mode == "latency" {
		p50, _ := strconv.Atoi(m[6])
		p99, _ := strconv.Atoi(m[7])
		if m[6] == "" || p50 <= 0 || p99 < p50 {
			t.Errorf("RESULT line %q: want 0 < p50_us <= p99_us", last)
		}
	} else if m[6] != "" {
		t.Errorf("RESULT line %q: burn prints no percentiles", last)
	}
	return stderr.String()
}

var createdSchema = regexp.MustCompile(`river: created schema (river_bench_[0-9a-f]+)`)

// requireSchemaDropped checks the schema a run announced no longer exists.
func requireSchemaDropped(t *testing.T, log string) {
	t.Helper()
	m := createdSchema.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("run did not say which schema it created:\n%s", log)
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", m[1]).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s still exists after the run", m[1])
	}
}

func TestRiver(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	// Each run works in its own schema, so they run in parallel.
	for _, tc := range []struct {
		harness, mode string
		tasks         int
		extra         []string
	}{
		{"river", "burn", 200, nil},
		{"river", "latency", 20, nil},
		{"river-defaults", "burn", 200, nil},
		{"river-defaults", "latency", 5, nil}, // the default fetch cooldown is 100 ms
		{"river", "burn", 3000, []string{"--clients", "3"}},
	} {
		t.Run(strings.Join(append([]string{tc.harness, tc.mode}, tc.extra...), "_"), func(t *testing.T) {
			t.Parallel()
			log := runOK(t, tc.harness, tc.mode, postgresURL(), tc.tasks, tc.extra...)
			requireSchemaDropped(t, log)
			if tc.extra != nil && !regexp.MustCompile(`jobs worked per client \[\d+ \d+ \d+\]`).MatchString(log) {
				// Three processes reported (the run itself checks their sum
				// is the total; which client takes how many is River's
				// choice, so one may take none).
				t.Errorf("no counts of 3 clients in the log:\n%s", log)
			}
		})
	}
}

func TestAsynq(t *testing.T) {
	t.Parallel()
	rdb := requireRedis(t)
	dsn := redisDSN()
	// The runs share one Redis database, so they run one after another.
	for _, tc := range []struct {
		harness, mode string
		tasks         int
	}{
		{"asynq", "burn", 200},
		{"asynq", "latency", 2}, // each idle check sleeps 0.5-1.5 s
		{"asynq-tuned", "burn", 200},
		{"asynq-tuned", "latency", 20},
	} {
		t.Run(tc.harness+"_"+tc.mode, func(t *testing.T) {
			runOK(t, tc.harness, tc.mode, dsn, tc.tasks)
			n, err := rdb.DBSize(t.Context()).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("redis db holds %d keys after the run, want 0", n)
			}
		})
	}
	t.Run("RefusesForeignKeys", func(t *testing.T) {
		ctx := t.Context()
		const key = "peers_test_not_asynq"
		if err := rdb.Set(ctx, key, "keep me", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Del(context.WithoutCancel(ctx), key) })
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"asynq-tuned", "burn", "--dsn", dsn, "--tasks", "10"}, &stdout, &stderr)
		if code != exitFail {
			t.Errorf("exit %d, want %d", code, exitFail)
		}
		if !strings.Contains(stderr.String(), "refusing to flush") {
			t.Errorf("stderr does not say why:\n%s", stderr.String())
		}
		if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "keep me" {
			t.Errorf("foreign key after the run: %q, %v; want it untouched", v, err)
		}
	})
}

func TestBadArgs(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"river"},
		{"sidekiq", "burn"},
		{"river", "steady"},
		{"river", "burn", "extra"},
		{"river", "burn", "--tasks", "0"},
		{"river", "burn", "--tasks", "-5"},
		{"river", "burn", "--tasks", "many"},
		{"asynq", "latency", "--workers", "0"},
		{"asynq", "latency", "--workers", "20000"},
		{"river", "burn", "--timeout", "-1s"},
		{"river", "burn", "--clients", "0"},
		{"river", "burn", "--clients", "65"},
		{"river", "latency", "--clients", "2"},
		{"asynq", "burn", "--clients", "2"},
		{"river", "burn", "--dsn", ""},
		{"river", "burn", "--nope"},
		{"river", "burn", "-h"},
	} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), "usage: peers") {
				t.Errorf("stderr has no usage:\n%s", stderr.String())
			}
		})
	}
}

func TestBadDSN(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"river", "burn", "--dsn", "postgres://%zz", "--tasks", "1"},
		{"asynq", "burn", "--dsn", "redis://%zz", "--tasks", "1"},
		{"asynq", "burn", "--dsn", "redis-sentinel://127.0.0.1:1/0", "--tasks", "1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != exitFail {
			t.Errorf("%v: exit %d, want %d\nstderr:\n%s", args, code, exitFail, stderr.String())
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args           []string
		tasks, workers int
		dsn            string
	}{
		{[]string{"river", "burn"}, 100_000, 2_000, defaultPostgresDSN},
		{[]string{"river-defaults", "latency"}, 2_000, 100, defaultPostgresDSN},
		{[]string{"asynq", "latency"}, 100, 100, defaultRedisDSN},
		{[]string{"asynq-tuned", "latency", "--tasks", "7", "--workers", "3"}, 7, 3, defaultRedisDSN},
	} {
		o, err := parseArgs(tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.tasks != tc.tasks || o.workers != tc.workers || o.dsn != tc.dsn {
			t.Errorf("%v: tasks %d workers %d dsn %q, want %d %d %q", tc.args, o.tasks, o.workers, o.dsn, tc.tasks, tc.workers, tc.dsn)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var s []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0, 1}} {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if s[0] != 100 {
		t.Error("percentile sorted its input in place")
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
}
