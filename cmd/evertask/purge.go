package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
)

const purgeSynopsis = `purge [store flags] [--completed 7d] [--failed 30d] [--audits 30d] [--error-audits 90d] [--logs 7d] [--stats 90d] [--batch 100] [--progress] [--json]`

func runPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("purge", purgeSynopsis, stderr)
	var sf storeFlags
	sf.add(fs)
	completed := fs.String("completed", "", "delete Completed one-shot tasks that finished longer ago than this (e.g. 7d, 12h), with their history")
	failed := fs.String("failed", "", "delete Failed and Cancelled one-shot tasks older than this, with their history")
	audits := fs.String("audits", "", "delete status and runs audit rows older than this")
	errAudits := fs.String("error-audits", "", "keep audit rows that carry an error this long instead (default: as --audits)")
	logs := fs.String("logs", "", "delete execution logs older than this")
	stats := fs.String("stats", "", "delete the overview's outcome counters of minutes older than this")
	batch := fs.Int("batch", store.DefaultPurgeBatch, "rows per delete statement")
	progress := fs.Bool("progress", isTerminal(stderr), "show progress on stderr, deleted so far of a count made first: a bar on a terminal, else a line a second (default: when stderr is a terminal)")
	asJSON := fs.Bool("json", false, "print the counts as JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	var p store.RetentionPolicy
	for _, a := range []struct {
		flag, v string
		dst     *time.Duration
	}{{"--completed", *completed, &p.CompletedTaskAge}, {"--failed", *failed, &p.FailedTaskAge},
		{"--audits", *audits, &p.StatusAuditAge}, {"--error-audits", *errAudits, &p.ErrorAuditAge}, {"--logs", *logs, &p.LogAge},
		{"--stats", *stats, &p.StatsAge}} {
		if a.v == "" {
			continue
		}
		d, err := parseAge(a.v)
		if err != nil {
			return usageErr("bad %s %q: %v", a.flag, a.v, err)
		}
		*a.dst = d
	}
	p.RunsAuditAge = p.StatusAuditAge
	if p.CompletedTaskAge == 0 && p.FailedTaskAge == 0 && p.StatusAuditAge == 0 && p.ErrorAuditAge == 0 && p.LogAge == 0 && p.StatsAge == 0 {
		return usageErr("say what to purge: at least one of --completed, --failed, --audits, --error-audits, --logs, --stats")
	}
	if *batch < 1 {
		return usageErr("--batch must be at least 1, got %d", *batch)
	}
	p.BatchSize = *batch

	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	in := inspect.New(st.Store, nil)
	began := time.Now()
	p.Now = began // the count and the purge cut at the same instant
	var bar *purgeBar
	if *progress {
		bar = newPurgeBar(stderr, isTerminal(stderr))
		// A count first, so the bar shows a fraction; a store that cannot
		// count (Redis) gets the rows deleted so far.
		if pc, ok := st.Store.(store.PurgeCounter); ok {
			bar.counting()
			total, err := pc.CountPurge(ctx, p)
			if err != nil {
				bar.finish()
				return fmt.Errorf("purge: %w", err)
			}
			bar.total = total.Total()
		}
		p.Progress = bar.update
	}
	res, err := in.Purge(ctx, p)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	took := time.Since(began)
	if *asJSON {
		return writeJSON(stdout, map[string]any{
			"tasks": res.Tasks, "status_audits": res.StatusAudits, "runs_audits": res.RunsAudits,
			"attempts": res.Attempts, "logs": res.Logs, "stats": res.Stats, "seconds": took.Seconds(),
		})
	}
	fmt.Fprintf(stdout, "purged %d tasks, %d status audits, %d runs audits, %d attempts, %d logs and %d outcome counters in %s\n",
		res.Tasks, res.StatusAudits, res.RunsAudits, res.Attempts, res.Logs, res.Stats, took.Round(time.Millisecond))
	return nil
}

// parseAge reads a duration with a day unit too: "30d", "36h", "90m".
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("want a number of days, e.g. 30d")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("want an age such as 30d, 12h or 90m")
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return d, nil
}

// purgeBar shows how far a purge has come on w: on a terminal a bar
// redrawn in place (deleted so far / total, the percentage, the time), else
// a plain line at the first batch, then at most one a second, and one at
// the end. total < 0 is unknown: the rows deleted so far only.
type purgeBar struct {
	w          io.Writer
	tty        bool
	total      int
	began      time.Time
	now        func() time.Time
	every      time.Duration // least time between two lines
	done       int
	drawn      time.Time // when the last line was drawn; zero: none yet
	drawnDone  int       // the done count of the last line
	lineLength int       // of the last line drawn on a terminal
}

func newPurgeBar(w io.Writer, tty bool) *purgeBar {
	b := &purgeBar{w: w, tty: tty, total: -1, now: time.Now, every: time.Second}
	if tty {
		b.every = 100 * time.Millisecond
	}
	b.began = b.now()
	return b
}

// counting says the count runs: it reads as many rows as the purge will.
func (b *purgeBar) counting() {
	if b.tty {
		b.draw("purge: counting the rows to delete...")
		return
	}
	fmt.Fprintln(b.w, "purge: counting the rows to delete")
}

// update is the purge's Progress.
func (b *purgeBar) update(r store.PurgeResult) {
	b.done = r.Total()
	if now := b.now(); b.drawn.IsZero() || now.Sub(b.drawn) >= b.every {
		b.line(now)
	}
}

func (b *purgeBar) line(now time.Time) {
	b.drawn, b.drawnDone = now, b.done
	took := now.Sub(b.began).Round(100 * time.Millisecond)
	if b.total < 0 {
		b.draw(fmt.Sprintf("purging: %d rows deleted, %s", b.done, took))
		return
	}
	total := max(b.total, b.done) // rows that grew old since the count
	pct := 100
	if total > 0 {
		pct = b.done * 100 / total
	}
	if !b.tty {
		b.draw(fmt.Sprintf("purging: %d/%d rows (%d%%), %s", b.done, total, pct, took))
		return
	}
	const width = 30
	fill := width
	if total > 0 {
		fill = b.done * width / total
	}
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill > 0 && fill < width {
		bar = bar[:fill-1] + ">" + bar[fill:]
	}
	b.draw(fmt.Sprintf("purging [%s] %d/%d rows %3d%% %s", bar, b.done, total, pct, took))
}

// draw writes one line: in place on a terminal, else on a line of its own.
func (b *purgeBar) draw(s string) {
	if !b.tty {
		fmt.Fprintln(b.w, s)
		return
	}
	pad := max(b.lineLength-len(s), 0)
	fmt.Fprintf(b.w, "\r%s%s", s, strings.Repeat(" ", pad))
	b.lineLength = len(s)
}

// finish draws the last state (a plain line only if it was not drawn) and
// clears the bar from a terminal.
func (b *purgeBar) finish() {
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", b.lineLength))
		return
	}
	if b.drawn.IsZero() || b.drawnDone != b.done {
		b.line(b.now())
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
