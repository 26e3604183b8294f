package tracing_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/tracing"
)

// A producer process that never starts workers dispatches inside its own
// PostgreSQL transaction; a worker process, on its own pool, runs the task
// once the commit makes it visible. The worker's span is a child of the
// producer's dispatch span: the trace crossed processes through the row.
func TestTraceCrossesNodesOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "et_trace_" + hex.EncodeToString(b)
	admin := testenv.PostgresPool(t)
	// Registered first, so it runs after every engine and pool is gone.
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	newStore := func() *pgstore.Store {
		pool := testenv.PostgresPool(t)
		st, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	producerStore := newStore()

	tpW, srW := recorder(t)
	ran := make(chan trace.SpanContext, 1)
	worker := engine(t, newStore(), tpW, func(ctx context.Context, m mail) error {
		ran <- trace.SpanContextFromContext(ctx)
		return nil
	})

	tpP, srP := recorder(t)
	producer, err := evertask.New(producerStore, &evertask.Config{
		Logger:     slog.New(slog.DiscardHandler),
		Middleware: []evertask.Middleware{tracing.Middleware(&tracing.Config{TracerProvider: tpP})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[mail](producer, evertask.HandlerFunc[mail](func(context.Context, mail) error {
		t.Error("the producer ran the task")
		return nil
	}), nil); err != nil {
		t.Fatal(err)
	}
	rctx, request := tpP.Tracer("test").Start(ctx, "request")
	tx, err := admin.Begin(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evertask.DispatchTx(rctx, producer, tx, mail{To: "linus"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(rctx); err != nil {
		t.Fatal(err)
	}
	request.End()

	var handler trace.SpanContext
	select {
	case handler = <-ran:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not run the task")
	}
	shutdown(worker)

	ds := spansNamed(srP, "evertask.dispatch tracing.mail")
	xs := spansNamed(srW, "evertask.execute tracing.mail")
	if len(ds) != 1 || len(xs) != 1 {
		t.Fatalf("%d dispatch spans in the producer, %d execute spans in the worker; want 1 and 1", len(ds), len(xs))
	}
	d, x := ds[0], xs[0]
	if d.Parent().SpanID() != request.SpanContext().SpanID() {
		t.Errorf("dispatch span's parent %s, want the request %s", d.Parent().SpanID(), request.SpanContext().SpanID())
	}
	if x.Parent().SpanID() != d.SpanContext().SpanID() || x.SpanContext().TraceID() != d.SpanContext().TraceID() || !x.Parent().IsRemote() {
		t.Errorf("execute span: parent %s (remote %v) in trace %s; want the dispatch span %s in trace %s",
			x.Parent().SpanID(), x.Parent().IsRemote(), x.SpanContext().TraceID(), d.SpanContext().SpanID(), d.SpanContext().TraceID())
	}
	if handler.SpanID() != x.SpanContext().SpanID() {
		t.Errorf("the handler's context carries span %s, want %s", handler.SpanID(), x.SpanContext().SpanID())
	}
}
