package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/internal/testenv"
)

// schemaStore is a Store on a new schema named prefix plus random hex,
// dropped when the test ends, for the tests inside the package; it returns
// the pool and schema too.
func schemaStore(t *testing.T, prefix string) (*Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := testenv.PostgresPool(t)
	b := make([]byte, 4)
	rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE") //nolint:errcheck
	})
	s, err := New(t.Context(), pool, &Opts{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return s, pool, schema
}
