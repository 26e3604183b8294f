package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/evertask/evertask/health"
	"github.com/evertask/evertask/monitor"
)

const serveSynopsis = `serve [store flags] [--addr 127.0.0.1:8080] [--user admin] [--password-env EVERTASK_PASSWORD] [--token-env EVERTASK_TOKEN] [--read-only] [--prefix /ops]`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveSynopsis, stderr)
	var sf storeFlags
	sf.add(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	user := fs.String("user", "admin", "login name of the dashboard (its login form, or POST /api/login)")
	pwEnv := fs.String("password-env", "EVERTASK_PASSWORD", "environment variable holding the password; when it is unset a random password is made and printed")
	tokenEnv := fs.String("token-env", "EVERTASK_TOKEN", "environment variable holding a bearer token for API clients (Authorization: Bearer ...); unset: no token")
	readOnly := fs.Bool("read-only", false, "serve without the actions (cancel, retry, pause, purge, ...)")
	prefix := fs.String("prefix", "", "path the dashboard is served under, e.g. /ops (default: the root)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	if *prefix != "" && (!strings.HasPrefix(*prefix, "/") || strings.HasSuffix(*prefix, "/")) {
		return valueErr("bad --prefix %q: want a path that starts and does not end with a slash, e.g. /ops", *prefix)
	}
	if *user == "" {
		return valueErr("--user must not be empty")
	}
	password, printed := os.Getenv(*pwEnv), false
	if password == "" {
		if password, err = randomPassword(); err != nil {
			return err
		}
		printed = true
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	var tokens []string
	if tok := os.Getenv(*tokenEnv); tok != "" {
		tokens = []string{tok}
	}
	h, err := monitor.New(&monitor.Config{
		Store: st.Store, Prefix: *prefix, Users: map[string]string{*user: password}, Tokens: tokens, ReadOnly: *readOnly,
		// The store's reachability: a probe without credentials gets 200 or
		// 503 and nothing else, a logged-in user the whole report.
		Health: health.New(st.Store, nil),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %v: choose another --addr", *addr, errors.Unwrap(err))
	}
	srv := dashboardServer(h, *prefix)
	fmt.Fprintf(stdout, "evertask dashboard on http://%s%s/\n", ln.Addr(), *prefix)
	if printed {
		fmt.Fprintf(stdout, "log in as %s with password %s (set $%s to choose it)\n", *user, password, *pwEnv)
	} else {
		fmt.Fprintf(stdout, "log in as %s with the password in $%s\n", *user, *pwEnv)
	}
	if tokens != nil {
		fmt.Fprintf(stdout, "API clients: Authorization: Bearer with the token in $%s\n", *tokenEnv)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stopServer(srv, served)
	return nil
}

// dashboardServer serves the monitor's handler under prefix ("" for the
// root).
func dashboardServer(h http.Handler, prefix string) *http.Server {
	mux := http.NewServeMux()
	if prefix == "" {
		mux.Handle("/", h)
	} else {
		mux.Handle(prefix+"/", h)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// stopServer shuts srv down, giving open requests (a live event stream
// holds one) five seconds, and waits for Serve to return on served.
func stopServer(srv *http.Server, served <-chan error) {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	<-served
}

// randomPassword makes a password for a dashboard whose user chose none.
func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
