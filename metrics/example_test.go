package metrics_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/metrics"
	"github.com/evertask/evertask/store/memstore"
)

type Welcome struct {
	Name string `json:"name"`
}

func (Welcome) Kind() string { return "example.welcome" }

func Example() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(&metrics.Config{Registerer: reg})
	if err != nil {
		panic(err)
	}
	eng, err := evertask.New(memstore.New(), &evertask.Config{
		Logger:   slog.New(slog.DiscardHandler),
		Observer: m.Observer(),
	})
	if err != nil {
		panic(err)
	}
	m.Watch(eng)
	done := make(chan struct{})
	evertask.Register[Welcome](eng, evertask.HandlerFunc[Welcome](func(ctx context.Context, w Welcome) error {
		close(done)
		return nil
	}), nil)
	eng.Start(ctx)
	eng.Dispatch(ctx, Welcome{Name: "ada"}, nil)
	<-done
	eng.Shutdown(ctx) // the outcome is recorded before Shutdown returns

	// Serve reg with metrics.Handler(reg); here it is read directly.
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() == "evertask_tasks_total" {
			for _, s := range f.GetMetric() {
				for _, l := range s.GetLabel() {
					fmt.Printf("%s=%s ", l.GetName(), l.GetValue())
				}
				fmt.Println(s.GetCounter().GetValue())
			}
		}
	}
	// Output: kind=example.welcome outcome=completed queue=default 1
}
