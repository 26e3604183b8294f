package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/redisstore"
	"github.com/evertask/evertask/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client returns a client on the test Redis, shared by the tests of one
// call, or skips (fails in CI) when Redis cannot be reached.
func client(t testing.TB) *redis.Client {
	t.Helper()
	testenv.RequireRedis(t)
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(), PoolSize: 32})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		testenv.Unavailable(t, "Redis", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "ettest:" + hex.EncodeToString(b) + ":"
}

// deleteKeys removes every key of a prefix. SCAN with MATCH is fine here,
// in test cleanup only; the store itself never scans.
func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, "{"+prefix+"}*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			c.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan keys of %s: %v", prefix, err)
	}
	if len(keys) > 0 {
		c.Unlink(ctx, keys...)
	}
}

type setup struct {
	s      *redisstore.Store
	c      *redis.Client
	prefix string
}

func newSetup(t testing.TB) setup {
	t.Helper()
	c := client(t)
	prefix := randomPrefix(t)
	s, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: prefix})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { deleteKeys(t, c, prefix) })
	return setup{s: s, c: c, prefix: prefix}
}
func TestConformance(t *testing.T) {
	t.Parallel()
	c := client(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		prefix := randomPrefix(t)
		s, err := redisstore.New(t.Context(), c, &redisstore.Opts{Prefix: prefix})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { deleteKeys(t, c, prefix) })
		return s
	})
}
