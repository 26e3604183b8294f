package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store/sqlitestore"
)

type flaky struct{}

func (flaky) Kind() string { return "cli.flaky" }

// TestTasksShowRetriedTask runs a task that fails twice then succeeds
// (audit Full, log capture on) and reads it back with `tasks show`: both
// failed attempts appear with their errors.
func TestTasksShowRetriedTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "retried.db")
	st, err := sqlitestore.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := evertask.New(st, &evertask.Config{
		Retry: evertask.Linear(3, time.Millisecond), AuditLevel: evertask.AuditFull,
		LogCapture: evertask.LogCaptureConfig{Enabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tries atomic.Int32
	err = evertask.Register(eng, evertask.HandlerFunc[flaky](func(ctx context.Context, _ flaky) error {
		n := tries.Add(1)
		evertask.Logger(ctx).Info(fmt.Sprintf("try %d", n))
		if n <= 2 {
			return fmt.Errorf("flaky failure number %d", n)
		}
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := eng.Dispatch(ctx, flaky{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if row, err := eng.Wait(wctx, id); err != nil || row.Status != evertask.StatusCompleted {
		t.Fatalf("Wait = %v, %v; want Completed", row, err)
	}
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()

	r := runCLI(t, "tasks", "show", id.String(), "--dsn", db)
	r.mustSucceed(t)
	for _, want := range []string{
		"status          Completed",
		"failed attempts (2, oldest first):",
		"run 1 attempt 1", "flaky failure number 1",
		"run 1 attempt 2", "flaky failure number 2",
		"logs (3):", "try 3",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tasks show lacks %q:\n%s", want, r.stdout)
		}
	}
}
