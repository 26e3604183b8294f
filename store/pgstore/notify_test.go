package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
)

// receive reads n notices, failing after a generous deadline.
func receive(t *testing.T, ch <-chan store.Notice, n int) []store.Notice {
	t.Helper()
	var out []store.Notice
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case notice, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d notices", len(out), n)
			}
			out = append(out, notice)
		case <-timeout:
			t.Fatalf("received %d of %d notices: %+v", len(out), n, out)
		}
	}
	return out
}

// waitClosed waits until the channel closes, dropping what is left in it.
func waitClosed(t *testing.T, ch <-chan store.Notice) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription channel not closed")
		}
	}
}

func TestNotifier(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Another schema is another channel.
	elsewhere := newStore(t)
	if err := elsewhere.Publish(ctx, []store.Notice{{Kind: store.NoticeDue, Queue: "elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	sent := []store.Notice{{Kind: store.NoticeDue, Queue: "default"}, {Kind: store.NoticeCancel, ID: id}, {Kind: store.NoticeDue, Queue: "mail", At: at}}
	if err := s.Publish(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, 3); !reflect.DeepEqual(got, sent) {
		t.Errorf("received %+v, want %+v", got, sent)
	}

	// More than one payload's worth, in order.
	many := make([]store.Notice, 200)
	for i := range many {
		many[i] = store.Notice{Kind: store.NoticeDue, Queue: fmt.Sprintf("queue-%03d-%s", i, strings.Repeat("x", 80))}
	}
	if err := s.Publish(ctx, many); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, len(many)); !reflect.DeepEqual(got, many) {
		t.Errorf("a large publish arrived out of order or changed")
	}
	if err := s.Publish(ctx, []store.Notice{{Kind: store.NoticeDue, Queue: strings.Repeat("q", 8000)}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("publish of a notice over the payload limit = %v, want ErrInvalid", err)
	}
	if err := s.Publish(ctx, nil); err != nil {
		t.Errorf("publish of nothing = %v", err)
	}
}

// TestSubscribeReconnects: the listening session dies; the subscription
// listens again on a new connection.
func TestSubscribeReconnects(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listen := `LISTEN "evertask.` + s.Schema() + `"`
	var pid int32
	if err := testPool(t).QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE query = $1", listen).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := testPool(t).Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	// Notices sent while no session listens are lost: send until one
	// arrives.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case n, ok := <-ch:
			if !ok {
				t.Fatal("the subscription ended when its connection dropped")
			}
			if n.Queue != "after" {
				t.Errorf("received %+v", n)
			}
			var again int32
			if err := testPool(t).QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE query = $1", listen).Scan(&again); err != nil || again == pid {
				t.Errorf("listening session after the drop: %d, %v (was %d)", again, err, pid)
			}
			return
		case <-tick.C:
			if err := s.Publish(ctx, []store.Notice{{Kind: store.NoticeDue, Queue: "after"}}); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("no notice after the listening session was terminated")
		}
	}
}

func TestSubscribeEnds(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch)

	ch, err = s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitClosed(t, ch)
	if _, err := s.Subscribe(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := s.Publish(t.Context(), []store.Notice{{Kind: store.NoticeDue}}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestPersistTx(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	pool := testPool(t)
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Rolled back: neither the row nor the notice.
	rolled := task(1)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PersistTx(ctx, tx, rolled); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, rolled.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("row of an open transaction visible outside it: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, rolled.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("row of a rolled back transaction: %v", err)
	}

	// Committed, with a held key and a held id on the way that leave the
	// transaction usable.
	held := task(2)
	held.Key = "held"
	if err := s.Persist(ctx, held); err != nil {
		t.Fatal(err)
	}
	first, second, dup := task(3), task(4), task(5)
	first.Queue = "mail"
	second.ScheduledAt = base.Add(time.Hour)
	dup.Key = "held"
	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := s.PersistTx(ctx, tx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.PersistTx(ctx, tx, dup); !errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("PersistTx of a held key = %v, want ErrDuplicateKey", err)
	}
	if err := s.PersistTx(ctx, tx, held); !errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("PersistTx of an existing id = %v, want ErrInvalid", err)
	}
	if err := s.PersistTx(ctx, tx, &store.Task{ID: uuid.New()}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PersistTx of an invalid task = %v, want ErrInvalid", err)
	}
	if err := s.PersistTx(ctx, tx, second); err != nil {
		t.Fatalf("PersistTx after the refused ones: %v (the transaction must stay usable)", err)
	}
	if _, err := s.Get(ctx, first.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("row of an open transaction visible outside it: %v", err)
	}
	// Published now, so it arrives before any notice of the commit.
	marker := store.Notice{Kind: store.NoticeCancel, ID: uuid.New()}
	if err := s.Publish(ctx, []store.Notice{marker}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*store.Task{first, second} {
		if got := get(t, s, want.ID); !reflect.DeepEqual(got, want.Normalize()) {
			t.Errorf("committed row:\n got %+v\nwant %+v", got, want.Normalize())
		}
	}
	if _, err := s.Get(ctx, dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the row with the held key was written: %v", err)
	}
	want := []store.Notice{
		marker,
		{Kind: store.NoticeDue, Queue: "mail", At: store.NormalizeTime(first.CreatedAt)},
		{Kind: store.NoticeDue, Queue: "default", At: store.NormalizeTime(second.ScheduledAt)},
	}
	if got := receive(t, ch, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("notices:\n got %+v\nwant %+v (nothing of the rollback, the commit's after the marker)", got, want)
	}

	if err := s.PersistTx(ctx, nil, task(6)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PersistTx without a transaction = %v, want ErrInvalid", err)
	}
}

// TestChannelNames: a long schema name still gets a channel of its own.
func TestChannelNames(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ctx := t.Context()
	long := func() *pgstore.Store {
		// 63 bytes, the random part last: the channel names of a and b
		// share the bytes kept before the hash.
		name := strings.Repeat("s", 42) + "_" + freshSchema(t, pool)
		t.Cleanup(func() { pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS "`+name+`" CASCADE`) }) //nolint:errcheck
		s, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := long(), long()
	ch, err := a.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, []store.Notice{{Kind: store.NoticeDue, Queue: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, []store.Notice{{Kind: store.NoticeDue, Queue: "a"}}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, 1); got[0].Queue != "a" {
		t.Errorf("first notice on a's channel: %+v, want a's own", got[0])
	}
}
