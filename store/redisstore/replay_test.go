package redisstore_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/redisstore"
)

// dropProxy forwards connections to Redis. Armed, it lets the next request
// through but swallows its reply and closes the connection: the command ran,
// the client saw EOF, and go-redis sends it again on a new connection.
type dropProxy struct {
	addr    string
	armed   atomic.Bool
	dropped atomic.Int32
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			track(client)
			track(server)
			wg.Go(func() {
				io.Copy(server, client)
				server.Close()
			})
			wg.Go(func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := server.Read(buf)
					if err != nil {
						client.Close()
						return
					}
					if p.armed.CompareAndSwap(true, false) {
						p.dropped.Add(1)
						client.Close()
						server.Close()
						return
					}
					if _, err := client.Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// TestReplayAfterLostReply checks that a script go-redis sends twice,
// because the reply of the first run was lost, answers as the first run
// did and writes once.
func TestReplayAfterLostReply(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	proxy := newDropProxy(t, testenv.RedisAddr())
	// MaxRetries 3 is the go-redis default: exactly the client that replays.
	c := redis.NewClient(&redis.Options{Addr: proxy.addr, MaxRetries: 3, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s, err := redisstore.New(ctx, c, &redisstore.Opts{Prefix: su.prefix})
	if err != nil {
		t.Fatal(err)
	}
	lost := func(name string, fn func() error) {
		t.Helper()
		before := proxy.dropped.Load()
		proxy.armed.Store(true)
		if err := fn(); err != nil {
			t.Fatalf("%s after a lost reply: %v", name, err)
		}
		if proxy.dropped.Load() != before+1 {
			t.Fatalf("%s: the proxy dropped no reply", name)
		}
	}

	tk := task(0)
	tk.Key = "replayed"
	tk.Recurring = true
	tk.NextRunAt = t0
	lost("Persist", func() error { return s.Persist(ctx, tk) })
	batch := []*store.Task{task(1), task(2)}
	lost("PersistMany", func() error { return s.PersistMany(ctx, batch) })

	var applied bool
	lost("Transition", func() (err error) {
		applied, err = s.Transition(ctx, store.TransitionParams{ID: tk.ID, To: store.StatusInProgress,
			From: []store.Status{store.StatusWaitingQueue}, Now: t0, AuditLevel: store.AuditFull})
		return err
	})
	if !applied {
		t.Errorf("Transition replayed reports not applied")
	}
	var many []bool
	lost("TransitionMany", func() (err error) {
		many, err = s.TransitionMany(ctx, []store.TransitionParams{
			{ID: batch[0].ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue}, Now: t0, AuditLevel: store.AuditFull},
			{ID: batch[0].ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: t0, AuditLevel: store.AuditFull},
			{ID: batch[1].ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress}, Now: t0, AuditLevel: store.AuditFull},
		})
		return err
	})
	if len(many) != 3 || !many[0] || !many[1] || many[2] {
		t.Errorf("TransitionMany replayed = %v, want [true true false]", many)
	}
	lost("TransitionMany of distinct rows", func() (err error) {
		many, err = s.TransitionMany(ctx, []store.TransitionParams{
			{ID: batch[0].ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress}, Now: t0, AuditLevel: store.AuditFull},
			{ID: batch[1].ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue}, Now: t0, AuditLevel: store.AuditFull},
		})
		return err
	})
	if len(many) != 2 || !many[0] || !many[1] {
		t.Errorf("TransitionMany of distinct rows replayed = %v, want [true true]", many)
	}
	lost("CompleteRecurringRun", func() (err error) {
		applied, err = s.CompleteRecurringRun(ctx, store.RunParams{ID: tk.ID, Now: t0, Status: store.StatusCompleted, NextRunAt: t0.Add(time.Minute), AuditLevel: store.AuditFull})
		return err
	})
	if !applied {
		t.Errorf("CompleteRecurringRun replayed reports not applied")
	}
	lost("UpdateCurrentRun", func() error {
		return s.UpdateCurrentRun(ctx, store.RunParams{ID: tk.ID, Now: t0, NextRunAt: t0.Add(2 * time.Minute), AuditLevel: store.AuditFull})
	})
	var rf int
	lost("IncrementRecoveryFailures", func() (err error) {
		rf, err = s.IncrementRecoveryFailures(ctx, tk.ID)
		return err
	})
	if rf != 1 {
		t.Errorf("IncrementRecoveryFailures replayed = %d, want 1", rf)
	}
	lost("EndSeries", func() (err error) {
		applied, err = s.EndSeries(ctx, store.EndSeriesParams{ID: tk.ID, Status: store.StatusCompleted, Now: t0, AuditLevel: store.AuditFull})
		return err
	})
	if !applied {
		t.Errorf("EndSeries replayed reports not applied")
	}

	got, err := su.s.Get(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RunCount != 2 || got.RecoveryFailures != 1 || got.Status != store.StatusCompleted || !got.NextRunAt.IsZero() {
		t.Errorf("row = runs %d, recovery failures %d, %s, next %v; want 2, 1, Completed, none", got.RunCount, got.RecoveryFailures, got.Status, got.NextRunAt)
	}
	sa, _ := su.s.StatusAudits(ctx, tk.ID)
	ra, _ := su.s.RunsAudits(ctx, tk.ID)
	if len(sa) != 3 || len(ra) != 2 {
		t.Errorf("%d status audits and %d runs audits, want 3 (InProgress, Completed, Completed) and 2", len(sa), len(ra))
	}
	sa0, _ := su.s.StatusAudits(ctx, batch[0].ID)
	if len(sa0) != 3 {
		t.Errorf("batch row has %d status audits, want 3", len(sa0))
	}

	// Two executions ended (batch[0] and the recurring run), each counted
	// once however many times its script ran.
	minute := store.StatsMinute(t0)
	ov, err := su.s.Overview(ctx, store.OverviewParams{From: minute, To: minute.Add(time.Minute), Bucket: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := ov.Totals(); got.Completed != 2 || got.Failed != 0 {
		t.Errorf("overview after replays = %+v, want 2 completed", got)
	}

	lost("Remove", func() error { return s.Remove(ctx, tk.ID) })
	if _, err := su.s.Get(ctx, tk.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed row: %v", err)
	}
	if err := s.Remove(ctx, tk.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Remove (a new call, not a replay): %v, want ErrNotFound", err)
	}
	if err := s.Persist(ctx, batch[0]); err == nil {
		t.Errorf("persisting an existing row again (a new call) succeeded")
	}
}
