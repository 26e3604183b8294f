package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/health"
	"github.com/evertask/evertask/store/memstore"
)

func Example() {
	ctx := context.Background()
	st := memstore.New()
	eng, _ := evertask.New(st, &evertask.Config{Logger: slog.New(slog.DiscardHandler)})
	eng.Start(ctx)

	h := health.New(st, &health.Config{Engine: eng}) // mount it: mux.Handle("GET /health", h)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	var r health.Report
	json.Unmarshal(rec.Body.Bytes(), &r)
	fmt.Println(rec.Code, r.Status, r.Store.OK, r.Node.Alive)

	eng.Shutdown(ctx)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	json.Unmarshal(rec.Body.Bytes(), &r)
	fmt.Println(rec.Code, r.Status, r.Node.Reason)
	// Output:
	// 200 ok true true
	// 503 unavailable the engine is not running
}
