package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evertask/evertask"
)

// Config configures Metrics. A nil *Config uses every default.
type Config struct {
	// Registerer receives the collectors. Default:
	// prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// Namespace prefixes every metric name. Default "evertask".
	Namespace string
	// ConstLabels are added to every metric, for instance a node label
	// when several engines share one process and one registry. Default
	// none.
	ConstLabels prometheus.Labels
	// ExecutionBuckets are the upper bounds, in seconds, of the execution
	// time histogram. Default: 1 ms to about 16 minutes, by factors of 4.
	ExecutionBuckets []float64
	// WaitBuckets are those of the dispatch-to-start histogram. Default:
	// the same as ExecutionBuckets.
	WaitBuckets []float64
}

// Metrics collects an engine's metrics. Create it with New, give
// Observer() to the engine's Config, then Watch the engine.
type Metrics struct {
	started    *prometheus.CounterVec
	ended      *prometheus.CounterVec
	execution  *prometheus.HistogramVec
	wait       *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	storeErrs  *prometheus.CounterVec
	takeovers  *prometheus.CounterVec
	queues     *queueCollector
	byKind     sync.Map // kindKey -> *kindSeries
	registerer prometheus.Registerer
}

// kindKey names the series of one queue and kind.
type kindKey struct{ queue, kind string }

// kindSeries holds the resolved series of one queue and kind, so an event
// costs a map read and atomic adds, not a label hash per metric.
type kindSeries struct {
	started   prometheus.Counter
	execution prometheus.Observer
	wait      prometheus.Observer
	retries   prometheus.Counter
	outcomes  sync.Map // outcome string -> prometheus.Counter
	ended     *prometheus.CounterVec
	key       kindKey
}

// defaultBuckets: 1 ms, 4 ms, ... about 1,000 s.
var defaultBuckets = prometheus.ExponentialBuckets(0.001, 4, 11)

// New creates the collectors and registers them. It fails when the
// registerer already holds metrics of the same names and labels (a second
// Metrics on one registry needs other ConstLabels or another Namespace).
func New(cfg *Config) (*Metrics, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.DefaultRegisterer
	}
	if c.Namespace == "" {
		c.Namespace = "evertask"
	}
	if c.ExecutionBuckets == nil {
		c.ExecutionBuckets = defaultBuckets
	}
	if c.WaitBuckets == nil {
		c.WaitBuckets = c.ExecutionBuckets
	}
	ns, cl := c.Namespace, c.ConstLabels
	kind := []string{"queue", "kind"}
	m := &Metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_started_total",
			Help: "Executions begun, by queue and kind.", ConstLabels: cl}, kind),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tasks_total",
			Help:        "Executions ended, by queue, kind and outcome (completed, failed, timed_out, cancelled, stopped), and tasks poisoned or recovered.",
			ConstLabels: cl}, []string{"queue", "kind", "outcome"}),
		execution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "task_execution_seconds",
			Help: "Execution time of completed and failed executions, retries and their delays included.", ConstLabels: cl,
			Buckets: c.ExecutionBuckets}, kind),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "task_wait_seconds",
			Help: "Time from when a task was due (dispatched, scheduled or its occurrence) to its start.", ConstLabels: cl,
			Buckets: c.WaitBuckets}, kind),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "task_retries_total",
			Help: "Failed attempts followed by another attempt.", ConstLabels: cl}, kind),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "store_errors_total",
			Help: "Failed store calls of the engine, by operation.", ConstLabels: cl}, []string{"op"}),
		takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "lease_takeovers_total",
			Help: "Tasks this node took back from a node whose lease expired or that is gone.", ConstLabels: cl}, []string{"queue"}),
		queues:     newQueueCollector(ns, cl),
		registerer: c.Registerer,
	}
	for _, col := range []prometheus.Collector{m.started, m.ended, m.execution, m.wait, m.retries, m.storeErrs, m.takeovers, m.queues} {
		if err := c.Registerer.Register(col); err != nil {
			return nil, fmt.Errorf("register evertask metrics: %w", err)
		}
	}
	return m, nil
}

// Observer returns the hook to set as evertask.Config.Observer.
func (m *Metrics) Observer() evertask.Observer {
	return evertask.Observer{
		Event: m.event,
		StoreError: func(op string, _ error) {
			m.storeErrs.WithLabelValues(op).Inc()
		},
		TakeOver: func(_ uuid.UUID, _, queue string) {
			m.takeovers.WithLabelValues(queue).Inc()
		},
	}
}

// Watch makes the queue gauges report e (read at every scrape from
// e.QueueStats). One Metrics watches one engine; watching another replaces
// it.
func (m *Metrics) Watch(e *evertask.Engine) { m.queues.engine.Store(e) }

// Handler serves the metrics of g in the Prometheus text format: mount it
// at /metrics (or give it to monitor.Config).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

func (m *Metrics) series(queue, kind string) *kindSeries {
	k := kindKey{queue, kind}
	if s, ok := m.byKind.Load(k); ok {
		return s.(*kindSeries)
	}
	s := &kindSeries{
		started:   m.started.WithLabelValues(queue, kind),
		execution: m.execution.WithLabelValues(queue, kind),
		wait:      m.wait.WithLabelValues(queue, kind),
		retries:   m.retries.WithLabelValues(queue, kind),
		ended:     m.ended,
		key:       k,
	}
	got, _ := m.byKind.LoadOrStore(k, s)
	return got.(*kindSeries)
}

func (s *kindSeries) outcome(o string) prometheus.Counter {
	if c, ok := s.outcomes.Load(o); ok {
		return c.(prometheus.Counter)
	}
	c, _ := s.outcomes.LoadOrStore(o, s.ended.WithLabelValues(s.key.queue, s.key.kind, o))
	return c.(prometheus.Counter)
}

// event turns one lifecycle event into metrics.
func (m *Metrics) event(ev evertask.Event) {
	s := m.series(ev.Queue, ev.Kind)
	switch ev.Type {
	case evertask.EventStarted:
		s.started.Inc()
		s.wait.Observe(ev.Waited.Seconds())
	case evertask.EventRetried:
		s.retries.Inc()
	case evertask.EventCompleted, evertask.EventFailed, evertask.EventTimedOut:
		s.outcome(string(ev.Type)).Inc()
		if ev.Duration > 0 {
			s.execution.Observe(ev.Duration.Seconds())
		}
	case evertask.EventCancelled, evertask.EventStopped, evertask.EventPoisoned, evertask.EventRecovered:
		s.outcome(string(ev.Type)).Inc()
	}
}

// Unregister removes the collectors from the registerer they were
// registered with.
func (m *Metrics) Unregister() error {
	var errs []error
	for _, col := range []prometheus.Collector{m.started, m.ended, m.execution, m.wait, m.retries, m.storeErrs, m.takeovers, m.queues} {
		if !m.registerer.Unregister(col) {
			errs = append(errs, fmt.Errorf("unregister %T: not registered", col))
		}
	}
	return errors.Join(errs...)
}

// queueCollector reads the watched engine's queues at scrape time.
type queueCollector struct {
	engine                                atomic.Pointer[evertask.Engine]
	depth, busy, workers, paused, dropped *prometheus.Desc
}

func newQueueCollector(ns string, cl prometheus.Labels) *queueCollector {
	q := []string{"queue"}
	return &queueCollector{
		depth: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "queue_depth"),
			"Tasks waiting in this engine's queue buffer for a worker.", q, cl),
		busy: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "queue_busy_workers"),
			"Workers of the queue running a handler.", q, cl),
		workers: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "queue_workers"),
			"Workers of the queue.", q, cl),
		paused: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "queue_paused"),
			"1 while the queue is paused (cluster-wide, as this engine last read it), else 0.", q, cl),
		dropped: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "events_dropped_total"),
			"Lifecycle events subscribers lost to full buffers.", nil, cl),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.busy
	ch <- c.workers
	ch <- c.paused
	ch <- c.dropped
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.engine.Load()
	if e == nil {
		return
	}
	for _, q := range e.QueueStats() {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Buffered), q.Name)
		ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, float64(q.Busy), q.Name)
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(q.Workers), q.Name)
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(e.DroppedEvents()))
}
