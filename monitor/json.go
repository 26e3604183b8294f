package monitor

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/evertask/evertask/store"
)

// The JSON shapes of the API. Field names are snake_case and stable; times
// are RFC 3339 in UTC, null when not set; durations are milliseconds
// (float) in fields named *_ms.

// Time is a time that encodes as RFC 3339 UTC, or null when zero.
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format(time.RFC3339Nano) + `"`), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// TaskJSON is a task row in the list and the detail.
type TaskJSON struct {
	ID               string  `json:"id"`
	CreatedAt        Time    `json:"created_at"`
	Kind             string  `json:"kind"`
	Queue            string  `json:"queue"`
	Handler          string  `json:"handler"`
	Key              string  `json:"key"`
	Status           string  `json:"status"`
	AuditLevel       string  `json:"audit_level"`
	ScheduledAt      Time    `json:"scheduled_at"`
	LastExecutionAt  Time    `json:"last_execution_at"`
	ExecutionTimeMS  float64 `json:"execution_time_ms"`
	Error            string  `json:"error"`
	Recurring        bool    `json:"recurring"`
	Schedule         string  `json:"schedule"`
	RunCount         int     `json:"run_count"`
	MaxRuns          int     `json:"max_runs"`
	RunUntil         Time    `json:"run_until"`
	NextRunAt        Time    `json:"next_run_at"`
	RecoveryFailures int     `json:"recovery_failures"`
	Owner            string  `json:"owner"`
	LeaseUntil       Time    `json:"lease_until"`
}

func taskJSON(t *store.Task) TaskJSON {
	return TaskJSON{
		ID: t.ID.String(), CreatedAt: Time(t.CreatedAt), Kind: t.Kind, Queue: t.Queue, Handler: t.Handler,
		Key: t.Key, Status: string(t.Status), AuditLevel: t.AuditLevel.String(), ScheduledAt: Time(t.ScheduledAt),
		LastExecutionAt: Time(t.LastExecutionAt), ExecutionTimeMS: ms(t.ExecutionTime), Error: t.Error,
		Recurring: t.Recurring, Schedule: t.ScheduleInfo, RunCount: t.RunCount, MaxRuns: t.MaxRuns,
		RunUntil: Time(t.RunUntil), NextRunAt: Time(t.NextRunAt), RecoveryFailures: t.RecoveryFailures,
		Owner: t.Owner, LeaseUntil: Time(t.LeaseUntil),
	}
}

// TaskPageJSON is one page of the task list.
type TaskPageJSON struct {
	Tasks []TaskJSON `json:"tasks"`
	// Next is the cursor of the following page (the after parameter), null
	// on the last page.
	Next  *string `json:"next"`
	Limit int     `json:"limit"`
	// ScanLimit is the most tasks this page's search tested
	// (Config.SearchScanLimit), 0 without a search or a bound.
	// ScanLimited says the search stopped there before the page was full:
	// the tasks past next were not searched yet, next continues.
	ScanLimit   int  `json:"scan_limit"`
	ScanLimited bool `json:"scan_limited"`
}

// TaskDetailJSON is a task with its history.
type TaskDetailJSON struct {
	TaskJSON
	// Payload is the JSON payload, or its first PayloadLimit bytes as a
	// string when PayloadTruncated.
	Payload          json.RawMessage    `json:"payload"`
	PayloadSize      int                `json:"payload_size"`
	PayloadTruncated bool               `json:"payload_truncated"`
	Attempts         []AttemptJSON      `json:"attempts"`
	AttemptsKept     bool               `json:"attempts_kept"` // false: the store keeps no attempts
	StatusHistory    []StatusAuditJSON  `json:"status_history"`
	RunsHistory      []RunsAuditJSON    `json:"runs_history"`
	Logs             []ExecutionLogJSON `json:"logs"` // the first page
	LogsTotal        int                `json:"logs_total"`
	Actions          map[string]bool    `json:"actions"` // which actions the status allows
}

// AttemptJSON is one failed attempt.
type AttemptJSON struct {
	Run        int     `json:"run"`
	Number     int     `json:"number"`
	StartedAt  Time    `json:"started_at"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error"`
}

// StatusAuditJSON is one status change.
type StatusAuditJSON struct {
	At     Time   `json:"at"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// RunsAuditJSON is one run of a recurring series.
type RunsAuditJSON struct {
	ExecutedAt      Time    `json:"executed_at"`
	ExecutionTimeMS float64 `json:"execution_time_ms"`
	Status          string  `json:"status"`
	Error           string  `json:"error"`
}

// ExecutionLogJSON is one captured log record.
type ExecutionLogJSON struct {
	At           Time   `json:"at"`
	Level        string `json:"level"`
	Message      string `json:"message"`
	ErrorDetails string `json:"error_details"`
}

// LogPageJSON is one page of a task's logs.
type LogPageJSON struct {
	Logs   []ExecutionLogJSON `json:"logs"`
	Total  int                `json:"total"`
	Offset int                `json:"offset"`
	Limit  int                `json:"limit"`
}

func logsJSON(ls []store.ExecutionLog) []ExecutionLogJSON {
	out := make([]ExecutionLogJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, ExecutionLogJSON{At: Time(l.At), Level: l.Level, Message: l.Message, ErrorDetails: l.ErrorDetails})
	}
	return out
}

// CountsJSON is the number of tasks per status.
type CountsJSON struct {
	Counts map[string]int `json:"counts"`
	Total  int            `json:"total"`
	// ComputedAt is when the store counted (see Config.CacheTTL).
	ComputedAt Time `json:"computed_at"`
}

// OverviewJSON is the overview page's data.
type OverviewJSON struct {
	From          Time       `json:"from"`
	To            Time       `json:"to"`
	BucketSeconds int        `json:"bucket_seconds"`
	Totals        CountsJSON `json:"totals"`
	Completed     int        `json:"completed"`
	Failed        int        `json:"failed"`
	// SuccessRate is completed/(completed+failed) in the window, null
	// without executions; AverageExecutionMS likewise.
	SuccessRate        *float64     `json:"success_rate"`
	AverageExecutionMS *float64     `json:"average_execution_ms"`
	Series             []BucketJSON `json:"series"`
	Kinds              []KindJSON   `json:"kinds"`
	Queues             []QueueJSON  `json:"queues"`
	Recent             []TaskJSON   `json:"recent"`
	ComputedAt         Time         `json:"computed_at"` // when the series was aggregated (see Config.CacheTTL)
	Scanned            int          `json:"scanned"`     // not 0: a bounded scan answered (store without store.Stats)
	Partial            bool         `json:"partial"`     // the scan hit its bound
}

// BucketJSON is one hour (bucket) of the series.
type BucketJSON struct {
	Start       Time    `json:"start"`
	Completed   int     `json:"completed"`
	Failed      int     `json:"failed"`
	ExecutionMS float64 `json:"execution_ms"`
}

// KindJSON is the executions of one kind in the window.
type KindJSON struct {
	Kind      string `json:"kind"`
	Completed int    `json:"completed"`
	Failed    int    `json:"failed"`
}

// QueueJSON is one queue.
type QueueJSON struct {
	Name     string         `json:"name"`
	Counts   map[string]int `json:"counts"`
	Total    int            `json:"total"`
	Paused   bool           `json:"paused"`
	PausedAt Time           `json:"paused_at"`
	// Workers maps each live node running the queue to its worker count.
	Workers map[string]int `json:"workers"`
}

// NodeJSON is one node of the cluster.
type NodeJSON struct {
	ID            string         `json:"id"`
	Host          string         `json:"host"`
	PID           int            `json:"pid"`
	StartedAt     Time           `json:"started_at"`
	LastHeartbeat Time           `json:"last_heartbeat"`
	Gone          bool           `json:"gone"`
	Queues        map[string]int `json:"queues"`
	Running       []string       `json:"running"` // ids of the tasks it holds leases on
	RunningCount  int            `json:"running_count"`
}

// NodesJSON is the nodes answer.
type NodesJSON struct {
	// Cluster is false for a store without store.Cluster: it has no node
	// registry.
	Cluster bool       `json:"cluster"`
	Nodes   []NodeJSON `json:"nodes"`
}

// EventJSON is one event of the live stream.
type EventJSON struct {
	Type       string  `json:"type"`
	TaskID     string  `json:"task_id,omitempty"`
	Kind       string  `json:"kind,omitempty"`
	Queue      string  `json:"queue,omitempty"`
	At         Time    `json:"at"`
	Attempt    int     `json:"attempt,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	Error      string  `json:"error,omitempty"`
	Node       string  `json:"node,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func subtleEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func itoa(n int) string { return strconv.Itoa(n) }
