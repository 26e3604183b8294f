package pgstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
)

// TestStatusAuditSQL: the SQL policy of the claim and the rescue agrees
// with store.StatusAuditRequired for every level, status and error.
func TestStatusAuditSQL(t *testing.T) {
	t.Parallel()
	pool := testenv.PostgresPool(t)
	q := `SELECT ` + statusAudit("$1::smallint", "$2::text", "$3::text")
	for _, level := range store.AuditLevels {
		for _, status := range store.Statuses {
			for _, errText := range []string{"", "boom"} {
				var got bool
				if err := pool.QueryRow(t.Context(), q, int16(level), string(status), errText).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if want := store.StatusAuditRequired(level, status, errText); got != want {
					t.Errorf("level %s, %s, error %q: SQL says %v, Go %v", level, status, errText, got, want)
				}
			}
		}
	}
}

func TestNoticePayloads(t *testing.T) {
	t.Parallel()
	var notices []store.Notice
	for i := range 300 {
		notices = append(notices, store.Notice{Kind: store.NoticeDue, Queue: fmt.Sprintf("q%d-%s", i, strings.Repeat("x", i%97))})
	}
	payloads, err := noticePayloads(notices)
	if err != nil {
		t.Fatal(err)
	}
	if len(payloads) < 3 {
		t.Errorf("%d payloads, want the notices split over several", len(payloads))
	}
	var back []store.Notice
	for _, p := range payloads {
		if len(p) > maxNoticePayload {
			t.Errorf("payload of %d bytes, limit %d", len(p), maxNoticePayload)
		}
		var part []store.Notice
		if err := json.Unmarshal([]byte(p), &part); err != nil {
			t.Fatalf("payload %q: %v", p, err)
		}
		back = append(back, part...)
	}
	if !reflect.DeepEqual(back, notices) {
		t.Error("the payloads do not hold the notices in order")
	}

	// One notice exactly at the limit fits; one byte more does not.
	fixed := len(`[{"k":"due","q":""}]`)
	exact := store.Notice{Kind: store.NoticeDue, Queue: strings.Repeat("q", maxNoticePayload-fixed)}
	if p, err := noticePayloads([]store.Notice{exact}); err != nil || len(p) != 1 || len(p[0]) != maxNoticePayload {
		t.Errorf("a notice of exactly the limit: %d payloads, %v", len(p), err)
	}
	exact.Queue += "q"
	if _, err := noticePayloads([]store.Notice{exact}); err == nil {
		t.Error("a notice over the limit was accepted")
	}
	if p, err := noticePayloads(nil); err != nil || p != nil {
		t.Errorf("no notices = %v, %v", p, err)
	}
}

// TestUniformTransitionArgs: a batch takes the uniform statement only when
// its params differ in nothing but id, time and execution time.
func TestUniformTransitionArgs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := store.TransitionParams{ID: uuid.New(), To: store.StatusCompleted, From: []store.Status{store.StatusInProgress},
		Now: now, ExecutionTime: time.Millisecond, HeldBy: "n1", AuditLevel: store.AuditNone}
	for name, change := range map[string]func(*store.TransitionParams){
		"":               func(*store.TransitionParams) {},
		"To":             func(p *store.TransitionParams) { p.To = store.StatusFailed },
		"From":           func(p *store.TransitionParams) { p.From = []store.Status{store.StatusQueued} },
		"no From":        func(p *store.TransitionParams) { p.From = nil },
		"Error":          func(p *store.TransitionParams) { p.Error = "boom" },
		"IfRecoverable":  func(p *store.TransitionParams) { p.IfRecoverable = true },
		"HeldBy":         func(p *store.TransitionParams) { p.HeldBy = "n2" },
		"Lease":          func(p *store.TransitionParams) { p.Lease = &store.Lease{Owner: "n1", For: time.Minute} },
		"audit required": func(p *store.TransitionParams) { p.AuditLevel = store.AuditFull },
	} {
		other := base
		other.ID, other.Now, other.ExecutionTime = uuid.New(), now.Add(time.Second), 2*time.Millisecond
		change(&other)
		args, _, uniform := uniformTransitionArgs([]store.TransitionParams{base, other}, []int{0, 1})
		if want := name == ""; uniform != want {
			t.Errorf("batch differing in %q: uniform = %v, want %v", name, uniform, want)
		}
		if uniform && len(args) != 14 {
			t.Errorf("uniform args: %d, want the 14 of the statement", len(args))
		}
	}
	// Equal leases are uniform; unequal ones were tested above.
	a, b := base, base
	b.ID = uuid.New()
	a.Lease, b.Lease = &store.Lease{Owner: "n1", For: time.Minute}, &store.Lease{Owner: "n1", For: time.Minute}
	if _, _, uniform := uniformTransitionArgs([]store.TransitionParams{a, b}, []int{0, 1}); !uniform {
		t.Error("equal leases: not uniform")
	}
}
