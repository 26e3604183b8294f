package main

import (
	"encoding/json"
	"time"

	"github.com/evertask/evertask/internal/taskview"
	"github.com/evertask/evertask/store"
)

// The JSON of --json. Field names are stable (scripts read them); times
// are RFC 3339 in UTC, and an unset time is left out.

type taskJSON struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Queue      string `json:"queue"`
	Status     string `json:"status"`
	Key        string `json:"key,omitempty"`
	Handler    string `json:"handler,omitempty"`
	AuditLevel string `json:"audit_level"`

	CreatedAt       time.Time `json:"created_at"`
	ScheduledAt     time.Time `json:"scheduled_at,omitzero"`
	LastExecutionAt time.Time `json:"last_execution_at,omitzero"`
	ExecutionMS     float64   `json:"execution_ms"`
	Error           string    `json:"error,omitempty"`

	Recurring bool      `json:"recurring"`
	Schedule  string    `json:"schedule,omitempty"`
	RunCount  int       `json:"run_count"`
	MaxRuns   int       `json:"max_runs,omitempty"`
	RunUntil  time.Time `json:"run_until,omitzero"`
	// NextRunAt is left out when the task will not run again, whatever
	// the row holds.
	NextRunAt time.Time `json:"next_run_at,omitzero"`
	WillRun   bool      `json:"will_run"`

	TakeOvers  int       `json:"take_overs,omitempty"`
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`

	// The payload, when asked for (tasks show): Payload when it is whole
	// JSON, else PayloadText with PayloadTruncated set.
	Payload          json.RawMessage `json:"payload,omitempty"`
	PayloadText      string          `json:"payload_text,omitempty"`
	PayloadBytes     int             `json:"payload_bytes,omitempty"`
	PayloadTruncated bool            `json:"payload_truncated,omitempty"`
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// toJSON converts a row; payload is how many payload bytes to include (0:
// none, -1: all).
func toJSON(t *store.Task, now time.Time, payload int) taskJSON {
	j := taskJSON{
		ID: t.ID.String(), Kind: t.Kind, Queue: t.Queue, Status: string(t.Status), Key: t.Key, Handler: t.Handler,
		AuditLevel: t.AuditLevel.String(), CreatedAt: utc(t.CreatedAt), ScheduledAt: utc(t.ScheduledAt),
		LastExecutionAt: utc(t.LastExecutionAt), ExecutionMS: float64(t.ExecutionTime.Microseconds()) / 1000,
		Error: t.Error, Recurring: t.Recurring, Schedule: t.ScheduleInfo, RunCount: t.RunCount, MaxRuns: t.MaxRuns,
		RunUntil: utc(t.RunUntil), WillRun: willRun(t, now), TakeOvers: t.RecoveryFailures,
		Owner: t.Owner, LeaseUntil: utc(t.LeaseUntil),
	}
	if j.WillRun {
		j.NextRunAt = utc(t.NextRunAt)
	}
	if payload != 0 && len(t.Payload) > 0 {
		j.PayloadBytes = len(t.Payload)
		shown, cut := taskview.BoundPayload(t.Payload, payload)
		if !cut && json.Valid(t.Payload) {
			j.Payload = json.RawMessage(t.Payload)
		} else {
			j.PayloadText, j.PayloadTruncated = shown, cut
		}
	}
	return j
}

type auditJSON struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
}

type runJSON struct {
	At          time.Time `json:"at"`
	Status      string    `json:"status"`
	ExecutionMS float64   `json:"execution_ms"`
	Error       string    `json:"error,omitempty"`
}

type attemptJSON struct {
	Run        int       `json:"run"`
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	Error      string    `json:"error"`
}

type logJSON struct {
	At           time.Time `json:"at"`
	Level        string    `json:"level"`
	Message      string    `json:"message"`
	ErrorDetails string    `json:"error_details,omitempty"`
}

type taskDetailJSON struct {
	taskJSON
	// Oldest first, as the table prints them.
	StatusHistory []auditJSON   `json:"status_history"`
	Runs          []runJSON     `json:"runs"`
	Attempts      []attemptJSON `json:"attempts"`
	Logs          []logJSON     `json:"logs"`
	LogsTotal     int           `json:"logs_total"`
}

func detailJSON(t *store.Task, now time.Time, payload int, audits []store.StatusAudit, runs []store.RunsAudit,
	attempts []store.Attempt, logs store.LogPage) taskDetailJSON {
	d := taskDetailJSON{taskJSON: toJSON(t, now, payload), StatusHistory: []auditJSON{}, Runs: []runJSON{},
		Attempts: []attemptJSON{}, Logs: []logJSON{}, LogsTotal: logs.Total}
	if payload == 0 && len(t.Payload) > 0 {
		d.PayloadBytes, d.PayloadTruncated = len(t.Payload), true
	}
	for i := len(audits) - 1; i >= 0; i-- {
		a := audits[i]
		d.StatusHistory = append(d.StatusHistory, auditJSON{At: utc(a.At), Status: string(a.Status), Error: a.Error})
	}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		d.Runs = append(d.Runs, runJSON{At: utc(r.ExecutedAt), Status: string(r.Status),
			ExecutionMS: float64(r.ExecutionTime.Microseconds()) / 1000, Error: r.Error})
	}
	for _, a := range attempts {
		d.Attempts = append(d.Attempts, attemptJSON{Run: a.Run, Number: a.Number, StartedAt: utc(a.StartedAt),
			DurationMS: float64(a.Duration.Microseconds()) / 1000, Error: a.Error})
	}
	for _, l := range logs.Logs {
		d.Logs = append(d.Logs, logJSON{At: utc(l.At), Level: l.Level, Message: l.Message, ErrorDetails: l.ErrorDetails})
	}
	return d
}
