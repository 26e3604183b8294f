package monitor_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// Without an engine, the stream shows the store's cluster notices: what
// any node announces (here a cancel published straight to the store).
func TestLiveEventsFromStoreNoticesWithoutAnEngine(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	h, err := monitor.New(&monitor.Config{Store: st, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	read := func(until string) {
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), until) {
				return
			}
		}
		t.Fatalf("stream ended before %q: %v (read %q)", until, sc.Err(), lines)
	}
	read(`"source":"notices"`)
	id := uuid.New()
	if err := st.Publish(ctx, []store.Notice{{Kind: store.NoticeCancel, ID: id}}); err != nil {
		t.Fatal(err)
	}
	read(id.String())
	if !strings.Contains(strings.Join(lines, "\n"), `"type":"notice_cancel"`) {
		t.Errorf("the notice arrived as %q", lines)
	}
}
