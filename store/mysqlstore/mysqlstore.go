package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// Config configures a Store. A nil *Config means every default.
type Config struct {
	// Database holds the store's tables. Empty (the default) means the
	// database the connection selected (the DSN's /dbname). A named database
	// is created by the migrations when missing. It must be a plain
	// identifier (letters, digits, _; at most 64 bytes).
	Database string
	// TablePrefix starts the name of every table of the store, so several
	// applications can share a database. Letters, digits and _, at most 32
	// bytes. Default DefaultTablePrefix ("evertask_").
	TablePrefix string
	// SkipMigrations leaves the schema as it is: New then only checks that
	// it is at SchemaVersion. Default false: New runs Migrate.
	SkipMigrations bool
	// MaxConns bounds the pool Open creates (open and idle connections
	// alike). Default 16. New ignores it: the pool is the caller's.
	MaxConns int
}

// Defaults of Config.
const (
	DefaultTablePrefix = "evertask_"
	DefaultMaxConns    = 16
)

var (
	databasePattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	prefixPattern   = regexp.MustCompile(`^[A-Za-z0-9_]{0,32}$`)
)

// names are the quoted table names of one Store.
type names struct {
	database, prefix                                      string
	tasks, statusAudits, runsAudits, executionLogs, nodes string
	attempts, queuePauses, taskStats, migrations          string
}

// newNames validates the configured database and prefix and quotes the
// table names. Only plain identifiers are accepted, so a name is never a
// vehicle for SQL.
func newNames(c *Config) (names, error) {
	prefix := c.TablePrefix
	if prefix == "" {
		prefix = DefaultTablePrefix
	}
	if c.Database != "" && !databasePattern.MatchString(c.Database) {
		return names{}, fmt.Errorf("%w: database %q is not a plain identifier (letters, digits, _; at most 64 bytes)", store.ErrInvalid, c.Database)
	}
	if !prefixPattern.MatchString(prefix) {
		return names{}, fmt.Errorf("%w: table prefix %q is not letters, digits and _ (at most 32 bytes)", store.ErrInvalid, prefix)
	}
	q := func(table string) string {
		if c.Database == "" {
			return "`" + prefix + table + "`"
		}
		return "`" + c.Database + "`.`" + prefix + table + "`"
	}
	return names{
		database: c.Database, prefix: prefix,
		tasks: q("tasks"), statusAudits: q("status_audits"), runsAudits: q("runs_audits"),
		executionLogs: q("execution_logs"), nodes: q("nodes"), attempts: q("attempts"), queuePauses: q("queue_pauses"),
		taskStats: q("task_stats"), migrations: q("schema_migrations"),
	}, nil
}

// fill replaces the table placeholders of a statement template.
func (n *names) fill(tmpl string) string {
	return strings.NewReplacer(
		"{tasks}", n.tasks, "{status_audits}", n.statusAudits, "{runs_audits}", n.runsAudits,
		"{execution_logs}", n.executionLogs, "{nodes}", n.nodes, "{attempts}", n.attempts,
		"{queue_pauses}", n.queuePauses, "{task_stats}", n.taskStats, "{schema_migrations}", n.migrations,
	).Replace(tmpl)
}

// Store is a store.Store on MySQL 8 or MariaDB 10.6+, over database/sql
// with go-sql-driver/mysql. It implements every optional capability of
// package store but Notifier. It is safe for concurrent use.
type Store struct {
	db    *sql.DB
	owned bool // Open created db: Close closes it
	n     names
	scope string // the database the tables live in, resolved: the scope of lock names
	sql   statements
	read  sqlread.Reader // List, the counts, the history

	closed atomic.Bool

	// sessions are the liveness sessions of the nodes that joined through
	// this store (JoinCluster): connections held out of the pool, each
	// holding its node's GET_LOCK lock until LeaveCluster or Close.
	sessionsMu sync.Mutex
	sessions   map[string]*session
}

var (
	_ store.Store                = (*Store)(nil)
	_ store.RecurringStore       = (*Store)(nil)
	_ store.BatchStore           = (*Store)(nil)
	_ store.RecoveryCounter      = (*Store)(nil)
	_ store.Counter              = (*Store)(nil)
	_ store.Retainer             = (*Store)(nil)
	_ store.WriteConcurrency     = (*Store)(nil)
	_ store.Cluster              = (*Store)(nil)
	_ store.ClaimingPersister    = (*Store)(nil)
	_ store.TxPersister[*sql.Tx] = (*Store)(nil)
)

// New returns a Store on db, migrating its tables first unless
// cfg.SkipMigrations. db stays the caller's: Close does not close it. cfg
// may be nil.
//
// The store works with any DSN of go-sql-driver/mysql: it writes and reads
// times as UTC itself, whatever parseTime, loc or the session time zone
// say. Two settings make it faster: interpolateParams=true (one round trip
// per statement instead of prepare, execute and close) and
// SetMaxIdleConns equal to SetMaxOpenConns (database/sql keeps only two idle
// connections by default, so a busy engine opens and closes connections
// all the time). Open sets both.
func New(ctx context.Context, db *sql.DB, cfg *Config) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil *sql.DB", store.ErrInvalid)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	n, err := newNames(&c)
	if err != nil {
		return nil, err
	}
	if c.SkipMigrations {
		err = checkVersion(ctx, db, &n)
	} else {
		err = migrate(ctx, db, &n)
	}
	if err != nil {
		return nil, err
	}
	scope := c.Database
	if scope == "" {
		// GET_LOCK names are server-wide: the node locks name the database.
		var cur sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&cur); err != nil {
			return nil, fmt.Errorf("open mysql store: %w", mapErr(err))
		}
		scope = cur.String
	}
	s := &Store{db: db, n: n, scope: scope, sql: newStatements(&n), sessions: map[string]*session{}}
	s.read = sqlread.Reader{Dialect: newDialect(&s.n), Run: sqlread.DB(db), Check: s.check, MapErr: mapErr,
		ScanTask: func(row sqlread.Row) (*store.Task, error) { return scanTask(row) }}
	return s, nil
}

// Open connects to the server of dsn (a go-sql-driver/mysql DSN, such as
// "user:pass@tcp(127.0.0.1:3306)/app") and returns a Store on a pool of its
// own, which Close closes. It turns on interpolateParams unless the DSN
// sets it, and keeps cfg.MaxConns connections open and idle.
func Open(ctx context.Context, dsn string, cfg *Config) (*Store, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: mysql DSN: %w", store.ErrInvalid, err)
	}
	if !strings.Contains(dsn, "interpolateParams=") {
		mc.InterpolateParams = true
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("%w: mysql DSN: %w", store.ErrInvalid, err)
	}
	db := sql.OpenDB(conn)
	conns := DefaultMaxConns
	if cfg != nil && cfg.MaxConns > 0 {
		conns = cfg.MaxConns
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(time.Hour)
	s, err := New(ctx, db, cfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open mysql store: %w", err)
	}
	s.owned = true
	return s, nil
}

// DB returns the pool the store runs on.
func (s *Store) DB() *sql.DB { return s.db }

// Database returns the configured database ("" for the connection's own).
func (s *Store) Database() string { return s.n.database }

// TablePrefix returns the prefix of the store's table names.
func (s *Store) TablePrefix() string { return s.n.prefix }

// Close marks the store closed: every later call returns store.ErrClosed.
// It ends the liveness sessions of the nodes that joined through it and did
// not leave, so other nodes see them gone; their registrations stay. It
// closes the pool only when Open created it. Closing twice is safe.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.sessionsMu.Lock()
	for id, ss := range s.sessions {
		ss.close()
		delete(s.sessions, id)
	}
	s.sessionsMu.Unlock()
	if s.owned {
		return s.db.Close()
	}
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// MaxConcurrentWrites implements store.WriteConcurrency: the server runs
// transactions in parallel, so the engine keeps two batches in flight, one
// filling while the other commits.
func (s *Store) MaxConcurrentWrites() int { return 2 }

// Bounds of the retry of a transaction the server chose as a deadlock
// victim or whose lock wait timed out: both roll back (the whole
// transaction, or the statement, which inTx then rolls back whole), so
// running it again is safe.
const (
	maxAttempts  = 4
	retryBackoff = 2 * time.Millisecond
)

// inTx runs fn in a transaction and commits it, running it again from the
// start after a deadlock or a lock wait timeout, at most maxAttempts times;
// then the error wraps store.ErrUnavailable. opts may be nil.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	return retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback() //nolint:errcheck // the error of fn is the one to report
			return err
		}
		return tx.Commit()
	})
}

// retry runs fn until it succeeds, fails with an error that is not a
// transient lock conflict, or maxAttempts ran.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range maxAttempts {
		if err = fn(); err == nil || !lockConflict(err) {
			return err
		}
		if attempt == maxAttempts-1 {
			break
		}
		t := time.NewTimer(retryBackoff << attempt)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
	return err
}

// readCommitted is the isolation of the statements that scan a range and
// lock some of its rows (Claim, Rescue): REPEATABLE READ, the server's
// default, would also lock the gaps between index entries, so a dispatch
// into a queue would wait for a claim of that queue to commit.
var readCommitted = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
