package evertask

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

type cancelClaimJob struct{}

func (cancelClaimJob) Kind() string { return "test.cancelclaim" }

// A fetcher registers the rows of a claim only after the claim returned,
// and after waiting for buffer room for the rows before them. A Cancel that
// writes Cancelled in between finds no delivery to flag; the delivery that
// begins afterwards must not run the handler. (CI once saw the PostgreSQL
// engine suite's CancelOfAClaimedRecoveredTaskHolds run a cancelled task
// that way.) The claim here is made by hand, on a queue no fetcher of the
// node serves, so the steps happen in that order every time.
func TestCancelBeatsALateRegisteredClaim(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	eng, err := New(st, &Config{Workers: 1, Retry: NoRetry()})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan uuid.UUID, 2)
	err = Register[cancelClaimJob](eng, HandlerFunc[cancelClaimJob](func(ctx context.Context, _ cancelClaimJob) error {
		ran <- TaskID(ctx)
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	payload, _ := json.Marshal(cancelClaimJob{})
	claim := func() *store.Task {
		t.Helper()
		id, _ := uuid.NewV7()
		row := &store.Task{ID: id, CreatedAt: time.Now().Add(-time.Second), Kind: cancelClaimJob{}.Kind(),
			Payload: payload, Queue: "unserved", Status: store.StatusQueued}
		if err := st.Persist(t.Context(), row); err != nil {
			t.Fatal(err)
		}
		res, err := st.Claim(t.Context(), store.ClaimParams{
			Owner: eng.node.info.ID, Queue: "unserved", Limit: 1, LeaseFor: time.Minute, Now: eng.now(),
		})
		if err != nil || len(res.Tasks) != 1 {
			t.Fatalf("claim by hand: %v, %d rows", err, len(res.Tasks))
		}
		return res.Tasks[0]
	}
	q := eng.queues[DefaultQueue]

	// Claimed, cancelled, then registered: the handler must not run.
	row := claim()
	claimedAt := eng.now()
	if err := eng.Cancel(t.Context(), row.ID); err != nil {
		t.Fatal(err)
	}
	eng.node.claims.run(row, q, claimedAt)
	select {
	case id := <-ran:
		t.Fatalf("the handler of cancelled task %s ran", id)
	case <-time.After(300 * time.Millisecond):
	}
	if got, _ := st.Get(t.Context(), row.ID); got.Status != store.StatusCancelled {
		t.Errorf("cancelled task is %s", got.Status)
	}

	// A claim made after the cancel (the task retried since) runs.
	retried := claim()
	if err := eng.Cancel(t.Context(), retried.ID); err != nil {
		t.Fatal(err)
	}
	eng.node.claims.run(retried, q, eng.now().Add(time.Millisecond))
	select {
	case id := <-ran:
		if id != retried.ID {
			t.Fatalf("task %s ran, want %s", id, retried.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a delivery claimed after the cancel did not run")
	}
}
