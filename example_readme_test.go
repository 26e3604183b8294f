package evertask_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/sqlitestore"
)

// SendEmail is a task: a struct that survives a JSON round trip, with a kind.
type SendEmail struct {
	To string `json:"to"`
}

func (SendEmail) Kind() string { return "email.send" } // stable: survives renaming the Go type

func Example_readme() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "evertask-readme")
	must(err)
	defer os.RemoveAll(dir)

	// The embedded store; or memstore.New(), pgstore.New(ctx, pool, nil), redisstore.New(ctx, client, nil).
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "tasks.db"), nil)
	must(err)
	defer st.Close()
	eng, err := evertask.New(st, &evertask.Config{
		Retry:      evertask.Exponential(5, 10*time.Millisecond, time.Minute),
		LogCapture: evertask.LogCaptureConfig{Enabled: true}, // off by default
	})
	must(err)
	err = evertask.Register[SendEmail](eng, evertask.HandlerFunc[SendEmail](func(ctx context.Context, m SendEmail) error {
		evertask.Logger(ctx).Info("sending", "to", m.To) // to your logger, and stored with the task
		if m.To == "flaky@example.com" && evertask.Attempt(ctx) == 1 {
			return errors.New("smtp: try again later")
		}
		return nil
	}), &evertask.HandlerOpts{Timeout: 30 * time.Second})
	must(err)
	must(eng.Start(ctx)) // after every Register: it recovers what a previous run left

	now, err := eng.Dispatch(ctx, SendEmail{To: "a@example.com"}, nil) // durable once it returns
	must(err)
	flaky, err := eng.Dispatch(ctx, SendEmail{To: "flaky@example.com"}, nil)
	must(err)
	later, err := eng.Dispatch(ctx, SendEmail{To: "b@example.com"}, &evertask.DispatchOpts{Delay: time.Hour})
	must(err)
	daily := schedule.Daily().At(3, 0).AtMost(100)
	_, err = eng.Dispatch(ctx, SendEmail{To: "report@example.com"}, // recurring, idempotent by key
		&evertask.DispatchOpts{Schedule: &daily, Key: "nightly-report"})
	must(err)

	done, err := eng.Wait(ctx, now) // until Completed, Failed or Cancelled
	must(err)
	fmt.Println(done.Status)
	_, err = eng.Wait(ctx, flaky)
	must(err)
	must(eng.Cancel(ctx, later))
	must(eng.Shutdown(ctx)) // stop intake, let handlers finish until ctx ends, then cancel them

	// Every outcome is written, with its logs and failed attempts.
	logs, err := eng.Logs(ctx, store.LogQuery{TaskID: now})
	must(err)
	fmt.Println(logs.Logs[0].Level, logs.Logs[0].Message)
	info, err := eng.Task(ctx, flaky) // the row, its failed attempts and its history
	must(err)
	fmt.Println(info.Status, "after", len(info.Attempts), "failed attempt:", info.Attempts[0].Error)
	// Output:
	// Completed
	// INFO sending to=a@example.com
	// Completed after 1 failed attempt: smtp: try again later
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
