package pgstore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
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
	pool   *pgxpool.Pool
	schema string
	sql    statements
	closed atomic.Bool
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.RecurringStore  = (*Store)(nil)
	_ store.BatchStore      = (*Store)(nil)
	_ store.RecoveryCounter = (*Store)(nil)
	_ store.Counter         = (*Store)(nil)
	_ store.Retainer        = (*Store)(nil)
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
	return &Store{pool: pool, schema: o.Schema, sql: newStatements(q)}, nil
}

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Close marks the store closed: every later call returns store.ErrClosed.
// It does not close the pool, which belongs to the caller. Closing twice is
// safe.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}
