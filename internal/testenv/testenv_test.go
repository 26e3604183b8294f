package testenv

import (
	"net"
	"testing"
	"time"
)

// TestProbeOfAClosedPortIsFastAndCached checks what makes a test run
// without servers skip at once: a dial to a port nobody listens on fails
// in well under a second, and the answer is reused.
func TestProbeOfAClosedPortIsFastAndCached(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	began := time.Now()
	if err := probe("tcp", addr); err == nil {
		t.Fatalf("probe of closed %s succeeded", addr)
	}
	if el := time.Since(began); el > probeTimeout {
		t.Errorf("probe of a closed port took %s, more than %s", el, probeTimeout)
	}
	// Cached: a listener started now is not seen by this test binary.
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer l2.Close()
	if err := probe("tcp", addr); err == nil {
		t.Error("the second probe dialled again; want the first answer reused")
	}
}
