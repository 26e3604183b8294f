package monitor_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store/memstore"
)

// fuzzHandler is a monitor over a memory store with a few rows.
func fuzzHandler(f *testing.F) (h serveFunc, id string) {
	st := memstore.New()
	hh, err := monitor.New(&monitor.Config{Store: st, NoAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	b := &bundle{st: st, now: time.Now()}
	rows := b.seedF(f, 5)
	return serveFunc(func(w *httptest.ResponseRecorder, path string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL = &url.URL{Path: strings.SplitN(path, "?", 2)[0]}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			req.URL.RawQuery = path[i+1:]
		}
		hh.ServeHTTP(w, req)
		return w.Code
	}), rows
}

type serveFunc func(w *httptest.ResponseRecorder, path string) int

func (f serveFunc) ServeHTTP(w *httptest.ResponseRecorder, path string) int { return f(w, path) }

// checkAnswer: a bad query is 400 with {"error": "parameter ..."}, never a
// 500 or a panic.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, query string) {
	switch rec.Code {
	case 200:
	case 400:
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.HasPrefix(e.Error, "parameter ") {
			t.Fatalf("query %q: 400 with %q", query, rec.Body)
		}
	default:
		t.Fatalf("query %q: status %d %s", query, rec.Code, rec.Body)
	}
}

func FuzzTaskListQuery(f *testing.F) {
	h, _ := fuzzHandler(f)
	for _, s := range []string{
		"status=Failed,Completed&queue=q&kind=k&recurring=true&limit=10",
		"created_from=2026-01-02&created_before=2026-01-03T04:05:06Z&sort=oldest",
		"after=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&search=%00%ff",
		"limit=1e3", "status=%E2%80%8B", "created_from=0000-01-01T00:00:00Z", "after=////", ";;&&==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, "/api/tasks?"+q)
		checkAnswer(t, rec, q)
	})
}

func FuzzTaskDetailAndLogsQuery(f *testing.F) {
	h, id := fuzzHandler(f)
	f.Add(id, "level=Error&offset=1&limit=2")
	f.Add(id, "payload=full")
	f.Add("00000000-0000-0000-0000-00000000000", "offset=99999999999999999999")
	f.Fuzz(func(t *testing.T, tid, q string) {
		for _, p := range []string{"/api/tasks/" + url.PathEscape(tid) + "?" + q, "/api/tasks/" + url.PathEscape(tid) + "/logs?" + q} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, p)
			if rec.Code == 404 || rec.Code == 301 || rec.Code == 307 { // an unknown id or path
				continue
			}
			checkAnswer(t, rec, p)
		}
	})
}
