package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
)

const purgeSynopsis = `purge [store flags] [--completed 7d] [--failed 30d] [--audits 30d] [--error-audits 90d] [--logs 7d] [--batch 100] [--progress] [--json]`

func runPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("purge", purgeSynopsis, stderr)
	var sf storeFlags
	sf.add(fs)
	completed := fs.String("completed", "", "delete Completed one-shot tasks that finished longer ago than this (e.g. 7d, 12h), with their history")
	failed := fs.String("failed", "", "delete Failed and Cancelled one-shot tasks older than this, with their history")
	audits := fs.String("audits", "", "delete status and runs audit rows older than this")
	errAudits := fs.String("error-audits", "", "keep audit rows that carry an error this long instead (default: as --audits)")
	logs := fs.String("logs", "", "delete execution logs older than this")
	batch := fs.Int("batch", store.DefaultPurgeBatch, "rows per delete statement")
	progress := fs.Bool("progress", isTerminal(stderr), "show progress on stderr (default: when stderr is a terminal)")
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
		{"--audits", *audits, &p.StatusAuditAge}, {"--error-audits", *errAudits, &p.ErrorAuditAge}, {"--logs", *logs, &p.LogAge}} {
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
	if p.CompletedTaskAge == 0 && p.FailedTaskAge == 0 && p.StatusAuditAge == 0 && p.ErrorAuditAge == 0 && p.LogAge == 0 {
		return usageErr("say what to purge: at least one of --completed, --failed, --audits, --error-audits, --logs")
	}
	if *batch < 1 {
		return usageErr("--batch must be at least 1, got %d", *batch)
	}
	p.BatchSize = *batch

	in, done, err := sf.inspector(ctx)
	if err != nil {
		return err
	}
	defer done()
	began := time.Now()
	stop := func() {}
	if *progress {
		stop = showProgress(stderr, "purging")
	}
	res, err := in.Purge(ctx, p)
	stop()
	if err != nil {
		return err
	}
	took := time.Since(began)
	if *asJSON {
		return writeJSON(stdout, map[string]any{
			"tasks": res.Tasks, "status_audits": res.StatusAudits, "runs_audits": res.RunsAudits,
			"attempts": res.Attempts, "logs": res.Logs, "seconds": took.Seconds(),
		})
	}
	fmt.Fprintf(stdout, "purged %d tasks, %d status audits, %d runs audits, %d attempts and %d logs in %s\n",
		res.Tasks, res.StatusAudits, res.RunsAudits, res.Attempts, res.Logs, took.Round(time.Millisecond))
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

// showProgress draws an activity bar with the elapsed time on w until the
// returned function is called, which clears it. The stores purge in
// batches inside one call and report only the totals, so the bar shows
// that work goes on, not a fraction done.
func showProgress(w io.Writer, what string) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		began := time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		const width = 20
		for i := 0; ; i++ {
			pos := i % (2 * (width - 3))
			if pos >= width-3 {
				pos = 2*(width-3) - pos
			}
			bar := strings.Repeat(" ", pos) + "===" + strings.Repeat(" ", width-3-pos)
			fmt.Fprintf(w, "\r%s [%s] %s", what, bar, time.Since(began).Round(100*time.Millisecond))
			select {
			case <-done:
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", len(what)+width+16))
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
