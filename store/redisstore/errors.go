package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

// mapErr turns driver errors into the store's sentinels at the boundary:
// redis.Nil is ErrNotFound; a refused, dropped or timed-out connection, a
// closed client, an exhausted pool and the transient server states
// (LOADING after a restart, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY
// during a failover) wrap ErrUnavailable, since a retry may succeed.
// Context errors stay as they are.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return store.ErrNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case unavailable(err):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	case redis.IsLoadingError(err), redis.IsMasterDownError(err), redis.IsTryAgainError(err),
		redis.IsClusterDownError(err), redis.IsReadOnlyError(err):
		return true
	}
	return false
}
