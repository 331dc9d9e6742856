package leanhttp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
	}
}

// exchange writes request on c and reads n answers, returning their bodies.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, request string, n int) []string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", len(bodies)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d: %v", len(bodies)+1, err)
		}
		bodies = append(bodies, string(b))
	}
	return bodies
}

// A connection left idle naps (a fresh goroutine waits, no buffers held) and then serves on as
// before: a request, pipelined requests, a request whose head comes in pieces, a body; and its idle
// timeout still counts from the end of its last request, not from the nap.
func TestNappingConnectionServesOn(t *testing.T) {
	const idle = 600 * time.Millisecond
	s := &Server{IdleTimeout: idle, ReadHeaderTimeout: 2 * time.Second, Handler: testHandler(), napAfter: 20 * time.Millisecond}
	addr := serveWith(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	naps := func(n int64) {
		t.Helper()
		waitFor(t, 5*time.Second, fmt.Sprintf("%d naps, have %d", n, s.naps.Load()), func() bool { return s.naps.Load() >= n })
	}
	exchange(t, c, br, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	naps(1)
	if got := exchange(t, c, br, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 1); got[0] != "hello" {
		t.Errorf("after a nap: %q", got)
	}
	naps(2)
	got := exchange(t, c, br, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbodyGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 3)
	if len(got) != 3 || got[0] != "hello" || !strings.Contains(got[1], `"body"`) || got[2] != "hello" {
		t.Errorf("pipelined after a nap: %q", got)
	}
	naps(3)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for _, piece := range []string{"GET /hel", "lo HTTP/1.1\r\nHo", "st: a\r\n\r\n"} {
		if _, err := io.WriteString(c, piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the client's pace: each piece its own segment
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("head in pieces after a nap: %v", err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "hello" {
		t.Fatalf("head in pieces after a nap: %q %v", b, err)
	}
	last := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if waited := time.Since(last); waited < idle-idle/8-30*time.Millisecond || waited > 3*time.Second {
		t.Errorf("napping connection closed after %v; idle timeout %v", waited, idle)
	}
}

// A client that goes away while its connection naps is noticed at once, and Shutdown closes napping
// connections without waiting for their idle timeout.
func TestNappingConnectionEnds(t *testing.T) {
	s := &Server{IdleTimeout: time.Minute, Handler: testHandler(), napAfter: 10 * time.Millisecond}
	addr := serveWith(t, s)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		exchange(t, c, bufio.NewReader(c), "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 1)
		conns = append(conns, c)
	}
	waitFor(t, 5*time.Second, "three naps", func() bool { return s.naps.Load() >= 3 })
	conns[0].Close()
	waitFor(t, 5*time.Second, "the server forgets a connection whose client left", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 2
	})
	start := time.Now()
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	for _, c := range conns[1:] {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("napping connection after Shutdown: %v, want EOF", err)
		}
	}
}

// An idle kept-alive connection costs the server little memory: no read buffer, no header map, and
// a goroutine with a small stack. Measured with the Go runtime's own counts (heap in use and stacks)
// before and after many connections went idle; the client's ends, in this process too, are counted
// with them.
func TestIdleConnectionMemory(t *testing.T) {
	const n = 400
	s := &Server{IdleTimeout: time.Minute, Handler: deepHandler(), napAfter: 10 * time.Millisecond}
	addr := serveWith(t, s)
	before := inUse()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 512)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if k, err := c.Read(buf); err != nil || !strings.HasSuffix(string(buf[:k]), "deep") {
			t.Fatalf("answer %q: %v", buf[:k], err)
		}
	}
	waitFor(t, 10*time.Second, "every connection naps", func() bool { return s.naps.Load() >= n })
	per := float64(inUse()-before) / n
	t.Logf("%.0f bytes per idle connection (server and client ends)", per)
	if limit := 4 << 10; per > float64(limit) {
		t.Errorf("an idle connection costs %.0f bytes, want at most %d", per, limit)
	}
}

// inUse is the heap in use and the goroutine stacks, after a collection.
func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// deepHandler answers "deep" from a deep stack, as a proxied request's handler chain grows the
// serving goroutine's stack.
func deepHandler() http.Handler {
	var recurse func(w http.ResponseWriter, depth int)
	recurse = func(w http.ResponseWriter, depth int) {
		var pad [256]byte
		if depth == 0 {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(append(pad[:0], "deep"...))
			return
		}
		recurse(w, depth-1)
		_ = pad[depth%len(pad)]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { recurse(w, 64) })
}

// A body that a handler hands to another goroutine, unread, cannot read the server's buffers once
// the connection has moved on: they may serve another connection by then.
func TestLeftoverBodyIsDetached(t *testing.T) {
	bodies := make(chan io.Reader, 1)
	addr := serveWith(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bodies <- r.Body // read later, after the handler returned
		io.WriteString(w, "kept")
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// More body than the server drains after the handler: the connection closes.
	head := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
	go func() { _, _ = io.WriteString(c, head+strings.Repeat("x", 300<<10)) }()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); !strings.Contains(string(b), "kept") {
		t.Fatalf("answer: %q", b)
	}
	first := <-bodies
	// Another connection, whose request may sit in the reader the first one used.
	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() { _, _ = io.WriteString(other, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsecret") }()
	<-bodies // the second request is being served
	read := make(chan error, 1)
	go func() {
		n, err := first.Read(make([]byte, 64))
		if n != 0 || err == nil {
			err = fmt.Errorf("read %d bytes (err %v)", n, err)
		} else {
			err = nil
		}
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Errorf("the first request's body, after its connection closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the first request's body, after its connection closed: a read still waiting (on another connection's reader)")
	}
}

// A TLS connection naps on a fresh goroutine (the parker holds plain sockets only) and serves on.
func TestNappingTLSConnection(t *testing.T) {
	certs := httptest.NewUnstartedServer(nil) // for its test certificate and a client that trusts it
	certs.StartTLS()
	serverConf, clientConf := certs.TLS.Clone(), certs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	certs.Close()
	s := &Server{IdleTimeout: time.Minute, Handler: testHandler(), napAfter: 20 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(tls.NewListener(ln, serverConf)) }()
	defer func() {
		if err := s.Shutdown(t.Context()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-served
	}()
	clientConf.NextProtos = nil
	c, err := tls.Dial("tcp", ln.Addr().String(), clientConf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range int64(3) {
		if got := exchange(t, c, br, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 1); got[0] != "hello" {
			t.Fatalf("request %d: %q", i+1, got)
		}
		waitFor(t, 5*time.Second, "a nap", func() bool { return s.naps.Load() > i })
	}
}

// Many parked connections woken at once each get their own answer.
func TestManyNappingConnectionsWakeTogether(t *testing.T) {
	const n = 200
	s := &Server{IdleTimeout: time.Minute, Handler: testHandler(), napAfter: 10 * time.Millisecond}
	addr := serveWith(t, s)
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i], readers[i] = c, bufio.NewReader(c)
		exchange(t, c, readers[i], "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	}
	waitFor(t, 10*time.Second, "every connection naps", func() bool { return s.naps.Load() >= n })
	errs := make(chan error, n)
	for i, c := range conns {
		go func() {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			q := fmt.Sprintf("/echo?conn=%d", i)
			if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", q); err != nil {
				errs <- err
				return
			}
			resp, err := http.ReadResponse(readers[i], nil)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			if err == nil && !strings.Contains(string(b), q+" ") {
				err = fmt.Errorf("connection %d got %q", i, b)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
