package health_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/health"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, st store.Store) *evertask.Engine {
	t.Helper()
	e, err := evertask.New(st, &evertask.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(e) })
	return e
}

func stop(e *evertask.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.Shutdown(ctx)
}

// get serves one request and decodes the report.
func get(t *testing.T, h http.Handler) (int, health.Report, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	var r health.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("body is not a report: %v\n%s", err, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, r, rec.Body.String()
}

func TestHealthyNode(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := start(t, st)
	code, r, body := get(t, health.New(st, &health.Config{Engine: e}))
	if code != http.StatusOK || r.Status != "ok" || !r.Store.OK {
		t.Fatalf("code %d, report %s", code, body)
	}
	if r.Node == nil || !r.Node.Alive || r.Node.ID != e.NodeID() || r.Node.Running == nil || !*r.Node.Running || r.Node.LastHeartbeat.IsZero() {
		t.Errorf("node: %s", body)
	}
	if len(r.Nodes) != 1 || r.Nodes[0].ID != e.NodeID() {
		t.Errorf("nodes: %s", body)
	}
}

func TestStoppedEngineIsUnavailable(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := start(t, st)
	h := health.New(st, &health.Config{Engine: e})
	stop(e)
	code, r, body := get(t, h)
	if code != http.StatusServiceUnavailable || r.Status != "unavailable" || r.Node == nil || r.Node.Alive {
		t.Fatalf("code %d, report %s", code, body)
	}
	if !r.Store.OK {
		t.Errorf("the store is fine, the report says it is not: %s", body)
	}
}

func TestUnreachableStoreIsUnavailable(t *testing.T) {
	t.Parallel()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "h.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := health.New(st, nil)
	if code, _, body := get(t, h); code != http.StatusOK {
		t.Fatalf("open store: code %d, %s", code, body)
	}
	st.Close()
	code, r, body := get(t, h)
	if code != http.StatusServiceUnavailable || r.Store.OK || r.Store.Error == "" {
		t.Fatalf("closed store: code %d, report %s", code, body)
	}
}

func TestStaleHeartbeat(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e := start(t, st)
	// A heartbeat older than StaleAfter (here any age) counts as silence.
	code, r, body := get(t, health.New(st, &health.Config{Engine: e, StaleAfter: time.Nanosecond}))
	if code != http.StatusServiceUnavailable || r.Node == nil || r.Node.Alive || !strings.Contains(r.Node.Reason, "no heartbeat") {
		t.Fatalf("code %d, report %s", code, body)
	}
}

// coreOnly hides the store's capabilities: no node registry, no clock.
type coreOnly struct{ store.Store }

func TestStoreWithoutRegistry(t *testing.T) {
	t.Parallel()
	st := coreOnly{memstore.New()}
	e := start(t, st)
	code, r, body := get(t, health.New(st, &health.Config{Engine: e}))
	if code != http.StatusOK || r.Node == nil || !r.Node.Alive || len(r.Nodes) != 0 {
		t.Fatalf("code %d, report %s", code, body)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	t.Parallel()
	h := health.New(memstore.New(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/health", nil))
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/health", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: %d %q", rec.Code, rec.Body)
	}
}

func TestNodeMissingFromRegistry(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	// Heartbeats far apart, so none puts the node back during the test.
	e, err := evertask.New(st, &evertask.Config{Logger: slog.New(slog.DiscardHandler),
		Cluster: evertask.ClusterConfig{LeaseDuration: time.Hour, RenewInterval: 30 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(e) })
	if err := st.LeaveCluster(t.Context(), e.NodeID()); err != nil {
		t.Fatal(err)
	}
	code, r, body := get(t, health.New(st, &health.Config{Engine: e}))
	if code != http.StatusServiceUnavailable || r.Node == nil || r.Node.Alive || !strings.Contains(r.Node.Reason, "registry") {
		t.Fatalf("code %d, report %s", code, body)
	}
}
