// Package taskview renders one task with its history as text: what
// `evertask tasks show` prints. It lives apart from the CLI so the engine
// suite checks the same output on every store.
package taskview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// Options tune ShowOpts. A nil *Options means the defaults.
type Options struct {
	// Payload is the most payload bytes printed: 0 means DefaultPayload,
	// negative means all of it.
	Payload int
	// Logs is the most execution logs printed (the first ones): 0 means
	// DefaultLogs, negative means none.
	Logs int
	// Now is when a series' next run is judged still to come. Default
	// time.Now.
	Now time.Time
}

// The defaults of Options.
const (
	DefaultPayload = 2048
	DefaultLogs    = 100
)

// Show writes the task with the id, its failed attempts, status and runs
// history and logs to w, with the default options. A missing task is an
// error that says so.
func Show(ctx context.Context, st store.Store, id uuid.UUID, w io.Writer) error {
	return ShowOpts(ctx, st, id, nil, w)
}

// ShowOpts is Show with options.
func ShowOpts(ctx context.Context, st store.Store, id uuid.UUID, o *Options, w io.Writer) error {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Payload == 0 {
		opts.Payload = DefaultPayload
	}
	if opts.Logs == 0 {
		opts.Logs = DefaultLogs
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	info, err := evertask.Describe(ctx, st, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("task %s: not found", id)
	}
	if err != nil {
		return err
	}
	t := &info.Task
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name string, v any) { fmt.Fprintf(tw, "%s\t%v\n", name, v) }
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
	shown, cut := BoundPayload(t.Payload, opts.Payload)
	if cut {
		shown += fmt.Sprintf(" … (%d of %d bytes; --full-payload prints it all)", len(shown), len(t.Payload))
	}
	field("payload", shown)
	if t.Recurring {
		field("schedule", t.ScheduleInfo)
		runs := fmt.Sprint(t.RunCount)
		if t.MaxRuns > 0 {
			runs += fmt.Sprintf(" of %d", t.MaxRuns)
		}
		next := when(t.NextRunAt)
		if !t.Recoverable(opts.Now) {
			// A series that ran out, passed its end or was cancelled: a
			// next run on the row (left by an older version) never comes.
			next = "- (the series has ended)"
		}
		field("runs", runs)
		field("next run", next)
	}
	if t.Owner != "" {
		field("running on", fmt.Sprintf("%s (lease until %s)", t.Owner, when(t.LeaseUntil)))
	}
	if t.RecoveryFailures > 0 {
		field("recovery failures", t.RecoveryFailures)
	}
	tw.Flush()
	if t.Error != "" {
		fmt.Fprintf(w, "error:\n%s\n", indent(t.Error))
	}

	if _, ok := st.(store.AttemptStore); ok {
		fmt.Fprintf(w, "\nfailed attempts (%d, oldest first):\n", len(info.Attempts))
		for _, a := range info.Attempts {
			fmt.Fprintf(w, "  run %d attempt %d  %s  %-10v %s\n", a.Run, a.Number, when(a.StartedAt), a.Duration,
				FirstLine(a.Error, 120))
		}
	}
	audits := info.StatusHistory
	fmt.Fprintf(w, "\nstatus history (%d, oldest first):\n", len(audits))
	for i := len(audits) - 1; i >= 0; i-- {
		a := audits[i]
		fmt.Fprintf(w, "  %s  %-14s %s\n", when(a.At), a.Status, FirstLine(a.Error, 80))
	}
	runs := info.RunsHistory
	if t.Recurring || len(runs) > 0 {
		fmt.Fprintf(w, "\nruns (%d, oldest first):\n", len(runs))
		for i := len(runs) - 1; i >= 0; i-- {
			r := runs[i]
			fmt.Fprintf(w, "  %s  %-10s %-10v %s\n", when(r.ExecutedAt), r.Status, r.ExecutionTime, FirstLine(r.Error, 80))
		}
	}
	page, err := st.LogsPage(ctx, store.LogQuery{TaskID: id, Limit: max(opts.Logs, 1)})
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", id, err)
	}
	if opts.Logs < 0 {
		page.Logs = nil
	}
	fmt.Fprintf(w, "\nlogs (%d):\n", page.Total)
	for _, l := range page.Logs {
		fmt.Fprintf(w, "  %s  %-5s %s", when(l.At), l.Level, l.Message)
		if l.ErrorDetails != "" {
			fmt.Fprintf(w, "  error=%s", FirstLine(l.ErrorDetails, 80))
		}
		fmt.Fprintln(w)
	}
	if len(page.Logs) < page.Total {
		fmt.Fprintf(w, "  (%d more: --logs %d shows them)\n", page.Total-len(page.Logs), page.Total)
	}
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000000")
}

// BoundPayload returns at most limit bytes of p (all of it for a negative
// limit), cut at a rune boundary, and whether it was cut.
func BoundPayload(p []byte, limit int) (string, bool) {
	if limit < 0 || len(p) <= limit {
		return string(p), false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return string(p[:cut]), true
}

// FirstLine returns the first line of s, cut to n runes, with a marker
// when something was left out.
func FirstLine(s string, n int) string {
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
