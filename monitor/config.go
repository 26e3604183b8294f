package monitor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
)

// Config configures the monitor. Store is required; so is one way of
// authenticating (Users or Tokens, Middleware, or NoAuth), since the
// handler can cancel and delete tasks.
type Config struct {
	// Store is the store to show and act on. Required.
	Store store.Store

	// Prefix is the path the handler is mounted under, without a trailing
	// slash ("/ops"); "" mounts it at the root. The handler strips it, so
	// mount it with mux.Handle(prefix+"/", h), not with http.StripPrefix.
	Prefix string

	// Events is the source of the live event stream (an *evertask.Engine).
	// Without it the stream shows the cluster notices of a store that is a
	// store.Notifier (dispatches, cancels and joins from every node), and
	// answers 503 on a store that is neither.
	Events EventSource

	// Actions carries out the act endpoints. Default: an
	// *inspect.Inspector over Store, with Now and Logger.
	Actions Actions

	// Users maps user names to passwords for the login form (the page, or
	// POST /api/login with {"user", "password"}). Names and passwords are
	// compared in constant time. Scripts use Tokens.
	Users map[string]string
	// Tokens are bearer tokens accepted in "Authorization: Bearer <token>",
	// compared in constant time. A bearer request needs no CSRF token: a
	// browser never sends it on its own.
	Tokens []string
	// Middleware, when set, replaces the built-in authentication: it wraps
	// every request and must reject the ones it does not accept. CSRF checks,
	// read-only mode and the IP allow-list still apply.
	Middleware func(http.Handler) http.Handler
	// NoAuth serves without authentication. Only for a monitor reachable by
	// nobody else (the IP allow-list can enforce that).
	NoAuth bool

	// SessionKey signs session cookies and CSRF tokens; at least 32 bytes.
	// Default: a random key, so sessions end with the process and are not
	// shared between replicas.
	SessionKey []byte
	// SessionTTL is how long a login lasts; default 12 hours.
	SessionTTL time.Duration
	// SecureCookie sets the Secure flag on the session cookie whatever the
	// request; default: only for requests that arrived over TLS.
	SecureCookie bool

	// LoginRate and LoginBurst limit failed logins per client address:
	// LoginBurst attempts at once, then one per LoginRate. Defaults: 5 and
	// one per 12 seconds.
	LoginRate  time.Duration
	LoginBurst int

	// ReadOnly rejects every action with 403; the dashboard hides them.
	ReadOnly bool

	// AllowIPs, when not empty, admits only clients whose address is in one
	// of the prefixes (403 otherwise).
	AllowIPs []netip.Prefix
	// TrustedProxies are the addresses allowed to say who the client is in
	// X-Forwarded-For; from anyone else the header is ignored.
	TrustedProxies []netip.Prefix

	// Metrics, when set, is served at /metrics (a Prometheus handler), and
	// Health at /health. Both go through the same authentication and
	// allow-list as the rest, with one exception for a load balancer's
	// probe: a GET or HEAD of /health that carries no credentials (no
	// Authorization header, no cookie) is answered without authentication
	// with the verdict alone, 200 {"status":"ok"} or 503
	// {"status":"unavailable"}, taken from Health's status code; Health's
	// report (probes, errors, nodes) goes only to authenticated requests.
	// The verdict is computed at most once a second, whatever the rate of
	// probes. The allow-list still applies: admit the prober's address.
	Metrics http.Handler
	Health  http.Handler
	// HealthPrivate puts /health wholly behind authentication: no verdict
	// without credentials.
	HealthPrivate bool

	// PayloadLimit is how many bytes of a payload the task detail shows;
	// ?payload=full or /api/tasks/{id}/payload gives it whole. Default 4096.
	PayloadLimit int
	// SearchScanLimit bounds the rows one page of a task search (the search
	// parameter) tests: at most the newest SearchScanLimit tasks past the
	// page's cursor that pass the other filters (store.Filter.ScanLimit).
	// No index serves a substring search, so without a bound a search that
	// matches little reads the whole table. A page that stops there says so
	// (scan_limited in the API, a line on the page) and its next cursor
	// searches the following rows. Default DefaultSearchScanLimit; negative
	// searches every row in one request.
	SearchScanLimit int
	// OverviewScan bounds the rows read for the overview of a store without
	// store.Stats (see store.GetOverview); default store.DefaultOverviewScan.
	OverviewScan int

	// CacheTTL is how long the aggregates (the counts per queue and status,
	// the overview's series) are served before one background refresh;
	// the answers carry computed_at. Default 5s; negative turns the cache
	// off, so every request scans.
	CacheTTL time.Duration
	// NoPreload stops New from computing the counts per queue and status
	// in the background at once. With the preload, the first page does not
	// wait for that aggregate, which on a store of a million tasks is a scan
	// of an index that takes a second or more; a request that comes while
	// it runs waits for it rather than starting another.
	NoPreload bool

	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives errors the client does not see in full; default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultSearchScanLimit is Config.SearchScanLimit's default: a search
// page over 1,000,000 SQLite or PostgreSQL rows that matches none of them
// answers in about 100 ms on a 2-core machine (BENCHMARKS.md).
const DefaultSearchScanLimit = 50_000

// EventSource is a source of lifecycle events; *evertask.Engine is one.
type EventSource interface {
	Subscribe(buffer int) (<-chan evertask.Event, func())
}

// Actions is what the act endpoints call; *inspect.Inspector implements
// it. Errors wrapping store.ErrNotFound answer 404, store.ErrInvalid 400,
// ErrConflict (a task in a status the action does not allow) 409.
type Actions interface {
	Cancel(ctx context.Context, id uuid.UUID) error
	Retry(ctx context.Context, id uuid.UUID) error
	RunNow(ctx context.Context, id uuid.UUID) error
	Delete(ctx context.Context, id uuid.UUID) error
	Purge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error)
	PauseQueue(ctx context.Context, queue string) error
	ResumeQueue(ctx context.Context, queue string) error
}

// ErrConfig is returned by New for a configuration it cannot serve.
var ErrConfig = errors.New("monitor: invalid configuration")

func (c *Config) withDefaults() (Config, error) {
	if c == nil {
		return Config{}, fmt.Errorf("%w: nil config", ErrConfig)
	}
	cfg := *c
	if cfg.Store == nil {
		return cfg, fmt.Errorf("%w: no store", ErrConfig)
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return cfg, fmt.Errorf("%w: prefix %q does not start with /", ErrConfig, cfg.Prefix)
	}
	auth := 0
	if len(cfg.Users) > 0 || len(cfg.Tokens) > 0 {
		auth++
	}
	if cfg.Middleware != nil {
		auth++
	}
	if cfg.NoAuth {
		auth++
	}
	if auth != 1 {
		return cfg, fmt.Errorf("%w: choose exactly one of Users/Tokens, Middleware or NoAuth (got %d)", ErrConfig, auth)
	}
	for name, pw := range cfg.Users {
		if name == "" || pw == "" {
			return cfg, fmt.Errorf("%w: a user with an empty name or password", ErrConfig)
		}
	}
	for _, tok := range cfg.Tokens {
		if len(tok) < 16 {
			return cfg, fmt.Errorf("%w: a bearer token shorter than 16 bytes", ErrConfig)
		}
	}
	if cfg.SessionKey == nil {
		cfg.SessionKey = make([]byte, 32)
		rand.Read(cfg.SessionKey)
	} else if len(cfg.SessionKey) < 32 {
		return cfg, fmt.Errorf("%w: session key of %d bytes, want at least 32", ErrConfig, len(cfg.SessionKey))
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.LoginRate <= 0 {
		cfg.LoginRate = 12 * time.Second
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 5
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	if cfg.SearchScanLimit == 0 {
		cfg.SearchScanLimit = DefaultSearchScanLimit
	}
	if cfg.PayloadLimit <= 0 {
		cfg.PayloadLimit = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Actions == nil {
		cfg.Actions = inspect.New(cfg.Store, &inspect.Config{Now: cfg.Now, Logger: cfg.Logger})
	}
	return cfg, nil
}
