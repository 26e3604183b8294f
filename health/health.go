// Package health reports whether an evertask node can work: its store
// answers, and (given the engine) the engine runs and its heartbeat in the
// store's node registry is fresh. It serves the report as JSON with 200
// when healthy and 503 when not, for load balancers, orchestrators' probes
// and the monitor (monitor.Config.Health).
package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// Config configures a Checker. A nil *Config uses every default.
type Config struct {
	// Engine, when set, is the node this process runs: the report says
	// whether it has started and is not shutting down and, on a store
	// with a node registry (store.Cluster), whether its heartbeat is
	// fresh. Unset, only the store is checked.
	Engine *evertask.Engine
	// Timeout bounds one check. Default 2s.
	Timeout time.Duration
	// StaleAfter is the heartbeat age past which a node counts as not
	// alive. Default 30s, the default lease: a node silent that long has
	// lost its tasks to the others.
	StaleAfter time.Duration
	// Now is the clock of the report's time; default time.Now. Heartbeat
	// ages use the store's clock when it has one.
	Now func() time.Time
}

// Report is the result of a check, as the handler serves it.
type Report struct {
	// Status is "ok" when the store answers and this node (when known)
	// is alive, else "unavailable".
	Status    string    `json:"status"`
	CheckedAt time.Time `json:"checked_at"`
	Store     Probe     `json:"store"`
	// Node is this process's engine; nil without Config.Engine.
	Node *NodeHealth `json:"node,omitempty"`
	// Nodes are every node in the store's registry (stores with
	// store.Cluster); a dead peer does not make this node unhealthy.
	Nodes []NodeHealth `json:"nodes,omitempty"`
}

// Probe is the outcome of the store check.
type Probe struct {
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// NodeHealth is the liveness of one node.
type NodeHealth struct {
	ID string `json:"id"`
	// Alive: registered, not proven gone, heartbeat younger than
	// StaleAfter; for this node also started and not shutting down.
	Alive bool `json:"alive"`
	// Running is set for this node only: started and not shutting down.
	Running       *bool     `json:"running,omitempty"`
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	HeartbeatAge  float64   `json:"heartbeat_age_seconds,omitempty"`
	Gone          bool      `json:"gone,omitempty"`
	Reason        string    `json:"reason,omitempty"` // why not alive
}

// Checker checks a store and, optionally, an engine. It is an
// http.Handler serving the Report.
type Checker struct {
	st  store.Store
	cfg Config
}

// New returns a Checker of st.
func New(st store.Store, cfg *Config) *Checker {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Checker{st: st, cfg: c}
}

// Check runs the checks once, bounded by ctx and Config.Timeout.
func (c *Checker) Check(ctx context.Context) Report {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	r := Report{Status: "ok", CheckedAt: c.cfg.Now().UTC()}
	cl, cluster := c.st.(store.Cluster)

	// The store: its clock where it has one (a round trip that reads
	// nothing), else a read of an id nobody holds.
	began := time.Now()
	var storeNow time.Time
	var err error
	if cluster {
		storeNow, err = cl.Now(ctx)
	} else {
		_, err = c.st.Get(ctx, uuid.New())
		if errorsIsNotFound(err) {
			err = nil
		}
	}
	r.Store.LatencyMS = float64(time.Since(began).Microseconds()) / 1000
	if err != nil {
		r.Store.Error = err.Error()
		r.Status = "unavailable"
	} else {
		r.Store.OK = true
	}

	var self *NodeHealth
	if e := c.cfg.Engine; e != nil {
		running := e.Running()
		self = &NodeHealth{ID: e.NodeID(), Running: &running, Alive: running}
		if !running {
			self.Reason = "the engine is not running"
		}
		r.Node = self
	}
	if cluster && r.Store.OK {
		nodes, err := cl.Nodes(ctx)
		if err != nil {
			r.Store.OK, r.Store.Error, r.Status = false, "read the node registry: "+err.Error(), "unavailable"
		}
		for _, n := range nodes {
			h := NodeHealth{ID: n.ID, LastHeartbeat: n.LastHeartbeat.UTC(), Gone: n.Gone, Alive: true}
			age := storeNow.Sub(n.LastHeartbeat)
			h.HeartbeatAge = age.Seconds()
			switch {
			case n.Gone:
				h.Alive, h.Reason = false, "its process has ended"
			case age > c.cfg.StaleAfter:
				h.Alive, h.Reason = false, "no heartbeat for "+age.Round(time.Millisecond).String()
			}
			if self != nil && n.ID == self.ID {
				running := *self.Running
				h.Running = &running
				if !running {
					h.Alive, h.Reason = false, self.Reason
				}
				*self = h
				r.Node = self
			}
			r.Nodes = append(r.Nodes, h)
		}
		if self != nil && self.Alive && self.ID != "" && self.LastHeartbeat.IsZero() && err == nil {
			self.Alive, self.Reason = false, "not in the store's node registry"
		}
	}
	if self != nil && !self.Alive {
		r.Status = "unavailable"
	}
	return r
}

// ServeHTTP serves the report as JSON: 200 when Status is "ok", else 503.
// It never caches.
func (c *Checker) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		json.NewEncoder(w).Encode(map[string]string{"error": "method " + req.Method + " not allowed"})
		return
	}
	r := c.Check(req.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if r.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if req.Method == http.MethodHead {
		return
	}
	json.NewEncoder(w).Encode(r)
}

func errorsIsNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }
