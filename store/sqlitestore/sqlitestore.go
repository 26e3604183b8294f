package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// Config tunes a Store. A nil *Config means every default.
type Config struct {
	// Readers is the number of read connections. Default 4.
	Readers int
	// BusyTimeout is how long a statement waits for a lock another
	// connection or process holds before failing with store.ErrUnavailable.
	// Default 5s.
	BusyTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultReaders     = 4
	DefaultBusyTimeout = 5 * time.Second
)

// Store is a store.Store on one SQLite file. It is safe for concurrent use
// within one process; several processes may open the same file, SQLite's
// locks serialize their writes.
type Store struct {
	// writer is the only connection that writes: SQLite allows one writer at
	// a time anyway, and queueing writers in database/sql is cheaper than
	// letting them collide on the file lock and spin in the busy handler.
	writer *sql.DB
	// readers is a pool of query_only connections; WAL lets them read
	// while the writer writes.
	readers *sql.DB
	stmts   *statements
	batch   *batchStmts
	read    sqlread.Reader // List, the counts, the history, on the readers

	// path is the database file; the liveness locks of cluster nodes live
	// beside it (see nodeLockDir).
	path string
	busy time.Duration
	// live holds the liveness lock of each node this store joined, by id:
	// the open file whose flock tells other processes the node lives.
	liveMu sync.Mutex
	live   map[string]*os.File

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Store             = (*Store)(nil)
	_ store.RecurringStore    = (*Store)(nil)
	_ store.BatchStore        = (*Store)(nil)
	_ store.RecoveryCounter   = (*Store)(nil)
	_ store.Counter           = (*Store)(nil)
	_ store.Retainer          = (*Store)(nil)
	_ store.Cluster           = (*Store)(nil)
	_ store.ClaimingPersister = (*Store)(nil)
	_ store.Stats             = (*Store)(nil)
)

// Open opens (creating if needed) the SQLite database at path, applies the
// embedded migrations and returns the store. A file that is not an SQLite
// database is an error; so is a schema newer than this code
// (store.ErrSchemaVersion). Several processes may open the same file at the
// same time: migrations run in an IMMEDIATE transaction, so one applies
// them and the others find them applied.
func Open(ctx context.Context, path string, cfg *Config) (*Store, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") {
		// Each pooled connection would get its own empty in-memory database.
		return nil, fmt.Errorf("%w: sqlite store needs a file path, got %q", store.ErrInvalid, path)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Readers <= 0 {
		c.Readers = DefaultReaders
	}
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}

	writer := sql.OpenDB(connector{dsn: writerDSN(path, c.BusyTimeout)})
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	if err := migrateWhenFree(ctx, writer, c.BusyTimeout); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	// The readers connect only after the writer made the file a WAL
	// database, so a query_only connection never has to change the mode.
	readers := sql.OpenDB(connector{dsn: readerDSN(path, c.BusyTimeout)})
	readers.SetMaxOpenConns(c.Readers)
	readers.SetMaxIdleConns(c.Readers)
	readers.SetConnMaxLifetime(0)
	readers.SetConnMaxIdleTime(0)

	s := &Store{writer: writer, readers: readers, path: path, busy: c.BusyTimeout}
	s.read = sqlread.Reader{Dialect: dialect, Run: sqlread.DB(readers), Check: s.check, MapErr: mapErr,
		ScanTask: func(row sqlread.Row) (*store.Task, error) { return scanTask(row) }}
	stmts, err := prepare(ctx, writer, readers)
	if err == nil {
		s.batch, err = prepareBatch(ctx, writer)
	}
	if err == nil {
		err = readers.PingContext(ctx)
	}
	if err != nil {
		stmts.close()
		s.batch.close()
		readers.Close()
		writer.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}
	s.stmts = stmts
	return s, nil
}

// migrateWhenFree runs migrate, trying again for up to busy while another
// connection holds the file. A connection's first pragma that turns a new
// file to WAL needs the file to itself and can fail with SQLITE_BUSY at
// once, without the busy handler, when several processes open a new file
// together.
func migrateWhenFree(ctx context.Context, db *sql.DB, busy time.Duration) error {
	deadline := time.Now().Add(busy)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := migrate(ctx, db)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// Close closes both pools and releases the liveness locks of the nodes that
// joined through this store without leaving: other nodes then see them
// gone, as after a crash. Calls after the first return nil; every other
// method of a closed store returns store.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stmts.close()
		s.batch.close()
		s.closeErr = errors.Join(s.readers.Close(), s.writer.Close(), s.releaseNodeLocks())
	})
	return s.closeErr
}

// clock is the store's clock: the host's, since every process sharing an
// SQLite file runs on the file's host. Writes read it under the write lock
// (after BEGIN IMMEDIATE) where they have a transaction, so the order of
// their clocks is the order of their commits.
func (s *Store) clock() time.Time { return store.NormalizeTime(time.Now()) }

// check is the guard every method starts with.
func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// The pragmas every connection gets, through the DSN so database/sql applies
// them to each connection it opens, not just the first.
//
//   - journal_mode=WAL: readers never block the writer nor the reverse, and a
//     commit is one append to the log instead of a journal plus a rewrite.
//   - synchronous=NORMAL: in WAL mode a commit no longer waits for fsync;
//     the log is synced at checkpoints. A committed transaction survives a
//     crash of the process (the WAL is in the OS page cache), which is the
//     failure the engine recovers from; only a power loss or OS crash may
//     roll back the last commits, never corrupt the file. FULL would cost
//     one fsync per commit, the dominant cost of every task step.
//   - foreign_keys=ON: the child tables cascade with their task.
//   - busy_timeout: another process holding the lock is waited for, not an
//     immediate SQLITE_BUSY.
func writerDSN(path string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Every write transaction takes the write lock at BEGIN: a deferred
	// transaction that reads first and upgrades later can fail with BUSY
	// without waiting when another process wrote in between.
	q.Set("_txlock", "immediate")
	return fileURI(path) + "?" + q.Encode()
}

func readerDSN(path string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "query_only(ON)")
	return fileURI(path) + "?" + q.Encode()
}

// fileURI makes an SQLite URI of a file path, escaping the characters that
// would end the path part.
func fileURI(path string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path)
}

// drv is a private driver instance, so the search function it registers
// reaches only this package's connections and no process-global state is
// touched (see sqlite.Driver).
var drv = func() *sqlite.Driver {
	d := &sqlite.Driver{}
	d.MustRegisterDeterministicScalarFunction(foldFunc, 1, sqlFold)
	return d
}()

type connector struct{ dsn string }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return drv.Open(c.dsn)
}

func (c connector) Driver() driver.Driver { return drv }

func (s *Store) queryEach(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.readers.QueryContext(ctx, query, args...)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return mapErr(err)
		}
	}
	return mapErr(rows.Err())
}
