package monitor

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// pages renders the dashboard: server-side HTML from html/template, with
// one small script (static/app.js) for the live events and confirmations.
// No build step: the files in templates/ and static/ are what is served.
type pages struct {
	s     *server
	tmpl  map[string]*template.Template
	files http.Handler
}

func newPages(s *server) (*pages, error) {
	p := &pages{s: s, tmpl: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"time":     fmtTime,
		"ago":      func(t Time) string { return ago(time.Time(t), s.cfg.Now()) },
		"ms":       fmtMS,
		"pct":      func(f *float64) string { return fmtPct(f) },
		"short":    func(id string) string { return shortID(id) },
		"lower":    strings.ToLower,
		"prefix":   func() string { return s.cfg.Prefix },
		"statuses": func() []store.Status { return store.Statuses },
		"q":        url.QueryEscape,
		"set":      func(t Time) bool { return !time.Time(t).IsZero() },
		"waiting": func(c map[string]int) int {
			return c["WaitingQueue"] + c["Queued"] + c["Pending"] + c["ServiceStopped"]
		},
		"kindsH": func(n int) int { return n*22 + 4 },
		"rowY":   func(i, off int) int { return i*22 + off },
		"barW":   func(pct int) int { return pct * 160 / 100 },
		"barX":   func(okPct int) int { return 150 + okPct*160/100 },
		"barEnd": func(ok, bad int) int { return 150 + (ok+bad)*160/100 + 6 },
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse dashboard template %s: %w", n, err)
		}
		p.tmpl[base] = t
	}
	sub, _ := fs.Sub(assets, "static")
	p.files = http.StripPrefix("/static/", http.FileServerFS(sub))
	return p, nil
}

// view is what every page template receives.
type view struct {
	Title    string
	Nav      string
	User     string
	CSRF     string
	ReadOnly bool
	Login    bool // built-in login: show the logout button
	Flash    string
	Error    string
	Data     any
}

func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	pr := principalOf(r)
	v.User, v.ReadOnly, v.Login = pr.user, p.s.cfg.ReadOnly, p.s.useLogin
	if pr.sid != "" {
		v.CSRF = p.s.sess.csrfToken(pr.sid)
	}
	if v.Flash == "" {
		v.Flash = r.URL.Query().Get("done")
		if len(v.Flash) > 100 {
			v.Flash = ""
		}
	}
	var buf bytes.Buffer
	if err := p.tmpl[name].Execute(&buf, v); err != nil {
		p.s.cfg.Logger.Error("monitor: render page", "page", name, "err", err)
		http.Error(w, "internal error (logged on the server)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// failPage shows an error in the page layout, with the status the API
// would answer.
func (p *pages) failPage(w http.ResponseWriter, r *http.Request, err error) {
	rec := &statusRecorder{header: http.Header{}}
	p.s.fail(rec, r, err)
	msg := strings.TrimSpace(rec.body.String())
	if i := strings.Index(msg, `"error":"`); i >= 0 {
		msg = strings.TrimSuffix(msg[i+len(`"error":"`):], `"}`)
	}
	if rec.status == 0 {
		return // the client is gone
	}
	p.render(w, r, rec.status, "error", view{Title: http.StatusText(rec.status), Error: msg})
}

type statusRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return s.body.Write(b) }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

func (p *pages) static(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	p.files.ServeHTTP(w, r)
}

func (p *pages) notFound(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusNotFound, "error", view{Title: "Not found", Error: "There is no page at " + r.URL.Path + "."})
}

func (p *pages) login(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, p.s.cfg.Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = p.s.cfg.Prefix + "/" // only our own pages: no open redirect
	}
	data := map[string]string{"Next": next}
	switch r.Method {
	case http.MethodGet:
		p.render(w, r, http.StatusOK, "login", view{Title: "Sign in", Data: data})
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		user, pw := r.PostFormValue("user"), r.PostFormValue("password")
		if next2 := r.PostFormValue("next"); strings.HasPrefix(next2, p.s.cfg.Prefix+"/") && !strings.HasPrefix(next2, "//") && !strings.Contains(next2, "\\") {
			next = next2
		}
		data["Next"], data["User"] = next, user
		if code, msg := p.s.login(w, r, user, pw); code != http.StatusOK {
			p.render(w, r, code, "login", view{Title: "Sign in", Error: msg, Data: data})
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// overviewData is the overview page.
type overviewData struct {
	*OverviewJSON
	Throughput chart
	Success    chart
	KindBars   []kindBar
	Hours      int
}

func (p *pages) overview(w http.ResponseWriter, r *http.Request) {
	hours, err := windowQuery(r.URL.Query())
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	ov, err := p.s.overview(r.Context(), hours)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	d := overviewData{OverviewJSON: ov, Throughput: throughputChart(ov.Series), Success: successChart(ov.Series), KindBars: kindBars(ov.Kinds, 8), Hours: hours}
	p.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: d})
}

type tasksData struct {
	Page    TaskPageJSON
	Form    url.Values
	NextURL string
	Status  map[string]bool
	// Continued is set on a page after the first (an after cursor).
	Continued bool
}

func (p *pages) tasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q { // an empty form field is no filter
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
		}
	}
	// The form sends one status per checkbox; the API takes a list.
	if sts := q["status"]; len(sts) > 1 {
		q.Set("status", strings.Join(sts, ","))
	}
	f, err := taskQuery(q)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	page, err := p.s.listTasks(r.Context(), f)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	d := tasksData{Page: page, Form: q, Status: map[string]bool{}, Continued: !f.After.IsZero()}
	for _, st := range f.Statuses {
		d.Status[string(st)] = true
	}
	if page.Next != nil {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("after", *page.Next)
		d.NextURL = p.s.cfg.Prefix + "/tasks?" + nq.Encode()
	}
	p.render(w, r, http.StatusOK, "tasks", view{Title: "Tasks", Nav: "tasks", Data: d})
}

type taskData struct {
	*TaskDetailJSON
	Payload   string
	Level     string
	LogPage   LogPageJSON
	NextLogs  string
	PrevLogs  string
	LogLevels []string
}

func (p *pages) task(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	q := r.URL.Query()
	lq := url.Values{}
	for k, v := range q {
		switch k {
		case "level", "offset":
			if v[0] != "" {
				lq[k] = v
			}
		case "done":
		default:
			p.failPage(w, r, badParam(k, "unknown parameter"))
			return
		}
	}
	logq, err := logQuery(lq, id)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	d, err := p.s.taskDetail(r.Context(), id, false)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	lp, err := p.s.st.LogsPage(r.Context(), logq)
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	td := taskData{TaskDetailJSON: d, Level: logq.Level, LogLevels: []string{"Trace", "Debug", "Information", "Warning", "Error", "Critical"},
		LogPage: LogPageJSON{Logs: logsJSON(lp.Logs), Total: lp.Total, Offset: logq.Offset, Limit: logq.Limit}}
	td.Payload = prettyPayload(d.Payload, d.PayloadTruncated)
	base := p.s.cfg.Prefix + "/tasks/" + id.String() + "?level=" + url.QueryEscape(logq.Level)
	if logq.Offset+logq.Limit < lp.Total {
		td.NextLogs = fmt.Sprintf("%s&offset=%d#logs", base, logq.Offset+logq.Limit)
	}
	if logq.Offset > 0 {
		td.PrevLogs = fmt.Sprintf("%s&offset=%d#logs", base, max(logq.Offset-logq.Limit, 0))
	}
	p.render(w, r, http.StatusOK, "task", view{Title: "Task " + shortID(d.ID), Nav: "tasks", Data: td})
}

func (p *pages) queues(w http.ResponseWriter, r *http.Request) {
	qs, err := p.s.queues(r.Context())
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	_, pausable := p.s.st.(store.QueuePauser)
	data := map[string]any{"Queues": qs, "Pausable": pausable && p.s.cfg.Actions != nil}
	p.render(w, r, http.StatusOK, "queues", view{Title: "Queues", Nav: "queues", Data: data})
}

func (p *pages) nodes(w http.ResponseWriter, r *http.Request) {
	n, err := p.s.nodes(r.Context())
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "nodes", view{Title: "Nodes", Nav: "nodes", Data: n})
}

func (p *pages) events(w http.ResponseWriter, r *http.Request) {
	_, notifier := p.s.st.(store.Notifier)
	source := "none"
	switch {
	case p.s.cfg.Events != nil:
		source = "engine"
	case notifier:
		source = "notices"
	}
	p.render(w, r, http.StatusOK, "events", view{Title: "Live events", Nav: "events", Data: map[string]string{"Source": source}})
}

// taskAction is the dashboard's form post: run the action, then go back to
// the task (or to the list after a delete) with a message.
func (p *pages) taskAction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	action := r.PathValue("action")
	if err == nil {
		err = p.s.doTaskAction(r.Context(), id, action)
	}
	if errors.Is(err, errNoActions) {
		p.render(w, r, http.StatusNotImplemented, "error", view{Title: "Not available", Error: err.Error()})
		return
	}
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	done := map[string]string{"cancel": "Cancelled.", "retry": "Queued for a retry.", "run": "Queued to run now.", "delete": "Deleted."}[action]
	target := p.s.cfg.Prefix + "/tasks/" + id.String()
	if action == "delete" {
		target = p.s.cfg.Prefix + "/tasks"
	}
	http.Redirect(w, r, target+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (p *pages) queueAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	err := p.s.doQueueAction(r.Context(), name, action)
	if errors.Is(err, errNoActions) {
		p.render(w, r, http.StatusNotImplemented, "error", view{Title: "Not available", Error: err.Error()})
		return
	}
	if err != nil {
		p.failPage(w, r, err)
		return
	}
	verb := map[string]string{"pause": "paused", "resume": "resumed"}[action]
	http.Redirect(w, r, p.s.cfg.Prefix+"/queues?done="+url.QueryEscape("Queue "+name+" "+verb+"."), http.StatusSeeOther)
}

// Formatting helpers of the templates.

func fmtTime(t Time) string {
	tt := time.Time(t)
	if tt.IsZero() {
		return "—"
	}
	return tt.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds%s", int(d/time.Second), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%dm%s", int(d/time.Minute), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%s", int(d/time.Hour), suffix)
	}
	return fmt.Sprintf("%dd%s", int(d/(24*time.Hour)), suffix)
}

func fmtMS(v any) string {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case *float64:
		if x == nil {
			return "—"
		}
		f = *x
	}
	switch {
	case f == 0:
		return "0 ms"
	case f < 1:
		return fmt.Sprintf("%.0f µs", f*1000)
	case f < 1000:
		return fmt.Sprintf("%.1f ms", f)
	case f < 60_000:
		return fmt.Sprintf("%.2f s", f/1000)
	}
	return (time.Duration(f) * time.Millisecond).Round(time.Second).String()
}

func fmtPct(f *float64) string {
	if f == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", *f*100)
}

// shortID is the last 8 digits of an id: the first ones of a UUIDv7 are
// its time, the same for every task of a second. Package inspect (and so the
// CLI) finds a task by this suffix.
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func prettyPayload(raw []byte, truncated bool) string {
	if truncated {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s + " …"
		}
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// chart is an inline SVG chart laid out on the server.
type chart struct {
	W, H     int
	Bars     []bar
	Points   string // polyline points
	Dots     []dot
	Labels   []label
	Max      string
	Empty    bool
	Baseline int
}

type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

type dot struct {
	X, Y  float64
	Title string
}

type label struct {
	X, Y int
	Text string
}

const chartW, chartH, chartPad = 720, 180, 24

func throughputChart(series []BucketJSON) chart {
	c := chart{W: chartW, H: chartH + chartPad, Baseline: chartH}
	peak := 0
	for _, b := range series {
		peak = max(peak, b.Completed+b.Failed)
	}
	c.Empty = peak == 0
	if len(series) == 0 {
		return c
	}
	scale := float64(chartH-10) / float64(max(peak, 1))
	slot := chartW / len(series)
	for i, b := range series {
		x := i*slot + 2
		hc := int(math.Round(float64(b.Completed) * scale))
		hf := int(math.Round(float64(b.Failed) * scale))
		at := time.Time(b.Start).UTC().Format("15:04")
		if hc > 0 {
			c.Bars = append(c.Bars, bar{X: x, Y: chartH - hc, W: slot - 4, H: hc, Class: "ok", Title: fmt.Sprintf("%s UTC: %d completed", at, b.Completed)})
		}
		if hf > 0 {
			c.Bars = append(c.Bars, bar{X: x, Y: chartH - hc - hf, W: slot - 4, H: hf, Class: "bad", Title: fmt.Sprintf("%s UTC: %d failed", at, b.Failed)})
		}
		if i%4 == 0 {
			c.Labels = append(c.Labels, label{X: x, Y: chartH + 16, Text: at})
		}
	}
	c.Max = fmt.Sprintf("peak %d per hour", peak)
	return c
}

func successChart(series []BucketJSON) chart {
	const w, h = chartW / 2, chartH / 2
	c := chart{W: w, H: h + chartPad, Baseline: h}
	if len(series) == 0 {
		c.Empty = true
		return c
	}
	const gutter = 36 // room for the axis labels on the left
	slot := float64(w-gutter) / float64(len(series))
	var pts []string
	for i, b := range series {
		at := time.Time(b.Start).UTC().Format("15:04")
		if i%6 == 0 {
			c.Labels = append(c.Labels, label{X: gutter + int(float64(i)*slot), Y: h + 16, Text: at})
		}
		n := b.Completed + b.Failed
		if n == 0 {
			continue
		}
		rate := float64(b.Completed) / float64(n)
		x := gutter + float64(i)*slot + slot/2
		y := 6 + (1-rate)*float64(h-12)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		c.Dots = append(c.Dots, dot{X: x, Y: y, Title: fmt.Sprintf("%s UTC: %.1f%% of %d", at, rate*100, n)})
	}
	c.Points = strings.Join(pts, " ")
	c.Empty = len(pts) == 0
	c.Max = "100%"
	return c
}

type kindBar struct {
	Kind              string
	Completed, Failed int
	OKW, BadW         int // widths in percent of the widest kind
}

func kindBars(kinds []KindJSON, n int) []kindBar {
	if len(kinds) > n {
		kinds = kinds[:n]
	}
	peak := 0
	for _, k := range kinds {
		peak = max(peak, k.Completed+k.Failed)
	}
	out := make([]kindBar, 0, len(kinds))
	for _, k := range kinds {
		b := kindBar{Kind: k.Kind, Completed: k.Completed, Failed: k.Failed}
		if peak > 0 {
			b.OKW = k.Completed * 100 / peak
			b.BadW = k.Failed * 100 / peak
		}
		out = append(out, b)
	}
	return out
}
