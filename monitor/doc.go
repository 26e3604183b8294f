// Package monitor is the operator's HTTP side of evertask: a JSON API, a
// live event stream and a dashboard, served by one http.Handler the
// program mounts under any prefix.
//
//	h, err := monitor.New(&monitor.Config{
//		Store:   st,
//		Prefix:  "/ops",
//		Events:  engine, // live events
//		Users:   map[string]string{"admin": os.Getenv("EVERTASK_PASSWORD")},
//	})
//	mux.Handle("/ops/", h)
//
// # API
//
// Reads (GET): /api/tasks (filters status, queue, kind, recurring,
// created_from, created_before, search; sort newest|oldest; limit up to
// MaxPageSize; keyset pages through the opaque after cursor),
// /api/tasks/{id} (the row, a bounded payload, attempts, status and runs
// history, the first page of logs; ?payload=full for the whole payload),
// /api/tasks/{id}/payload, /api/tasks/{id}/logs (level, offset, limit),
// /api/counts, /api/overview (hours, default 24), /api/queues, /api/nodes,
// /api/events (Server-Sent Events), /api/session.
//
// A search tests at most Config.SearchScanLimit tasks a page (the newest
// past the cursor; no index serves a substring match, so a search for text
// few tasks hold would otherwise read the whole table): a page that stops
// there has "scan_limited": true, and its next cursor searches the
// following tasks. The dashboard says so and offers the next ones.
//
// Actions (POST): /api/tasks/{id}/cancel|retry|run|delete (also DELETE
// /api/tasks/{id}), /api/purge, /api/queues/{name}/pause|resume, through
// Config.Actions (package inspect by default, so they work across nodes).
//
// Answers are JSON with snake_case fields, times in RFC 3339 UTC (null when
// unset), errors as {"error": "..."}: 400 for a bad parameter (the message
// names it), 401, 403, 404, 409 for an action the task's status does not
// allow, 429 for too many logins, 501 for what the store or configuration
// cannot do, 503 when the store is unavailable.
//
// # Security
//
// Authentication is required unless Config.NoAuth: users log in with a
// form (passwords compared in constant time, failed attempts rate limited
// per client address) and get a signed, expiring, HttpOnly, SameSite=Strict
// session cookie; scripts send a bearer token. Every state-changing request
// made with the cookie needs the session's CSRF token (the X-CSRF-Token
// header or the csrf_token form field, from /api/session or the page) and
// must not come from another origin. Config.ReadOnly refuses every action;
// Config.AllowIPs admits only listed client addresses, believing
// X-Forwarded-For only from Config.TrustedProxies. Config.Middleware
// replaces the built-in authentication with the program's own. One answer
// needs no credentials: with Config.Health set, a GET or HEAD of /health
// that carries none (a load balancer's probe) gets the verdict alone, 200
// {"status":"ok"} or 503 {"status":"unavailable"}, at most one check a
// second; the report itself needs authentication (Config.HealthPrivate
// turns the verdict off).
//
// # Dashboard
//
// The pages (overview with charts, tasks, task detail, queues, nodes, live
// events, login) are server-rendered from embedded templates with one small
// script; nothing needs a JavaScript toolchain.
package monitor
