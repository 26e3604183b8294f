package monitor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// keepAlive is how often the stream sends a comment so proxies do not close
// an idle connection.
const keepAlive = 15 * time.Second

// apiEvents streams lifecycle events as Server-Sent Events: "event: <type>"
// and "data: <EventJSON>". The first message is "event: hello" whose data
// says the source: "engine" (every lifecycle event of the engine given in
// Config.Events), or "notices" (cluster notices of the store: dispatches,
// cancels and node joins from every node; no outcomes, which only an engine
// sees). Without either the answer is 503.
func (s *server) apiEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	var (
		events  <-chan evertask.Event
		notices <-chan store.Notice
		source  string
	)
	switch n, isNotifier := s.st.(store.Notifier); {
	case s.cfg.Events != nil:
		ch, stop := s.cfg.Events.Subscribe(256)
		defer stop()
		events, source = ch, "engine"
	case isNotifier:
		ch, err := n.Subscribe(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		notices, source = ch, "notices"
	default:
		writeError(w, http.StatusServiceUnavailable, "no live event source: give monitor.Config.Events an engine, or use a store that publishes notices (PostgreSQL, Redis)")
		return
	}
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(typ string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("hello", map[string]string{"source": source}) {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case e, ok := <-events:
			if !ok {
				send("end", map[string]string{"reason": "the engine shut down"})
				return
			}
			if !send(string(e.Type), eventJSON(e)) {
				return
			}
		case n, ok := <-notices:
			if !ok {
				return
			}
			if !send("notice", noticeJSON(n, s.cfg.Now())) {
				return
			}
		}
	}
}

func eventJSON(e evertask.Event) EventJSON {
	out := EventJSON{Type: string(e.Type), TaskID: e.TaskID.String(), Kind: e.Kind, Queue: e.Queue, At: Time(e.At),
		Attempt: e.Attempt, DurationMS: ms(e.Duration)}
	if e.Err != nil {
		out.Error = e.Err.Error()
	}
	return out
}

func noticeJSON(n store.Notice, now time.Time) EventJSON {
	out := EventJSON{Type: "notice_" + string(n.Kind), Queue: n.Queue, At: Time(n.At), Node: n.Node}
	if n.At.IsZero() {
		out.At = Time(now)
	}
	if n.ID != [16]byte{} {
		out.TaskID = n.ID.String()
	}
	return out
}
