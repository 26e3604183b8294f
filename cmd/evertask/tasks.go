package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

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
		return showTask(ctx, st, showID, stdout)
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
			t.CreatedAt.Local().Format(time.DateTime), firstLine(t.Error, 60))
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

func showTask(ctx context.Context, st store.Store, id uuid.UUID, w io.Writer) error {
	t, err := st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("task %s: not found", id)
	}
	if err != nil {
		return fmt.Errorf("get task %s: %w", id, err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name string, v any) { fmt.Fprintf(tw, "%s\t%v\n", name, v) }
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05.000000")
	}
	field("id", t.ID)
	field("kind", t.Kind)
	field("queue", t.Queue)
	field("status", t.Status)
	if t.Key != "" {
		field("key", t.Key)
	}
	field("audit level", t.AuditLevel)
	field("created", when(t.CreatedAt))
	field("scheduled", when(t.ScheduledAt))
	field("last execution", when(t.LastExecutionAt))
	field("execution time", t.ExecutionTime)
	field("payload", string(t.Payload))
	if t.Recurring {
		field("schedule", t.ScheduleInfo)
		runs := fmt.Sprint(t.RunCount)
		if t.MaxRuns > 0 {
			runs += fmt.Sprintf(" of %d", t.MaxRuns)
		}
		field("runs", runs)
		field("next run", when(t.NextRunAt))
	}
	if t.RecoveryFailures > 0 {
		field("recovery failures", t.RecoveryFailures)
	}
	tw.Flush()
	if t.Error != "" {
		fmt.Fprintf(w, "error:\n%s\n", indent(t.Error))
	}

	audits, err := st.StatusAudits(ctx, id)
	if err != nil {
		return fmt.Errorf("status audits: %w", err)
	}
	fmt.Fprintf(w, "\nstatus history (%d, oldest first):\n", len(audits))
	for i := len(audits) - 1; i >= 0; i-- {
		a := audits[i]
		fmt.Fprintf(w, "  %s  %-14s %s\n", when(a.At), a.Status, firstLine(a.Error, 80))
	}
	runs, err := st.RunsAudits(ctx, id)
	if err != nil {
		return fmt.Errorf("runs audits: %w", err)
	}
	if t.Recurring || len(runs) > 0 {
		fmt.Fprintf(w, "\nruns (%d, oldest first):\n", len(runs))
		for i := len(runs) - 1; i >= 0; i-- {
			r := runs[i]
			fmt.Fprintf(w, "  %s  %-10s %-10v %s\n", when(r.ExecutedAt), r.Status, r.ExecutionTime, firstLine(r.Error, 80))
		}
	}
	logs, err := st.Logs(ctx, id)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	fmt.Fprintf(w, "\nlogs (%d):\n", len(logs))
	for _, l := range logs {
		fmt.Fprintf(w, "  %s  %-5s %s", when(l.At), l.Level, l.Message)
		if l.ErrorDetails != "" {
			fmt.Fprintf(w, "  error=%s", firstLine(l.ErrorDetails, 80))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// firstLine returns the first line of s, cut to n runes, with a marker
// when something was left out.
func firstLine(s string, n int) string {
	line, more, _ := strings.Cut(s, "\n")
	r := []rune(line)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if more != "" {
		return line + " …"
	}
	return line
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
