package evertask_test

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

type Greet struct {
	Name string `json:"name"`
}

func (Greet) Kind() string { return "example.greet" }

func Example() {
	ctx := context.Background()
	eng, err := evertask.New(memstore.New(), nil)
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	err = evertask.Register[Greet](eng, evertask.HandlerFunc[Greet](func(ctx context.Context, g Greet) error {
		fmt.Println("hello,", g.Name)
		close(done)
		return nil
	}), nil)
	if err != nil {
		panic(err)
	}
	if err := eng.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := eng.Dispatch(ctx, Greet{Name: "world"}, nil); err != nil {
		panic(err)
	}
	<-done
	if err := eng.Shutdown(ctx); err != nil {
		panic(err)
	}
	// Output: hello, world
}

type flaky struct{ calls int }

func (f *flaky) Handle(ctx context.Context, g Greet) error {
	f.calls++
	if f.calls < 3 {
		return fmt.Errorf("attempt %d: service unavailable", evertask.Attempt(ctx))
	}
	return nil
}

// A handler may implement hooks; OnRetry sees each failed attempt.
func (f *flaky) OnRetry(ctx context.Context, g Greet, attempt int, err error, delay time.Duration) {
	fmt.Printf("retry after attempt %d: %v\n", attempt, err)
}

func ExampleLinear() {
	ctx := context.Background()
	st := memstore.New()
	eng, _ := evertask.New(st, nil)
	_ = evertask.Register[Greet](eng, &flaky{}, &evertask.HandlerOpts{
		Retry: evertask.Linear(3, 10*time.Millisecond),
	})
	_ = eng.Start(ctx)
	id, _ := eng.Dispatch(ctx, Greet{Name: "retry"}, nil)
	for {
		if t, err := st.Get(ctx, id); err == nil && t.Status == store.StatusCompleted {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_ = eng.Shutdown(ctx)
	// Output:
	// retry after attempt 1: attempt 1: service unavailable
	// retry after attempt 2: attempt 2: service unavailable
}
