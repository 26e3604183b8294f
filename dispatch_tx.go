package evertask

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// DispatchTx dispatches task inside tx, a transaction of the caller's on
// the engine's store (a pgx.Tx for pgstore, a *sql.Tx for mysqlstore): the
// task exists only if tx commits. A node picks it up right after the
// commit where the store sends a notice in the transaction (pgstore), else
// at the nodes' next poll (mysqlstore). It returns the task's id, or the id
// of the task already holding its key.
//
// The store must implement store.TxPersister[Tx] (ErrInvalidDispatch
// otherwise). The task is never handed to a local worker directly: before
// the commit there is nothing to run. Nor is its row written claimed by
// this node, as Dispatch does for an idle worker: the worker would start a
// task that the caller may still roll back, or run it before its row
// exists for the lease keeper's renewals and the outcome's fenced write.
// The row is written due and a fetcher claims it after the commit.
func DispatchTx[Tx any](ctx context.Context, e *Engine, tx Tx, task Task, opts *DispatchOpts) (uuid.UUID, error) {
	tp, ok := e.store.(store.TxPersister[Tx])
	if !ok {
		return uuid.Nil, fmt.Errorf("%w: store %T cannot write inside a %T transaction", ErrInvalidDispatch, e.store, tx)
	}
	if e.node == nil {
		return uuid.Nil, fmt.Errorf("%w: store %T has no cluster capability, so nothing would pick the task up after the commit", ErrInvalidDispatch, e.store)
	}
	d, err := e.prepare(task, opts)
	if err != nil {
		return uuid.Nil, err
	}
	// The dispatch middleware sees the write into the transaction: its
	// result is that of the write, not of the caller's commit.
	dones := e.beginDispatch(ctx, d)
	id, err := persistTx(ctx, e, tp, tx, d)
	endDispatch(dones, err)
	return id, err
}

func persistTx[Tx any](ctx context.Context, e *Engine, tp store.TxPersister[Tx], tx Tx, d *dispatch) (uuid.UUID, error) {
	if err := store.ValidateMetadata(d.row.Metadata); err != nil {
		return uuid.Nil, fmt.Errorf("%w: metadata after the dispatch middleware: %v", ErrInvalidDispatch, err)
	}
	if err := tp.PersistTx(ctx, tx, &d.row); err != nil {
		if errors.Is(err, store.ErrDuplicateKey) {
			if winner, gerr := e.store.GetByKey(ctx, d.row.Key); gerr == nil {
				return winner.ID, nil
			}
		}
		e.storeErr("persist", err)
		return uuid.Nil, fmt.Errorf("persist task %s in the caller's transaction: %w", d.row.ID, err)
	}
	return d.row.ID, nil
}
