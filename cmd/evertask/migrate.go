package main

import (
	"context"
	"fmt"
	"io"

	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate --store postgres|mysql|sqlite --dsn DSN [--schema evertask]", stderr)
	name := fs.String("store", "", "store to migrate: postgres, mysql or sqlite (required)")
	dsn := fs.String("dsn", "", "postgres URL (default "+defaultPostgresDSN+"), mysql DSN (default "+defaultMySQLDSN+") or sqlite file (required for sqlite)")
	schema := fs.String("schema", "", "postgres schema holding the tables (default "+pgstore.DefaultSchema+"), or mysql database (default the DSN's)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	switch *name {
	case "postgres":
		pool, err := openPool(ctx, *dsn, 2)
		if err != nil {
			return err
		}
		defer pool.Close()
		if *schema == "" {
			*schema = pgstore.DefaultSchema
		}
		if err := pgstore.Migrate(ctx, pool, *schema); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "postgres schema %s is at version %d\n", *schema, pgstore.SchemaVersion)
		return nil
	case "mysql":
		// Open applies the migrations.
		st, err := openMySQL(ctx, *dsn, &mysqlstore.Config{Database: *schema, MaxConns: 2})
		if err != nil {
			return err
		}
		where := st.Database()
		st.Close()
		if where == "" {
			where = "of the DSN"
		}
		fmt.Fprintf(stdout, "mysql database %s is at version %d\n", where, mysqlstore.SchemaVersion)
		return nil
	case "sqlite":
		if *dsn == "" {
			return usageErr("--dsn names the sqlite file to migrate")
		}
		// Open applies the migrations.
		st, err := sqlitestore.Open(ctx, *dsn, nil)
		if err != nil {
			return err
		}
		st.Close()
		fmt.Fprintf(stdout, "sqlite database %s is at version %d\n", *dsn, sqlitestore.SchemaVersion())
		return nil
	case "redis", "memory":
		return usageErr("the %s store has no migrations (want postgres, mysql or sqlite)", *name)
	}
	if err := checkStoreName(*name); err != nil {
		return err
	}
	return usageErr("unknown store %q (want postgres, mysql or sqlite)", *name)
}
