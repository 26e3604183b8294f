package store

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// AuditLevel chooses how much history a task keeps. The zero value is
// AuditFull, as a missing level is read as Full (reference 15).
type AuditLevel int8

const (
	// AuditFull records every status change and every recurring run.
	AuditFull AuditLevel = 0
	// AuditMinimal records status changes only for real errors, and every
	// recurring run.
	AuditMinimal AuditLevel = 1
	// AuditErrorsOnly records status changes for real errors and the runs
	// that failed.
	AuditErrorsOnly AuditLevel = 2
	// AuditNone records nothing.
	AuditNone AuditLevel = 3
)

// AuditLevels lists every level.
var AuditLevels = []AuditLevel{AuditFull, AuditMinimal, AuditErrorsOnly, AuditNone}

// Valid reports whether l is a defined level.
func (l AuditLevel) Valid() bool { return l >= AuditFull && l <= AuditNone }

// String returns the level's name: "full", "minimal", "errors-only", "none".
func (l AuditLevel) String() string {
	switch l {
	case AuditFull:
		return "full"
	case AuditMinimal:
		return "minimal"
	case AuditErrorsOnly:
		return "errors-only"
	case AuditNone:
		return "none"
	}
	return fmt.Sprintf("AuditLevel(%d)", int8(l))
}

// ParseAuditLevel reads a level name as String writes it (also "errorsonly"
// and "errors_only").
func ParseAuditLevel(s string) (AuditLevel, error) {
	switch s {
	case "full", "Full":
		return AuditFull, nil
	case "minimal", "Minimal":
		return AuditMinimal, nil
	case "errors-only", "errorsonly", "errors_only", "ErrorsOnly":
		return AuditErrorsOnly, nil
	case "none", "None":
		return AuditNone, nil
	}
	return 0, fmt.Errorf("%w: unknown audit level %q (want full, minimal, errors-only or none)", ErrInvalid, s)
}

// IsRealError reports whether a status change with error text errText is a
// real error for the audit policy: a Failed status, or an error on any other
// status except the cancellations (ServiceStopped and Cancelled carry the
// reason of a cancellation, which is not an error of the task).
func IsRealError(status Status, errText string) bool {
	if status == StatusFailed {
		return true
	}
	return errText != "" && status != StatusServiceStopped && status != StatusCancelled
}

// StatusAuditRequired is the audit policy for status changes, shared by every
// store: None never writes one, Minimal and ErrorsOnly only for real errors,
// Full always.
func StatusAuditRequired(level AuditLevel, status Status, errText string) bool {
	switch level {
	case AuditNone:
		return false
	case AuditMinimal, AuditErrorsOnly:
		return IsRealError(status, errText)
	}
	return true
}

// RunsAuditRequired is the audit policy for recurring runs: None never,
// ErrorsOnly only for a failed run or one with error text, Minimal and Full
// always.
func RunsAuditRequired(level AuditLevel, status Status, errText string) bool {
	switch level {
	case AuditNone:
		return false
	case AuditErrorsOnly:
		return status == StatusFailed || errText != ""
	}
	return true
}

// StatusAudit is one recorded status change.
type StatusAudit struct {
	ID     int64 // increasing per store; orders audits written in the same microsecond
	TaskID uuid.UUID
	At     time.Time
	Status Status
	Error  string
}

// RunsAudit is one recorded execution of a recurring series.
type RunsAudit struct {
	ID            int64
	TaskID        uuid.UUID
	ExecutedAt    time.Time
	ExecutionTime time.Duration
	Status        Status
	Error         string
}

// ExecutionLog is one log record a handler wrote while running, captured for
// the task.
type ExecutionLog struct {
	ID           uuid.UUID // UUIDv7: orders the records of different executions
	TaskID       uuid.UUID
	At           time.Time
	Level        string
	Message      string
	ErrorDetails string
	Seq          int // order within one execution
}
