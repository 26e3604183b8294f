package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

func TestMain(m *testing.M) {
	// bench --nodes starts node processes of os.Executable(), which is
	// this test binary: it then runs the command, not the tests.
	if len(os.Args) > 1 && os.Args[1] == benchNodeCmd {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	// The process tests run this binary as the command itself, to see
	// everything it writes to the real stderr (client libraries log there).
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// result is one in-process run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (r result) mustSucceed(t *testing.T) {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// summaryRow matches a row of the demo's summary table.
func summaryRow(kind, status string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kind) + `\s+` + status + `\s`)
}

// TestDemoMySQL runs the demo on a MySQL database of its own: the same
// tasks end the same way.
func TestDemoMySQL(t *testing.T) {
	t.Parallel()
	db := testenv.MySQLDB(t, 1)
	database := "evertask_demotest_" + randomSuffix()
	if _, err := db.Exec("CREATE DATABASE `" + database + "`"); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DROP DATABASE IF EXISTS `" + database + "`")
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = database
	r := runCLI(t, "demo", "--store", "mysql", "--dsn", cfg.FormatDSN(), "--duration", "1500ms")
	r.mustSucceed(t)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`evertask demo on the mysql store`),
		summaryRow("demo.welcome_email", "Completed"),
		summaryRow("demo.import_feed", "Failed"),
		summaryRow("demo.weekly_report", "WaitingQueue"),
		regexp.MustCompile(`tasks --store mysql --dsn`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("demo output lacks %s:\n%s", want, r.stdout)
		}
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")

	first := runCLI(t, "demo", "--db", db, "--duration", "1500ms")
	first.mustSucceed(t)
	for _, want := range []*regexp.Regexp{
		summaryRow("demo.welcome_email", "Completed"),
		summaryRow("demo.sync_inventory", "Completed"),
		summaryRow("demo.import_feed", "Failed"),
		summaryRow("demo.send_invoice", "Completed"),
		summaryRow("demo.weekly_report", "WaitingQueue"),
		regexp.MustCompile(`same id both times: true`),
		regexp.MustCompile(`(?m)attempt 3: fetch .*503`),
		regexp.MustCompile(`all 3 attempts failed: \(\+3 lines\)`),
		regexp.MustCompile(`A new database`),
	} {
		if !want.MatchString(first.stdout) {
			t.Errorf("first run: output does not match %q:\n%s", want, first.stdout)
		}
	}
	// The sync succeeded on its third attempt.
	if !regexp.MustCompile(`retried\s+demo.sync_inventory.*attempt 2 failed`).MatchString(first.stdout) {
		t.Errorf("first run: no second failed attempt of the sync:\n%s", first.stdout)
	}

	// The hint it prints works on its file.
	if !strings.Contains(first.stdout, "tasks --dsn "+db) {
		t.Errorf("no tasks hint for %s:\n%s", db, first.stdout)
	}
	// The short id it prints for the failed task works as it is.
	short := regexp.MustCompile(`tasks show (…[0-9a-f]{6})`).FindStringSubmatch(first.stdout)
	if short == nil {
		t.Fatalf("no short id in the hints:\n%s", first.stdout)
	}
	shown := runCLI(t, "tasks", "show", short[1], "--dsn", db)
	shown.mustSucceed(t)
	if !strings.Contains(shown.stdout, "demo.import_feed") {
		t.Errorf("tasks show %s is not the failed import:\n%s", short[1], shown.stdout)
	}
	failed := runCLI(t, "tasks", "--dsn", db, "--status", "Failed")
	failed.mustSucceed(t)
	if !strings.Contains(failed.stdout, "demo.import_feed") || strings.Contains(failed.stdout, "demo.welcome_email") {
		t.Errorf("failed tasks of the demo:\n%s", failed.stdout)
	}

	// The second run recovers the weekly report left behind and continues
	// the heartbeat series.
	second := runCLI(t, "demo", "--db", db, "--duration", "1500ms")
	second.mustSucceed(t)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`tasks from earlier runs`),
		regexp.MustCompile(`The heartbeat series ran [12] of 3 times`),
		// Whichever task of the first run is due first is picked up again
		// (the heartbeat or the weekly report, by the machine's speed).
		regexp.MustCompile(`recovered\s+demo\.(heartbeat|weekly_report)`),
		summaryRow("demo.weekly_report", "(WaitingQueue|Completed)"),
		regexp.MustCompile(`Recovery: \d+ task\(s\) left by an earlier run`),
		summaryRow("demo.heartbeat", `\w+\s+[123]/3`),
	} {
		if !want.MatchString(second.stdout) {
			t.Errorf("second run: output does not match %q:\n%s", want, second.stdout)
		}
	}
}

var resultLine = regexp.MustCompile(`^RESULT mode=(burn|steady|latency) store=(\w+) nodes=(\d+) tasks=(\d+) workers=\d+( producers=\d+)? audit=(\w+) seconds=\d+\.\d{3}( tasks_per_s=\d+| p50_us=\d+ p99_us=\d+)$`)

// lastLine returns the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func checkResult(t *testing.T, r result, mode, storeName, tasks, audit string) {
	t.Helper()
	checkNodesResult(t, r, mode, storeName, "1", tasks, audit)
}

func checkNodesResult(t *testing.T, r result, mode, storeName, nodes, tasks, audit string) {
	t.Helper()
	r.mustSucceed(t)
	line := lastLine(r.stdout)
	m := resultLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("last line %q is not a RESULT line", line)
	}
	if m[1] != mode || m[2] != storeName || m[3] != nodes || m[6] != audit || (tasks != "" && m[4] != tasks) {
		t.Fatalf("RESULT line %q: want mode=%s store=%s nodes=%s tasks=%s audit=%s", line, mode, storeName, nodes, tasks, audit)
	}
	if mode == "steady" && m[4] == "0" {
		t.Fatalf("steady run completed no task: %q", line)
	}
}

func TestBench(t *testing.T) {
	t.Parallel()
	for _, st := range []string{"memory", "sqlite"} {
		t.Run(st, func(t *testing.T) {
			t.Parallel()
			t.Run("BurnNone", func(t *testing.T) {
				t.Parallel()
				// Small: the pure-Go SQLite is slow under -race.
				r := runCLI(t, "bench", "--store", st, "--mode", "burn", "--tasks", "400", "--audit", "none")
				checkResult(t, r, "burn", st, "400", "none")
			})
			t.Run("BurnFull", func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, "bench", "--store", st, "--mode", "burn", "--tasks", "200", "--audit", "full", "--workers", "8")
				checkResult(t, r, "burn", st, "200", "full")
			})
			t.Run("Steady", func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, "bench", "--store", st, "--mode", "steady", "--duration", "300ms", "--producers", "2")
				checkResult(t, r, "steady", st, "", "none")
			})
			t.Run("Latency", func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, "bench", "--store", st, "--mode", "latency", "--tasks", "30")
				checkResult(t, r, "latency", st, "30", "none")
			})
		})
	}
}

// --cpuprofile writes a profile in every mode. (Not parallel with itself:
// a process has one CPU profile at a time.)
func TestBenchCPUProfile(t *testing.T) {
	for _, mode := range []string{"burn", "steady", "latency"} {
		path := filepath.Join(t.TempDir(), mode+".pprof")
		r := runCLI(t, "bench", "--store", "memory", "--mode", mode, "--tasks", "50", "--duration", "200ms", "--cpuprofile", path)
		r.mustSucceed(t)
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s: no profile written at %s (%v)", mode, path, err)
		}
	}
}

// A --dsn file is the user's: the bench keeps it and its rows, so a second
// burn adds to the first.
func TestBenchSQLiteFile(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "bench.db")
	for range 2 {
		r := runCLI(t, "bench", "--store", "sqlite", "--dsn", db, "--mode", "burn", "--tasks", "150")
		checkResult(t, r, "burn", "sqlite", "150", "none")
	}
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.CountByStatus(ctx, store.CountParams{})
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.StatusCompleted] != 300 || len(counts) != 1 {
		t.Fatalf("counts after two burns of 150: %v, want 300 Completed", counts)
	}
}

func TestBenchPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	testenv.RequirePostgres(t)
	pool, err := openPool(ctx, testenv.PostgresURL(), 2)
	if err != nil {
		testenv.Unavailable(t, "postgres", err)
	}
	defer pool.Close()
	// The server's backends are measured when their /proc entries are
	// readable here: a server on this host.
	var backend int32
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	_, procErr := procCPU(int(backend))
	for _, mode := range []string{"burn", "latency"} {
		r := runCLI(t, "bench", "--store", "postgres", "--dsn", testenv.PostgresURL(), "--mode", mode,
			"--tasks", "100", "--workers", "10", "--audit", "full")
		checkResult(t, r, mode, "postgres", "100", "full")
		serverCPU := regexp.MustCompile(`PostgreSQL backends CPU \d+\.\d\d s \(\d+ sessions\), \d+\.\d ms per 1,000 tasks`).MatchString(r.stderr)
		if want := mode == "burn" && procErr == nil; serverCPU != want {
			t.Errorf("%s: server CPU line printed: %v, want %v (server on this host: %v)\n%s", mode, serverCPU, want, procErr == nil, r.stderr)
		}
		schema := regexp.MustCompile(`schema (evertask_bench_[0-9a-f]+)`).FindStringSubmatch(r.stderr)
		if schema == nil {
			t.Fatalf("stderr names no schema:\n%s", r.stderr)
		}
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema[1]).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("schema %s still exists after the bench", schema[1])
		}
	}
}

// mysqlDatabaseGone fails the test when the bench left the database it
// names in stderr.
func mysqlDatabaseGone(t *testing.T, stderr string) {
	t.Helper()
	m := regexp.MustCompile(`mysql database (evertask_bench_[0-9a-f]+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr names no database:\n%s", stderr)
	}
	db := testenv.MySQLDB(t, 1)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", m[1]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after the bench", m[1])
	}
}

func TestBenchMySQL(t *testing.T) {
	t.Parallel()
	testenv.MySQLDB(t, 1) // skip without a server
	for _, mode := range []string{"burn", "latency"} {
		r := runCLI(t, "bench", "--store", "mysql", "--dsn", testenv.MySQLDSN(), "--mode", mode,
			"--tasks", "100", "--workers", "10", "--audit", "full")
		checkResult(t, r, mode, "mysql", "100", "full")
		mysqlDatabaseGone(t, r.stderr)
	}
}

func TestBenchRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	testenv.RequireRedis(t)
	rdb, err := openRedis(ctx, testenv.RedisAddr())
	if err != nil {
		testenv.Unavailable(t, "redis", err)
	}
	defer rdb.Close()
	for _, mode := range []string{"burn", "latency"} {
		r := runCLI(t, "bench", "--store", "redis", "--dsn", testenv.RedisAddr(), "--mode", mode,
			"--tasks", "100", "--workers", "10")
		checkResult(t, r, mode, "redis", "100", "none")
		prefix := regexp.MustCompile(`prefix (evertask_bench:[0-9a-f]+:)`).FindStringSubmatch(r.stderr)
		if prefix == nil {
			t.Fatalf("stderr names no key prefix:\n%s", r.stderr)
		}
		keys, _, err := rdb.Scan(ctx, 0, "*"+prefix[1]+"*", 100000).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			t.Errorf("%d keys of prefix %s left after the bench, e.g. %s", len(keys), prefix[1], keys[0])
		}
	}
}

// bench --nodes runs its engines as processes of this test binary (see
// TestMain). Each run must finish with every node reporting, burn's nodes
// together running every task exactly once, and the schema, key prefix or
// file removed.
func TestBenchNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		cluster bool // the store package implements store.Cluster
		dsn     func(t *testing.T) string
		gone    func(t *testing.T, stderr string) // checks the run left nothing
	}{
		{
			name:    "sqlite",
			cluster: implementsCluster(&sqlitestore.Store{}),
			dsn:     func(*testing.T) string { return "" },
			gone: func(t *testing.T, stderr string) {
				m := regexp.MustCompile(`sqlite file (\S+),`).FindStringSubmatch(stderr)
				if m == nil {
					t.Fatalf("stderr names no sqlite file:\n%s", stderr)
				}
				if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
					t.Errorf("sqlite file %s still there after the bench (%v)", m[1], err)
				}
			},
		},
		{
			name:    "postgres",
			cluster: implementsCluster(&pgstore.Store{}),
			dsn: func(t *testing.T) string {
				testenv.RequirePostgres(t)
				pool, err := openPool(ctx, testenv.PostgresURL(), 2)
				if err != nil {
					testenv.Unavailable(t, "postgres", err)
				}
				pool.Close()
				return testenv.PostgresURL()
			},
			gone: func(t *testing.T, stderr string) {
				m := regexp.MustCompile(`schema (evertask_bench_[0-9a-f]+)`).FindStringSubmatch(stderr)
				if m == nil {
					t.Fatalf("stderr names no schema:\n%s", stderr)
				}
				pool, err := openPool(ctx, testenv.PostgresURL(), 2)
				if err != nil {
					t.Fatal(err)
				}
				defer pool.Close()
				var exists bool
				if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", m[1]).Scan(&exists); err != nil {
					t.Fatal(err)
				}
				if exists {
					t.Errorf("schema %s still exists after the bench", m[1])
				}
			},
		},
		{
			name:    "mysql",
			cluster: implementsCluster(&mysqlstore.Store{}),
			dsn: func(t *testing.T) string {
				testenv.MySQLDB(t, 1)
				return testenv.MySQLDSN()
			},
			gone: mysqlDatabaseGone,
		},
		{
			name:    "redis",
			cluster: implementsCluster(&redisstore.Store{}),
			dsn: func(t *testing.T) string {
				testenv.RequireRedis(t)
				rdb, err := openRedis(ctx, testenv.RedisAddr())
				if err != nil {
					testenv.Unavailable(t, "redis", err)
				}
				rdb.Close()
				return testenv.RedisAddr()
			},
			gone: func(t *testing.T, stderr string) {
				m := regexp.MustCompile(`prefix (evertask_bench:[0-9a-f]+:)`).FindStringSubmatch(stderr)
				if m == nil {
					t.Fatalf("stderr names no key prefix:\n%s", stderr)
				}
				rdb, err := openRedis(ctx, testenv.RedisAddr())
				if err != nil {
					t.Fatal(err)
				}
				defer rdb.Close()
				keys, _, err := rdb.Scan(ctx, 0, "*"+m[1]+"*", 100000).Result()
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) > 0 {
					t.Errorf("%d keys of prefix %s left after the bench, e.g. %s", len(keys), m[1], keys[0])
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !tc.cluster {
				t.Skipf("the %s store does not implement store.Cluster yet: its engines cannot share it", tc.name)
			}
			dsn := tc.dsn(t)
			bench := func(args ...string) result {
				return runCLI(t, append([]string{"bench", "--store", tc.name, "--dsn", dsn, "--progress", "0"}, args...)...)
			}
			t.Run("Burn", func(t *testing.T) {
				prof := filepath.Join(t.TempDir(), "cpu.prof")
				r := bench("--mode", "burn", "--nodes", "3", "--tasks", "300", "--workers", "8", "--cpuprofile", prof)
				checkNodesResult(t, r, "burn", tc.name, "3", "300", "none")
				// Each node profiles itself, and the CPU line counts this
				// process and the three nodes.
				for i := 1; i <= 3; i++ {
					if fi, err := os.Stat(fmt.Sprintf("%s.node%d", prof, i)); err != nil || fi.Size() == 0 {
						t.Errorf("node %d's CPU profile: %v", i, err)
					}
				}
				if runtime.GOOS == "linux" && !regexp.MustCompile(`bench: CPU [\d.]+ s \(this process, then each node: [\d.]+ [\d.]+ [\d.]+ [\d.]+\), [\d.]+ ms per 1,000 tasks`).MatchString(r.stderr) {
					t.Errorf("stderr has no CPU line of this process and 3 nodes:\n%s", r.stderr)
				}
				m := regexp.MustCompile(`handlers run per node \[(\d+) (\d+) (\d+)\]`).FindStringSubmatch(r.stderr)
				if m == nil {
					t.Fatalf("stderr has no counts of 3 nodes:\n%s", r.stderr)
				}
				sum := 0
				for _, n := range m[1:] {
					k, _ := strconv.Atoi(n)
					sum += k
				}
				if sum != 300 {
					t.Errorf("the nodes ran %d handlers (%s), want each of the 300 tasks once", sum, m[0])
				}
				tc.gone(t, r.stderr)
			})
			t.Run("Steady", func(t *testing.T) {
				r := bench("--mode", "steady", "--nodes", "2", "--duration", "500ms", "--producers", "2", "--workers", "4")
				checkNodesResult(t, r, "steady", tc.name, "2", "", "none")
				tc.gone(t, r.stderr)
			})
			if tc.name == "sqlite" || tc.name == "mysql" {
				return // no notifier: a dispatch waits for the other node's poll
			}
			t.Run("Latency", func(t *testing.T) {
				r := bench("--mode", "latency", "--nodes", "2", "--tasks", "20", "--workers", "4")
				checkNodesResult(t, r, "latency", tc.name, "2", "20", "none")
				tc.gone(t, r.stderr)
			})
		})
	}
}

// implementsCluster reports whether a store type implements store.Cluster.
func implementsCluster(st store.Store) bool {
	_, ok := st.(store.Cluster)
	return ok
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "m.db")
		r := runCLI(t, "migrate", "--store", "sqlite", "--dsn", db)
		r.mustSucceed(t)
		if want := fmt.Sprintf("applied %d migration(s): 001_init", migrationCount(t, "sqlitestore")); !strings.Contains(r.stdout, want) {
			t.Fatalf("first migrate: output %q lacks %q", r.stdout, want)
		}
		// The second run says it had nothing to do.
		r = runCLI(t, "migrate", "--store", "sqlite:"+db)
		r.mustSucceed(t)
		if want := fmt.Sprintf("is up to date at version %d: nothing to apply", sqlitestore.SchemaVersion()); !strings.Contains(r.stdout, want) {
			t.Fatalf("second migrate: output %q lacks %q", r.stdout, want)
		}
	})
	t.Run("Postgres", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		testenv.RequirePostgres(t)
		pool, err := openPool(ctx, testenv.PostgresURL(), 2)
		if err != nil {
			testenv.Unavailable(t, "postgres", err)
		}
		defer pool.Close()
		schema := "evertask_clitest_" + randomSuffix()
		defer pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		for i, want := range []string{
			fmt.Sprintf("postgres schema %s: applied %d migration(s): 001_init", schema, migrationCount(t, "pgstore")),
			fmt.Sprintf("postgres schema %s is up to date at version %d: nothing to apply", schema, pgstore.SchemaVersion),
		} {
			r := runCLI(t, "migrate", "--store", "postgres", "--dsn", testenv.PostgresURL(), "--schema", schema)
			r.mustSucceed(t)
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("run %d: output %q lacks %q", i+1, r.stdout, want)
			}
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".schema_migrations").Scan(&n); err != nil || n == 0 {
			t.Fatalf("schema_migrations: %d rows, err %v", n, err)
		}
	})
}

func TestMigrateAndTasksMySQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.MySQLDB(t, 2)
	database := "evertask_clitest_" + randomSuffix()
	defer db.Exec("DROP DATABASE IF EXISTS `" + database + "`")
	// Before: the tables are missing, one line says how to create them.
	r := runCLI(t, "tasks", "--store", "mysql", "--dsn", testenv.MySQLDSN(), "--schema", database)
	if r.code != exitFail || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "mysql database "+database+" has no evertask tables") ||
		!strings.Contains(r.stderr, "evertask migrate --store mysql") {
		t.Errorf("tasks before migrate: exit %d, stderr %q; want 1 and one line saying to migrate", r.code, r.stderr)
	}
	// The first run applies every migration, the second finds nothing to do.
	v := mysqlstore.SchemaVersion
	for i, want := range []string{fmt.Sprintf("mysql database %s: applied %d migration(s): 001_init, ", database, v),
		fmt.Sprintf("mysql database %s is up to date at version %d: nothing to apply", database, v)} {
		r := runCLI(t, "migrate", "--store", "mysql", "--dsn", testenv.MySQLDSN(), "--schema", database)
		r.mustSucceed(t)
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("migrate run %d: %q, want %q", i+1, r.stdout, want)
		}
	}
	st, err := mysqlstore.New(ctx, db, &mysqlstore.Config{Database: database, SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	task := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), Kind: "cli.mysql", Payload: []byte(`{}`),
		Queue: "default", Status: store.StatusFailed, Error: "it broke", AuditLevel: store.AuditFull}
	if err := st.Persist(ctx, task); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "tasks", "--store", "mysql", "--dsn", testenv.MySQLDSN(), "--schema", database)
	r.mustSucceed(t)
	if !strings.Contains(r.stdout, task.ID.String()) || !strings.Contains(r.stdout, "it broke") {
		t.Errorf("tasks --store mysql lacks the task:\n%s", r.stdout)
	}
	r = runCLI(t, "tasks", "show", task.ID.String(), "--store", "mysql", "--dsn", testenv.MySQLDSN(), "--schema", database)
	r.mustSucceed(t)
	if !strings.Contains(r.stdout, "cli.mysql") {
		t.Errorf("tasks show --store mysql:\n%s", r.stdout)
	}
}

// A server that does not answer, whatever the store: one line naming it and
// what to check, exit 1, and nothing of the client libraries.
func TestUnreachableServerIsOneLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, want string }{
		{"postgres://root@127.0.0.1:1/test", "cannot reach postgres at 127.0.0.1:1"},
		{"mysql://root@127.0.0.1:1/test", "cannot reach mysql at 127.0.0.1:1"},
		{"redis://127.0.0.1:1", "cannot reach redis at 127.0.0.1:1"},
	} {
		for _, args := range [][]string{{"tasks"}, {"queues"}, {"purge", "--logs", "1d"}, {"migrate"}} {
			if args[0] == "migrate" && strings.HasPrefix(c.url, "redis") {
				continue
			}
			r := runCLI(t, append(args, "--store", c.url)...)
			if r.code != exitFail || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) ||
				!strings.Contains(r.stderr, "check --dsn") || r.stdout != "" {
				t.Errorf("%v --store %s: exit %d, stdout %q, stderr %q; want 1 and one line %q", args, c.url, r.code, r.stdout, r.stderr, c.want)
			}
		}
	}
}

func TestTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "tasks.db")
	st, err := sqlitestore.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newTask := func(kind string, offset time.Duration) *store.Task {
		return &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: now.Add(offset), Kind: kind, Payload: []byte(`{}`),
			Queue: "default", Status: store.StatusQueued, AuditLevel: store.AuditFull}
	}
	ok, bad := newTask("cli.ok", -2*time.Second), newTask("cli.bad", -time.Second)
	for _, task := range []*store.Task{ok, bad} {
		if err := st.Persist(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Transition(ctx, store.TransitionParams{ID: bad.ID, To: store.StatusFailed, Now: now,
		Error: "all 2 attempts failed:\nattempt 1: boom\nattempt 2: boom"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveLogs(ctx, bad.ID, []store.ExecutionLog{{ID: uuid.Must(uuid.NewV7()), TaskID: bad.ID, At: now,
		Level: "ERROR", Message: "it went wrong"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, "tasks", "--dsn", db)
		r.mustSucceed(t)
		iBad, iOK := strings.Index(r.stdout, bad.ID.String()), strings.Index(r.stdout, ok.ID.String())
		if iBad < 0 || iOK < 0 || iBad > iOK {
			t.Fatalf("want both tasks, newest first:\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "all 2 attempts failed: …") {
			t.Errorf("no first line of the error:\n%s", r.stdout)
		}
	})
	t.Run("FilterByStatus", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, "tasks", "--dsn", db, "--status", "failed", "--limit", "5")
		r.mustSucceed(t)
		if !strings.Contains(r.stdout, bad.ID.String()) || strings.Contains(r.stdout, ok.ID.String()) {
			t.Fatalf("want only the failed task:\n%s", r.stdout)
		}
	})
	t.Run("Show", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, "tasks", "show", bad.ID.String(), "--dsn", db)
		r.mustSucceed(t)
		for _, want := range []string{"cli.bad", "attempt 2: boom", "status history (1", "Failed", "logs (1):", "it went wrong"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("show output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("ShowUnknown", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, "tasks", "--dsn", db, "show", uuid.NewString())
		if r.code != exitNotFound || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("exit %d, stderr %q; want 3 and not found", r.code, r.stderr)
		}
	})
	t.Run("NotADatabase", func(t *testing.T) {
		t.Parallel()
		text := filepath.Join(t.TempDir(), "notes.db")
		if err := os.WriteFile(text, []byte("hello\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "tasks", "--store", "sqlite:"+text)
		if r.code != exitFail || r.stderr != "evertask tasks: "+text+" is not an SQLite database: check --dsn\n" {
			t.Fatalf("exit %d, stderr %q; want 1 and one line", r.code, r.stderr)
		}
	})
	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nope.db")
		r := runCLI(t, "tasks", "--dsn", missing)
		if r.code != exitFail || !strings.Contains(r.stderr, "nope.db") {
			t.Fatalf("exit %d, stderr %q; want 1 naming the file", r.code, r.stderr)
		}
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"NoCommand", nil, "Usage"},
		{"UnknownCommand", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"BenchNoStore", []string{"bench"}, "--store is required"},
		{"BenchUnknownStore", []string{"bench", "--store", "oracle"}, `unknown store "oracle"`},
		{"BenchMariaDB", []string{"bench", "--store", "mariadb"}, "use --store mysql"},
		{"BenchBadMode", []string{"bench", "--store", "memory", "--mode", "sprint"}, `unknown mode "sprint"`},
		{"BenchBadAudit", []string{"bench", "--store", "memory", "--audit", "loud"}, `bad --audit "loud"`},
		{"BenchNegativeTasks", []string{"bench", "--store", "memory", "--tasks", "-5"}, "must not be negative"},
		{"BenchUnknownFlag", []string{"bench", "--turbo"}, "flag provided but not defined: -turbo"},
		{"TasksUnknownFlag", []string{"tasks", "--bogus"}, "evertask tasks: flag provided but not defined: -bogus"},
		{"PurgeBadFlagValue", []string{"purge", "--batch", "many"}, `invalid value "many" for flag -batch`},
		{"BenchBadNumber", []string{"bench", "--store", "memory", "--tasks", "many"}, "invalid value"},
		{"BenchBadDuration", []string{"bench", "--store", "memory", "--duration", "0s"}, "--duration must be positive"},
		{"BenchStray", []string{"bench", "--store", "memory", "now"}, `unexpected argument "now"`},
		{"BenchNoNodes", []string{"bench", "--store", "sqlite", "--nodes", "0"}, "--nodes must be between 1 and 64"},
		{"BenchTooManyNodes", []string{"bench", "--store", "sqlite", "--nodes", "65"}, "--nodes must be between 1 and 64"},
		{"BenchMemoryNodes", []string{"bench", "--store", "memory", "--nodes", "2"}, "the memory store lives in one process"},
		{"DemoBadDuration", []string{"demo", "--duration", "-1s"}, "--duration must be positive"},
		{"MigrateMemory", []string{"migrate", "--store", "memory"}, "has no migrations"},
		{"MySQLBadDSN", []string{"migrate", "--store", "mysql", "--dsn", "root@tcp(127.0.0.1:3306"}, "bad mysql DSN"},
		{"MigrateSQLiteNoDSN", []string{"migrate", "--store", "sqlite"}, "--dsn names the sqlite file"},
		{"TasksShowNoID", []string{"tasks", "show"}, "one task id"},
		{"TasksShowBadID", []string{"tasks", "show", "42"}, `bad task id "42"`},
		{"TasksBadStatus", []string{"tasks", "--status", "Done"}, `unknown status "Done"`},
		{"TasksBadLimit", []string{"tasks", "--limit", "0"}, "--limit must be between 1 and"},
		{"TasksMemory", []string{"tasks", "--store", "memory"}, "keeps nothing between runs"},
		{"TasksStray", []string{"tasks", "list", "extra"}, `unexpected argument "extra"`},
		{"TasksUnknownSub", []string{"tasks", "shw"}, `unknown tasks subcommand "shw"`},
		{"TasksShortPrefix", []string{"tasks", "show", "01a2"}, `bad task id "01a2"`},
		{"TasksRetryNoID", []string{"tasks", "retry"}, "one task id"},
		{"QueuesPauseNoName", []string{"queues", "pause"}, "one queue name"},
		{"QueuesUnknownSub", []string{"queues", "stop", "x"}, `unknown queues subcommand "stop"`},
		{"NodesStray", []string{"nodes", "x"}, `unexpected argument "x"`},
		{"PurgeNothing", []string{"purge"}, "say what to purge"},
		{"PurgeBadAge", []string{"purge", "--completed", "soon"}, `bad --completed "soon"`},
		{"PurgeNegativeAge", []string{"purge", "--logs", "-3d"}, "must be positive"},
		{"PurgeBadBatch", []string{"purge", "--logs", "3d", "--batch", "0"}, "--batch must be at least 1"},
		{"StoreBadURL", []string{"tasks", "--store", "oracle://x"}, `unknown store URL "oracle://x"`},
		{"StoreURLAndDSN", []string{"tasks", "--store", "redis://127.0.0.1:6379", "--dsn", "x"}, "leave out --dsn"},
		{"MigrateNoStore", []string{"migrate"}, "--store is required"},
		{"PostgresBadDSN", []string{"migrate", "--store", "postgres", "--dsn", "postgres://%zz"}, `bad postgres URL "postgres://%zz": invalid percent-encoded token`},
		{"PostgresBadURL", []string{"tasks", "--store", "postgres://%zz"}, "(want postgres://USER@HOST:5432/DB)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.args...)
			if r.code != exitUsage {
				t.Fatalf("exit code %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("stderr lacks %q:\n%s", tc.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout should be empty on bad input, got %q", r.stdout)
			}
			// A bad URL is one line saying what to write instead.
			if strings.Contains(tc.name, "URL") || strings.Contains(tc.name, "BadDSN") {
				if n := strings.Count(r.stderr, "\n"); n != 1 {
					t.Errorf("a bad URL printed %d lines, want 1:\n%s", n, r.stderr)
				}
			}
			// A command's usage error shows that command's usage, not the
			// list of every command, nor every flag.
			if len(tc.args) > 0 && tc.args[0] != "frobnicate" && strings.Contains(r.stderr, "a guided run of the engine") {
				t.Errorf("the usage error of %q printed the whole command list:\n%s", tc.args[0], r.stderr)
			}
			if strings.Contains(r.stderr, "Flags:") || strings.Contains(r.stderr, "\t") {
				t.Errorf("the usage error of %v printed the flags:\n%s", tc.args, r.stderr)
			}
			// An unknown command: one line naming the commands.
			if tc.name == "UnknownCommand" && (strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "tasks, queues")) {
				t.Errorf("an unknown command printed:\n%s\nwant one line naming the commands", r.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"bench", "-h"}, {"demo", "--help"}, {"tasks", "-h"}, {"migrate", "-h"},
		{"queues", "--help"}, {"nodes", "--help"}, {"purge", "--help"}, {"tasks", "show", "--help"}, {"help", "queues"}} {
		r := runCLI(t, args...)
		if r.code != exitOK {
			t.Errorf("%v: exit %d, want 0", args, r.code)
		}
		if !strings.Contains(r.stdout+r.stderr, "Usage") {
			t.Errorf("%v: no usage printed:\n%s%s", args, r.stdout, r.stderr)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	if p := percentile(s, 50); p != 50 {
		t.Errorf("p50 of 1..100 = %d, want 50", p)
	}
	if p := percentile(s, 99); p != 99 {
		t.Errorf("p99 of 1..100 = %d, want 99", p)
	}
	if p := percentile(s[:1], 99); p != 1 {
		t.Errorf("p99 of one sample = %d, want 1", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("p50 of nothing = %d, want 0", p)
	}
}

// migrationCount counts the embedded migrations of a store package.
func migrationCount(t *testing.T, pkg string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "store", pkg, "migrations", "*.up.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations of %s: %v", pkg, err)
	}
	return len(files)
}
