package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/sqlitestore"
)

// The tasks of the demo the browser looks at.
type sendEmail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

func (sendEmail) Kind() string { return "email.send" }

type buildReport struct {
	Month string `json:"month"`
}

func (buildReport) Kind() string { return "report.build" }

type resizeImage struct {
	Path  string `json:"path"`
	Width int    `json:"width"`
}

func (resizeImage) Kind() string { return "image.resize" }

// chromiumPath finds Debian's chromium, or skips (fails when services are
// required: CI installs it).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("EVERTASK_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal("no chromium on PATH (apt-get install -y chromium); EVERTASK_TEST_REQUIRE_SERVICES=1 requires it")
	}
	t.Skip("no chromium on PATH: the browser test needs Debian's chromium (apt-get install -y chromium)")
	return ""
}

// TestDashboardInABrowser drives the real dashboard in headless Chromium:
// log in, filter tasks, open a failed task and read its attempts and logs,
// retry it and see it complete, pause and resume a queue, see a live event
// arrive. With EVERTASK_UPDATE_SCREENSHOTS=1 it saves the pages to
// docs/img/ (else to a temporary directory).
func TestDashboardInABrowser(t *testing.T) {
	chrome := chromiumPath(t)
	shots := t.TempDir()
	if os.Getenv("EVERTASK_UPDATE_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "docs", "img")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "evertask.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	eng, err := evertask.New(st, &evertask.Config{Logger: quiet, LogCapture: evertask.LogCaptureConfig{Enabled: true},
		Queues: []evertask.QueueConfig{{Name: "mail", Workers: 2}, {Name: "images", Workers: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	var reportsFail atomic.Bool
	reportsFail.Store(true)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(evertask.Register[sendEmail](eng, evertask.HandlerFunc[sendEmail](func(ctx context.Context, m sendEmail) error {
		evertask.Logger(ctx).Info("sending", "to", m.To)
		return nil
	}), &evertask.HandlerOpts{Queue: "mail"}))
	must(evertask.Register[buildReport](eng, evertask.HandlerFunc[buildReport](func(ctx context.Context, r buildReport) error {
		evertask.Logger(ctx).Info("building report", "month", r.Month)
		if reportsFail.Load() {
			evertask.Logger(ctx).Error("warehouse query failed", "attempt", evertask.Attempt(ctx))
			return errors.New("warehouse: connection refused")
		}
		evertask.Logger(ctx).Info("report stored")
		return nil
	}), &evertask.HandlerOpts{Retry: evertask.Linear(2, 5*time.Millisecond)}))
	must(evertask.Register[resizeImage](eng, evertask.HandlerFunc[resizeImage](func(ctx context.Context, r resizeImage) error {
		return nil
	}), &evertask.HandlerOpts{Queue: "images"}))
	// A day of history, so the charts have something to show: finished
	// rows spread over the last 24 hours, busier in the afternoon, with a
	// few failures (none of report.build, which the test filters on).
	var history []*store.Task
	now := time.Now().UTC()
	for i := range 600 {
		ago := time.Duration(i) * 24 * time.Hour / 600
		hour := now.Add(-ago).Hour()
		if (hour < 8 || hour > 20) && i%3 != 0 {
			continue
		}
		kind, queue := "email.send", "mail"
		switch {
		case i%5 == 1:
			kind, queue = "image.resize", "images"
		case i%11 == 2:
			kind, queue = "invoice.render", "default"
		}
		id, _ := uuid.NewV7()
		row := &store.Task{ID: id, CreatedAt: now.Add(-ago - time.Second), Kind: kind, Queue: queue, Handler: kind,
			Payload: []byte(`{"seed":true}`), Status: store.StatusCompleted, LastExecutionAt: now.Add(-ago),
			ExecutionTime: time.Duration(20+i%40) * time.Millisecond}
		if i%17 == 3 || (hour == 14 && i%4 == 0) {
			row.Status, row.Error = store.StatusFailed, "smtp: 421 try again later"
		}
		history = append(history, row)
	}
	must(store.PersistMany(ctx, st, history))
	must(eng.Start(ctx))
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })

	for i := range 24 {
		_, err := eng.Dispatch(ctx, sendEmail{To: fmt.Sprintf("user%d@example.com", i), Subject: "Welcome"}, nil)
		must(err)
		if i%3 == 0 {
			_, err = eng.Dispatch(ctx, resizeImage{Path: fmt.Sprintf("/img/%d.png", i), Width: 640}, nil)
			must(err)
		}
	}
	failedID, err := eng.Dispatch(ctx, buildReport{Month: "2026-11"}, nil)
	must(err)
	task, err := eng.Wait(ctx, failedID)
	if err != nil || task.Status != store.StatusFailed {
		t.Fatalf("the report: %v, %v; want Failed", task, err)
	}

	h, err := monitor.New(&monitor.Config{Store: st, Prefix: "/ops", Events: eng, Users: map[string]string{testUser: testPassword}, Logger: quiet})
	must(err)
	mux := http.NewServeMux()
	mux.Handle("/ops/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL + "/ops"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	defer cancelT()
	// The dashboard asks before pausing a queue: accept.
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	// waitURL waits for the page at a URL containing part, loaded.
	waitURL := func(part string) {
		t.Helper()
		js := fmt.Sprintf("location.href.includes(%q) && document.readyState === 'complete'", part)
		deadline := time.Now().Add(20 * time.Second)
		for {
			// Evaluate fails while the page navigates: ask again.
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](js))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("wait for a page at %s: %v", part, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		must(os.WriteFile(filepath.Join(shots, name), buf, 0o644))
	}

	// Log in: the first page sends us to the form.
	do("open the login page",
		chromedp.Navigate(base+"/tasks"),
		chromedp.WaitVisible(chromedp.ID("signin")),
	)
	shot("login.png")
	do("wrong password",
		chromedp.SendKeys(chromedp.ID("user"), testUser),
		chromedp.SendKeys(chromedp.ID("password"), "nope"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("error")),
	)
	if got := text("#error"); !strings.Contains(got, "wrong user name or password") {
		t.Fatalf("a wrong password shows %q", got)
	}
	do("log in",
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("task-table")), // back where we wanted to go
	)

	// Filter the tasks: the failed reports.
	do("filter failed tasks",
		chromedp.Click(chromedp.CSS(`input[name=status][value=Failed]`)),
		chromedp.SendKeys(chromedp.ID("f-kind"), "report.build"),
		chromedp.Click(chromedp.ID("apply")),
	)
	waitURL("kind=report.build")
	statuses, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#task-table tbody .st")].map(e => e.textContent)`))
	must(err)
	if len(statuses) != 1 || statuses[0] != "Failed" {
		t.Fatalf("the filter Failed report.build shows %v, want the one failed report", statuses)
	}
	shot("tasks.png")

	// Open it: attempts and logs.
	do("open the failed task",
		chromedp.Click(chromedp.CSS(`#task-table tbody a.mono`)),
		chromedp.WaitVisible(chromedp.ID("attempts")),
	)
	if got := text("#attempts"); strings.Count(got, "warehouse: connection refused") != 3 {
		t.Errorf("the attempts panel shows %q, want three failed attempts", got)
	}
	if got := text("#logs"); !strings.Contains(got, "warehouse query failed") || !strings.Contains(got, "building report") {
		t.Errorf("the logs panel shows %q", got)
	}
	shot("task-failed.png")
	do("filter the logs by level",
		chromedp.SetValue(chromedp.ID("log-level"), "Error"),
		chromedp.Click(chromedp.ID("log-filter")),
	)
	waitURL("level=Error")
	if got := text("#logs"); strings.Contains(got, "building report") || !strings.Contains(got, "warehouse query failed") {
		t.Errorf("logs filtered to Error show %q", got)
	}

	// Retry it and see it complete.
	reportsFail.Store(false)
	do("retry", chromedp.Click(chromedp.ID("act-retry")), chromedp.WaitVisible(chromedp.ID("flash")))
	if _, err := eng.Wait(ctx, failedID); err != nil {
		t.Fatal(err)
	}
	do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("status")))
	if got := text("#status"); got != "Completed" {
		t.Fatalf("after the retry the page shows %q, want Completed", got)
	}
	shot("task.png")

	// Pause and resume a queue (the page asks for a confirmation first).
	do("pause the mail queue",
		chromedp.Navigate(base+"/queues"),
		chromedp.Click(chromedp.ID("pause-mail")),
		chromedp.WaitVisible(chromedp.ID("resume-mail")),
	)
	if got := text("#queue-mail"); !strings.Contains(got, "paused") {
		t.Errorf("the paused queue's row shows %q", got)
	}
	if paused, err := st.PausedQueues(ctx); err != nil || len(paused) != 1 || paused[0].Queue != "mail" {
		t.Fatalf("the store's pauses after the click: %v, %v", paused, err)
	}
	shot("queues.png")
	do("resume it",
		chromedp.Click(chromedp.ID("resume-mail")),
		chromedp.WaitVisible(chromedp.ID("pause-mail")),
	)
	if paused, err := st.PausedQueues(ctx); err != nil || len(paused) != 0 {
		t.Fatalf("the store's pauses after resume: %v, %v", paused, err)
	}

	// A live event arrives.
	do("open the live events",
		chromedp.Navigate(base+"/events"),
		chromedp.WaitVisible(chromedp.CSS(`#live-state.okb`)),
	)
	id, err := eng.Dispatch(ctx, sendEmail{To: "live@example.com", Subject: "Live"}, nil)
	must(err)
	do("see the event", chromedp.WaitVisible(chromedp.CSS(`#event-rows tr.ev-completed`)))
	if got := text("#event-rows"); !strings.Contains(got, id.String()[28:]) || !strings.Contains(got, "email.send") {
		t.Errorf("the events table shows %q, want the completion of %s", got, id)
	}
	shot("events.png")

	do("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	shot("overview.png")
	do("nodes", chromedp.Navigate(base+"/nodes"), chromedp.WaitVisible(chromedp.ID("node-table")))
	shot("nodes.png")
	t.Logf("screenshots in %s", shots)
}
