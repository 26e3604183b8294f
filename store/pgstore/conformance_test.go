package pgstore_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/storetest"
)

// TestConformance runs the store conformance suite, each check in a fresh
// schema of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	testPool(t) // skip the whole suite with one reason when there is no server
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

// TestConformanceExecModes runs the suite on pools in the query modes a
// connection pooler such as PgBouncer (transaction pooling) needs: no
// prepared statements, parameters described by the server on each call or
// sent as text. Every parameter the store sends must encode in each.
func TestConformanceExecModes(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]pgx.QueryExecMode{
		"simple_protocol": pgx.QueryExecModeSimpleProtocol,
		"exec":            pgx.QueryExecModeExec,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := pgxpool.ParseConfig(testPool(t).Config().ConnString())
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 4
			cfg.ConnConfig.DefaultQueryExecMode = mode
			pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			storetest.Run(t, func(t *testing.T) store.Store {
				s, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: freshSchema(t, pool)})
				if err != nil {
					t.Fatalf("pgstore.New: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
