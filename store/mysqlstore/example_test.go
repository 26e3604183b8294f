package mysqlstore_test

import (
	"context"
	"database/sql"
	"log"
	"os"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver for sql.Open

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store/mysqlstore"
)

// The application configures the pool; the store only borrows it. No
// output is checked: the example needs a server.
func Example() {
	ctx := context.Background()
	// interpolateParams: one round trip per statement.
	db, err := sql.Open("mysql", os.Getenv("MYSQL_DSN")+"?interpolateParams=true")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)

	// Migrates the tables (billing_tasks, billing_status_audits, ...) on
	// first use; several processes may do this at once.
	s, err := mysqlstore.New(ctx, db, &mysqlstore.Config{TablePrefix: "billing_"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	eng, err := evertask.New(s, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = eng // register handlers, then eng.Start(ctx)
}

// DispatchTx writes a task inside the application's own transaction: it
// exists only if the transaction commits.
func Example_dispatchTx() {
	ctx := context.Background()
	s, err := mysqlstore.Open(ctx, os.Getenv("MYSQL_DSN"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	eng, err := evertask.New(s, nil)
	if err != nil {
		log.Fatal(err)
	}
	// ... register handlers, eng.Start(ctx) ...
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	// ... the application's own writes in tx ...
	if _, err := evertask.DispatchTx(ctx, eng, tx, txJob{N: 1}, nil); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}
