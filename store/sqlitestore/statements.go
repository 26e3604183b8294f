package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
)

// statements are the hot-path statements, prepared once. database/sql keeps
// one prepared copy per connection, so on the single writer connection each
// is parsed exactly once for the life of the store.
type statements struct {
	transition      *sql.Stmt
	insertRunsAudit *sql.Stmt
	upsertStats     *sql.Stmt // a counter of task_stats, inside the writer's transactions
	taskExists      *sql.Stmt // on the writer, inside its transactions
	removeTask      *sql.Stmt
	getTask         *sql.Stmt // on the readers
	// The claim and the lease renewal, which every node runs on each poll
	// and each renewal interval; on the writer, inside its transactions.
	claimSelect *sql.Stmt
	claimUpdate *sql.Stmt
	nextDue     *sql.Stmt
	renew       *sql.Stmt
	all         []*sql.Stmt
}

func prepare(ctx context.Context, writer, readers *sql.DB) (*statements, error) {
	st := &statements{}
	var errs []error
	p := func(db *sql.DB, query string) *sql.Stmt {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		st.all = append(st.all, s)
		return s
	}
	st.transition = p(writer, transitionSQL)
	st.insertRunsAudit = p(writer, insertRunsAuditSQL)
	st.upsertStats = p(writer, upsertStatsSQL)
	st.taskExists = p(writer, taskExistsSQL)
	st.removeTask = p(writer, removeTaskSQL)
	st.getTask = p(readers, getTaskSQL)
	st.claimSelect = p(writer, claimSelectSQL)
	st.claimUpdate = p(writer, claimUpdateSQL)
	st.nextDue = p(writer, nextDueSQL)
	st.renew = p(writer, renewSQL)
	if err := errors.Join(errs...); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func (st *statements) close() {
	if st == nil {
		return
	}
	for _, s := range st.all {
		s.Close()
	}
}

// withTx runs fn in one write transaction (BEGIN IMMEDIATE, see writerDSN)
// and commits when fn returns nil.
func (s *Store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// exists reports whether the task row exists, inside tx.
func (s *Store) exists(ctx context.Context, tx *sql.Tx, id []byte) (bool, error) {
	var one int
	err := tx.StmtContext(ctx, s.stmts.taskExists).QueryRowContext(ctx, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
