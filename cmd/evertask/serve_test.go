package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the serve goroutine writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	t.Parallel()
	db := newOpsDB(t)
	env, tokEnv := "EVERTASK_TEST_PASSWORD_"+randomSuffix(), "EVERTASK_TEST_TOKEN_"+randomSuffix()
	os.Setenv(env, "s3cret")
	os.Setenv(tokEnv, "t0ken-for-the-test")
	defer os.Unsetenv(env)
	defer os.Unsetenv(tokEnv)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--dsn", db.path, "--addr", "127.0.0.1:0", "--password-env", env, "--token-env", tokEnv, "--prefix", "/ops"}, &out, &errOut)
	}()
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/ops/`)
	var base string
	deadline := time.Now().Add(20 * time.Second)
	for base == "" {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1] + "/ops"
		} else if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start:\nstdout %s\nstderr %s", out.String(), errOut.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !strings.Contains(out.String(), "with the password in $"+env) {
		t.Errorf("serve does not say where the password comes from:\n%s", out.String())
	}
	get := func(path string, auth bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer t0ken-for-the-test")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get("/api/queues", false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/queues without credentials: %d, want 401", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	// A load balancer's probe: the verdict, without credentials.
	if resp := get("/health", false); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health without credentials: %d, want 200", resp.StatusCode)
	} else if b, _ := io.ReadAll(resp.Body); string(b) != `{"status":"ok"}`+"\n" {
		t.Errorf("GET /health without credentials: %q, want the verdict alone", b)
	}
	resp := get("/api/tasks?status=Failed", true)
	var err error
	var page struct {
		Tasks []struct {
			ID string `json:"id"`
		} `json:"tasks"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != db.failed.ID.String() {
		t.Errorf("GET /api/tasks?status=Failed: %d, %+v, %v; want the failed task", resp.StatusCode, page, err)
	}
	// A person logs in with the user and the password from the variable.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	login, err := browser.Post(base+"/api/login", "application/json", strings.NewReader(`{"user":"admin","password":"s3cret"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != 200 {
		t.Errorf("POST /api/login with the password: %d, want 200", login.StatusCode)
	}
	if resp, err := browser.Get(base + "/api/queues"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /api/queues after login: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("serve ended with %d, want 0 on cancel\nstderr %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}
}

func TestServeBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--prefix", "ops"}, "bad --prefix"},
		{[]string{"serve", "--user", ""}, "--user must not be empty"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
	} {
		r := runCLI(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestDemoServesTheDashboard: the demo serves the monitor over its own
// store and engine, prints where and the login, and with --stay keeps it up
// after the demo until its context ends.
func TestDemoServesTheDashboard(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"demo", "--db", db, "--duration", "1s", "--addr", "127.0.0.1:0", "--stay"}, &out, &errOut)
	}()
	line := regexp.MustCompile(`Dashboard: (http://127\.0\.0\.1:\d+)/  \(log in as admin, password (\S+)\)`)
	var m []string
	deadline := time.Now().Add(30 * time.Second)
	for m == nil {
		// The dashboard is up while the demo runs; wait for the demo's end
		// so the store holds its outcomes.
		if strings.Contains(out.String(), "stays up") {
			m = line.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no dashboard line:\n%s", out.String())
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("the demo did not finish:\nstdout %s\nstderr %s", out.String(), errOut.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	base, password := m[1], m[2]
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	login, err := browser.Post(base+"/api/login", "application/json",
		strings.NewReader(`{"user":"admin","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != 200 {
		t.Fatalf("POST /api/login with the printed password: %d, want 200", login.StatusCode)
	}
	resp, err := browser.Get(base + "/api/tasks?status=Failed")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Tasks []struct {
			Kind string `json:"kind"`
		} `json:"tasks"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || len(page.Tasks) != 1 || page.Tasks[0].Kind != "demo.import_feed" {
		t.Errorf("GET /api/tasks?status=Failed: %d %+v %v; want the demo's failed feed import", resp.StatusCode, page, err)
	}
	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("demo ended with %d, want 0\nstderr %s", c, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the demo did not stop when its context ended")
	}
}
