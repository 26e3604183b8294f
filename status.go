package evertask

import "github.com/evertask/evertask/store"

// Status is a task's lifecycle state, the store's type under a name of this
// package, so the common code (Wait, Task) needs no import of store.
type Status = store.Status

// The statuses of a task; see store.Status for the lifecycle.
const (
	StatusWaitingQueue   = store.StatusWaitingQueue
	StatusQueued         = store.StatusQueued
	StatusInProgress     = store.StatusInProgress
	StatusCancelled      = store.StatusCancelled
	StatusCompleted      = store.StatusCompleted
	StatusFailed         = store.StatusFailed
	StatusServiceStopped = store.StatusServiceStopped
)

// AuditLevel chooses how much history a task keeps (store.AuditLevel).
type AuditLevel = store.AuditLevel

// The audit levels; see store.AuditLevel.
const (
	AuditFull       = store.AuditFull
	AuditMinimal    = store.AuditMinimal
	AuditErrorsOnly = store.AuditErrorsOnly
	AuditNone       = store.AuditNone
)

// LogQuery selects a page of a task's logs for Engine.Logs (store.LogQuery).
type LogQuery = store.LogQuery

// LogPage is one page of Engine.Logs (store.LogPage).
type LogPage = store.LogPage
