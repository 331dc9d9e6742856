package leanhttp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs h on a fresh loopback listener until the test ends.
func serve(t *testing.T, h http.Handler) (*Server, string) {
	t.Helper()
	s := &Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	return s, serveWith(t, s)
}

// serveWith runs s on a fresh loopback listener until the test ends and returns its address.
func serveWith(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String()
}

// raw sends the request bytes as written and returns everything the server answered until it closed
// the connection (or until the deadline).
func raw(t *testing.T, addr, request string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%s %s %d %q host=%s", r.Method, r.URL.RequestURI(), r.ContentLength, b, r.Host)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "3")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("b", 100000)))
	})
	mux.HandleFunc("/limited", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4) // replaces the body: the server must still drain its own
		b := make([]byte, 2)
		io.ReadFull(r.Body, b)
		fmt.Fprintf(w, "read %s", b)
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Trace, close") // close in a list: the connection ends after
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	})
	return mux
}

func TestWithNetHTTPClient(t *testing.T) {
	_, addr := serve(t, testHandler())
	base := "http://" + addr
	tests := []struct {
		method, path, body string
		chunked            bool
		status             int
		want               string
		trailer            string
	}{
		{"GET", "/hello", "", false, 200, "hello", ""},
		{"POST", "/echo?q=1", "payload", false, 200, `POST /echo?q=1 7 "payload" host=` + addr, ""},
		{"POST", "/echo", "streamed-body", true, 200, `POST /echo -1 "streamed-body" host=` + addr, ""},
		{"GET", "/stream", "", false, 200, "part0;part1;part2;", "3"},
		{"GET", "/big", "", false, 200, strings.Repeat("b", 100000), ""},
		{"GET", "/nocontent", "", false, 204, "", ""},
		{"HEAD", "/hello", "", false, 200, "", ""},
		{"GET", "/missing", "", false, 404, "404 page not found\n", ""},
		{"GET", "/panic", "", false, 500, "Internal Server Error", ""},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: chunked
			}
		}
		req, _ := http.NewRequest(tt.method, base+tt.path, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tt.status || string(b) != tt.want || resp.Trailer.Get("X-Sum") != tt.trailer {
			t.Errorf("%s %s: %d %.60q trailer %q err %v; want %d %.60q %q", tt.method, tt.path, resp.StatusCode, b,
				resp.Trailer.Get("X-Sum"), err, tt.status, tt.want, tt.trailer)
		}
		if tt.path == "/hello" && tt.method == "GET" && resp.Header.Get("Content-Length") != "5" {
			t.Errorf("/hello Content-Length %q", resp.Header.Get("Content-Length"))
		}
	}
	// The same connection served them all but the panic (which closes it).
	if _, body := get(t, client, base+"/hello"); body != "hello" {
		t.Errorf("after the panic: %q", body)
	}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRawRequests(t *testing.T) {
	_, addr := serve(t, testHandler())
	tests := []struct {
		name, request string
		want          []string // substrings, in order
		not           string
	}{
		{"pipelined and closed", "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"HTTP/1.1 200 OK", "hello", "HTTP/1.1 200 OK", "Connection: close", "hello"}, ""},
		{"HTTP/1.0 closes", "GET /hello HTTP/1.0\r\n\r\n", []string{"HTTP/1.1 200 OK", "Connection: close", "hello"}, ""},
		{"HTTP/1.0 keep-alive", "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
			[]string{"Connection: keep-alive", "hello", "Connection: close", "hello"}, ""},
		{"expect continue", "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
			[]string{"HTTP/1.1 100 Continue", "HTTP/1.1 200 OK", `"hi"`}, ""},
		{"chunked with trailers, then another", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{`POST /echo -1 "ab"`, "HTTP/1.1 200 OK", "hello"}, "400"},
		{"unread chunked body drained", "POST /hello HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"hello", "HTTP/1.1 200 OK", "hello"}, "400"},
		{"empty line before request", "\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"200 OK", "hello"}, ""},
		{"chunked request", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
			[]string{"200 OK", `POST /echo -1 "abc"`}, ""},
		{"absolute form", "GET http://other:9/echo?x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"host=other:9"}, ""},
		{"CL and TE", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"400 Bad Request"}, "200 OK"},
		{"two lengths", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", []string{"400 Bad Request"}, "200 OK"},
		{"bad length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", []string{"400 Bad Request"}, "200 OK"},
		{"gzip TE", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", []string{"501 Not Implemented"}, "200 OK"},
		{"folding", "GET /hello HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", []string{"400 Bad Request"}, "200 OK"},
		{"no host", "GET /hello HTTP/1.1\r\n\r\n", []string{"400 Bad Request"}, "200 OK"},
		{"two hosts", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []string{"400 Bad Request"}, "200 OK"},
		{"bad version", "GET /hello HTTP/2.0\r\nHost: a\r\n\r\n", []string{"505 HTTP Version Not Supported"}, "200 OK"},
		{"bad header name", "GET /hello HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", []string{"400 Bad Request"}, "200 OK"},
		{"NUL in value", "GET /hello HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", []string{"400 Bad Request"}, "200 OK"},
		{"huge headers", "GET /hello HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 70000) + "\r\n\r\n", []string{"431 Request Header Fields Too Large"}, "200 OK"},
		{"huge request line", "GET /" + strings.Repeat("x", 70000) + " HTTP/1.1\r\nHost: a\r\n\r\n", []string{"414 Request URI Too Long"}, "200 OK"},
		{"header longer than the read buffer", "GET /echo HTTP/1.1\r\nHost: a\r\nCookie: " + strings.Repeat("c", 9000) +
			"\r\nConnection: close\r\n\r\n", []string{"200 OK", "GET /echo 0"}, "431"},
		{"LF line ends", "GET /hello HTTP/1.1\nHost: a\nConnection: close\n\n", []string{"200 OK", "hello"}, ""},
		{"several empty lines before request", "\r\n\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"200 OK", "hello"}, ""},
		{"replaced body drained", "POST /limited HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabcdefGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"read ab", "HTTP/1.1 200 OK", "hello"}, "400"},
		{"short body declared", "GET /short HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", []string{"Content-Length: 10", "abc"}, "hello"},
		{"garbage", "\x16\x03\x01 tls?\r\n\r\n", []string{"400 Bad Request"}, ""},
		{"handler closes in a list", "GET /bye HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", []string{"bye"}, "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := raw(t, addr, tt.request)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("answer lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			if tt.not != "" && strings.Contains(got, tt.not) {
				t.Errorf("answer has %q:\n%s", tt.not, got)
			}
		})
	}
}

// A head that arrives in pieces, split inside a line and inside the final CRLF CRLF, is gathered.
func TestHeadInPieces(t *testing.T) {
	_, addr := serve(t, testHandler())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, piece := range []string{"GET /echo?q=1 HT", "TP/1.1\r\nHost: pie", "ces\r\nConnection: close\r\n\r", "\n"} {
		if _, err := io.WriteString(c, piece); err != nil {
			t.Fatal(err)
		}
		// No answer may come before the head is whole; looking for one a moment also lets each
		// piece arrive on its own.
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := br.Peek(1); err == nil && piece != "\n" {
			t.Fatalf("answered after %q", piece)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != `GET /echo?q=1 0 "" host=pieces` {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}

// A client that leaves while its (slow) handler runs cancels the request's context: at once, and
// also after the handler has outlasted the idle timeout. (A request without a body keeps the idle
// deadline while its handler runs; the watch must lift it, or it would stop watching.)
func TestClientGoneCancelsContext(t *testing.T) {
	tests := []struct {
		name  string
		idle  time.Duration
		pause time.Duration // how long the client waits after its handler started before leaving
	}{
		{"at once", 0, 0},
		{"after the idle timeout", 50 * time.Millisecond, 200 * time.Millisecond}, // four idle timeouts
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, cancelled := make(chan struct{}), make(chan struct{})
			addr := serveWith(t, &Server{IdleTimeout: tt.idle, ReadHeaderTimeout: time.Second,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					close(started)
					select {
					case <-r.Context().Done():
						close(cancelled)
					case <-time.After(10 * time.Second):
					}
				})})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			<-started
			time.Sleep(tt.pause) // the premise of the case, not a wait for the server
			c.Close()
			select {
			case <-cancelled:
			case <-time.After(5 * time.Second):
				t.Fatal("the handler's context was not cancelled when the client left")
			}
		})
	}
}

// A slow handler with a pipelined request behind it: the watch must not lose the second request.
func TestWatchKeepsPipelinedRequest(t *testing.T) {
	var n atomic.Int32
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			time.Sleep(50 * time.Millisecond) // slower than the watch delay: the watch starts and sees the next request's bytes
		}
		io.WriteString(w, r.URL.Path)
	}))
	got := raw(t, addr, "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.Contains(got, "/first") || !strings.Contains(got, "/second") {
		t.Errorf("answers:\n%s", got)
	}
}

// Upgrades through httputil.ReverseProxy hijack the connection.
func TestHijackThroughReverseProxy(t *testing.T) {
	_, upAddr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		conn.Write([]byte("echo:" + line))
	}))
	target, _ := url.Parse("http://" + upAddr)
	_, addr := serve(t, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	io.WriteString(c, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo:ping\n" {
		t.Errorf("%q %v", line, err)
	}
}

// Shutdown lets a request in flight finish and refuses new connections.
func TestShutdownDrains(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	idle, err := net.Dial("tcp", addr) // an idle connection: closed by Shutdown
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	got := make(chan string, 1)
	go func() { got <- raw(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") }()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
	}
	close(release)
	if r := <-got; !strings.Contains(r, "finished") || !strings.Contains(r, "Connection: close") {
		t.Errorf("in-flight answer: %q", r)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection after Shutdown: %v, want EOF", err)
	}
}

// A kept-alive connection stays open while requests keep coming, each within the idle timeout of
// the one before, however long that goes on; left idle, it is closed after about the idle timeout.
func TestIdleTimeoutClosesOnlyIdleConnections(t *testing.T) {
	const idle = 300 * time.Millisecond // wide enough that a busy CI machine cannot stall a request past it
	addr := serveWith(t, &Server{IdleTimeout: idle, ReadHeaderTimeout: time.Second, Handler: testHandler()})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func() error {
		if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	start := time.Now()
	for time.Since(start) < 3*idle { // busy for three idle timeouts, a request every 30ms
		if err := get(); err != nil {
			t.Fatalf("request after %v on a busy connection: %v", time.Since(start), err)
		}
		time.Sleep(30 * time.Millisecond) // the client's pace
	}
	last := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if waited := time.Since(last); waited < idle-idle/8-30*time.Millisecond || waited > 2*time.Second {
		t.Errorf("idle connection closed after %v; idle timeout %v", waited, idle)
	}
}

// A head that stops coming (slowloris) is cut after the header timeout, not the much longer idle one.
func TestHeadMustArriveWithinHeaderTimeout(t *testing.T) {
	addr := serveWith(t, &Server{IdleTimeout: 30 * time.Second, ReadHeaderTimeout: 100 * time.Millisecond, Handler: testHandler()})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: a\r\n"); err != nil { // no end of head
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("connection held %v with half a head; header timeout 100ms", waited)
	}
	if strings.Contains(string(b), "200 OK") {
		t.Errorf("answered a request whose head never ended: %q", b)
	}
}

// A handler that aborts (http.ErrAbortHandler, as ReverseProxy does when the upstream body fails)
// leaves the client a response it can tell was cut: what was held back goes out short of its
// Content-Length, or chunked without the last chunk, and the connection closes. An HTTP/1.0 client
// of a body of unknown length would take the close for the end: it gets nothing.
func TestAbortLeavesAVisibleCut(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", "10")
		}
		_, _ = io.WriteString(w, "12345")
		panic(http.ErrAbortHandler)
	}))
	for _, tt := range []struct {
		name, request, want string
	}{
		{"Content-Length", "GET /length HTTP/1.1\r\nHost: x\r\n\r\n", "Content-Length: 10\r\n"},
		{"chunked", "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", "Transfer-Encoding: chunked\r\n"},
		{"HTTP/1.0", "GET /chunked HTTP/1.0\r\n\r\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := raw(t, addr, tt.request)
			if tt.want == "" {
				if got != "" {
					t.Errorf("got %q, want nothing", got)
				}
				return
			}
			// No Connection: close in the head either: Node's fetch takes a chunked answer that says
			// so and ends early for whole.
			if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.Contains(got, tt.want) || !strings.Contains(got, "12345") ||
				strings.HasSuffix(got, "0\r\n\r\n") || strings.Contains(got, "Connection: close") {
				t.Fatalf("got %q", got)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(resp.Body); err == nil {
				t.Errorf("the client read %q whole", b)
			}
		})
	}
}

// A client that asked for 100 Continue gets one, not two, when the handler passes on another (as
// ReverseProxy does with the target's).
func TestOneContinue(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusContinue)
		_, _ = w.Write(b)
	}))
	got := raw(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
	if n := strings.Count(got, "100 Continue"); n != 1 || !strings.HasSuffix(got, "\r\n\r\nhi") {
		t.Errorf("%d 100 Continue in %q", n, got)
	}
}
