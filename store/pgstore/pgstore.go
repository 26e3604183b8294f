package pgstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// Opts configures a Store. The zero value is ready to use.
type Opts struct {
	// Schema holds the store's tables, so several applications can share a
	// database. It must be a plain identifier (letters, digits, _). Default
	// DefaultSchema ("evertask").
	Schema string
	// SkipMigrations leaves the schema as it is: New then only checks that
	// it is at SchemaVersion. Default false: New runs Migrate.
	SkipMigrations bool
}

// Store is a store.Store on PostgreSQL. It implements every optional
// capability of package store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	schema  string
	sql     statements
	read    sqlread.Reader // List, the counts, the history
	channel string         // of the notices (Publish, Subscribe)
	closed  atomic.Bool
	// noTurnsUntil is when claims take turns again (claimInTurn) after a
	// turn did not come in time, in Unix nanoseconds of this process.
	noTurnsUntil atomic.Int64

	// life ends at Close, and with it every subscription.
	life context.Context
	stop context.CancelFunc

	// sessions are the liveness sessions of the nodes that joined through
	// this store (JoinCluster): connections taken out of the pool, each
	// holding its node's advisory lock until LeaveCluster or Close.
	sessionsMu sync.Mutex
	sessions   map[string]*pgx.Conn
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
	_ store.Notifier          = (*Store)(nil)
	_ store.Stats             = (*Store)(nil)
)

// New returns a Store on pool, migrating its schema first unless
// opts.SkipMigrations. The pool stays the caller's: Close does not close it.
// opts may be nil.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Opts) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", store.ErrInvalid)
	}
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	q, err := quoteSchema(o.Schema)
	if err != nil {
		return nil, err
	}
	if o.SkipMigrations {
		err = checkVersion(ctx, pool, o.Schema, q)
	} else {
		err = Migrate(ctx, pool, o.Schema)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, schema: o.Schema, sql: newStatements(q), channel: channelName(o.Schema),
		sessions: map[string]*pgx.Conn{}}
	s.read = sqlread.Reader{Dialect: newDialect(q), Run: s.run, Check: s.check, MapErr: mapErr,
		ScanTask: func(row sqlread.Row) (*store.Task, error) { return scanTask(row) }}
	s.life, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Close marks the store closed: every later call returns store.ErrClosed.
// It ends the subscriptions (their channels close) and the liveness
// sessions of the nodes that joined through it and did not leave, so other
// nodes see them gone; their registrations stay. It does not close the
// pool, which belongs to the caller. Closing twice is safe.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.sessionsMu.Lock()
	defer s.sessionsMu.Unlock()
	for id, c := range s.sessions {
		closeConn(c)
		delete(s.sessions, id)
	}
	return nil
}

// closeConn closes a connection the store took out of the pool. The
// server ends the session (and releases its locks) when the socket closes,
// so a Terminate message that cannot be sent in time changes nothing.
func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Close(ctx) //nolint:errcheck // see above
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// MaxConcurrentWrites implements store.WriteConcurrency: PostgreSQL runs
// transactions in parallel, so the engine keeps two batches in flight, one
// filling while the other commits. More split the same work into smaller
// batches: on the burn benchmark (2 cores) two gave 41k tasks/s, one 34k
// and four 39k.
func (s *Store) MaxConcurrentWrites() int { return 2 }

// run is the pool as a sqlread.Runner.
func (s *Store) run(ctx context.Context, q sqlread.Query) (sqlread.Rows, error) {
	rows, err := s.pool.Query(ctx, q.Text, q.Args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}
