package restarttest

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
)

type job struct {
	N int `json:"n"`
}

func (job) Kind() string { return "restarttest.job" }

func requireRestart(t *testing.T) {
	t.Helper()
	if os.Getenv("EVERTASK_TEST_SERVER_RESTART") != "1" {
		t.Skip("restarts a shared database server; .ci/run runs it alone with EVERTASK_TEST_SERVER_RESTART=1")
	}
}

// TestPostgresRestart restarts PostgreSQL while tasks are being dispatched
// and run: every task whose Dispatch returned its id must complete.
func TestPostgresRestart(t *testing.T) {
	requireRestart(t)
	ctx := context.Background()
	pool := testenv.PostgresPool(t)
	schema := "et_restart_" + randomHex()
	st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	run(t, st, func() error {
		ver, err := os.ReadDir("/etc/postgresql")
		if err != nil || len(ver) == 0 {
			return err
		}
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", ver[len(ver)-1].Name(), "main", "restart").CombinedOutput()
		if err != nil {
			t.Logf("pg_ctlcluster: %s", out)
		}
		return err
	})
}

// TestMySQLRestart does the same with MariaDB (or MySQL): a SHUTDOWN
// statement, then the server started again as scripts/services.sh starts
// it.
func TestMySQLRestart(t *testing.T) {
	requireRestart(t)
	ctx := context.Background()
	db := testenv.MySQLDB(t, 2)
	database := "et_restart_" + randomHex()
	st, err := mysqlstore.Open(ctx, testenv.MySQLDSN(), &mysqlstore.Config{Database: database, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer func() {
		// The pool's connections died with the server; Ping dials anew.
		db.Ping()
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + database + "`"); err != nil {
			t.Errorf("drop database %s: %v", database, err)
		}
	}()
	run(t, st, func() error {
		// On one connection with a deadline: through the pool, a dropped
		// connection makes database/sql retry the statement on a new one,
		// which can hang on a server halfway down. The server may drop the
		// connection before it answers (that is the point), so an error is
		// only logged, and the loop below starts the server whatever it says.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := db.Conn(sctx)
		if err != nil {
			cancel()
			return err
		}
		if _, err := conn.ExecContext(sctx, "SHUTDOWN"); err != nil {
			t.Logf("SHUTDOWN: %v", err)
		}
		conn.Raw(func(any) error { return driver.ErrBadConn }) // never back to the pool
		conn.Close()
		cancel()
		// The old server may still be shutting down: start-stop-daemon
		// starts nothing while it runs (--oknodo), so try until one answers.
		// Its output is not captured: the server it starts would inherit
		// the pipe and keep it open.
		deadline := time.Now().Add(60 * time.Second)
		for {
			if err := exec.Command("start-stop-daemon", "--start", "--oknodo", "--background", "--quiet", "--exec", "/usr/sbin/mariadbd").Run(); err != nil {
				t.Logf("start-stop-daemon: %v", err)
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = db.PingContext(pctx)
			cancel()
			if err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("MariaDB did not come back within a minute: %w", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// TestRedisRestart does the same with Redis. Redis on this machine keeps
// nothing on disk, so a restart loses its data: the test saves it first
// (SAVE, then restart with the same dump), which is what a production
// deployment's persistence (appendonly, or RDB) provides.
func TestRedisRestart(t *testing.T) {
	requireRestart(t)
	ctx := context.Background()
	testenv.RequireRedis(t)
	client := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	if err := client.Ping(ctx).Err(); err != nil {
		testenv.Unavailable(t, "Redis", err)
	}
	defer client.Close()
	prefix := "et_restart:" + randomHex() + ":"
	st, err := redisstore.New(ctx, client, &redisstore.Opts{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// The restart saves the data to disk, so the test's keys outlive it
	// unless deleted (SCAN a thousand at a time, never KEYS).
	defer func() {
		var cursor uint64
		for {
			keys, next, err := client.Scan(context.Background(), cursor, "{"+prefix+"}*", 1000).Result()
			if err != nil {
				t.Errorf("delete the test's keys: %v", err)
				return
			}
			if len(keys) > 0 {
				client.Unlink(context.Background(), keys...)
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	}()
	run(t, st, func() error {
		// Stop with a final save into the dump file, start on it again.
		dir, _ := client.ConfigGet(ctx, "dir").Result()
		_ = client.ConfigSet(ctx, "save", "3600 1").Err()
		_ = client.Do(ctx, "SHUTDOWN", "SAVE").Err() // the connection drops: that is the point
		args := []string{"--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
			"--save", "", "--appendonly", "no", "--dir", dir["dir"], "--logfile", "/var/log/redis/ci.log"}
		time.Sleep(200 * time.Millisecond)
		out, err := exec.Command("redis-server", args...).CombinedOutput()
		if err != nil {
			t.Logf("redis-server: %s", out)
		}
		return err
	})
}

// run dispatches tasks steadily, calls restart once some have run, keeps
// dispatching, and checks every acknowledged task completed.
func run(t *testing.T, st store.Store, restart func() error) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[int]int{}
	eng, err := evertask.New(st, &evertask.Config{
		Workers: 8, AuditLevel: store.AuditFull, Retry: evertask.Linear(5, 200*time.Millisecond),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = evertask.Register[job](eng, evertask.HandlerFunc[job](func(ctx context.Context, j job) error {
		time.Sleep(2 * time.Millisecond) // keep work in flight across the outage
		mu.Lock()
		runs[j.N]++
		mu.Unlock()
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Shutdown(ctx)

	const total = 1500
	accepted := map[int]uuid.UUID{}
	failedCalls := 0
	restarted := make(chan error, 1)
	started := false
	for n := 0; len(accepted) < total; {
		if !started && len(accepted) == total/3 {
			// Restart beside the dispatching, so dispatches, claims and
			// outcomes all meet the outage.
			started = true
			go func() { restarted <- restart() }()
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		id, err := eng.Dispatch(dctx, job{N: n}, nil)
		cancel()
		if err != nil {
			failedCalls++ // the caller retries the same task, as an application would
			time.Sleep(20 * time.Millisecond)
			continue
		}
		accepted[n] = id
		n++
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	var missing []int
	for {
		missing = missing[:0]
		for n, id := range accepted {
			row, err := st.Get(ctx, id)
			if err != nil || row.Status != store.StatusCompleted {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	again := 0
	for _, c := range runs {
		if c > 1 {
			again++
		}
	}
	mu.Unlock()
	t.Logf("restart under load: %d tasks acknowledged, %d dispatch calls failed during the outage (retried by the caller), %d not completed, %d ran more than once",
		len(accepted), failedCalls, len(missing), again)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged tasks never completed, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
