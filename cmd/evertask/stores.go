package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// The connection defaults match the services of a development machine (and
// internal/testenv).
const (
	defaultPostgresDSN = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
	defaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test"
	defaultRedisAddr   = "127.0.0.1:6379"
	defaultSQLitePath  = "evertask-demo.db"
)

// storeNames lists what --store accepts.
const storeNames = "memory, sqlite, postgres, redis or mysql"

// opened is a store with whatever must be released after it. Hand the
// engine and the store package opened.Store, never the *opened itself: the
// wrapper does not have the store's optional capabilities (batches, counts),
// so the engine would fall back to one round trip per write.
type opened struct {
	store.Store
	close func()
	// at is where openBenchStore put the store: the PostgreSQL schema, the
	// Redis key prefix or the SQLite file, which the bench's node processes
	// open too (openBenchNodeStore).
	at string
	// pool is the PostgreSQL pool of a bench store, whose sessions and
	// those of its node processes carry benchAppName(at).
	pool *pgxpool.Pool
}

// checkStoreName validates --store, so a typo is a usage error before any
// connection is tried.
func checkStoreName(name string) error {
	switch name {
	case "memory", "sqlite", "postgres", "redis", "mysql":
		return nil
	case "mariadb":
		return usageErr("the MySQL store serves MariaDB too: use --store mysql")
	case "":
		return usageErr("--store is required (%s)", storeNames)
	}
	return usageErr("unknown store %q (want %s)", name, storeNames)
}

// openPool opens a pgx pool on dsn (the default when empty) with at least
// minConns connections allowed, unless the DSN sets pool_max_conns itself.
func openPool(ctx context.Context, dsn string, maxConns int) (*pgxpool.Pool, error) {
	return openNamedPool(ctx, dsn, maxConns, "")
}

// openNamedPool is openPool whose sessions carry application_name appName
// (none when empty): the bench finds its own server backends by it.
func openNamedPool(ctx context.Context, dsn string, maxConns int, appName string) (*pgxpool.Pool, error) {
	if dsn == "" {
		dsn = defaultPostgresDSN
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, valueErr("bad postgres URL %q: %v (want postgres://USER@HOST:5432/DB)", dsn, pgCause(err))
	}
	if !strings.Contains(dsn, "pool_max_conns") && maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	if appName != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		addr := fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return nil, fmt.Errorf("postgres at %s refused the connection: %s: check --dsn", addr, pgErr.Message)
		}
		return nil, unreachable("postgres", addr, err)
	}
	return pool, nil
}

// pgCause is the last part of a pgx parse error, which repeats the URL.
func pgCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "("); i >= 0 && strings.HasSuffix(msg, ")") {
		return msg[i+1 : len(msg)-1]
	}
	return msg
}

// openMySQL opens a MySQL store on dsn (the default when empty), with the
// DSN checked first so a typo is a usage error.
func openMySQL(ctx context.Context, dsn string, cfg *mysqlstore.Config) (*mysqlstore.Store, error) {
	if dsn == "" {
		dsn = defaultMySQLDSN
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, valueErr("bad mysql DSN %q: %v (want USER@tcp(HOST:3306)/DB)", dsn, err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := mysqlstore.Open(octx, dsn, cfg)
	if err != nil {
		var myErr *mysql.MySQLError
		var opErr *net.OpError
		switch {
		case errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded):
			return nil, unreachable("mysql", mc.Addr, err)
		case errors.As(err, &myErr) && (myErr.Number == 1044 || myErr.Number == 1045 || myErr.Number == 1698 || myErr.Number == 1049):
			// Access denied, unknown database.
			return nil, fmt.Errorf("mysql at %s refused the connection: %s: check --dsn", mc.Addr, myErr.Message)
		}
		return nil, fmt.Errorf("connect to mysql: %w", err)
	}
	return st, nil
}

// openRedis connects to dsn: host:port or a redis:// URL.
func openRedis(ctx context.Context, dsn string) (*redis.Client, error) {
	if dsn == "" {
		dsn = defaultRedisAddr
	}
	opts := &redis.Options{Addr: dsn}
	if strings.Contains(dsn, "://") {
		var err error
		if opts, err = redis.ParseURL(dsn); err != nil {
			return nil, valueErr("bad redis URL %q: %v (want HOST:6379 or redis://HOST:6379/0)", dsn, err)
		}
	}
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Do(pctx, "PING").Err(); err != nil {
		rdb.Close()
		if strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS") {
			return nil, fmt.Errorf("redis at %s refused the connection: %v: check --dsn", opts.Addr, err)
		}
		return nil, unreachable("redis", opts.Addr, err)
	}
	return rdb, nil
}

// openBenchStore opens an empty store of its own: a fresh PostgreSQL schema,
// a fresh Redis key prefix, a temporary SQLite file (unless dsn names a
// file), and close removes all of it. It never touches user data.
func openBenchStore(ctx context.Context, name, dsn string, conns int, stderr io.Writer) (*opened, error) {
	if err := checkStoreName(name); err != nil {
		return nil, err
	}
	suffix := randomSuffix()
	switch name {
	case "memory":
		st := memstore.New()
		return &opened{Store: st, close: func() { st.Close() }}, nil
	case "sqlite":
		path, dir := dsn, ""
		if path == "" {
			var err error
			if dir, err = os.MkdirTemp("", "evertask-bench-"); err != nil {
				return nil, err
			}
			path = filepath.Join(dir, "bench.db")
			fmt.Fprintf(stderr, "bench: using sqlite file %s, removed at the end\n", path)
		}
		st, err := sqlitestore.Open(ctx, path, nil)
		if err != nil {
			if dir != "" {
				os.RemoveAll(dir)
			}
			return nil, err
		}
		return &opened{Store: st, at: path, close: func() {
			st.Close()
			if dir != "" {
				os.RemoveAll(dir)
			}
		}}, nil
	case "postgres":
		schema := "evertask_bench_" + suffix
		pool, err := openNamedPool(ctx, dsn, conns, benchAppName(schema))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "bench: using postgres schema %s (dropped at the end), pool of %d connections\n", schema, pool.Config().MaxConns)
		drop := func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, err := pool.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				fmt.Fprintf(stderr, "evertask: drop schema %s: %v\n", schema, err)
			}
			pool.Close()
		}
		st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
		if err != nil {
			drop()
			return nil, err
		}
		return &opened{Store: st, at: schema, pool: pool, close: func() { st.Close(); drop() }}, nil
	case "mysql":
		if dsn == "" {
			dsn = defaultMySQLDSN
		}
		database := "evertask_bench_" + suffix
		fmt.Fprintf(stderr, "bench: using mysql database %s (dropped at the end), pool of %d connections\n", database, conns)
		st, err := openMySQL(ctx, dsn, &mysqlstore.Config{Database: database, MaxConns: conns})
		drop := func() {
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				return
			}
			defer db.Close()
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
			defer cancel()
			if _, err := db.ExecContext(dctx, "DROP DATABASE IF EXISTS `"+database+"`"); err != nil {
				fmt.Fprintf(stderr, "evertask: drop database %s: %v\n", database, err)
			}
		}
		if err != nil {
			drop()
			return nil, err
		}
		return &opened{Store: st, at: database, close: func() { st.Close(); drop() }}, nil
	default: // redis
		rdb, err := openRedis(ctx, dsn)
		if err != nil {
			return nil, err
		}
		prefix := "evertask_bench:" + suffix + ":"
		fmt.Fprintf(stderr, "bench: using redis key prefix %s, deleted at the end\n", prefix)
		drop := func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
			defer cancel()
			if err := deleteKeys(dctx, rdb, "*"+prefix+"*"); err != nil {
				fmt.Fprintf(stderr, "evertask: delete keys of prefix %s: %v\n", prefix, err)
			}
			rdb.Close()
		}
		st, err := redisstore.New(ctx, rdb, &redisstore.Opts{Prefix: prefix})
		if err != nil {
			drop()
			return nil, err
		}
		return &opened{Store: st, at: prefix, close: func() { st.Close(); drop() }}, nil
	}
}

// openBenchNodeStore opens, in a node process of the bench, the store its
// parent opened with openBenchStore: at is the parent's schema, key prefix
// or file. The parent created it and removes it; close here only closes.
func openBenchNodeStore(ctx context.Context, name, dsn, at string, conns int) (*opened, error) {
	if at == "" {
		return nil, usageErr("--at is required")
	}
	switch name {
	case "sqlite":
		st, err := sqlitestore.Open(ctx, at, nil)
		if err != nil {
			return nil, err
		}
		return &opened{Store: st, at: at, close: func() { st.Close() }}, nil
	case "postgres":
		pool, err := openNamedPool(ctx, dsn, conns, benchAppName(at))
		if err != nil {
			return nil, err
		}
		st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: at, SkipMigrations: true})
		if err != nil {
			pool.Close()
			return nil, err
		}
		return &opened{Store: st, at: at, close: func() { st.Close(); pool.Close() }}, nil
	case "mysql":
		st, err := openMySQL(ctx, dsn, &mysqlstore.Config{Database: at, SkipMigrations: true, MaxConns: conns})
		if err != nil {
			return nil, err
		}
		return &opened{Store: st, at: at, close: func() { st.Close() }}, nil
	case "redis":
		rdb, err := openRedis(ctx, dsn)
		if err != nil {
			return nil, err
		}
		st, err := redisstore.New(ctx, rdb, &redisstore.Opts{Prefix: at})
		if err != nil {
			rdb.Close()
			return nil, err
		}
		return &opened{Store: st, at: at, close: func() { st.Close(); rdb.Close() }}, nil
	}
	return nil, usageErr("store %q cannot be shared by node processes (use sqlite, postgres, mysql or redis)", name)
}

// deleteKeys deletes the keys matching pattern with SCAN (COUNT 1000 a
// step, so the server is never blocked the way KEYS would block it).
func deleteKeys(ctx context.Context, rdb *redis.Client, pattern string) error {
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b)
}

// usageError is bad user input: run prints it with the usage and exits 2.
type usageError struct {
	msg     string
	oneLine bool // the message says it all: no usage after it
}

func (e *usageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// valueErr is a bad flag value whose message says what to write instead:
// exit 2 like any usage error, in one line.
func valueErr(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), oneLine: true}
}

func isOneLine(err error) bool {
	var u *usageError
	return errors.As(err, &u) && u.oneLine
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}
