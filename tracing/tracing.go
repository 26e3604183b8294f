// Package tracing traces an engine's dispatches and executions with
// OpenTelemetry (go.opentelemetry.io/otel).
//
// A dispatch gets a producer span, child of the span in the dispatch's
// context; its trace context is stored with the task (store.Task.Metadata),
// so every attempt of the handler gets a consumer span that is a child of
// the dispatch span: after a restart, and on whichever node of a cluster
// runs the task. The handler's context carries that span, so the spans the
// handler starts join the trace.
//
// The package is separate so that the engine, and programs that do not
// trace, never import OpenTelemetry: it plugs into evertask.Middleware.
//
//	cfg := &evertask.Config{Middleware: []evertask.Middleware{tracing.Middleware(nil)}}
package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evertask/evertask"
)

// Config configures the middleware. A nil *Config uses every default.
type Config struct {
	// TracerProvider makes the tracer. Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Propagator writes the trace context into the task's metadata and
	// reads it back. Default: otel.GetTextMapPropagator() when it has
	// fields, else W3C trace context and baggage.
	Propagator propagation.TextMapPropagator
}

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/evertask/evertask/tracing"

// Middleware returns the engine middleware that traces dispatches and
// attempts.
func Middleware(cfg *Config) evertask.Middleware {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.Propagator == nil {
		c.Propagator = otel.GetTextMapPropagator()
		if len(c.Propagator.Fields()) == 0 { // the global no-op default
			c.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
	}
	t := &tracer{tr: c.TracerProvider.Tracer(ScopeName), prop: c.Propagator}
	return evertask.Middleware{Dispatch: t.dispatch, Attempt: t.attempt}
}

type tracer struct {
	tr   trace.Tracer
	prop propagation.TextMapPropagator
}

func (t *tracer) dispatch(ctx context.Context, d *evertask.DispatchInfo) func(error) {
	attrs := []attribute.KeyValue{
		attribute.String("evertask.task.id", d.TaskID.String()),
		attribute.String("evertask.task.kind", d.Kind),
		attribute.String("evertask.queue", d.Queue),
		attribute.String("messaging.system", "evertask"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", d.Queue),
		attribute.String("messaging.message.id", d.TaskID.String()),
	}
	if d.Recurring {
		attrs = append(attrs, attribute.Bool("evertask.recurring", true))
	}
	if !d.Due.IsZero() {
		attrs = append(attrs, attribute.String("evertask.due", d.Due.UTC().Format("2006-01-02T15:04:05.999999Z07:00")))
	}
	ctx, span := t.tr.Start(ctx, "evertask.dispatch "+d.Kind, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	t.prop.Inject(ctx, propagation.MapCarrier(d.Metadata))
	return func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

func (t *tracer) attempt(next evertask.AttemptFunc) evertask.AttemptFunc {
	return func(ctx context.Context, a *evertask.AttemptInfo) (err error) {
		// The dispatch's span is the parent; the context's own span, if
		// any, is the engine's (none: its contexts carry no span).
		parent := t.prop.Extract(ctx, propagation.MapCarrier(a.Metadata))
		ctx, span := t.tr.Start(parent, "evertask.execute "+a.Kind, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("evertask.task.id", a.TaskID.String()),
				attribute.String("evertask.task.kind", a.Kind),
				attribute.String("evertask.queue", a.Queue),
				attribute.Int("evertask.attempt", a.Attempt),
				attribute.Int("evertask.run", a.RunNumber),
				attribute.String("messaging.system", "evertask"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", a.Queue),
				attribute.String("messaging.message.id", a.TaskID.String()),
			))
		defer func() {
			if p := recover(); p != nil {
				span.SetStatus(codes.Error, fmt.Sprint("panic: ", p))
				span.End()
				panic(p)
			}
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
		return next(ctx, a)
	}
}
