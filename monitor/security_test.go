package monitor_test

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store/memstore"
)

func TestConfigRequiresOneWayToAuthenticate(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	for name, cfg := range map[string]*monitor.Config{
		"nil":                 nil,
		"no store":            {Users: map[string]string{"a": "b"}},
		"no auth at all":      {Store: st},
		"users and NoAuth":    {Store: st, Users: map[string]string{"a": "b"}, NoAuth: true},
		"empty password":      {Store: st, Users: map[string]string{"a": ""}},
		"short token":         {Store: st, Tokens: []string{"short"}},
		"short session key":   {Store: st, NoAuth: true, SessionKey: []byte("0123456789")},
		"prefix without root": {Store: st, NoAuth: true, Prefix: "ops"},
	} {
		if _, err := monitor.New(cfg); !errors.Is(err, monitor.ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
}

func TestUnauthenticatedRequestsAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.seed(t, 3)
	for _, path := range []string{"/api/tasks", "/api/overview", "/api/events", "/api/nodes"} {
		wantError(t, b.do(t, "GET", path, "", nil), 401, "authentication required")
	}
	resp := b.do(t, "GET", "/tasks?status=Failed", "", nil)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/ops/login?next="+url.QueryEscape("/ops/tasks?status=Failed") {
		t.Fatalf("page without a session: %d to %q; want 303 to the login page", resp.StatusCode, loc)
	}
	wantError(t, b.do(t, "POST", "/api/tasks/"+b.seed(t, 1)[0].ID.String()+"/retry", "", nil), 401, "authentication required")
	if calls := b.actions.Calls(); len(calls) != 0 {
		t.Fatalf("actions ran without authentication: %v", calls)
	}
}

func TestLoginSetsAHardenedCookie(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	resp := b.do(t, "POST", "/api/login", `{"user":"admin","password":"`+testPassword+`"}`, nil)
	resp.Body.Close()
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "evertask_session" {
			c = ck
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ops/" || c.Expires.IsZero() {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path /ops/, an expiry", c)
	}
	b.getJSON(t, "/api/tasks", 200, nil)
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func TestForgedExpiredAndForeignCookiesAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.login(t)
	u := mustURL(b.base + "/")
	var good string
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "evertask_session" {
			good = c.Value
		}
	}
	if good == "" {
		t.Fatal("no session cookie after login")
	}
	other := setup(t, nil) // another key
	other.login(t)
	var foreign string
	for _, c := range other.client.Jar.Cookies(mustURL(other.base + "/")) {
		if c.Name == "evertask_session" {
			foreign = c.Value
		}
	}
	body, sig, _ := strings.Cut(good, ".")
	forged := strings.Replace(body, body[:4], "YWRt", 1) + "." + sig // a changed user field
	for name, v := range map[string]string{
		"changed signature": body + "." + strings.Repeat("A", len(sig)),
		"changed body":      forged + "x",
		"no signature":      body,
		"another key":       foreign,
		"garbage":           "%%%.%%%",
		"huge":              strings.Repeat("a", 5000) + "." + sig,
	} {
		resp := b.do(t, "GET", "/api/tasks", "", map[string]string{"Cookie": "evertask_session=" + v})
		if resp.StatusCode != 401 {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
		resp.Body.Close()
	}
	b.now = b.now.Add(13 * time.Hour) // past the default TTL
	wantError(t, b.do(t, "GET", "/api/tasks", "", nil), 401, "authentication required")
}

func TestLoginAttemptsAreRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i := range 5 {
		wantError(t, b.do(t, "POST", "/api/login", `{"user":"admin","password":"guess`+string(rune('a'+i))+`"}`, nil), 401, "wrong user name or password")
	}
	// The sixth try is refused even with the right password.
	resp := b.do(t, "POST", "/api/login", `{"user":"admin","password":"`+testPassword+`"}`, nil)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantError(t, resp, 429, "too many login attempts")
	// A right user name with another user's password, a wrong name with the
	// right password: both wrong.
	b.now = b.now.Add(time.Hour)
	wantError(t, b.do(t, "POST", "/api/login", `{"user":"root","password":"`+testPassword+`"}`, nil), 401, "wrong")
	b.login(t) // the bucket refilled
	// The form login is limited the same way.
	for range 6 {
		resp := b.do(t, "POST", "/login", "user=admin&password=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		resp.Body.Close()
		if resp.StatusCode == 429 {
			return
		}
	}
	t.Fatal("the login form was never rate limited")
}

func TestBearerTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	task := b.seed(t, 2)[1] // Failed
	b.getJSON(t, "/api/tasks", 401, nil)
	wantError(t, b.do(t, "GET", "/api/tasks", "", map[string]string{"Authorization": "Bearer " + testToken + "x"}), 401, "authentication")
	wantError(t, b.do(t, "GET", "/api/tasks", "", map[string]string{"Authorization": "Basic " + testToken}), 401, "authentication")
	// A bearer request needs no CSRF token: browsers never send it alone.
	resp := b.do(t, "POST", "/api/tasks/"+task.ID.String()+"/retry", "", map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != 200 {
		t.Fatalf("retry with a bearer token: %d %s", resp.StatusCode, body(resp))
	}
	resp.Body.Close()
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rows := b.seed(t, 8)
	failed := rows[1]
	b.login(t)
	tok := b.csrf(t)
	path := "/api/tasks/" + failed.ID.String() + "/retry"

	wantError(t, b.do(t, "POST", path, "", nil), 403, "CSRF")
	wantError(t, b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": tok + "x"}), 403, "CSRF")
	wantError(t, b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": ""}), 403, "CSRF")
	// Another session's token does not fit this session.
	other := setup(t, nil)
	other.login(t)
	wantError(t, b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": other.csrf(t)}), 403, "CSRF")
	// The right token from another site.
	wantError(t, b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": tok, "Origin": "https://evil.example"}), 403, "cross-origin")
	wantError(t, b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": tok, "Origin": "null"}), 403, "cross-origin")
	wantError(t, b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": tok, "Sec-Fetch-Site": "cross-site"}), 403, "cross-origin")
	wantError(t, b.do(t, "DELETE", "/api/tasks/"+rows[0].ID.String(), "", nil), 403, "CSRF")
	wantError(t, b.do(t, "POST", "/api/queues/mail/pause", "", nil), 403, "CSRF")
	wantError(t, b.do(t, "POST", "/api/purge", `{"log_age":"1h"}`, nil), 403, "CSRF")
	if calls := b.actions.Calls(); len(calls) != 0 {
		t.Fatalf("actions ran without a valid CSRF token: %v", calls)
	}
	// The real thing, as the header and as the dashboard's form field.
	resp := b.do(t, "POST", path, "", map[string]string{"X-CSRF-Token": tok, "Origin": b.srv.URL})
	if resp.StatusCode != 200 {
		t.Fatalf("retry with the token: %d %s", resp.StatusCode, body(resp))
	}
	resp.Body.Close()
	resp = b.do(t, "POST", "/queues/mail/pause", "csrf_token="+url.QueryEscape(tok), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("form pause: %d", resp.StatusCode)
	}
	if calls := b.actions.Calls(); len(calls) != 2 || calls[1] != "pause mail" {
		t.Fatalf("calls %v", calls)
	}
}

func TestReadOnlyRefusesActions(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *monitor.Config) { c.ReadOnly = true })
	rows := b.seed(t, 4)
	b.login(t)
	tok := b.csrf(t)
	for _, p := range []string{"/api/tasks/" + rows[1].ID.String() + "/retry", "/api/queues/default/pause", "/api/purge", "/tasks/" + rows[1].ID.String() + "/retry"} {
		wantError(t, b.do(t, "POST", p, `{"log_age":"1h"}`, map[string]string{"X-CSRF-Token": tok}), 403, "read-only")
	}
	wantError(t, b.do(t, "POST", "/api/tasks/"+rows[1].ID.String()+"/retry", "", map[string]string{"Authorization": "Bearer " + testToken}), 403, "read-only")
	b.getJSON(t, "/api/tasks", 200, nil)
	if calls := b.actions.Calls(); len(calls) != 0 {
		t.Fatalf("read-only mode ran %v", calls)
	}
	page := body(b.do(t, "GET", "/tasks/"+rows[1].ID.String(), "", nil))
	if strings.Contains(page, "act-retry") || !strings.Contains(page, "read-only") {
		t.Error("the read-only task page shows the retry button or no read-only badge")
	}
}

func TestAllowListTrustsForwardedForOnlyFromProxies(t *testing.T) {
	t.Parallel()
	office := netip.MustParsePrefix("10.1.0.0/16")
	direct := setup(t, func(c *monitor.Config) { c.AllowIPs = []netip.Prefix{office} })
	// The test client is 127.0.0.1, outside the list; a forged header does
	// not help when nobody is trusted to set it.
	wantError(t, direct.do(t, "GET", "/api/tasks", "", nil), 403, "not allowed")
	wantError(t, direct.do(t, "POST", "/api/login", `{"user":"admin","password":"`+testPassword+`"}`, map[string]string{"X-Forwarded-For": "10.1.2.3"}), 403, "not allowed")
	wantError(t, direct.do(t, "GET", "/static/style.css", "", map[string]string{"X-Forwarded-For": "10.1.2.3"}), 403, "not allowed")

	proxied := setup(t, func(c *monitor.Config) {
		c.AllowIPs = []netip.Prefix{office}
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	for xff, want := range map[string]int{
		"10.1.2.3":              200, // the proxy says the client is in the office
		"6.6.6.6, 10.1.2.3":     200, // what the client wrote (left) is not read
		"10.1.2.3, 6.6.6.6":     403, // the proxy saw 6.6.6.6: a forged office address on the left is ignored
		"":                      403, // no header: the proxy itself, not in the list
		"garbage":               403,
		"10.1.2.3, 127.0.0.1":   200, // a chain of trusted proxies
		"::ffff:10.1.2.3":       200, // IPv4-mapped
		"10.1.2.3:8080":         403, // not an address
		strings.Repeat("1", 80): 403,
	} {
		h := map[string]string{"Authorization": bearer["Authorization"]}
		if xff != "" {
			h["X-Forwarded-For"] = xff
		}
		resp := proxied.do(t, "GET", "/api/counts", "", h)
		if resp.StatusCode != want {
			t.Errorf("X-Forwarded-For %q: %d, want %d", xff, resp.StatusCode, want)
		}
		resp.Body.Close()
	}
}

func TestUserMiddlewareReplacesLogin(t *testing.T) {
	t.Parallel()
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Auth") != "ok" {
				http.Error(w, "go away", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	b := setup(t, func(c *monitor.Config) { c.Users, c.Tokens, c.Middleware = nil, nil, mw })
	rows := b.seed(t, 2)
	resp := b.do(t, "GET", "/api/tasks", "", nil)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("the middleware did not run: %d", resp.StatusCode)
	}
	auth := map[string]string{"X-Auth": "ok"}
	// The login endpoints are not served: the program's middleware owns that.
	resp = b.do(t, "POST", "/api/login", `{"user":"admin","password":"x"}`, auth)
	resp.Body.Close()
	if resp.StatusCode != 404 && resp.StatusCode != 403 {
		t.Errorf("/api/login with Middleware: %d", resp.StatusCode)
	}
	// CSRF still guards actions: the token is bound to a signed cookie.
	path := "/api/tasks/" + rows[1].ID.String() + "/retry"
	wantError(t, b.do(t, "POST", path, "", auth), 403, "CSRF")
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	resp = b.do(t, "GET", "/api/session", "", auth)
	if err := jsonDecode(resp, &s); err != nil || s.CSRF == "" {
		t.Fatalf("session: %v %+v", err, s)
	}
	resp = b.do(t, "POST", path, "", map[string]string{"X-Auth": "ok", "X-CSRF-Token": s.CSRF})
	if resp.StatusCode != 200 {
		t.Fatalf("retry through the middleware: %d %s", resp.StatusCode, body(resp))
	}
	resp.Body.Close()
}

func TestLoginFormDoesNotRedirectElsewhere(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, next := range []string{"//evil.example/x", "https://evil.example", "/ops/\\evil", "/other/"} {
		form := url.Values{"user": {testUser}, "password": {testPassword}, "next": {next}}
		resp := b.do(t, "POST", "/login?next="+url.QueryEscape(next), form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/ops/" {
			t.Errorf("next %q: %d to %q, want 303 to /ops/", next, resp.StatusCode, loc)
		}
	}
	form := url.Values{"user": {testUser}, "password": {testPassword}}
	wantStatus := 403
	resp := b.do(t, "POST", "/login", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
	resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Errorf("cross-origin login: %d, want %d", resp.StatusCode, wantStatus)
	}
}
