package monitor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

type taskPage struct {
	Tasks []struct {
		ID        string  `json:"id"`
		Kind      string  `json:"kind"`
		Queue     string  `json:"queue"`
		Status    string  `json:"status"`
		CreatedAt *string `json:"created_at"`
		NextRunAt *string `json:"next_run_at"`
	} `json:"tasks"`
	Next  *string `json:"next"`
	Limit int     `json:"limit"`
}

func TestListFiltersSortsAndPages(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens = true, nil, nil })
	rows := b.seed(t, 30)

	var p taskPage
	b.getJSON(t, "/api/tasks?limit=7", 200, &p)
	if len(p.Tasks) != 7 || p.Next == nil || p.Limit != 7 || p.Tasks[0].ID != rows[29].ID.String() {
		t.Fatalf("first page: %d tasks, next %v, first %v", len(p.Tasks), p.Next, p.Tasks[0].ID)
	}
	// Walk every page: each row once, newest first.
	seen := map[string]bool{}
	next := ""
	for pages := 0; ; pages++ {
		q := "/api/tasks?limit=7"
		if next != "" {
			q += "&after=" + url.QueryEscape(next)
		}
		var pg taskPage
		b.getJSON(t, q, 200, &pg)
		for _, tk := range pg.Tasks {
			if seen[tk.ID] {
				t.Fatalf("row %s on two pages", tk.ID)
			}
			seen[tk.ID] = true
		}
		if pg.Next == nil {
			break
		}
		next = *pg.Next
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 30 {
		t.Fatalf("pages held %d rows, want 30", len(seen))
	}

	b.getJSON(t, "/api/tasks?sort=oldest&limit=1", 200, &p)
	if p.Tasks[0].ID != rows[0].ID.String() {
		t.Errorf("oldest first starts with %s, want %s", p.Tasks[0].ID, rows[0].ID)
	}
	b.getJSON(t, "/api/tasks?status=failed,Cancelled&queue=mail&limit=100", 200, &p)
	for _, tk := range p.Tasks {
		if tk.Status != "Failed" || tk.Queue != "mail" {
			t.Errorf("filter status=Failed queue=mail returned %+v", tk)
		}
	}
	// Failed is i%4==1, mail is i%2==1: i = 1, 5, 9, ... 29.
	if len(p.Tasks) != 8 {
		t.Errorf("failed in mail: %d rows, want 8", len(p.Tasks))
	}
	b.getJSON(t, "/api/tasks?kind=b&limit=100", 200, &p)
	if len(p.Tasks) != 10 {
		t.Errorf("kind=b: %d rows, want 10", len(p.Tasks))
	}
	from := rows[20].CreatedAt.Format(time.RFC3339Nano)
	b.getJSON(t, "/api/tasks?created_from="+url.QueryEscape(from)+"&limit=100", 200, &p)
	if len(p.Tasks) != 10 {
		t.Errorf("created_from: %d rows, want 10", len(p.Tasks))
	}
	b.getJSON(t, "/api/tasks?recurring=true", 200, &p)
	if len(p.Tasks) != 0 {
		t.Errorf("recurring=true: %d rows", len(p.Tasks))
	}
	// The page size is capped, and the answer says at what.
	b.getJSON(t, "/api/tasks?limit=100000", 200, &p)
	if p.Limit != monitor.MaxPageSize {
		t.Errorf("limit=100000 answered with limit %d, want the cap %d", p.Limit, monitor.MaxPageSize)
	}
	if p.Tasks[0].CreatedAt == nil || !strings.HasSuffix(*p.Tasks[0].CreatedAt, "Z") || p.Tasks[0].NextRunAt != nil {
		t.Errorf("times: created_at %v (want RFC 3339 UTC), next_run_at %v (want null)", p.Tasks[0].CreatedAt, p.Tasks[0].NextRunAt)
	}
}

func TestBadParametersAre400NamingThem(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens = true, nil, nil })
	id := b.seed(t, 1)[0].ID.String()
	for path, param := range map[string]string{
		"/api/tasks?status=Nope":                        "status",
		"/api/tasks?limit=abc":                          "limit",
		"/api/tasks?limit=0":                            "limit",
		"/api/tasks?limit=-5":                           "limit",
		"/api/tasks?limit=99999999999999999999":         "limit",
		"/api/tasks?after=zzz":                          "after",
		"/api/tasks?after=" + strings.Repeat("A", 30):   "after",
		"/api/tasks?recurring=maybe":                    "recurring",
		"/api/tasks?created_from=yesterday":             "created_from",
		"/api/tasks?created_before=2026-13-01":          "created_before",
		"/api/tasks?sort=sideways":                      "sort",
		"/api/tasks?colour=red":                         "colour",
		"/api/tasks?queue=a&queue=b":                    "queue",
		"/api/tasks?search=" + strings.Repeat("x", 600): "search",
		"/api/tasks/not-a-uuid":                         "id",
		"/api/tasks/" + id + "?payload=half":            "payload",
		"/api/tasks/" + id + "/logs?offset=-1":          "offset",
		"/api/tasks/" + id + "/logs?limit=5000":         "limit",
		"/api/tasks/" + id + "/logs?lvl=Error":          "lvl",
		"/api/overview?hours=0":                         "hours",
		"/api/overview?hours=1000":                      "hours",
		"/api/counts?x=1":                               "x",
	} {
		t.Run(path[:min(len(path), 60)], func(t *testing.T) {
			wantError(t, b.do(t, "GET", path, "", nil), 400, "parameter "+param)
		})
	}
	wantError(t, b.do(t, "GET", "/api/tasks/0190a0b0-0000-7000-8000-000000000000", "", nil), 404, "not found")
	wantError(t, b.do(t, "GET", "/api/tasks/0190a0b0-0000-7000-8000-000000000000/logs", "", nil), 404, "not found")
	wantError(t, b.do(t, "GET", "/api/nothing", "", nil), 404, "no such endpoint")
	tok := b.csrf(t)
	wantError(t, b.do(t, "POST", "/api/tasks/"+id+"/explode", "", map[string]string{"X-CSRF-Token": tok}), 400, "parameter action")
	wantError(t, b.do(t, "POST", "/api/purge", `{"log_age":"forever"}`, map[string]string{"X-CSRF-Token": tok}), 400, "parameter log_age")
	wantError(t, b.do(t, "POST", "/api/purge", `{"log_age":"-1h"}`, map[string]string{"X-CSRF-Token": tok}), 400, "parameter log_age")
	wantError(t, b.do(t, "POST", "/api/purge", `{}`, map[string]string{"X-CSRF-Token": tok}), 400, "at least one age")
	wantError(t, b.do(t, "POST", "/api/purge", `{"logage":"1h"}`, map[string]string{"X-CSRF-Token": tok}), 400, "body")
}

func TestTaskDetail(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) {
		c.NoAuth, c.Users, c.Tokens = true, nil, nil
		c.PayloadLimit = 64
	})
	ctx := t.Context()
	rows := b.seed(t, 2)
	failed := rows[1]
	big := rows[0]
	big.Payload = []byte(`{"blob":"` + strings.Repeat("x", 500) + `"}`)
	if err := b.st.UpdateDefinition(ctx, big); err != nil {
		t.Fatal(err)
	}
	if err := b.st.SaveLogs(ctx, failed.ID, []store.ExecutionLog{
		{ID: failed.ID, TaskID: failed.ID, At: b.now, Level: "Information", Message: "starting", Seq: 0},
		{ID: failed.ID, TaskID: failed.ID, At: b.now, Level: "Error", Message: "it broke", ErrorDetails: "stack", Seq: 1},
		{ID: failed.ID, TaskID: failed.ID, At: b.now, Level: "Information", Message: "giving up", Seq: 2},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.Transition(ctx, store.TransitionParams{ID: failed.ID, To: store.StatusFailed, Now: b.now, Error: "boom 1"}); err != nil {
		t.Fatal(err)
	}
	var d struct {
		ID               string            `json:"id"`
		Status           string            `json:"status"`
		Error            string            `json:"error"`
		Payload          json.RawMessage   `json:"payload"`
		PayloadSize      int               `json:"payload_size"`
		PayloadTruncated bool              `json:"payload_truncated"`
		Attempts         []json.RawMessage `json:"attempts"`
		StatusHistory    []struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"status_history"`
		Logs      []struct{ Level, Message string } `json:"logs"`
		LogsTotal int                               `json:"logs_total"`
		Actions   map[string]bool                   `json:"actions"`
	}
	b.getJSON(t, "/api/tasks/"+failed.ID.String(), 200, &d)
	if d.Status != "Failed" || d.Error != "boom 1" || d.LogsTotal != 3 || len(d.Logs) != 3 || !d.Actions["retry"] || d.Actions["cancel"] {
		t.Errorf("detail of a failed task: %+v", d)
	}
	if len(d.StatusHistory) != 1 || d.StatusHistory[0].Status != "Failed" || d.StatusHistory[0].Error != "boom 1" {
		t.Errorf("status history %+v", d.StatusHistory)
	}
	if d.Attempts == nil {
		t.Error("attempts is null, want a list")
	}
	b.getJSON(t, "/api/tasks/"+big.ID.String(), 200, &d)
	if !d.PayloadTruncated || d.PayloadSize != len(big.Payload) || len(d.Payload) > 64+10 {
		t.Errorf("a big payload: truncated %v size %d shown %d bytes", d.PayloadTruncated, d.PayloadSize, len(d.Payload))
	}
	b.getJSON(t, "/api/tasks/"+big.ID.String()+"?payload=full", 200, &d)
	if d.PayloadTruncated || string(d.Payload) != string(big.Payload) {
		t.Errorf("payload=full gave %d bytes, truncated %v", len(d.Payload), d.PayloadTruncated)
	}
	resp := b.do(t, "GET", "/api/tasks/"+big.ID.String()+"/payload", "", nil)
	if got := body(resp); got != string(big.Payload) || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d bytes, %q", len(got), resp.Header.Get("Content-Disposition"))
	}
	var lp struct {
		Logs  []struct{ Level, Message string } `json:"logs"`
		Total int                               `json:"total"`
	}
	b.getJSON(t, "/api/tasks/"+failed.ID.String()+"/logs?level=error", 200, &lp)
	if lp.Total != 1 || len(lp.Logs) != 1 || lp.Logs[0].Message != "it broke" {
		t.Errorf("logs level=error: %+v", lp)
	}
	b.getJSON(t, "/api/tasks/"+failed.ID.String()+"/logs?offset=1&limit=1", 200, &lp)
	if lp.Total != 3 || len(lp.Logs) != 1 || lp.Logs[0].Message != "it broke" {
		t.Errorf("logs offset=1 limit=1: %+v", lp)
	}
}

func TestCountsOverviewQueuesNodes(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens = true, nil, nil })
	b.seed(t, 40) // one per minute: all in the last hour
	var c struct {
		Counts map[string]int `json:"counts"`
		Total  int            `json:"total"`
	}
	b.getJSON(t, "/api/counts", 200, &c)
	if c.Total != 40 || c.Counts["Completed"] != 20 || c.Counts["Failed"] != 10 || c.Counts["Queued"] != 10 {
		t.Errorf("counts %+v", c)
	}
	var ov struct {
		Completed   int      `json:"completed"`
		Failed      int      `json:"failed"`
		SuccessRate *float64 `json:"success_rate"`
		AvgMS       *float64 `json:"average_execution_ms"`
		Series      []struct {
			Start     string `json:"start"`
			Completed int    `json:"completed"`
			Failed    int    `json:"failed"`
		} `json:"series"`
		Kinds []struct {
			Kind      string `json:"kind"`
			Completed int    `json:"completed"`
			Failed    int    `json:"failed"`
		} `json:"kinds"`
		Queues []struct {
			Name  string `json:"name"`
			Total int    `json:"total"`
		} `json:"queues"`
		Recent []json.RawMessage `json:"recent"`
	}
	b.getJSON(t, "/api/overview", 200, &ov)
	if ov.Completed != 20 || ov.Failed != 10 || ov.SuccessRate == nil || *ov.SuccessRate < 0.66 || *ov.SuccessRate > 0.67 {
		t.Errorf("overview totals: completed %d failed %d rate %v", ov.Completed, ov.Failed, ov.SuccessRate)
	}
	// Execution times are i+1 ms for the 30 finished rows i (i%4 != 2).
	want := 0.0
	for i := range 40 {
		if i%4 != 2 {
			want += float64(i + 1)
		}
	}
	if ov.AvgMS == nil || *ov.AvgMS != want/30 {
		t.Errorf("average %v, want %v", ov.AvgMS, want/30)
	}
	if len(ov.Series) != 24 || len(ov.Kinds) != 3 || len(ov.Queues) != 2 || len(ov.Recent) != 10 {
		t.Errorf("series %d kinds %d queues %d recent %d", len(ov.Series), len(ov.Kinds), len(ov.Queues), len(ov.Recent))
	}
	sum := 0
	for _, s := range ov.Series {
		sum += s.Completed + s.Failed
	}
	if sum != 30 {
		t.Errorf("the series sums to %d executions, want 30", sum)
	}
	var nodes struct {
		Cluster bool              `json:"cluster"`
		Nodes   []json.RawMessage `json:"nodes"`
	}
	b.getJSON(t, "/api/nodes", 200, &nodes)
	if !nodes.Cluster || nodes.Nodes == nil {
		t.Errorf("nodes of a memory store: %+v", nodes)
	}
}

func TestLiveEventsFromAnEngine(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	eng, err := evertask.New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	if err := evertask.Register[ping](eng, evertask.HandlerFunc[ping](func(ctx context.Context, p ping) error {
		ran <- struct{}{}
		return nil
	}), nil); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	h, err := monitor.New(&monitor.Config{Store: st, Events: eng, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() (string, string) {
		var typ, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			case line == "" && typ != "":
				return typ, data
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	if typ, data := next(); typ != "hello" || !strings.Contains(data, `"engine"`) {
		t.Fatalf("first message %s %s", typ, data)
	}
	id, err := eng.Dispatch(t.Context(), ping{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-ran
	for {
		typ, data := next()
		var e struct {
			Type   string `json:"type"`
			TaskID string `json:"task_id"`
			Kind   string `json:"kind"`
			At     string `json:"at"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatal(err)
		}
		if e.TaskID != id.String() || e.Type != typ || e.Kind != "test.ping" {
			t.Fatalf("event %s %s", typ, data)
		}
		if typ == "completed" {
			return
		}
	}
}

type ping struct{}

func (ping) Kind() string { return "test.ping" }

func TestEventsWithoutASource(t *testing.T) {
	t.Parallel()
	h, err := monitor.New(&monitor.Config{Store: coreStore{memstore.New()}, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/events", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "no live event source") {
		t.Fatalf("events without a source: %d %s", rec.Code, rec.Body)
	}
	// The other pages work on a store with only the core interface.
	for _, p := range []string{"/api/overview", "/api/queues", "/api/nodes", "/", "/tasks", "/queues", "/nodes", "/events"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Errorf("GET %s on a core-only store: %d %s", p, rec.Code, rec.Body)
		}
	}
}

// coreStore hides every optional capability of a store.
type coreStore struct{ store.Store }

func TestStoreFailuresAre503WithoutDetails(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	// No preload: a count cached before the store closed would be served
	// (stale while it revalidates), and this is about the first load.
	h, err := monitor.New(&monitor.Config{Store: st, NoAuth: true, NoPreload: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/tasks", "/api/overview", "/api/counts"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"error":"store unavailable"`) {
			t.Errorf("GET %s on a closed store: %d %s", p, rec.Code, rec.Body)
		}
	}
}

func TestActionsMapErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens = true, nil, nil })
	rows := b.seed(t, 4)
	tok := map[string]string{"X-CSRF-Token": b.csrf(t)}
	// Completed cannot be retried by recordingActions: 409.
	wantError(t, b.do(t, "POST", "/api/tasks/"+rows[0].ID.String()+"/retry", "", tok), 409, "not allowed")
	wantError(t, b.do(t, "POST", "/api/tasks/0190a0b0-0000-7000-8000-000000000000/retry", "", tok), 404, "not found")
	resp := b.do(t, "DELETE", "/api/tasks/"+rows[0].ID.String(), "", tok)
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body(resp))
	}
	resp.Body.Close()
	if _, err := b.st.Get(t.Context(), rows[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted row still there: %v", err)
	}
	var res map[string]int
	resp = b.do(t, "POST", "/api/purge", `{"completed_task_age":"720h"}`, tok)
	if err := jsonDecode(resp, &res); err != nil || res["tasks"] != 1 {
		t.Fatalf("purge: %v %v", res, err)
	}
}

// flakyTask's handler fails while fail is set, logging a line either way.
type flakyTask struct{}

func (flakyTask) Kind() string { return "test.flaky" }

func TestRetryThroughTheDefaultActionsCompletesTheTask(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	eng, err := evertask.New(st, &evertask.Config{LogCapture: evertask.LogCaptureConfig{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	fail.Store(true)
	if err := evertask.Register[flakyTask](eng, evertask.HandlerFunc[flakyTask](func(ctx context.Context, _ flakyTask) error {
		evertask.Logger(ctx).Info("working")
		if fail.Load() {
			return errors.New("downstream said no")
		}
		return nil
	}), &evertask.HandlerOpts{Retry: evertask.Linear(2, time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	h, err := monitor.New(&monitor.Config{Store: st, Events: eng, Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	id, err := eng.Dispatch(t.Context(), flakyTask{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	task, err := eng.Wait(t.Context(), id)
	if err != nil || task.Status != store.StatusFailed {
		t.Fatalf("Wait = %v, %v; want Failed", task, err)
	}
	call := func(method, path string) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = jsonDecode(resp, &m)
		return resp.StatusCode, m
	}
	code, d := call("GET", "/api/tasks/"+id.String())
	if code != 200 || len(d["attempts"].([]any)) != 3 || d["logs_total"].(float64) != 3 {
		t.Fatalf("detail of the failed task: %d attempts %v logs %v", code, d["attempts"], d["logs_total"])
	}
	if code, m := call("POST", "/api/tasks/"+id.String()+"/cancel"); code != 409 {
		t.Errorf("cancel of a Failed task: %d %v, want 409", code, m)
	}
	fail.Store(false)
	if code, m := call("POST", "/api/tasks/"+id.String()+"/retry"); code != 200 {
		t.Fatalf("retry: %d %v", code, m)
	}
	task, err = eng.Wait(t.Context(), id)
	if err != nil || task.Status != store.StatusCompleted {
		t.Fatalf("after the retry: %v, %v; want Completed", task, err)
	}
	if code, m := call("POST", "/api/queues/default/pause"); code != 200 {
		t.Fatalf("pause: %d %v", code, m)
	}
	code, q := call("GET", "/api/queues")
	paused := false
	for _, x := range q["queues"].([]any) {
		if m := x.(map[string]any); m["name"] == "default" {
			paused = m["paused"] == true
		}
	}
	if code != 200 || !paused {
		t.Fatalf("queues after pause: %v", q)
	}
	if code, m := call("POST", "/api/queues/default/resume"); code != 200 {
		t.Fatalf("resume: %d %v", code, m)
	}
}

func TestMetricsAndHealthAreMountedBehindAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) {
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("evertask_up 1\n")) })
		c.Health = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	})
	// /health without credentials is the verdict alone: see
	// TestHealthVerdictWithoutCredentials.
	for _, p := range []string{"/metrics"} {
		resp := b.do(t, "GET", p, "", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d", p, resp.StatusCode)
		}
	}
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	if got := body(b.do(t, "GET", "/metrics", "", bearer)); got != "evertask_up 1\n" {
		t.Errorf("/metrics = %q", got)
	}
	resp := b.do(t, "GET", "/health", "", bearer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/health = %d, want the health handler's 503", resp.StatusCode)
	}
	// Without them configured, they are not found.
	nb := setup(t, nil)
	resp = nb.do(t, "GET", "/metrics", "", bearer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without a handler: %d", resp.StatusCode)
	}
}

func TestAggregatesAreCachedAndRefreshedInTheBackground(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	start := time.Now().UTC()
	now.Store(start.UnixNano())
	b := setup(t, func(c *monitor.Config) {
		c.NoAuth, c.Users, c.Tokens = true, nil, nil
		c.CacheTTL = time.Minute
		c.Now = func() time.Time { return time.Unix(0, now.Load()).UTC() }
	})
	b.seed(t, 4)
	var c struct {
		Total      int    `json:"total"`
		ComputedAt string `json:"computed_at"`
	}
	b.getJSON(t, "/api/counts", 200, &c)
	first := c.ComputedAt
	if c.Total != 4 || first == "" {
		t.Fatalf("counts %+v", c)
	}
	b.seed(t, 2)
	b.getJSON(t, "/api/counts", 200, &c)
	if c.Total != 4 || c.ComputedAt != first {
		t.Fatalf("within the TTL: %+v, want the cached 4 of %s", c, first)
	}
	now.Add(int64(2 * time.Minute))
	b.getJSON(t, "/api/counts", 200, &c) // stale: served, and refreshed behind
	if c.Total != 4 {
		t.Fatalf("the stale answer: %+v", c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Total != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("the background refresh never landed: %+v", c)
		}
		time.Sleep(5 * time.Millisecond)
		b.getJSON(t, "/api/counts", 200, &c)
	}
	if c.ComputedAt == first {
		t.Errorf("the refreshed counts kept computed_at %s", first)
	}

	off := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens, c.CacheTTL = true, nil, nil, -1 })
	off.seed(t, 1)
	off.getJSON(t, "/api/counts", 200, &c)
	off.seed(t, 1)
	off.getJSON(t, "/api/counts", 200, &c)
	if c.Total != 2 {
		t.Errorf("with the cache off: %+v, want 2", c)
	}
}

func TestSearchStopsAtTheScanLimitAndContinues(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens, c.SearchScanLimit = true, nil, nil, 10 })
	b.seed(t, 30)
	// One match, older than the 30 others.
	id, _ := uuid.NewV7()
	needle := &store.Task{ID: id, CreatedAt: b.now.Add(-time.Hour), Kind: "invoice.Needle", Queue: "default",
		Payload: []byte(`{}`), Status: store.StatusQueued, Handler: "H"}
	if err := store.PersistMany(t.Context(), b.st, []*store.Task{needle}); err != nil {
		t.Fatal(err)
	}
	type page struct {
		taskPage
		ScanLimit   int  `json:"scan_limit"`
		ScanLimited bool `json:"scan_limited"`
	}
	var p page
	b.getJSON(t, "/api/tasks?search=needle", 200, &p)
	if len(p.Tasks) != 0 || p.Next == nil || !p.ScanLimited || p.ScanLimit != 10 {
		t.Fatalf("first page of a search bounded to 10 of 31 tasks: %d tasks, next %v, scan_limited %v, scan_limit %d; want none, a next, true, 10",
			len(p.Tasks), p.Next, p.ScanLimited, p.ScanLimit)
	}
	resp := b.do(t, "GET", "/tasks?search=needle", "", nil)
	html := body(resp)
	if !strings.Contains(html, `id="scan-limited"`) || !strings.Contains(html, "Search older tasks") || !strings.Contains(html, "after 10 tasks") {
		t.Errorf("the tasks page of a bounded search does not say it stopped after 10 tasks and offer older ones:\n%s", html)
	}
	var found []string
	pages := 1
	for p.Next != nil && pages < 10 {
		next := *p.Next
		p = page{}
		b.getJSON(t, "/api/tasks?search=needle&after="+url.QueryEscape(next), 200, &p)
		pages++
		for _, tk := range p.Tasks {
			found = append(found, tk.ID)
		}
	}
	if len(found) != 1 || found[0] != id.String() || pages != 4 {
		t.Errorf("paging on found %v in %d pages; want [%s] in 4 (31 tasks, 10 a page)", found, pages, id)
	}

	// The default bound is far above these 31 tasks: one page answers.
	d := setup(t, func(c *monitor.Config) { c.NoAuth, c.Users, c.Tokens = true, nil, nil })
	d.seed(t, 30)
	p = page{}
	d.getJSON(t, "/api/tasks?search=no-such-text", 200, &p)
	if len(p.Tasks) != 0 || p.Next != nil || p.ScanLimited || p.ScanLimit != monitor.DefaultSearchScanLimit {
		t.Errorf("default: %d tasks, next %v, scan_limited %v, scan_limit %d; want none, null, false, %d",
			len(p.Tasks), p.Next, p.ScanLimited, p.ScanLimit, monitor.DefaultSearchScanLimit)
	}
}

func TestHealthVerdictWithoutCredentials(t *testing.T) {
	t.Parallel()
	const secret = "dial tcp 10.9.8.7:5432: password authentication failed for user ops"
	var calls, up atomic.Int32
	report := func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Node", "node-7")
		if up.Load() == 1 {
			_, _ = w.Write([]byte(`{"status":"ok","nodes":[{"id":"node-7"}]}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","store":{"error":"` + secret + `"}}`))
	}
	b := setup(t, func(c *monitor.Config) { c.Health = http.HandlerFunc(report) })
	get := func(method, path string, hdr map[string]string) (int, string, http.Header) {
		resp := b.do(t, method, path, "", hdr)
		return resp.StatusCode, body(resp), resp.Header
	}
	// A probe without credentials, however dressed, gets the verdict alone.
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
	}{
		{"GET", "/health", nil},
		{"GET", "/health?verbose=1&full=true", nil},
		{"GET", "/health", map[string]string{"X-Forwarded-For": "127.0.0.1", "Accept": "text/html"}},
		{"GET", "/health", map[string]string{"X-Evertask-Csrf": "x", "Origin": "https://evil.example"}},
	} {
		code, got, h := get(c.method, c.path, c.hdr)
		if code != http.StatusServiceUnavailable || got != `{"status":"unavailable"}`+"\n" || h.Get("Set-Cookie") != "" || h.Get("X-Node") != "" {
			t.Errorf("%s %s %v without credentials: %d %q, Set-Cookie %q, X-Node %q; want 503 and the verdict alone",
				c.method, c.path, c.hdr, code, got, h.Get("Set-Cookie"), h.Get("X-Node"))
		}
	}
	if code, got, _ := get("HEAD", "/health", nil); code != http.StatusServiceUnavailable || got != "" {
		t.Errorf("HEAD /health: %d %q; want 503, no body", code, got)
	}
	// Anything else of /health, or near it, goes through authentication.
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
	}{
		{"POST", "/health", nil},
		{"GET", "/health/", nil},
		{"GET", "/api/health", nil},
		{"GET", "/health", map[string]string{"Authorization": "Bearer not-the-token-at-all"}},
		{"GET", "/health", map[string]string{"Authorization": "Basic " + "YWRtaW46YWRtaW4="}},
		{"GET", "/health", map[string]string{"Cookie": "evertask_session=forged"}},
	} {
		code, got, _ := get(c.method, c.path, c.hdr)
		if strings.Contains(got, secret) || strings.Contains(got, "node-7") || code == http.StatusOK || code == http.StatusServiceUnavailable {
			t.Errorf("%s %s %v: %d %q; want no report and no verdict", c.method, c.path, c.hdr, code, got)
		}
	}
	// With credentials, the whole report.
	code, got, _ := get("GET", "/health", map[string]string{"Authorization": "Bearer " + testToken})
	if code != http.StatusServiceUnavailable || !strings.Contains(got, secret) {
		t.Errorf("GET /health with a token: %d %q; want the handler's report", code, got)
	}
	// A flood of probes runs the check at most once a second.
	before := calls.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { get("GET", "/health", nil) })
	}
	wg.Wait()
	if n := calls.Load() - before; n > 2 {
		t.Errorf("50 probes ran the health check %d times; want at most one a second", n)
	}
	// The verdict follows the handler's.
	up.Store(1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, got, _ := get("GET", "/health", nil)
		if code == http.StatusOK && got == `{"status":"ok"}`+"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /health after the store came back: %d %q; want 200 {\"status\":\"ok\"}", code, got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// HealthPrivate: nothing without credentials.
	p := setup(t, func(c *monitor.Config) { c.Health, c.HealthPrivate = http.HandlerFunc(report), true })
	resp := p.do(t, "GET", "/health", "", nil)
	if got := body(resp); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther || strings.Contains(got, "status") {
		t.Errorf("HealthPrivate, GET /health without credentials: %d %q; want 401 or the login", resp.StatusCode, got)
	}
	// The allow-list still applies.
	a := setup(t, func(c *monitor.Config) {
		c.Health = http.HandlerFunc(report)
		c.AllowIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	})
	resp = a.do(t, "GET", "/health", "", nil)
	if got := body(resp); resp.StatusCode != http.StatusForbidden || strings.Contains(got, "status") {
		t.Errorf("GET /health from outside the allow-list: %d %q; want 403", resp.StatusCode, got)
	}
}
