package evertask

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// logBuffer collects the records of one task execution for the store. It is
// safe for concurrent use: a handler may log from several goroutines.
type logBuffer struct {
	taskID   uuid.UUID
	minLevel slog.Level
	max      int // < 0: no cap

	mu        sync.Mutex
	logs      []store.ExecutionLog
	truncated int
	seq       int
}

func (b *logBuffer) add(r slog.Record, attrs []slog.Attr) {
	if r.Level < b.minLevel {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.max >= 0 && len(b.logs) >= b.max {
		b.truncated++
		return
	}
	msg, errText := renderRecord(r, attrs)
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	b.seq++
	b.logs = append(b.logs, store.ExecutionLog{
		ID: id, TaskID: b.taskID, At: r.Time, Level: r.Level.String(),
		Message: msg, ErrorDetails: errText, Seq: b.seq,
	})
}

// drain returns the records and the truncation marker, if any (one marker
// however many records were dropped: bug 63 of the reference).
func (b *logBuffer) drain(now time.Time) []store.ExecutionLog {
	b.mu.Lock()
	defer b.mu.Unlock()
	logs := b.logs
	if b.truncated > 0 {
		id, _ := uuid.NewV7()
		b.seq++
		logs = append(logs, store.ExecutionLog{
			ID: id, TaskID: b.taskID, At: now, Level: slog.LevelWarn.String(), Seq: b.seq,
			Message: fmt.Sprintf("[evertask] %d log entries truncated: %d per execution reached", b.truncated, b.max),
		})
	}
	b.logs, b.truncated = nil, 0
	return logs
}

// renderRecord turns a record into its stored text: the message followed by
// key=value attributes. Error values go to the error details. It never
// panics: a LogValuer that panics is rendered as its panic (bug 62).
func renderRecord(r slog.Record, attrs []slog.Attr) (msg, errText string) {
	defer func() {
		if p := recover(); p != nil {
			msg = r.Message + fmt.Sprintf(" !PANIC rendering attributes: %v", p)
		}
	}()
	var sb strings.Builder
	sb.WriteString(r.Message)
	var errs []string
	write := func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if err, ok := v.Any().(error); ok && v.Kind() == slog.KindAny {
			errs = append(errs, err.Error())
		}
		sb.WriteByte(' ')
		sb.WriteString(a.Key)
		sb.WriteByte('=')
		sb.WriteString(v.String())
		return true
	}
	for _, a := range attrs {
		write(a)
	}
	r.Attrs(write)
	return sb.String(), strings.Join(errs, "\n")
}

// captureHandler forwards every record to the application's handler and
// copies it into the task's buffer.
type captureHandler struct {
	next  slog.Handler
	buf   *logBuffer
	attrs []slog.Attr // attributes added with WithAttrs, for the stored copy
	group string
}

func (h *captureHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.buf.minLevel || h.next.Enabled(ctx, l)
}

func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	h.buf.add(r, h.attrs)
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *captureHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	if h.group != "" {
		name = h.group + "." + name
	}
	c.group = name
	return &c
}
