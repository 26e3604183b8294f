package monitor

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// MaxPageSize caps the limit parameter of the task list: a larger one is
// clipped, and the answer says which limit it used.
const MaxPageSize = 500

// paramError is a bad query parameter: the answer is 400 naming it.
type paramError struct {
	name, msg string
}

func (e *paramError) Error() string { return "parameter " + e.name + ": " + e.msg }

func badParam(name, format string, args ...any) error {
	return &paramError{name: name, msg: fmt.Sprintf(format, args...)}
}

// maxParamLen bounds every parameter value: none needs more.
const maxParamLen = 512

// taskQuery parses the filters, sort and page of the task list.
//
//	status=Failed,Cancelled  queue=  kind=  recurring=true|false
//	created_from=RFC3339  created_before=RFC3339  search=
//	sort=newest|oldest  limit=1..MaxPageSize  after=<cursor>
func taskQuery(q url.Values) (store.Filter, error) {
	var f store.Filter
	for name, vs := range q {
		switch name {
		case "status", "queue", "kind", "recurring", "created_from", "created_before", "search", "sort", "limit", "after":
		default:
			return f, badParam(name, "unknown parameter")
		}
		if len(vs) > 1 {
			return f, badParam(name, "given %d times", len(vs))
		}
		if len(vs[0]) > maxParamLen {
			return f, badParam(name, "longer than %d bytes", maxParamLen)
		}
	}
	if v := q.Get("status"); v != "" {
		for part := range strings.SplitSeq(v, ",") {
			st, err := parseStatus(strings.TrimSpace(part))
			if err != nil {
				return f, badParam("status", "%v", err)
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	f.Queue = q.Get("queue")
	f.Kind = q.Get("kind")
	f.Search = q.Get("search")
	if v := q.Get("recurring"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, badParam("recurring", "want true or false, got %q", v)
		}
		f.Recurring = &b
	}
	var err error
	if f.CreatedFrom, err = timeParam(q, "created_from"); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = timeParam(q, "created_before"); err != nil {
		return f, err
	}
	switch q.Get("sort") {
	case "", "newest":
	case "oldest":
		f.Oldest = true
	default:
		return f, badParam("sort", "want newest or oldest, got %q", q.Get("sort"))
	}
	if f.Limit, err = intParam(q, "limit", 50, 1, MaxPageSize); err != nil {
		return f, err
	}
	if v := q.Get("after"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			return f, badParam("after", "%v", err)
		}
		f.After = c
	}
	return f, nil
}

// logQuery parses level, offset and limit of a task's logs.
func logQuery(q url.Values, id uuid.UUID) (store.LogQuery, error) {
	lq := store.LogQuery{TaskID: id}
	for name, vs := range q {
		switch name {
		case "level", "offset", "limit":
		default:
			return lq, badParam(name, "unknown parameter")
		}
		if len(vs) > 1 || len(vs[0]) > maxParamLen {
			return lq, badParam(name, "given more than once or too long")
		}
	}
	lq.Level = q.Get("level")
	var err error
	if lq.Offset, err = intParam(q, "offset", 0, 0, 1<<30); err != nil {
		return lq, err
	}
	if lq.Limit, err = intParam(q, "limit", store.DefaultLogLimit, 1, 1000); err != nil {
		return lq, err
	}
	return lq, nil
}

// windowQuery parses hours (1..168, default 24) of the overview.
func windowQuery(q url.Values) (int, error) {
	for name, vs := range q {
		if name != "hours" {
			return 0, badParam(name, "unknown parameter")
		}
		if len(vs) > 1 {
			return 0, badParam(name, "given %d times", len(vs))
		}
	}
	return intParam(q, "hours", 24, 1, 168)
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badParam(name, "not a whole number: %q", truncate(v, 40))
	}
	if n < lo {
		return 0, badParam(name, "%d is less than %d", n, lo)
	}
	if n > hi {
		if name == "limit" && hi == MaxPageSize {
			return hi, nil // the page-size cap clips
		}
		return 0, badParam(name, "%d is more than %d", n, hi)
	}
	return n, nil
}

func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if d, derr := time.Parse(time.DateOnly, v); derr == nil {
			return d, nil
		}
		return time.Time{}, badParam(name, "want an RFC 3339 time or a date (2006-01-02), got %q", truncate(v, 40))
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, badParam(name, "year out of range")
	}
	return t.UTC(), nil
}

func parseStatus(s string) (store.Status, error) {
	for _, st := range store.Statuses {
		if strings.EqualFold(string(st), s) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown status %q", truncate(s, 40))
}

func parseID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, badParam("id", "want a task id (a UUID), got %q", truncate(s, 40))
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, badParam("id", "want a task id (a UUID), got %q", truncate(s, 40))
	}
	return id, nil
}

// Cursors are opaque to clients: base64url of the creation time in unix
// microseconds (8 bytes) and the id (16 bytes).
func formatCursor(c store.Cursor) string {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, uint64(c.CreatedAt.UnixMicro()))
	copy(b[8:], c.ID[:])
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return store.Cursor{}, fmt.Errorf("not a cursor this API returned")
	}
	micros := int64(binary.BigEndian.Uint64(b))
	t := time.UnixMicro(micros).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return store.Cursor{}, fmt.Errorf("not a cursor this API returned")
	}
	var c store.Cursor
	c.CreatedAt = t
	copy(c.ID[:], b[8:])
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
