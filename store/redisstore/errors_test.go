package redisstore_test

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/redisstore"
)

// fakeServer answers every command with one error reply, like a Redis that
// is still loading its dataset after a restart.
func fakeServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				r := bufio.NewReader(c)
				for {
					// Every RESP request starts with "*"; answer once per request.
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line[0] == '*' {
						if _, err := c.Write([]byte(reply)); err != nil {
							return
						}
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
	return ln.Addr().String()
}

func TestLoadingIsUnavailable(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, "-LOADING Redis is loading the dataset in memory\r\n")
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, Protocol: 2, DialTimeout: time.Second})
	defer c.Close()
	_, err := redisstore.New(t.Context(), c, nil)
	if !redis.IsLoadingError(err) {
		t.Fatalf("New on a loading server: %v, want the LOADING reply in the chain", err)
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("New on a loading server: %v, want ErrUnavailable", err)
	}
}
