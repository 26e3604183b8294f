package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/taskview"
	"github.com/evertask/evertask/store"
)

func runTasks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tasks", "tasks [show ID] [--store sqlite|postgres|mysql|redis] [--dsn DSN] [--status Failed] [--limit 20]", stderr)
	name := fs.String("store", "sqlite", "store to read: sqlite, postgres, mysql or redis")
	dsn := fs.String("dsn", "", "sqlite file (default "+defaultSQLitePath+"), postgres URL (default "+defaultPostgresDSN+"), mysql DSN (default "+defaultMySQLDSN+") or redis address (default "+defaultRedisAddr+")")
	schema := fs.String("schema", "", "postgres schema, mysql database or redis key prefix (default: the store's, evertask / the DSN's / evertask:)")
	status := fs.String("status", "", "only tasks in these statuses, comma separated (e.g. Failed,Cancelled)")
	limit := fs.Int("limit", 20, "how many tasks to list, newest first (at most 1000)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	var showID uuid.UUID
	switch {
	case len(rest) == 0:
	case rest[0] == "show" && len(rest) == 2:
		if showID, err = uuid.Parse(rest[1]); err != nil {
			return usageErr("bad task id %q: %v", rest[1], err)
		}
	case rest[0] == "show":
		return usageErr("tasks show takes one task id")
	default:
		return usageErr("unexpected argument %q (did you mean \"tasks show ID\"?)", strings.Join(rest, " "))
	}
	var statuses []store.Status
	if *status != "" {
		for _, s := range strings.Split(*status, ",") {
			st, ok := parseStatus(strings.TrimSpace(s))
			if !ok {
				return usageErr("unknown status %q (want one of %v)", s, store.Statuses)
			}
			statuses = append(statuses, st)
		}
	}
	if *limit < 1 || *limit > store.MaxListLimit {
		return usageErr("--limit must be between 1 and %d, got %d", store.MaxListLimit, *limit)
	}

	st, err := openUserStore(ctx, *name, *dsn, *schema)
	if err != nil {
		return err
	}
	defer st.close()
	if showID != uuid.Nil {
		return taskview.Show(ctx, st.Store, showID, stdout) // the store itself: its capabilities (attempts) show
	}
	page, err := st.List(ctx, store.Filter{Statuses: statuses, Limit: *limit})
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	if len(page.Tasks) == 0 {
		fmt.Fprintln(stdout, "no tasks")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATUS\tCREATED\tERROR")
	for _, t := range page.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Queue, t.Status,
			t.CreatedAt.Local().Format(time.DateTime), taskview.FirstLine(t.Error, 60))
	}
	tw.Flush()
	if page.Next != nil {
		fmt.Fprintf(stdout, "(more tasks: raise --limit to see them)\n")
	}
	return nil
}

// parseStatus matches a status name ignoring case.
func parseStatus(s string) (store.Status, bool) {
	for _, st := range store.Statuses {
		if strings.EqualFold(string(st), s) {
			return st, true
		}
	}
	return "", false
}
