package tracing_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/sqlitestore"
	"github.com/evertask/evertask/tracing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type mail struct {
	To string `json:"to"`
}

func (mail) Kind() string { return "tracing.mail" }

// recorder returns a tracer provider whose spans land in the recorder.
func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, sr
}

// engine starts an engine over st traced by tp whose handler is h.
func engine(t *testing.T, st store.Store, tp trace.TracerProvider, h evertask.HandlerFunc[mail]) *evertask.Engine {
	t.Helper()
	e, err := evertask.New(st, &evertask.Config{
		Logger:     slog.New(slog.DiscardHandler),
		Middleware: []evertask.Middleware{tracing.Middleware(&tracing.Config{TracerProvider: tp})},
		Cluster:    evertask.ClusterConfig{PollInterval: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[mail](e, h, &evertask.HandlerOpts{Retry: evertask.Linear(1, time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(e) })
	return e
}

func shutdown(e *evertask.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.Shutdown(ctx)
}

func spansNamed(sr *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func TestHandlerSpanIsChildOfDispatchSpan(t *testing.T) {
	t.Parallel()
	tp, sr := recorder(t)
	var mu sync.Mutex
	var handlerSpans []trace.SpanContext
	done := make(chan struct{})
	e := engine(t, memstore.New(), tp, func(ctx context.Context, m mail) error {
		mu.Lock()
		defer mu.Unlock()
		handlerSpans = append(handlerSpans, trace.SpanContextFromContext(ctx))
		if evertask.Attempt(ctx) == 1 {
			return errors.New("first attempt fails")
		}
		close(done)
		return nil
	})
	// The dispatch happens inside a request's span.
	ctx, request := tp.Tracer("test").Start(t.Context(), "request")
	id, err := e.Dispatch(ctx, mail{To: "ada"}, nil)
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not complete")
	}
	shutdown(e) // every span ended

	dispatches := spansNamed(sr, "evertask.dispatch tracing.mail")
	if len(dispatches) != 1 {
		t.Fatalf("%d dispatch spans, want 1", len(dispatches))
	}
	d := dispatches[0]
	if d.Parent().SpanID() != request.SpanContext().SpanID() || d.SpanKind() != trace.SpanKindProducer {
		t.Errorf("dispatch span: parent %s kind %s, want the request span %s and producer", d.Parent().SpanID(), d.SpanKind(), request.SpanContext().SpanID())
	}
	execs := spansNamed(sr, "evertask.execute tracing.mail")
	if len(execs) != 2 {
		t.Fatalf("%d execute spans, want one per attempt (2)", len(execs))
	}
	for i, x := range execs {
		if x.Parent().SpanID() != d.SpanContext().SpanID() || x.SpanContext().TraceID() != d.SpanContext().TraceID() {
			t.Errorf("attempt %d: parent %s in trace %s, want the dispatch span %s in trace %s", i+1,
				x.Parent().SpanID(), x.SpanContext().TraceID(), d.SpanContext().SpanID(), d.SpanContext().TraceID())
		}
		if x.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("attempt %d: kind %s, want consumer", i+1, x.SpanKind())
		}
		if handlerSpans[i].SpanID() != x.SpanContext().SpanID() {
			t.Errorf("attempt %d: the handler's context carries span %s, want the execute span %s", i+1, handlerSpans[i].SpanID(), x.SpanContext().SpanID())
		}
	}
	if execs[0].Status().Code.String() != "Error" || execs[1].Status().Code.String() != "Unset" {
		t.Errorf("attempt statuses %s, %s; want Error then Unset", execs[0].Status().Code, execs[1].Status().Code)
	}
	row, err := e.Store().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if row.Metadata["traceparent"] == "" {
		t.Errorf("the stored task carries no traceparent: %v", row.Metadata)
	}
}

// The trace context travels in the row: a task dispatched by one engine
// that stops before it runs is run by another engine on the same file
// (another process, as far as the spans can tell: it has its own tracer
// provider), and its span is still the dispatch span's child.
func TestTraceCrossesEnginesThroughTheStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "evertask.db")
	open := func() store.Store {
		st, err := sqlitestore.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	tpA, srA := recorder(t)
	a := engine(t, open(), tpA, func(context.Context, mail) error {
		t.Error("the first engine ran the task")
		return nil
	})
	ctx, request := tpA.Tracer("test").Start(t.Context(), "request")
	if _, err := a.Dispatch(ctx, mail{To: "grace"}, &evertask.DispatchOpts{Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	request.End()
	shutdown(a)

	tpB, srB := recorder(t)
	ran := make(chan trace.SpanContext, 1)
	b := engine(t, open(), tpB, func(ctx context.Context, m mail) error {
		ran <- trace.SpanContextFromContext(ctx)
		return nil
	})
	var handler trace.SpanContext
	select {
	case handler = <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the second engine did not run the task")
	}
	shutdown(b)

	dispatches := spansNamed(srA, "evertask.dispatch tracing.mail")
	execs := spansNamed(srB, "evertask.execute tracing.mail")
	if len(dispatches) != 1 || len(execs) != 1 {
		t.Fatalf("%d dispatch spans on A, %d execute spans on B; want 1 and 1", len(dispatches), len(execs))
	}
	d, x := dispatches[0].SpanContext(), execs[0]
	if x.Parent().SpanID() != d.SpanID() || x.SpanContext().TraceID() != d.TraceID() || !x.Parent().IsRemote() {
		t.Errorf("execute span on B: parent %s (remote %v) in trace %s; want A's dispatch span %s in trace %s",
			x.Parent().SpanID(), x.Parent().IsRemote(), x.SpanContext().TraceID(), d.SpanID(), d.TraceID())
	}
	if handler.SpanID() != x.SpanContext().SpanID() {
		t.Errorf("the handler's context carries span %s, want %s", handler.SpanID(), x.SpanContext().SpanID())
	}
}

func TestUntracedTaskGetsARootSpan(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	// Dispatched by an engine without tracing, which stops before the task
	// is due: the row has the caller's metadata and no trace context.
	plain, err := evertask.New(st, &evertask.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[mail](plain, evertask.HandlerFunc[mail](func(context.Context, mail) error { return nil }), nil); err != nil {
		t.Fatal(err)
	}
	if err := plain.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	opts := &evertask.DispatchOpts{Delay: 200 * time.Millisecond, Metadata: map[string]string{"tenant": "acme"}}
	if _, err := plain.Dispatch(t.Context(), mail{}, opts); err != nil {
		t.Fatal(err)
	}
	shutdown(plain)

	tp, sr := recorder(t)
	got := make(chan *evertask.AttemptInfo, 1)
	probe := evertask.Middleware{Attempt: func(next evertask.AttemptFunc) evertask.AttemptFunc {
		return func(ctx context.Context, a *evertask.AttemptInfo) error { got <- a; return next(ctx, a) }
	}}
	e, err := evertask.New(st, &evertask.Config{
		Logger:     slog.New(slog.DiscardHandler),
		Middleware: []evertask.Middleware{tracing.Middleware(&tracing.Config{TracerProvider: tp}), probe},
		Cluster:    evertask.ClusterConfig{PollInterval: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[mail](e, evertask.HandlerFunc[mail](func(context.Context, mail) error { return nil }), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var a *evertask.AttemptInfo
	select {
	case a = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not run")
	}
	shutdown(e)
	if a.Metadata["tenant"] != "acme" || a.Metadata["traceparent"] != "" {
		t.Errorf("attempt metadata %v, want the caller's entry and no trace context", a.Metadata)
	}
	execs := spansNamed(sr, "evertask.execute tracing.mail")
	if len(execs) != 1 || execs[0].Parent().IsValid() {
		t.Fatalf("want one root execute span, got %d", len(execs))
	}
}
