package monitor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The cookies and header the monitor uses.
const (
	sessionCookie = "evertask_session"
	csrfCookie    = "evertask_csrf" // only with Middleware: a signed id the CSRF token is bound to
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf_token"
)

// principal is who a request comes from once authenticated.
type principal struct {
	user   string
	sid    string // session id the CSRF token is bound to; "" for bearer and Basic requests
	bearer bool   // credentials a browser never sends on its own: no CSRF check
}

// sessions signs and checks session cookies: base64url(user|expiry|sid)
// "." base64url(HMAC-SHA256). The key never leaves the process; a changed
// or expired cookie is no session.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

func (s *sessions) sign(msg string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *sessions) issue(user string) (value string, sid string, expires time.Time) {
	b := make([]byte, 16)
	rand.Read(b)
	sid = base64.RawURLEncoding.EncodeToString(b)
	expires = s.now().Add(s.ttl)
	body := base64.RawURLEncoding.EncodeToString([]byte(user)) + "|" + strconv.FormatInt(expires.Unix(), 10) + "|" + sid
	return body + "." + s.sign("session|"+body), sid, expires
}

func (s *sessions) check(value string) (user, sid string, ok bool) {
	body, sig, found := strings.Cut(value, ".")
	if !found || len(value) > 1024 {
		return "", "", false
	}
	if !hmac.Equal([]byte(sig), []byte(s.sign("session|"+body))) {
		return "", "", false
	}
	parts := strings.Split(body, "|")
	if len(parts) != 3 {
		return "", "", false
	}
	u, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return "", "", false
	}
	return string(u), parts[2], true
}

// csrfToken is the token a session's forms and scripts send back: bound to
// the session id, so a token of another session (or of none) is refused.
func (s *sessions) csrfToken(sid string) string { return s.sign("csrf|" + sid) }

// csrfID is the signed random id of the CSRF cookie used with Middleware,
// where there is no session of ours to bind the token to.
func (s *sessions) newCSRFID() string {
	b := make([]byte, 16)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	return id + "." + s.sign("csrfid|"+id)
}

func (s *sessions) checkCSRFID(v string) (string, bool) {
	id, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 256 || !hmac.Equal([]byte(sig), []byte(s.sign("csrfid|"+id))) {
		return "", false
	}
	return id, true
}

// credentials checks users and tokens in constant time: every configured
// entry is compared, so the time does not say which name exists.
type credentials struct {
	users  map[string]string
	tokens []string
}

func (c *credentials) checkUser(name, password string) bool {
	ok := 0
	for u, p := range c.users {
		ok |= subtle.ConstantTimeCompare([]byte(u), []byte(name)) & subtle.ConstantTimeCompare([]byte(p), []byte(password))
	}
	return ok == 1
}

func (c *credentials) checkToken(tok string) bool {
	ok := 0
	for _, t := range c.tokens {
		ok |= subtle.ConstantTimeCompare([]byte(t), []byte(tok))
	}
	return ok == 1
}

// limiter is a token bucket per client address for failed logins. The map
// is bounded: when full, buckets that refilled are dropped, and if none did
// the client is refused (an attacker spraying addresses cannot grow it).
type limiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxLimiterEntries = 10_000

func (l *limiter) refill(b *bucket, now time.Time) {
	b.tokens = min(float64(l.burst), b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
}

// allow reports whether addr may try to log in now, and if not, when.
func (l *limiter) allow(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		return true, 0
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// fail spends one attempt of addr.
func (l *limiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxLimiterEntries {
			for k, o := range l.buckets {
				l.refill(o, now)
				if o.tokens >= float64(l.burst) {
					delete(l.buckets, k)
				}
			}
		}
		if len(l.buckets) >= maxLimiterEntries {
			return // full of active attackers: allow() still refuses those
		}
		b = &bucket{tokens: float64(l.burst), at: now}
		l.buckets[addr] = b
	}
	l.refill(b, now)
	b.tokens = max(b.tokens-1, 0)
}

// clientIP returns the address of the client: the connection's peer, or,
// when that peer is a trusted proxy, the rightmost X-Forwarded-For entry that
// is not itself a trusted proxy. Entries left of an untrusted one are what
// the client wrote and are never believed.
func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	addr = addr.Unmap()
	if !inPrefixes(addr, trusted) {
		return addr, true
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false // a garbled chain: trust nothing
		}
		addr = a.Unmap()
		if !inPrefixes(addr, trusted) {
			return addr, true
		}
	}
	return addr, true
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether a state-changing browser request comes from the
// monitor's own pages. Browsers send Origin (or Sec-Fetch-Site) on every
// cross-site POST; a missing header is a non-browser client, which the CSRF
// token check still covers.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if origin == "null" {
		return false
	}
	o, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		if o, ok = strings.CutPrefix(origin, "https://"); !ok {
			return false
		}
	}
	return strings.EqualFold(o, r.Host)
}
