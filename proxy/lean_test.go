package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// rawUpstream serves each connection with handle, over real TCP, counting connections.
func rawUpstream(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) (url string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int64{}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + ln.Addr().String(), conns
}

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(req.Body)
	return req, string(b), err
}

// The tests of the lean client itself are package h1client's; these hold what the gateway makes of
// it.

// A target that closes kept-alive connections after each answer, without saying so: the next request
// meets a dead connection and must go out again on a fresh one, with its body, which the handler
// buffered (retries off) so that the lean client can rewind it.
func TestStaleKeepAliveConnectionIsRedialled(t *testing.T) {
	up, conns := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		_, body, err := readRequest(br)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body)+2, "ok"+body)
	})
	front := newFrontPool(t, newPool(t, specs(up), PoolOptions{MaxFails: -1}), Options{})
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest(http.MethodPut, front.URL+"/x", strings.NewReader(fmt.Sprint(i)))
		if status, body := fetch(t, req); status != 200 || body != fmt.Sprintf("ok%d", i) {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if conns.Load() < 5 {
		t.Errorf("%d connections for 5 requests on a target that closes each", conns.Load())
	}
}

// Responses the lean client must refuse (RFC 9112: a gateway answers 502 rather than guess the
// framing or pass on a header that could split) reach the client as 502. Each target answers one
// request with its bytes.
func TestRefusedResponsesAre502(t *testing.T) {
	tests := []struct{ name, answer string }{
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n"},
		{"bad header name", "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 0\r\n\r\n"},
		{"control byte in value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"},
		{"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"},
		{"bad protocol", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"headers cut short", "HTTP/1.1 200 OK\r\nContent-Len"},
		{"headers too large", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequest(br); err == nil {
					_, _ = io.WriteString(c, tt.answer)
				}
			})
			front := newFrontPool(t, newPool(t, specs(up), PoolOptions{MaxFails: -1}), Options{})
			req, _ := http.NewRequest(http.MethodGet, front.URL+"/x", nil)
			if status, body := fetch(t, req); status != http.StatusBadGateway {
				t.Errorf("status %d %q, want 502", status, body)
			}
		})
	}
}

// A client's User-Agent goes upstream as it is; a client without one makes the gateway send none
// (not an empty header line, and not Go's default).
func TestUserAgentPassesOrStaysAbsent(t *testing.T) {
	seen := make(chan []string, 2)
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			ua, ok := req.Header["User-Agent"]
			if !ok {
				ua = []string{"<absent>"}
			}
			seen <- ua
			fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	front := newFrontPool(t, newPool(t, specs(up), PoolOptions{}), Options{})
	for _, tt := range []struct{ sent, want string }{{"curl/8.0", "[curl/8.0]"}, {"", "[<absent>]"}} {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/ua", nil)
		req.Header.Set("User-Agent", tt.sent) // "" makes Go's client send none
		if status, _ := fetch(t, req); status != http.StatusNoContent {
			t.Fatalf("status %d", status)
		}
		if got := fmt.Sprint(<-seen); got != tt.want {
			t.Errorf("client sent %q: upstream saw User-Agent %s, want %s", tt.sent, got, tt.want)
		}
	}
}

// A target that cuts its answer mid-body: the client's answer is cut too (ReverseProxy aborts it),
// and the cut is logged once, at warn, with the target and the bytes that came.
func TestCutBodyIsLoggedAndPassedOn(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 50))
	})
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	front := newFrontPool(t, newPool(t, specs(up), PoolOptions{MaxFails: -1, Logger: log}), Options{Logger: log})
	resp, err := http.Get(front.URL + "/x")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the client read the cut answer as whole")
	}
	cuts := logs.FilterMessageSnippet("cut short").All()
	if len(cuts) != 1 || cuts[0].Level != zap.WarnLevel || logs.Len() != 1 {
		t.Fatalf("cut logged %d times, %d lines in all: %v", len(cuts), logs.Len(), logs.All())
	}
	if f := cuts[0].ContextMap(); f["upstream"] != up || f["body_bytes_received"] != int64(50) {
		t.Errorf("logged %v", f)
	}
}
