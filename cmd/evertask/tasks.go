package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/internal/taskview"
	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
)

const tasksSynopsis = `tasks [list] [store flags] [--status Failed] [--queue Q] [--kind K] [--search TEXT] [--scan-limit 50000] [--limit 20] [--after CURSOR] [--oldest] [--json]
tasks show ID [store flags] [--payload 2048 | --full-payload] [--logs 100] [--json]
tasks cancel|retry|run|delete ID [store flags]`

// defaultPayloadBytes is how much of a payload tasks show prints unless
// asked for more: a payload may be megabytes.
const defaultPayloadBytes = taskview.DefaultPayload

func runTasks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tasks", tasksSynopsis, stderr)
	var sf storeFlags
	sf.add(fs)
	status := fs.String("status", "", "list: only tasks in these statuses, comma separated (e.g. Failed,Cancelled)")
	queue := fs.String("queue", "", "list: only tasks of this queue")
	kind := fs.String("kind", "", "list: only tasks of this kind")
	search := fs.String("search", "", "list: only tasks whose kind, handler or key contains this text")
	scanLimit := fs.Int("scan-limit", monitor.DefaultSearchScanLimit, "list: a --search tests at most this many tasks past the cursor, then says where it stopped (0: no bound; no index serves a substring match)")
	limit := fs.Int("limit", 20, "list: how many tasks, newest first (at most 1000)")
	after := fs.String("after", "", "list: continue after this cursor (the \"next\" of a --json page)")
	oldest := fs.Bool("oldest", false, "list: oldest first")
	asJSON := fs.Bool("json", false, "list, show: print JSON instead of a table")
	payload := fs.Int("payload", defaultPayloadBytes, "show: print at most this many bytes of the payload")
	fullPayload := fs.Bool("full-payload", false, "show: print the whole payload, however large")
	logs := fs.Int("logs", 100, "show: print at most this many execution logs (the first ones)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	sub := "list"
	if len(rest) > 0 {
		sub, rest = rest[0], rest[1:]
	}
	switch sub {
	case "list":
		if err := noPositional(rest); err != nil {
			return err
		}
		f, err := listFilter(*status, *queue, *kind, *search, *limit)
		if err != nil {
			return err
		}
		f.Oldest = *oldest
		if *scanLimit < 0 {
			return usageErr("--scan-limit must not be negative, got %d", *scanLimit)
		}
		if f.Search != "" {
			f.ScanLimit = *scanLimit
		}
		if *after != "" {
			if f.After, err = parseCursor(*after); err != nil {
				return err
			}
		}
		in, done, err := sf.inspector(ctx)
		if err != nil {
			return err
		}
		defer done()
		return listTasks(ctx, in, f, *asJSON, stdout)
	case "show", "cancel", "retry", "run", "delete":
	default:
		return usageErr("unknown tasks subcommand %q (want list, show, cancel, retry, run or delete)", sub)
	}
	if len(rest) != 1 {
		return usageErr("tasks %s takes one task id (the full id, its first 8 or more digits, or …its last 6)", sub)
	}
	if *payload < 0 || *logs < 0 {
		return usageErr("--payload and --logs must not be negative")
	}
	if err := checkIDSyntax(rest[0]); err != nil {
		return err
	}
	in, done, err := sf.inspector(ctx)
	if err != nil {
		return err
	}
	defer done()
	t, err := in.Find(ctx, rest[0])
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		limit := *payload
		if *fullPayload {
			limit = -1
		}
		return showTask(ctx, in.Store(), t, showOpts{payload: limit, logs: *logs, json: *asJSON}, stdout)
	case "cancel":
		err = in.Cancel(ctx, t.ID)
	case "retry":
		err = in.Retry(ctx, t.ID)
	case "run":
		err = in.RunNow(ctx, t.ID)
	case "delete":
		err = in.Delete(ctx, t.ID)
	}
	if err != nil {
		return err
	}
	done2 := map[string]string{"cancel": "cancelled", "retry": "queued again", "run": "due now", "delete": "deleted"}[sub]
	fmt.Fprintf(stdout, "task %s (%s): %s\n", t.ID, t.Kind, done2)
	return nil
}

// checkIDSyntax rejects text that cannot be an id before any connection
// is made: it is a usage error (exit 2), not a missing task.
func checkIDSyntax(s string) error {
	if err := inspect.CheckID(s); err != nil {
		return usageErr("bad task id %q: want the full id, its first %d or more hexadecimal digits, or …and its last %d or more",
			s, inspect.MinPrefixLength, inspect.MinSuffixLength)
	}
	return nil
}

func listFilter(status, queue, kind, search string, limit int) (store.Filter, error) {
	f := store.Filter{Queue: queue, Kind: kind, Search: search, Limit: limit}
	if status != "" {
		for _, s := range strings.Split(status, ",") {
			st, ok := parseStatus(strings.TrimSpace(s))
			if !ok {
				return f, usageErr("unknown status %q (want one of %v)", s, store.Statuses)
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if limit < 1 || limit > store.MaxListLimit {
		return f, usageErr("--limit must be between 1 and %d, got %d", store.MaxListLimit, limit)
	}
	return f, nil
}

func listTasks(ctx context.Context, in *inspect.Inspector, f store.Filter, asJSON bool, w io.Writer) error {
	page, err := in.List(ctx, f)
	if err != nil {
		return err
	}
	now := time.Now()
	if asJSON {
		out := struct {
			Tasks []taskJSON `json:"tasks"`
			More  bool       `json:"more"`
			// Next is the --after of the following page.
			Next string `json:"next,omitempty"`
			// ScanLimited: the search stopped at --scan-limit tasks; Next
			// searches on.
			ScanLimited bool `json:"scan_limited,omitempty"`
		}{Tasks: []taskJSON{}, More: page.Next != nil, ScanLimited: page.ScanLimited}
		if page.Next != nil {
			out.Next = formatCursor(*page.Next)
		}
		for _, t := range page.Tasks {
			out.Tasks = append(out.Tasks, toJSON(t, now, 0))
		}
		return writeJSON(w, out)
	}
	if len(page.Tasks) == 0 && !page.ScanLimited {
		fmt.Fprintln(w, "no tasks")
		return nil
	}
	if len(page.Tasks) == 0 {
		fmt.Fprintf(w, "no match in the %d tasks searched; search older ones with --after %s\n", f.ScanLimit, formatCursor(*page.Next))
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATUS\tCREATED\tERROR")
	for _, t := range page.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Queue, t.Status,
			t.CreatedAt.Local().Format(time.DateTime), taskview.FirstLine(t.Error, 60))
	}
	tw.Flush()
	switch {
	case page.ScanLimited:
		fmt.Fprintf(w, "(the search stopped after %d tasks: search older ones with --after %s)\n", f.ScanLimit, formatCursor(*page.Next))
	case page.Next != nil:
		fmt.Fprintf(w, "(more tasks: raise --limit, or continue with --after %s)\n", formatCursor(*page.Next))
	}
	return nil
}

// formatCursor and parseCursor write and read a list position as
// "<created, RFC 3339 UTC>/<id>".
func formatCursor(c store.Cursor) string {
	return c.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + c.ID.String()
}

func parseCursor(s string) (store.Cursor, error) {
	at, id, ok := strings.Cut(s, "/")
	t, err1 := time.Parse(time.RFC3339Nano, at)
	u, err2 := uuid.Parse(id)
	if !ok || err1 != nil || err2 != nil {
		return store.Cursor{}, usageErr("bad --after %q: want the \"next\" of a --json page (TIME/ID)", s)
	}
	return store.Cursor{CreatedAt: t, ID: u}, nil
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

type showOpts struct {
	payload int // bytes of payload to print; -1: all
	logs    int
	json    bool
}

func showTask(ctx context.Context, st store.Store, t *store.Task, o showOpts, w io.Writer) error {
	if !o.json {
		logs := o.logs
		if logs == 0 {
			logs = -1 // none
		}
		payload := o.payload
		if payload == 0 {
			payload = 1 // a cut payload still says how big it is
		}
		return taskview.ShowOpts(ctx, st, t.ID, &taskview.Options{Payload: payload, Logs: logs}, w)
	}
	info, err := evertask.Describe(ctx, st, t.ID)
	if err != nil {
		return err
	}
	page, err := st.LogsPage(ctx, store.LogQuery{TaskID: t.ID, Limit: max(o.logs, 1)})
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", t.ID, err)
	}
	if o.logs == 0 {
		page.Logs = nil
	}
	return writeJSON(w, detailJSON(&info.Task, time.Now(), o.payload, info.StatusHistory, info.RunsHistory, info.Attempts, page))
}

// willRun reports whether the task may still run: a one-shot task not yet
// finished, a series with runs left.
func willRun(t *store.Task, now time.Time) bool { return t.Recoverable(now) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
