package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

const (
	testUser     = "admin"
	testPassword = "correct horse battery staple"
	testToken    = "tok_0123456789abcdef0123"
)

// bundle is what a test needs: the store, the server and a client that
// keeps cookies.
type bundle struct {
	st      store.Store
	srv     *httptest.Server
	base    string // server URL + prefix
	client  *http.Client
	actions *recordingActions
	now     time.Time
}

// setup serves a monitor under /ops/ over a memory store with a few rows.
func setup(t *testing.T, mod func(*monitor.Config)) *bundle {
	t.Helper()
	st := memstore.New()
	b := &bundle{st: st, actions: &recordingActions{st: st}, now: time.Now().UTC().Truncate(time.Minute)}
	cfg := &monitor.Config{
		Store:   st,
		Prefix:  "/ops",
		Actions: b.actions,
		Users:   map[string]string{testUser: testPassword},
		Tokens:  []string{testToken},
		Now:     func() time.Time { return b.now },
		// The tests of the cache count its loads from a cold start, on a
		// clock they move; TestPreloadSparesTheFirstViewer covers the
		// preload.
		NoPreload: true,
	}
	if mod != nil {
		mod(cfg)
	}
	h, err := monitor.New(cfg)
	if err != nil {
		t.Fatalf("monitor.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", h)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	b.base = b.srv.URL + "/ops"
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// seed persists n tasks: kinds a/b/c, queues default/mail, statuses cycling
// through Completed, Failed, Queued, one created per minute before now. The
// finished ones end through TransitionMany a second after their creation,
// so store.Stats counts them; it returns the rows as stored.
func (b *bundle) seed(t testing.TB, n int) []*store.Task {
	t.Helper()
	var rows []*store.Task
	var ends []store.TransitionParams
	statuses := []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusQueued, store.StatusCompleted}
	for i := range n {
		created := b.now.Add(-time.Duration(n-i) * time.Minute)
		id, _ := uuid.NewV7()
		task := &store.Task{
			ID: id, CreatedAt: created, Kind: []string{"a", "b", "c"}[i%3], Queue: []string{"default", "mail"}[i%2],
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), Status: statuses[i%len(statuses)], Handler: "H",
		}
		if task.Status.Terminal() {
			// Persisted InProgress and ended below, as an engine ends
			// it: the overview counts executions that end, not rows
			// written finished.
			task.Status = store.StatusInProgress
			end := store.TransitionParams{ID: id, To: statuses[i%len(statuses)], From: []store.Status{store.StatusInProgress},
				Now: created.Add(time.Second), ExecutionTime: time.Duration(i+1) * time.Millisecond, AuditLevel: store.AuditNone}
			if end.To == store.StatusFailed {
				end.Error = fmt.Sprint("boom ", i)
			}
			ends = append(ends, end)
		}
		rows = append(rows, task)
	}
	if err := store.PersistMany(context.Background(), b.st, rows); err != nil {
		t.Fatal(err)
	}
	applied, err := store.TransitionMany(context.Background(), b.st, ends)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range applied {
		if !ok {
			t.Fatalf("ending seeded task %s did not apply", ends[i].ID)
		}
	}
	for i, task := range rows {
		if got, err := b.st.Get(context.Background(), task.ID); err != nil {
			t.Fatal(err)
		} else {
			rows[i] = got
		}
	}
	return rows
}

func (b *bundle) seedF(f *testing.F, n int) string { return b.seed(f, n)[0].ID.String() }

func (b *bundle) login(t *testing.T) {
	t.Helper()
	resp := b.do(t, "POST", "/api/login", `{"user":"`+testUser+`","password":"`+testPassword+`"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body(resp))
	}
	resp.Body.Close()
}

func (b *bundle) csrf(t *testing.T) string {
	t.Helper()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	b.getJSON(t, "/api/session", 200, &s)
	if s.CSRF == "" {
		t.Fatal("no csrf token in /api/session")
	}
	return s.CSRF
}

func (b *bundle) do(t *testing.T, method, path, reqBody string, hdr map[string]string) *http.Response {
	t.Helper()
	var r io.Reader
	if reqBody != "" {
		r = strings.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (b *bundle) getJSON(t *testing.T, path string, wantStatus int, v any) {
	t.Helper()
	resp := b.do(t, "GET", path, "", nil)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s; want %d", path, resp.StatusCode, raw, wantStatus)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, raw)
		}
	}
}

func body(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// wantError checks an error answer: the status and {"error": ...}
// containing want.
func wantError(t *testing.T, resp *http.Response, status int, want string) {
	t.Helper()
	raw := body(resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, raw, status)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q is not {\"error\": ...}", raw)
	}
	if !strings.Contains(e.Error, want) {
		t.Fatalf("error %q does not contain %q", e.Error, want)
	}
}

// recordingActions carries out the actions on the store the simplest way,
// recording each call: enough to test the HTTP side (CSRF, read-only,
// status codes). The real actions are package inspect's.
type recordingActions struct {
	st    store.Store
	mu    sync.Mutex
	calls []string
}

func (a *recordingActions) record(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, s)
}

func (a *recordingActions) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

func (a *recordingActions) transition(ctx context.Context, id uuid.UUID, to store.Status, from ...store.Status) error {
	ok, err := a.st.Transition(ctx, store.TransitionParams{ID: id, To: to, From: from, Now: time.Now()})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s of %s: %w", to, id, monitor.ErrConflict)
	}
	return nil
}

func (a *recordingActions) Cancel(ctx context.Context, id uuid.UUID) error {
	a.record("cancel " + id.String())
	return a.transition(ctx, id, store.StatusCancelled, store.StatusQueued, store.StatusWaitingQueue)
}

func (a *recordingActions) Retry(ctx context.Context, id uuid.UUID) error {
	a.record("retry " + id.String())
	return a.transition(ctx, id, store.StatusQueued, store.StatusFailed, store.StatusCancelled)
}

func (a *recordingActions) RunNow(ctx context.Context, id uuid.UUID) error {
	a.record("run " + id.String())
	return fmt.Errorf("run %s: %w", id, monitor.ErrConflict)
}

func (a *recordingActions) Delete(ctx context.Context, id uuid.UUID) error {
	a.record("delete " + id.String())
	return a.st.Remove(ctx, id)
}

func (a *recordingActions) Purge(ctx context.Context, p store.RetentionPolicy) (store.PurgeResult, error) {
	a.record(fmt.Sprint("purge ", p.CompletedTaskAge))
	return store.PurgeResult{Tasks: 1}, nil
}

func (a *recordingActions) PauseQueue(ctx context.Context, q string) error {
	a.record("pause " + q)
	return nil
}

func (a *recordingActions) ResumeQueue(ctx context.Context, q string) error {
	a.record("resume " + q)
	return nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
