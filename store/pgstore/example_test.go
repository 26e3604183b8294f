package pgstore_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store/pgstore"
)

// The application configures the pool; the store only borrows it. No
// output is checked: the example needs a server.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// Migrates the "billing_jobs" schema on first use; several processes
	// may do this at once.
	s, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: "billing_jobs"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_ = s // hand s to evertask.New
}
