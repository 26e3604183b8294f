//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlitestore_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/evertask/evertask/store"
)

// Where the store has flock (liveness_flock.go), a dead node is proven gone.

// TestNodeGoneOnlyWhenItsProcessDies runs a node in a child process: it is
// not Gone while it runs nor while it is stopped (SIGSTOP keeps its
// descriptors), and Gone once SIGKILL ended it, with no goodbye written.
func TestNodeGoneOnlyWhenItsProcessDies(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	if err := s.JoinCluster(t.Context(), store.Node{ID: "parent", StartedAt: base}); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "node", path, "child")
	if !c.out.Scan() || c.out.Text() != "joined" {
		c.cmd.Wait()
		t.Fatalf("child did not join: %q %v, stderr %s", c.out.Text(), c.out.Err(), c.err.String())
	}
	gone := func(when string) bool {
		t.Helper()
		nodes, err := s.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var found *store.Node
		for i := range nodes {
			if nodes[i].ID == "parent" && nodes[i].Gone {
				t.Fatalf("%s: this process's own node is Gone", when)
			}
			if nodes[i].ID == "child" {
				found = &nodes[i]
			}
		}
		if found == nil {
			t.Fatalf("%s: the child node is not registered: %+v", when, nodes)
		}
		return found.Gone
	}
	if gone("running") {
		t.Fatal("a running child node is Gone")
	}
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if gone("stopped") {
		t.Fatal("a stopped (SIGSTOP) child node is Gone")
	}
	if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if gone("continued") {
		t.Fatal("a continued child node is Gone")
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait() // reaped: the kernel closed its descriptors
	if !gone("killed") {
		t.Fatal("a killed child node is not Gone")
	}
	// The survivor cleans up: the registration and the lock file go.
	if err := s.LeaveCluster(t.Context(), "child"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path+".nodes", "child.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dead node's lock file after LeaveCluster: %v", err)
	}
}
