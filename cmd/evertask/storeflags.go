package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// storeFlags are the flags that pick the user's store.
type storeFlags struct {
	store, dsn, schema string
}

// add registers --store, --dsn and --schema on fs.
func (sf *storeFlags) add(fs *flag.FlagSet) {
	def := os.Getenv("EVERTASK_STORE")
	if def == "" {
		def = "sqlite"
	}
	fs.StringVar(&sf.store, "store", def, "store: sqlite, postgres, mysql or redis, or a URL (sqlite:FILE, postgres://..., mysql://..., redis://...); default $EVERTASK_STORE, else sqlite")
	fs.StringVar(&sf.dsn, "dsn", "", "sqlite file (default "+defaultSQLitePath+"), postgres URL (default "+defaultPostgresDSN+"), mysql DSN (default "+defaultMySQLDSN+") or redis address (default "+defaultRedisAddr+")")
	fs.StringVar(&sf.schema, "schema", "", "postgres schema, mysql database or redis key prefix (default: the store's, evertask / the DSN's / evertask:)")
}

// resolve turns a --store URL into a store name and a DSN.
func (sf *storeFlags) resolve() (name, dsn string, err error) {
	s := sf.store
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		name, dsn = "postgres", s
	case strings.HasPrefix(s, "redis://"), strings.HasPrefix(s, "rediss://"):
		name, dsn = "redis", s
	case strings.HasPrefix(s, "mysql://"):
		name, dsn = "mysql", mysqlDSN(s)
	case strings.HasPrefix(s, "sqlite:"):
		name, dsn = "sqlite", strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if dsn == "" {
			return "", "", usageErr("--store sqlite: needs a file name (sqlite:evertask.db)")
		}
	default:
		if strings.Contains(s, "://") {
			return "", "", valueErr("unknown store URL %q (want sqlite:FILE, postgres://..., mysql://..., redis://...)", s)
		}
		name = s
	}
	if sf.dsn != "" {
		if dsn != "" {
			return "", "", valueErr("--store %s already names the database: leave out --dsn", s)
		}
		dsn = sf.dsn
	}
	return name, dsn, nil
}

// open opens the user's store for the tools: it writes nothing on open (no
// migration, no Redis version key), so a mistyped name fails instead of
// creating an empty store. The error says what is wrong and how to fix it
// in one line.
func (sf *storeFlags) open(ctx context.Context) (*opened, error) {
	name, dsn, err := sf.resolve()
	if err != nil {
		return nil, err
	}
	if err := checkStoreName(name); err != nil {
		return nil, err
	}
	switch name {
	case "memory":
		return nil, usageErr("the memory store keeps nothing between runs: there is nothing to read (use sqlite, postgres or redis)")
	case "sqlite":
		if dsn == "" {
			dsn = defaultSQLitePath
		}
		if _, err := os.Stat(dsn); err != nil {
			// Opening would create an empty database: almost surely a typo.
			return nil, fmt.Errorf("sqlite database %s does not exist: check --dsn (the demo writes %s)", dsn, defaultSQLitePath)
		}
		pending, err := sqlitestore.PendingMigrations(ctx, dsn)
		if err != nil {
			return nil, explainSQLite(dsn, err)
		}
		if len(pending) > 0 {
			return nil, fmt.Errorf("sqlite database %s lacks migrations %s: run evertask migrate --store sqlite --dsn %s",
				dsn, strings.Join(pending, ", "), dsn)
		}
		st, err := sqlitestore.Open(ctx, dsn, nil)
		if err != nil {
			return nil, explainSQLite(dsn, err)
		}
		return &opened{Store: st, close: func() { st.Close() }}, nil
	case "postgres":
		pool, err := openPool(ctx, dsn, 4)
		if err != nil {
			return nil, err
		}
		st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: sf.schema, SkipMigrations: true})
		if err != nil {
			pool.Close()
			return nil, explainPostgres(sf.schema, dsn, err)
		}
		return &opened{Store: st, close: func() { st.Close(); pool.Close() }}, nil
	case "mysql":
		// A MySQL schema is a database: --schema names the one holding the
		// tables, by default the DSN's.
		st, err := openMySQL(ctx, dsn, &mysqlstore.Config{Database: sf.schema, SkipMigrations: true, MaxConns: 4})
		if err != nil {
			return nil, explainMySQL(sf.schema, dsn, err)
		}
		return &opened{Store: st, close: func() { st.Close() }}, nil
	default: // redis
		rdb, err := openRedis(ctx, dsn)
		if err != nil {
			return nil, err
		}
		st, err := redisstore.New(ctx, rdb, &redisstore.Opts{Prefix: sf.schema, ReadOnly: true})
		if err != nil {
			rdb.Close()
			return nil, explainRedis(sf.schema, rdb.Options().Addr, err)
		}
		return &opened{Store: st, close: func() { st.Close(); rdb.Close() }}, nil
	}
}

func explainSQLite(path string, err error) error {
	if errors.Is(err, store.ErrSchemaVersion) {
		return fmt.Errorf("sqlite database %s was written by a newer evertask: use that version's CLI", path)
	}
	if strings.Contains(err.Error(), "not a database") {
		return fmt.Errorf("%s is not an SQLite database: check --dsn", path)
	}
	return fmt.Errorf("sqlite database %s: %v (is it an evertask database? check --dsn)", path, err)
}

func explainPostgres(schema, dsn string, err error) error {
	if schema == "" {
		schema = pgstore.DefaultSchema
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, store.ErrSchemaVersion):
		return fmt.Errorf("postgres schema %s was written by a newer evertask: use that version's CLI", schema)
	case errors.Is(err, store.ErrInvalid):
		return usageErr("bad --schema: %v", err)
	case errors.As(err, &pgErr) && pgErr.Code == "42P01", strings.Contains(err.Error(), "does not exist"):
		return fmt.Errorf("postgres schema %s has no evertask tables: check --schema, or create them with evertask migrate --store postgres --schema %s", schema, schema)
	case strings.Contains(err.Error(), "run Migrate"):
		return fmt.Errorf("postgres schema %s is older than this CLI: run evertask migrate --store postgres --schema %s", schema, schema)
	}
	return fmt.Errorf("open postgres schema %s: %v", schema, err)
}

func explainMySQL(database, dsn string, err error) error {
	if database == "" {
		if c, perr := mysql.ParseDSN(dsn); perr == nil {
			database = c.DBName
		}
	}
	var myErr *mysql.MySQLError
	switch {
	case errors.Is(err, store.ErrSchemaVersion):
		return fmt.Errorf("mysql database %s was written by a newer evertask: use that version's CLI", database)
	case errors.As(err, &myErr) && myErr.Number == 1146: // no such table
		return fmt.Errorf("mysql database %s has no evertask tables: check --dsn and --schema, or create them with evertask migrate --store mysql (the same --dsn)", database)
	case strings.Contains(err.Error(), "run Migrate"):
		return fmt.Errorf("mysql database %s is older than this CLI: run evertask migrate --store mysql (the same --dsn)", database)
	}
	return err
}

func explainRedis(prefix, addr string, err error) error {
	if prefix == "" {
		prefix = redisstore.DefaultPrefix
	}
	switch {
	case errors.Is(err, redisstore.ErrNoData):
		return fmt.Errorf("redis %s has no evertask data under the key prefix %q: check --schema (the prefix your application uses; default %q)", addr, prefix, redisstore.DefaultPrefix)
	case errors.Is(err, store.ErrSchemaVersion):
		return fmt.Errorf("redis prefix %q: %v", prefix, err)
	}
	return fmt.Errorf("open redis prefix %q at %s: %v", prefix, addr, err)
}

// unreachable is the one line for a server that does not answer.
func unreachable(what, addr string, err error) error {
	cause := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		cause = op.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		cause = "no answer within 5s"
	}
	return fmt.Errorf("cannot reach %s at %s (%s): is the server running? check --dsn", what, addr, cause)
}

// mysqlDSN turns mysql://USER:PASS@HOST:PORT/DB into the driver's
// USER:PASS@tcp(HOST:PORT)/DB.
func mysqlDSN(u string) string {
	rest := strings.TrimPrefix(u, "mysql://")
	auth, hostDB, ok := strings.Cut(rest, "@")
	if !ok {
		auth, hostDB = "", rest
	}
	host, db, _ := strings.Cut(hostDB, "/")
	out := "tcp(" + host + ")/" + db
	if auth != "" {
		out = auth + "@" + out
	}
	return out
}

// quietDrivers silences the client libraries' own loggers: the CLI reports
// a connection failure in one line, not the pool's retries.
var quietDrivers = sync.OnceFunc(func() { redis.SetLogger(silentRedis{}) })

type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

// inspector opens the store of sf and an inspector over it.
func (sf *storeFlags) inspector(ctx context.Context) (*inspect.Inspector, func(), error) {
	st, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return inspect.New(st.Store, nil), st.close, nil
}
