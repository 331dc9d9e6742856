package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newConnCountingServer starts a real net/http server that counts the connections it accepts.
func newConnCountingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestFastClientResponses(t *testing.T) {
	fixed := strings.Repeat("f", 1000)
	mux := http.NewServeMux()
	mux.HandleFunc("/fixed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, fixed)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			io.WriteString(w, strings.Repeat("c", 700))
			w.(http.Flusher).Flush() // forces chunked transfer-encoding
		}
	})
	mux.HandleFunc("/close-delimited", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close")
		brw.Flush()
	})
	mux.HandleFunc("/connection-close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/no-content", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "after hints")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Test") != "yes" || r.Header.Get("User-Agent") != userAgent {
			w.WriteHeader(http.StatusBadRequest)
		}
		w.Write(b)
	})
	srv, conns := newConnCountingServer(t, mux)

	c := newFastConn(context.Background(), time.Now(), 5*time.Second)
	defer c.close()
	do := func(target Target) exchange {
		t.Helper()
		if target.URL == "" {
			target.URL = srv.URL
		}
		r, err := prepare(target, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ex exchange
		if err := c.do(r, time.Since(c.base), &ex); err != nil {
			t.Fatalf("%s %s: %v", target.Method, target.URL, err)
		}
		return ex
	}
	check := func(name string, ex exchange, status int, body uint64) {
		t.Helper()
		if ex.status != status || ex.bodyRecv != body {
			t.Errorf("%s: status %d body %d bytes; want %d, %d", name, ex.status, ex.bodyRecv, status, body)
		}
		if ex.wireRecv <= ex.bodyRecv {
			t.Errorf("%s: %d wire bytes received for a %d-byte body", name, ex.wireRecv, ex.bodyRecv)
		}
	}

	for i := 0; i < 3; i++ {
		check("fixed", do(Target{URL: srv.URL + "/fixed"}), 200, 1000)
	}
	check("chunked", do(Target{URL: srv.URL + "/chunked"}), 200, 2100)
	check("HEAD", do(Target{URL: srv.URL + "/fixed", Method: "HEAD"}), 200, 0)
	check("no content", do(Target{URL: srv.URL + "/no-content"}), 204, 0)
	check("1xx then final", do(Target{URL: srv.URL + "/early-hints"}), 202, uint64(len("after hints")))
	ex := do(Target{URL: srv.URL + "/echo", Method: "POST", Body: []byte("ping"), Header: []Header{{"X-Test", "yes"}}})
	check("echo", ex, 200, 4)
	if ex.bodySent != 4 || ex.wireSent <= 4 {
		t.Errorf("echo: sent %d body bytes, %d wire bytes", ex.bodySent, ex.wireSent)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("keep-alive: %d connections for the requests so far, want 1", n)
	}

	check("close-delimited", do(Target{URL: srv.URL + "/close-delimited"}), 200, uint64(len("until the close")))
	if c.nc != nil {
		t.Error("connection kept open after a close-delimited response")
	}
	for i := 0; i < 3; i++ {
		check("connection: close", do(Target{URL: srv.URL + "/connection-close"}), 200, 3)
	}
	check("fixed after reconnects", do(Target{URL: srv.URL + "/fixed"}), 200, 1000)
	// The keep-alive connection carried everything up to the close-delimited response; then one new
	// connection for each Connection: close answer and one for the last request.
	if n := conns.Load(); n != 5 {
		t.Errorf("reconnects: %d connections, want 5", n)
	}
}

// TestFastClientKeepAliveRace checks that a keep-alive connection closed by the server between two
// requests is reopened without counting an error (and without sending twice).
func TestFastClientKeepAliveRace(t *testing.T) {
	var served atomic.Int64
	srv, conns := newConnCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	c := newFastConn(context.Background(), time.Now(), 5*time.Second)
	defer c.close()
	r, err := prepare(Target{URL: srv.URL}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		var ex exchange
		if err := c.do(r, time.Since(c.base), &ex); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		srv.CloseClientConnections() // the idle keep-alive connection goes away under the client
	}
	if served.Load() != 3 || conns.Load() != 3 {
		t.Errorf("served %d requests over %d connections, want 3 over 3", served.Load(), conns.Load())
	}
}

// A kept-alive connection that the server closes after reading a request, without answering: a GET
// is sent once more on a new connection (the server may simply have timed the connection out), a
// POST with a body never is (the server may have acted on it): it counts as an error, and the server
// saw it once.
func TestFastClientResendsOnlyIdempotent(t *testing.T) {
	for _, tt := range []struct {
		method, body string
		resent       bool
	}{{"GET", "", true}, {"POST", "upload", false}, {"PUT", "x", false}} {
		t.Run(tt.method, func(t *testing.T) {
			var seen atomic.Int64
			srv, _ := newConnCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/drop" && seen.Add(1) == 1 { // the first one is read, then the connection dies
					io.Copy(io.Discard, r.Body)
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
					}
					return
				}
				io.WriteString(w, "ok")
			}))
			c := newFastConn(context.Background(), time.Now(), 5*time.Second)
			defer c.close()
			warm, _ := prepare(Target{URL: srv.URL + "/warm"}, 0)
			if err := c.do(warm, time.Since(c.base), &exchange{}); err != nil { // the connection is now reused
				t.Fatal(err)
			}
			r, _ := prepare(Target{URL: srv.URL + "/drop", Method: tt.method, Body: []byte(tt.body)}, 0)
			err := c.do(r, time.Since(c.base), &exchange{})
			switch {
			case tt.resent && (err != nil || seen.Load() != 2):
				t.Errorf("%s: %v after the server saw it %d times; want it sent again and answered", tt.method, err, seen.Load())
			case !tt.resent && (err == nil || seen.Load() != 1):
				t.Errorf("%s: %v after the server saw it %d times; want an error and one sending", tt.method, err, seen.Load())
			}
		})
	}
}

func TestFastClientMalformed(t *testing.T) {
	for name, resp := range map[string]string{
		"bad status line":    "HTTP/1.1 2x0 OK\r\n\r\n",
		"not http":           "SSH-2.0-OpenSSH\r\n\r\n",
		"bad content-length": "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"signed length":      "HTTP/1.1 200 OK\r\nContent-Length: +0\r\n\r\n",
		"huge length":        "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n",
		"bad chunk size":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"chunk size 0x":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\n",
		"huge chunk size":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
		"short body":         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			addr := cannedServer(t, resp, true)
			c := newFastConn(context.Background(), time.Now(), 5*time.Second)
			defer c.close()
			r, _ := prepare(Target{URL: "http://" + addr + "/"}, 0)
			var ex exchange
			if err := c.do(r, time.Since(c.base), &ex); err == nil {
				t.Fatalf("no error for %q", resp)
			}
		})
	}
}

// cannedServer answers every request head it reads on 127.0.0.1 with resp, closing the connection after
// the answer when closeAfter is set. It allocates nothing per request once a connection is open.
func cannedServer(t testing.TB, resp string, closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	out := []byte(resp)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					// Request heads end with an empty line; the tests send no bodies here.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := conn.Write(out); err != nil || closeAfter {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// TestFastClientNoAllocs checks the steady state of the hot path: a keep-alive exchange allocates nothing.
func TestFastClientNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	addr := cannedServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwelcome\n", false)
	c := newFastConn(context.Background(), time.Now(), 5*time.Second)
	defer c.close()
	r, _ := prepare(Target{URL: "http://" + addr + "/"}, 0)
	var ex exchange
	var failed error
	allocs := testing.AllocsPerRun(2000, func() {
		ex = exchange{}
		if err := c.do(r, time.Since(c.base), &ex); err != nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs > 0.05 {
		t.Errorf("%.2f allocations per request, want 0", allocs)
	}
}

func TestFastClientChunkedExtensionsAndTrailers(t *testing.T) {
	addr := cannedServer(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n", false)
	c := newFastConn(context.Background(), time.Now(), 5*time.Second)
	defer c.close()
	r, _ := prepare(Target{URL: "http://" + addr + "/"}, 0)
	for i := 0; i < 2; i++ { // the second exchange proves the trailers were consumed
		var ex exchange
		if err := c.do(r, time.Since(c.base), &ex); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if ex.status != 200 || ex.bodyRecv != 15 {
			t.Errorf("request %d: status %d, %d body bytes; want 200, 15", i, ex.status, ex.bodyRecv)
		}
	}
}
