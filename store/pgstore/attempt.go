package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

var (
	_ store.AttemptStore = (*Store)(nil)
	_ store.LogTrimmer   = (*Store)(nil)
)

const (
	// $1 task, $2 run, $3 number, $4 started, $5 duration µs, $6 error,
	// $7 HeldBy ('' for none), $8 whether to write. FOR SHARE makes the
	// fence wait for a transition of the row in flight and re-check the
	// lease on the row it committed, as an UPDATE's WHERE would.
	sqlRecordAttempt = `WITH t AS (
	SELECT id FROM {s}.tasks WHERE id = $1::uuid AND ($7::text = '' OR {holds7}) FOR SHARE
), a AS (
	INSERT INTO {s}.attempts (task_id, run, number, started_at, duration_us, error)
	SELECT id, $2::integer, $3::integer, $4::timestamptz, $5::bigint, $6::text FROM t WHERE $8::boolean
	RETURNING id
)
SELECT EXISTS (SELECT 1 FROM t), coalesce((SELECT id FROM a), 0),
	EXISTS (SELECT 1 FROM {s}.tasks WHERE id = $1::uuid)`
	// The newest $2 logs of a task stay, in the order of Logs.
	sqlTrimLogs = `DELETE FROM {s}.execution_logs WHERE task_id = $1 AND pk <> ALL(ARRAY(
	SELECT pk FROM {s}.execution_logs WHERE task_id = $1 ORDER BY id DESC, seq DESC, pk DESC LIMIT $2))`
	sqlPurgeAttempts = `DELETE FROM {s}.attempts WHERE id = ANY(ARRAY(SELECT id FROM {s}.attempts WHERE started_at < $1 LIMIT $2))`
)

// attemptStatements are the statements of attempt.go and TrimLogs, schema
// filled in.
type attemptStatements struct{ record, purge, trimLogs string }

func newAttemptStatements(q string) attemptStatements {
	f := strings.NewReplacer("{s}", q, "{holds7}", holds("$7::text", storeClock)).Replace
	return attemptStatements{record: f(sqlRecordAttempt), purge: f(sqlPurgeAttempts), trimLogs: f(sqlTrimLogs)}
}

// RecordAttempt implements store.AttemptStore in one statement.
func (s *Store) RecordAttempt(ctx context.Context, p store.AttemptParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	a := &p.Attempt
	var applied, found bool
	var id int64
	err := s.pool.QueryRow(ctx, s.sql.attempts.record, uuidArg(a.TaskID), a.Run, a.Number, ts(a.StartedAt),
		a.Duration.Microseconds(), a.Error, p.HeldBy, store.AttemptAuditRequired(p.AuditLevel)).Scan(&applied, &id, &found)
	if err != nil {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, store.ErrNotFound)
	}
	return applied, nil
}

// Attempts implements store.AttemptStore.
func (s *Store) Attempts(ctx context.Context, taskID uuid.UUID) ([]store.Attempt, error) {
	return s.read.Attempts(ctx, taskID)
}
