package monitor

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
)

// server is the handler New returns.
type server struct {
	cfg      Config
	st       store.Store
	sess     *sessions
	creds    credentials
	limit    *limiter
	mux      *http.ServeMux
	protect  http.Handler // mux behind authentication and CSRF
	pages    *pages
	useLogin bool // built-in users/tokens (not Middleware, not NoAuth)

	queueCounts cached[map[string]map[store.Status]int]
	overviewsMu sync.Mutex
	overviews   map[int]*cached[store.Overview] // by window in hours

	// The last verdict of Health served without authentication.
	healthMu sync.Mutex
	healthAt time.Time
	healthOK bool
}

type ctxKey struct{}

// New returns the monitor: the JSON API under /api/, the dashboard, the
// live event stream and, when configured, /metrics and /health, all behind
// the configured authentication (but for the verdict of /health, see
// Config.Health). See Config for what is required.
func New(cfg *Config) (http.Handler, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &server{
		cfg:       c,
		st:        c.Store,
		sess:      &sessions{key: c.SessionKey, ttl: c.SessionTTL, now: c.Now},
		creds:     credentials{users: c.Users, tokens: c.Tokens},
		limit:     &limiter{every: c.LoginRate, burst: c.LoginBurst, now: c.Now, buckets: map[string]*bucket{}},
		mux:       http.NewServeMux(),
		useLogin:  c.Middleware == nil && !c.NoAuth,
		overviews: map[int]*cached[store.Overview]{},
	}
	s.pages, err = newPages(s)
	if err != nil {
		return nil, err
	}
	s.routes()
	var inner http.Handler = http.HandlerFunc(s.guard)
	if c.Middleware != nil {
		inner = c.Middleware(inner)
	}
	s.protect = inner
	if !c.NoPreload && c.CacheTTL >= 0 {
		go s.preload()
	}
	return http.HandlerFunc(s.serve), nil
}

// preload computes the counts per queue and status once, in the
// background, so no viewer waits for their first scan (Config.NoPreload).
// A failed preload caches nothing: the first request then loads them.
func (s *server) preload() {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	if _, _, err := s.countsByQueue(ctx); err != nil {
		s.cfg.Logger.Debug("monitor: preload of the counts failed", "err", err)
	}
}

func (s *server) routes() {
	m := s.mux
	// Reads.
	m.HandleFunc("GET /api/tasks", s.apiTasks)
	m.HandleFunc("GET /api/tasks/{id}", s.apiTask)
	m.HandleFunc("GET /api/tasks/{id}/payload", s.apiPayload)
	m.HandleFunc("GET /api/tasks/{id}/logs", s.apiLogs)
	m.HandleFunc("GET /api/counts", s.apiCounts)
	m.HandleFunc("GET /api/overview", s.apiOverview)
	m.HandleFunc("GET /api/queues", s.apiQueues)
	m.HandleFunc("GET /api/nodes", s.apiNodes)
	m.HandleFunc("GET /api/events", s.apiEvents)
	m.HandleFunc("GET /api/session", s.apiSession)
	// Actions.
	m.HandleFunc("POST /api/tasks/{id}/{action}", s.apiTaskAction)
	m.HandleFunc("DELETE /api/tasks/{id}", s.apiTaskDelete)
	m.HandleFunc("POST /api/purge", s.apiPurge)
	m.HandleFunc("POST /api/queues/{name}/{action}", s.apiQueueAction)
	m.HandleFunc("POST /api/logout", s.logout)
	// Dashboard.
	m.HandleFunc("GET /{$}", s.pages.overview)
	m.HandleFunc("GET /tasks", s.pages.tasks)
	m.HandleFunc("GET /tasks/{id}", s.pages.task)
	m.HandleFunc("GET /queues", s.pages.queues)
	m.HandleFunc("GET /nodes", s.pages.nodes)
	m.HandleFunc("GET /events", s.pages.events)
	m.HandleFunc("POST /tasks/{id}/{action}", s.pages.taskAction)
	m.HandleFunc("POST /queues/{name}/{action}", s.pages.queueAction)
	m.HandleFunc("POST /logout", s.logout)
	if s.cfg.Metrics != nil {
		m.Handle("GET /metrics", s.cfg.Metrics)
	}
	if s.cfg.Health != nil {
		m.Handle("GET /health", s.cfg.Health)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
			return
		}
		s.pages.notFound(w, r)
	})
}

// serve strips the prefix, applies the allow-list, serves the public
// paths (login, static files) and hands the rest to the protected chain.
func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	path := r.URL.Path
	if s.cfg.Prefix != "" {
		rest, ok := strings.CutPrefix(path, s.cfg.Prefix)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			http.Redirect(w, r, s.cfg.Prefix+"/", http.StatusFound)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2.URL = &u
		r = r2
	}
	if len(s.cfg.AllowIPs) > 0 {
		ip, ok := clientIP(r, s.cfg.TrustedProxies)
		if !ok || !inPrefixes(ip, s.cfg.AllowIPs) {
			writeError(w, http.StatusForbidden, "client address not allowed")
			return
		}
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/static/") && r.Method == http.MethodGet:
		s.pages.static(w, r)
		return
	case r.URL.Path == "/login" && s.useLogin:
		s.pages.login(w, r)
		return
	case r.URL.Path == "/api/login" && s.useLogin:
		s.apiLogin(w, r)
		return
	case r.URL.Path == "/health" && s.cfg.Health != nil && !s.cfg.HealthPrivate && !s.cfg.NoAuth &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead) && !hasCredentials(r):
		s.healthVerdict(w, r)
		return
	}
	s.protect.ServeHTTP(w, r)
}

// hasCredentials reports whether a request carries anything an
// authentication could read: an Authorization header or a cookie.
func hasCredentials(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != ""
}

// healthVerdict answers an unauthenticated health probe with Health's
// verdict alone (see Config.Health), computing it at most once a second.
func (s *server) healthVerdict(w http.ResponseWriter, r *http.Request) {
	s.healthMu.Lock()
	if now := time.Now(); s.healthAt.IsZero() || now.Sub(s.healthAt) >= time.Second {
		rec := &codeRecorder{header: http.Header{}}
		probe := probeRequest(r)
		s.cfg.Health.ServeHTTP(rec, probe)
		s.healthOK = rec.code == 0 || rec.code == http.StatusOK
		s.healthAt = now
	}
	ok := s.healthOK
	s.healthMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	body, code := `{"status":"ok"}`+"\n", http.StatusOK
	if !ok {
		body, code = `{"status":"unavailable"}`+"\n", http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

// probeRequest is the probe's request to Health: a GET of /health
// with the probe's context and nothing else of it (no query, no headers).
func probeRequest(r *http.Request) *http.Request {
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "/health", nil)
	req.RemoteAddr = r.RemoteAddr
	return req
}

// codeRecorder keeps the status code a handler writes and drops its body.
type codeRecorder struct {
	header http.Header
	code   int
}

func (c *codeRecorder) Header() http.Header { return c.header }
func (c *codeRecorder) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
func (c *codeRecorder) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return len(b), nil
}

// guard authenticates (with the built-in users and tokens), checks CSRF on
// state-changing requests and read-only mode, then routes.
func (s *server) guard(w http.ResponseWriter, r *http.Request) {
	var p principal
	switch {
	case s.useLogin:
		var ok bool
		if p, ok = s.authenticate(r); !ok {
			if isAPI(r) || r.Method != http.MethodGet {
				w.Header().Set("WWW-Authenticate", `Bearer realm="evertask"`)
				writeError(w, http.StatusUnauthorized, "authentication required")
				return
			}
			http.Redirect(w, r, s.cfg.Prefix+"/login?next="+url.QueryEscape(s.cfg.Prefix+r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
	default:
		// Middleware or NoAuth: CSRF tokens are bound to a signed random
		// cookie set on the first visit.
		if c, err := r.Cookie(csrfCookie); err == nil {
			if id, ok := s.sess.checkCSRFID(c.Value); ok {
				p.sid = id
			}
		}
		if p.sid == "" && r.Method == http.MethodGet {
			v := s.sess.newCSRFID()
			p.sid, _, _ = strings.Cut(v, ".")
			http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: s.cookiePath(), HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookie || r.TLS != nil})
		}
	}
	if changesState(r.Method) && !p.bearer {
		if !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if !s.csrfOK(r, p) {
			writeError(w, http.StatusForbidden, "missing or invalid CSRF token (send the "+csrfHeader+" header or the "+csrfField+" field)")
			return
		}
	}
	if s.cfg.ReadOnly && changesState(r.Method) && r.URL.Path != "/logout" && r.URL.Path != "/api/logout" {
		writeError(w, http.StatusForbidden, "the monitor is read-only")
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
}

func (s *server) authenticate(r *http.Request) (principal, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if ok && s.creds.checkToken(strings.TrimSpace(tok)) {
			return principal{user: "token", bearer: true}, true
		}
		return principal{}, false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, false
	}
	user, sid, ok := s.sess.check(c.Value)
	if !ok {
		return principal{}, false
	}
	return principal{user: user, sid: sid}, true
}

func (s *server) csrfOK(r *http.Request, p principal) bool {
	if p.sid == "" {
		return false
	}
	tok := r.Header.Get(csrfHeader)
	if tok == "" && isForm(r) {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<16)
		tok = r.PostFormValue(csrfField)
	}
	want := s.sess.csrfToken(p.sid)
	return tok != "" && len(tok) == len(want) && subtleEq(tok, want)
}

func (s *server) cookiePath() string {
	if s.cfg.Prefix == "" {
		return "/"
	}
	return s.cfg.Prefix + "/"
}

// login checks a user's credentials under the rate limit and, when they
// hold, sets the session cookie. It returns the HTTP status and a message
// for a refusal.
func (s *server) login(w http.ResponseWriter, r *http.Request, user, password string) (int, string) {
	if !sameOrigin(r) {
		return http.StatusForbidden, "cross-origin request refused"
	}
	addr := "unknown"
	if ip, ok := clientIP(r, s.cfg.TrustedProxies); ok {
		addr = ip.String()
	}
	if ok, wait := s.limit.allow(addr); !ok {
		w.Header().Set("Retry-After", itoa(int(wait/time.Second)+1))
		return http.StatusTooManyRequests, "too many login attempts; try again later"
	}
	if len(s.cfg.Users) == 0 || !s.creds.checkUser(user, password) {
		s.limit.fail(addr)
		return http.StatusUnauthorized, "wrong user name or password"
	}
	v, _, exp := s.sess.issue(user)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: s.cookiePath(), Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookie || r.TLS != nil})
	return http.StatusOK, ""
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: s.cookiePath(), MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	http.Redirect(w, r, s.cfg.Prefix+"/login", http.StatusSeeOther)
}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(ctxKey{}).(principal)
	return p
}

func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
}
