package evertask_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// ptrJob is a task used through a pointer, with a pointer-receiver Kind
// that a nil pointer does not make panic.
type ptrJob struct {
	Note string `json:"note"`
}

func (*ptrJob) Kind() string { return "input.ptr" }

// noteJob is a task whose payload size a test sets through Note.
type noteJob struct {
	Note string `json:"note"`
}

func (noteJob) Kind() string { return "input.note" }

func noop[T evertask.Task]() evertask.Handler[T] {
	return evertask.HandlerFunc[T](func(context.Context, T) error { return nil })
}

func newInputEngine(t *testing.T, cfg *evertask.Config) (*evertask.Engine, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	if cfg == nil {
		cfg = &evertask.Config{}
	}
	cfg.Logger = quiet()
	eng, err := evertask.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	return eng, st
}

// rows counts the tasks in st.
func rows(t *testing.T, st store.Store) int {
	t.Helper()
	page, err := st.List(context.Background(), store.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Tasks)
}

func TestDispatchRejectsTypedNil(t *testing.T) {
	t.Parallel()
	eng, st := newInputEngine(t, nil)
	if err := evertask.Register[*ptrJob](eng, noop[*ptrJob](), nil); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := eng.Dispatch(context.Background(), (*ptrJob)(nil), nil)
	if !errors.Is(err, evertask.ErrInvalidDispatch) || !strings.Contains(err.Error(), "nil *evertask_test.ptrJob") {
		t.Errorf("Dispatch((*ptrJob)(nil)) = %v, want ErrInvalidDispatch naming the nil *ptrJob", err)
	}
	if _, err := eng.DispatchMany(context.Background(), []evertask.Task{&ptrJob{}, (*ptrJob)(nil)}, nil); !errors.Is(err, evertask.ErrInvalidDispatch) {
		t.Errorf("DispatchMany with a typed nil = %v, want ErrInvalidDispatch", err)
	}
	if n := rows(t, st); n != 0 {
		t.Errorf("%d rows written for refused dispatches", n)
	}
	if _, err := eng.Dispatch(context.Background(), &ptrJob{Note: "x"}, nil); err != nil {
		t.Errorf("Dispatch(&ptrJob{}) = %v", err)
	}
}

func TestRegisterAfterStart(t *testing.T) {
	t.Parallel()
	eng, _ := newInputEngine(t, nil)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := evertask.Register[noteJob](eng, noop[noteJob](), nil)
	if !errors.Is(err, evertask.ErrStarted) || !strings.Contains(err.Error(), `"input.note"`) {
		t.Fatalf("Register after Start = %v, want ErrStarted naming the kind", err)
	}
	if _, err := eng.Dispatch(context.Background(), noteJob{}, nil); !errors.Is(err, evertask.ErrUnknownKind) {
		t.Errorf("Dispatch of the refused kind = %v, want ErrUnknownKind", err)
	}
	if err := eng.Start(context.Background()); !errors.Is(err, evertask.ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
}

func TestStartAfterShutdown(t *testing.T) {
	t.Parallel()
	for _, started := range []bool{true, false} {
		eng, _ := newInputEngine(t, nil)
		if started {
			if err := eng.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := eng.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		err := eng.Start(context.Background())
		if !errors.Is(err, evertask.ErrShutdown) || errors.Is(err, evertask.ErrStarted) {
			t.Errorf("Start after Shutdown (started before: %v) = %v, want ErrShutdown", started, err)
		}
		if err := evertask.Register[noteJob](eng, noop[noteJob](), nil); !errors.Is(err, evertask.ErrShutdown) {
			t.Errorf("Register after Shutdown = %v, want ErrShutdown", err)
		}
	}
}

func TestMaxPayloadBytes(t *testing.T) {
	t.Parallel()
	// noteJob's JSON is {"note":"..."}: 11 bytes around the note.
	const overhead = len(`{"note":""}`)
	dispatch := func(t *testing.T, cfg *evertask.Config, size int) (int, error) {
		eng, st := newInputEngine(t, cfg)
		if err := evertask.Register[noteJob](eng, noop[noteJob](), nil); err != nil {
			t.Fatal(err)
		}
		_, err := eng.Dispatch(context.Background(), noteJob{Note: strings.Repeat("x", size-overhead)}, nil)
		return rows(t, st), err
	}
	t.Run("DefaultIsOneMiB", func(t *testing.T) {
		t.Parallel()
		if n, err := dispatch(t, nil, evertask.DefaultMaxPayloadBytes); err != nil || n != 1 {
			t.Errorf("payload of exactly 1 MiB: %v, %d rows; want accepted", err, n)
		}
		n, err := dispatch(t, nil, evertask.DefaultMaxPayloadBytes+1)
		if !errors.Is(err, evertask.ErrPayloadTooLarge) || n != 0 {
			t.Fatalf("payload of 1 MiB + 1: %v, %d rows; want ErrPayloadTooLarge and nothing written", err, n)
		}
		if want := "payload is 1048577 bytes, the limit is 1048576"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	})
	t.Run("Configured", func(t *testing.T) {
		t.Parallel()
		n, err := dispatch(t, &evertask.Config{MaxPayloadBytes: 100}, 101)
		if !errors.Is(err, evertask.ErrPayloadTooLarge) || n != 0 || !strings.Contains(err.Error(), "101 bytes, the limit is 100") {
			t.Errorf("101 bytes over a limit of 100: %v, %d rows", err, n)
		}
		if n, err := dispatch(t, &evertask.Config{MaxPayloadBytes: 100}, 100); err != nil || n != 1 {
			t.Errorf("100 bytes under a limit of 100: %v, %d rows", err, n)
		}
	})
	t.Run("NegativeIsNoLimit", func(t *testing.T) {
		t.Parallel()
		if n, err := dispatch(t, &evertask.Config{MaxPayloadBytes: -1}, 2*evertask.DefaultMaxPayloadBytes); err != nil || n != 1 {
			t.Errorf("2 MiB with no limit: %v, %d rows", err, n)
		}
	})
	t.Run("DispatchManyWritesNothing", func(t *testing.T) {
		t.Parallel()
		eng, st := newInputEngine(t, &evertask.Config{MaxPayloadBytes: 100})
		if err := evertask.Register[noteJob](eng, noop[noteJob](), nil); err != nil {
			t.Fatal(err)
		}
		_, err := eng.DispatchMany(context.Background(), []evertask.Task{noteJob{}, noteJob{Note: strings.Repeat("x", 200)}}, nil)
		if !errors.Is(err, evertask.ErrPayloadTooLarge) {
			t.Errorf("DispatchMany with one large payload: %v, want ErrPayloadTooLarge", err)
		}
		if n := rows(t, st); n != 0 {
			t.Errorf("%d rows written", n)
		}
	})
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
