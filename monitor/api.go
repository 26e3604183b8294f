package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// ErrConflict is what an Actions implementation wraps when a task's status
// does not allow the action (the answer is 409).
var ErrConflict = errors.New("action not allowed in this status")

// errStatus maps an error to the HTTP status and the message the client
// sees. Store failures are logged and answered with 503 or 500 without
// their details (they may name servers and schemas).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrConflict) || isConflict(err):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrUnsupported):
		writeError(w, http.StatusNotImplemented, err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	case errors.Is(err, errLoadGone):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		s.cfg.Logger.Warn("monitor: store unavailable", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, "store unavailable")
	default:
		s.cfg.Logger.Error("monitor: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error (logged on the server)")
	}
}

// isConflict recognises the "not allowed in this status" sentinel of an
// Actions implementation by the words of ErrConflict, so one that defines
// its own sentinel with those words (package inspect) maps to 409 too.
func isConflict(err error) bool {
	return strings.Contains(err.Error(), "not allowed in this status")
}

func (s *server) apiTasks(w http.ResponseWriter, r *http.Request) {
	f, err := taskQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.listTasks(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *server) apiTask(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	full := false
	for name := range q {
		if name != "payload" {
			s.fail(w, r, badParam(name, "unknown parameter"))
			return
		}
	}
	switch q.Get("payload") {
	case "":
	case "full":
		full = true
	default:
		s.fail(w, r, badParam("payload", "want full, got %q", truncate(q.Get("payload"), 40)))
		return
	}
	d, err := s.taskDetail(r.Context(), id, full)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// apiPayload serves a payload whole, as stored, for download.
func (s *server) apiPayload(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.st.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id.String()+`.json"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(t.Payload)
}

func (s *server) apiLogs(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := logQuery(r.URL.Query(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.st.Get(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	lp, err := s.st.LogsPage(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, LogPageJSON{Logs: logsJSON(lp.Logs), Total: lp.Total, Offset: q.Offset, Limit: q.Limit})
}

func (s *server) apiCounts(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		for name := range r.URL.Query() {
			s.fail(w, r, badParam(name, "unknown parameter"))
			return
		}
	}
	c, err := s.counts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *server) apiOverview(w http.ResponseWriter, r *http.Request) {
	hours, err := windowQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ov, err := s.overview(r.Context(), hours)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ov)
}

func (s *server) apiQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := s.queues(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, pausable := s.st.(store.QueuePauser)
	writeJSON(w, http.StatusOK, map[string]any{"queues": qs, "pausable": pausable})
}

func (s *server) apiNodes(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// apiSession tells a script who it is and the CSRF token to send back.
func (s *server) apiSession(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	tok := ""
	if p.sid != "" {
		tok = s.sess.csrfToken(p.sid)
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": p.user, "csrf_token": tok, "read_only": s.cfg.ReadOnly})
}

func (s *server) apiLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"user\": ..., \"password\": ...}")
		return
	}
	if code, msg := s.login(w, r, body.User, body.Password); code != http.StatusOK {
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// doTaskAction runs one action on a task through Actions.
func (s *server) doTaskAction(ctx context.Context, id uuid.UUID, action string) error {
	if s.cfg.Actions == nil {
		return errNoActions
	}
	switch action {
	case "cancel":
		return s.cfg.Actions.Cancel(ctx, id)
	case "retry":
		return s.cfg.Actions.Retry(ctx, id)
	case "run":
		return s.cfg.Actions.RunNow(ctx, id)
	case "delete":
		return s.cfg.Actions.Delete(ctx, id)
	}
	return badParam("action", "want cancel, retry, run or delete, got %q", truncate(action, 40))
}

var errNoActions = errors.New("no actions configured: set monitor.Config.Actions")

func (s *server) doQueueAction(ctx context.Context, name, action string) error {
	if s.cfg.Actions == nil {
		return errNoActions
	}
	if name == "" || len(name) > maxParamLen {
		return badParam("name", "want a queue name")
	}
	switch action {
	case "pause":
		return s.cfg.Actions.PauseQueue(ctx, name)
	case "resume":
		return s.cfg.Actions.ResumeQueue(ctx, name)
	}
	return badParam("action", "want pause or resume, got %q", truncate(action, 40))
}

func (s *server) actionDone(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNoActions) {
		writeError(w, http.StatusNotImplemented, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *server) apiTaskAction(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err == nil {
		err = s.doTaskAction(r.Context(), id, r.PathValue("action"))
	}
	s.actionDone(w, r, err)
}

func (s *server) apiTaskDelete(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err == nil {
		err = s.doTaskAction(r.Context(), id, "delete")
	}
	s.actionDone(w, r, err)
}

func (s *server) apiQueueAction(w http.ResponseWriter, r *http.Request) {
	s.actionDone(w, r, s.doQueueAction(r.Context(), r.PathValue("name"), r.PathValue("action")))
}

// PurgeRequest is the body of POST /api/purge: the ages of store.RetentionPolicy
// as Go durations ("720h"). Absent ages disable their rule.
type PurgeRequest struct {
	StatusAuditAge   string `json:"status_audit_age"`
	RunsAuditAge     string `json:"runs_audit_age"`
	ErrorAuditAge    string `json:"error_audit_age"`
	LogAge           string `json:"log_age"`
	CompletedTaskAge string `json:"completed_task_age"`
	FailedTaskAge    string `json:"failed_task_age"`
}

func (s *server) apiPurge(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Actions == nil {
		writeError(w, http.StatusNotImplemented, errNoActions.Error())
		return
	}
	var req PurgeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body: "+truncate(err.Error(), 120))
		return
	}
	p := store.RetentionPolicy{Now: s.cfg.Now()}
	set := false
	for _, f := range []struct {
		name string
		v    string
		dst  *time.Duration
	}{
		{"status_audit_age", req.StatusAuditAge, &p.StatusAuditAge},
		{"runs_audit_age", req.RunsAuditAge, &p.RunsAuditAge},
		{"error_audit_age", req.ErrorAuditAge, &p.ErrorAuditAge},
		{"log_age", req.LogAge, &p.LogAge},
		{"completed_task_age", req.CompletedTaskAge, &p.CompletedTaskAge},
		{"failed_task_age", req.FailedTaskAge, &p.FailedTaskAge},
	} {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil || d <= 0 {
			s.fail(w, r, badParam(f.name, "want a positive duration such as 720h, got %q", truncate(f.v, 40)))
			return
		}
		*f.dst, set = d, true
	}
	if !set {
		writeError(w, http.StatusBadRequest, "body: set at least one age")
		return
	}
	res, err := s.cfg.Actions.Purge(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"status_audits": res.StatusAudits, "runs_audits": res.RunsAudits,
		"attempts": res.Attempts, "logs": res.Logs, "tasks": res.Tasks})
}
