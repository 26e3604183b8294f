package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/redisstore"
)

func TestReadOnlyWritesNothing(t *testing.T) {
	t.Parallel()
	c := client(t)
	prefix := randomPrefix(t)
	t.Cleanup(func() { deleteKeys(t, c, prefix) })
	_, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: prefix, ReadOnly: true})
	if !errors.Is(err, redisstore.ErrNoData) {
		t.Fatalf("New(ReadOnly) on an empty prefix = %v, want ErrNoData", err)
	}
	n, err := c.Exists(t.Context(), "{"+prefix+"}version").Result()
	if err != nil || n != 0 {
		t.Fatalf("after New(ReadOnly) on an empty prefix the version key exists (%d, %v): a read wrote", n, err)
	}

	// On a prefix with data it opens and reads.
	rw, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.PauseQueue(t.Context(), "mail", time.Now()); err != nil {
		t.Fatal(err)
	}
	ro, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: prefix, ReadOnly: true})
	if err != nil {
		t.Fatalf("New(ReadOnly) on a prefix with data: %v", err)
	}
	if p, err := ro.PausedQueues(t.Context()); err != nil || len(p) != 1 {
		t.Errorf("PausedQueues through the read-only store = %v, %v; want mail", p, err)
	}

	// An older layout is refused, not upgraded.
	if err := c.Set(t.Context(), "{"+prefix+"}version", redisstore.SchemaVersion-1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: prefix, ReadOnly: true}); !errors.Is(err, store.ErrSchemaVersion) {
		t.Errorf("New(ReadOnly) on an older layout = %v, want ErrSchemaVersion", err)
	}
	if v, _ := c.Get(t.Context(), "{"+prefix+"}version").Int(); v != redisstore.SchemaVersion-1 {
		t.Errorf("the read-only open changed the version to %d", v)
	}
}
