package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate --store postgres|mysql|sqlite [--dsn DSN] [--schema evertask]", stderr)
	var sf storeFlags
	sf.add(fs)
	fs.Lookup("store").DefValue, sf.store = "", "" // required here: migrating the wrong store is worse than a usage error
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	name, dsn, err := sf.resolve()
	if err != nil {
		return err
	}
	switch name {
	case "postgres":
		schema := sf.schema
		if schema == "" {
			schema = pgstore.DefaultSchema
		}
		pool, err := openPool(ctx, dsn, 2)
		if err != nil {
			return err
		}
		defer pool.Close()
		pending, err := pgstore.PendingMigrations(ctx, pool, schema)
		if err != nil {
			return explainPostgres(schema, dsn, err)
		}
		if err := pgstore.Migrate(ctx, pool, schema); err != nil {
			return explainPostgres(schema, dsn, err)
		}
		report(stdout, "postgres schema "+schema, pending, pgstore.SchemaVersion)
		return nil
	case "mysql":
		if dsn == "" {
			dsn = defaultMySQLDSN
		}
		var pending []string
		known := false // whether pending was read
		if db, err := sql.Open("mysql", dsn); err == nil {
			pending, err = mysqlstore.PendingMigrations(ctx, db, &mysqlstore.Config{Database: sf.schema})
			db.Close()
			if errors.Is(err, store.ErrSchemaVersion) {
				return explainMySQL(sf.schema, dsn, err)
			}
			known = err == nil // else Open below says what is wrong
		}
		// Open applies the migrations.
		st, err := openMySQL(ctx, dsn, &mysqlstore.Config{Database: sf.schema, MaxConns: 2})
		if err != nil {
			return explainMySQL(sf.schema, dsn, err)
		}
		where := st.Database()
		st.Close()
		if c, err := mysql.ParseDSN(dsn); where == "" && err == nil {
			where = c.DBName
		}
		if !known {
			fmt.Fprintf(stdout, "mysql database %s is at version %d\n", where, mysqlstore.SchemaVersion)
			return nil
		}
		report(stdout, "mysql database "+where, pending, mysqlstore.SchemaVersion)
		return nil
	case "sqlite":
		if dsn == "" {
			return usageErr("--dsn names the sqlite file to migrate")
		}
		pending, err := sqlitestore.PendingMigrations(ctx, dsn)
		if err != nil {
			return explainSQLite(dsn, err)
		}
		// Open applies the migrations.
		st, err := sqlitestore.Open(ctx, dsn, nil)
		if err != nil {
			return explainSQLite(dsn, err)
		}
		st.Close()
		report(stdout, "sqlite database "+dsn, pending, sqlitestore.SchemaVersion())
		return nil
	case "redis", "memory":
		return usageErr("the %s store has no migrations (want postgres, mysql or sqlite)", name)
	}
	if err := checkStoreName(name); err != nil {
		return err
	}
	return usageErr("unknown store %q (want postgres, mysql or sqlite)", name)
}

// report says what migrate did: the migrations it applied, or that there
// was nothing to apply.
func report(w io.Writer, what string, applied []string, version int) {
	if len(applied) == 0 {
		fmt.Fprintf(w, "%s is up to date at version %d: nothing to apply\n", what, version)
		return
	}
	fmt.Fprintf(w, "%s: applied %d migration(s): %s; now at version %d\n", what, len(applied), strings.Join(applied, ", "), version)
}
