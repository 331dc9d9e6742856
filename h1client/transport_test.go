package h1client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// newTransport is a Transport as a gateway's pool makes one, closed when the test ends.
func newTransport(t *testing.T, log *zap.Logger) *Transport {
	tr := New(Options{DialTimeout: 5 * time.Second, MaxIdlePerHost: 16, IdleTimeout: time.Minute, Logger: log})
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// fetch sends req through tr and reads the whole answer.
func fetch(t *testing.T, tr *Transport, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL.Path, err)
	}
	return resp, string(b)
}

// rewindable is a request body that can be sent again, as a gateway's buffered bodies can.
type rewindable struct {
	*strings.Reader
	s string
}

func (r *rewindable) Close() error { return nil }

func (r *rewindable) Rewind() bool {
	r.Reset(r.s)
	return true
}

// A target that closes kept-alive connections after each answer, without saying so: the next request
// meets a dead connection and must go out again on a fresh one.
func TestStaleKeepAliveConnectionIsRedialled(t *testing.T) {
	up, conns := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		_, body, err := readRequest(br)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body)+2, "ok"+body)
	})
	tr := newTransport(t, nil)
	for i := 0; i < 5; i++ {
		s := fmt.Sprint(i)
		req, _ := http.NewRequest(http.MethodPut, up+"/x", &rewindable{strings.NewReader(s), s})
		req.ContentLength = int64(len(s))
		if resp, body := fetch(t, tr, req); resp.StatusCode != 200 || body != "ok"+s {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if conns.Load() < 5 {
		t.Errorf("%d connections for 5 requests on a target that closes each", conns.Load())
	}
}

// With the idle peek on, even a POST (never sent twice) finds no dead connection: the peek saw the
// close.
func TestIdlePeekSkipsClosedConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	up, conns := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
	tr := newTransport(t, nil)
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest(http.MethodPost, up+"/x", strings.NewReader("once"))
		if resp, body := fetch(t, tr, req); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		<-closed // the target has closed the kept-alive connection before the next request
	}
	if conns.Load() != 5 {
		t.Errorf("%d connections, want 5", conns.Load())
	}
}

func TestLeanClientFraming(t *testing.T) {
	up, conns := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/chunked":
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n")
			case "/early":
				fmt.Fprint(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
			case "/nocontent":
				fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\n")
			case "/close":
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close")
				return
			case "/echo":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body)+len(req.TransferEncoding[0])+1,
					req.TransferEncoding[0]+":"+body)
			default:
				if req.Method == http.MethodHead {
					fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
					continue
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.Method+body), req.Method+body)
			}
		}
	})
	tr := newTransport(t, nil)
	tests := []struct {
		method, path string
		body         io.Reader
		length       int64
		want         string
		trailer      string
	}{
		{"GET", "/chunked", nil, 0, "abcde", "5"},
		{"GET", "/early", nil, 0, "final", ""},
		{"GET", "/nocontent", nil, 0, "", ""},
		{"HEAD", "/head", nil, 0, "", ""},
		{"POST", "/len", strings.NewReader("hello"), 5, "POSThello", ""},
		{"POST", "/echo", io.MultiReader(strings.NewReader("str"), strings.NewReader("eamed")), -1, "chunked:streamed", ""},
		{"POST", "/empty", nil, 0, "POST", ""},
		{"GET", "/close", nil, 0, "until close", ""},
		{"GET", "/after-close", nil, 0, "GET", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, up+tt.path, tt.body)
		req.ContentLength = tt.length
		resp, b := fetch(t, tr, req)
		if b != tt.want || resp.Trailer.Get("X-Sum") != tt.trailer {
			t.Errorf("%s %s: %d %q trailer %q; want %q %q", tt.method, tt.path, resp.StatusCode, b, resp.Trailer.Get("X-Sum"), tt.want, tt.trailer)
		}
	}
	// Everything before /close shared one kept-alive connection; /after-close needed a second.
	if conns.Load() != 2 {
		t.Errorf("%d upstream connections, want 2", conns.Load())
	}
}

// Responses the lean client must refuse (RFC 9112: a gateway answers 502 rather than guess the
// framing or pass on a header that could split). Each target answers one request with its bytes.
func TestLeanClientRefusesMalformedResponses(t *testing.T) {
	tests := []struct {
		name, answer string
		want         error // nil: any error
	}{
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", nil},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", nil},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", nil},
		{"bad header name", "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 0\r\n\r\n", nil},
		{"control byte in value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n", nil},
		{"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", nil},
		{"bad protocol", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", nil},
		{"headers cut short", "HTTP/1.1 200 OK\r\nContent-Len", io.ErrUnexpectedEOF},
		{"headers too large", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", errHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequest(br); err == nil {
					_, _ = io.WriteString(c, tt.answer)
				}
			})
			req, _ := http.NewRequest(http.MethodGet, up+"/x", nil)
			resp, err := newTransport(t, nil).RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("accepted: %d %v", resp.StatusCode, resp.Header)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("%v, want %v", err, tt.want)
			}
		})
	}
}

// A 103 Early Hints before the final response reaches the request's client trace with its Link
// header, and the final response's headers (one of them repeated, one in lower case) arrive whole,
// but for the hop-by-hop ones: Connection and the field it names (and never the framing it names).
func TestLeanClientForwardsEarlyHintsAndHeaders(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nx-lower: yes\r\nConnection: keep-alive, x-hop, Content-Length\r\n"+
				"X-Hop: for the gateway only\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, up+"/x", nil)
	resp, b := fetch(t, newTransport(t, nil), req)
	if b != "ok" || fmt.Sprint(resp.Header["Set-Cookie"]) != "[a=1 b=2]" || resp.Header.Get("X-Lower") != "yes" ||
		resp.Header.Get("X-Hop") != "" || resp.Header.Get("Connection") != "" || resp.ContentLength != 2 {
		t.Errorf("got %q, headers %v", b, resp.Header)
	}
	if len(hints) != 1 || hints[0] != "103 </a.css>; rel=preload" {
		t.Errorf("informational responses seen by the client: %q", hints)
	}
}

// With small socket buffers, a large write through connIO must go partly out without waiting, then
// wait for the rest (the connection arms itself), and every byte must arrive once, in order.
func TestConnIOWriteThatBlocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := make([]byte, 8<<20)
	for i := range payload {
		payload[i] = byte(i * 7 / 5)
	}
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer c.Close()
		_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		b, _ := io.ReadAll(c)
		received <- b
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.(*net.TCPConn).SetWriteBuffer(64 << 10)
	c := &conn{nc: nc}
	c.rc, _ = nc.(*net.TCPConn).SyscallConn()
	c.io = newRawIO()
	c.ctx = context.Background()
	bw := bufio.NewWriterSize(connIO{c}, 16<<10)
	if _, err := bw.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if !c.blocked {
		t.Error("8 MiB went out through 64 KiB buffers without waiting: the test's premise failed")
	}
	c.release()
	nc.Close()
	if got := <-received; !bytes.Equal(got, payload) {
		t.Errorf("received %d bytes, not the %d written in order", len(got), len(payload))
	}
}

// A User-Agent goes upstream as it is; an empty one, or one present without a value (as a gateway
// marks a client's missing one), sends none: not an empty header line, and not Go's default.
func TestUserAgentPassesOrStaysAbsent(t *testing.T) {
	seen := make(chan []string, 3)
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
	tr := newTransport(t, nil)
	for _, tt := range []struct {
		sent []string
		want string
	}{{[]string{"curl/8.0"}, "[curl/8.0]"}, {[]string{""}, "[<absent>]"}, {nil, "[<absent>]"}} {
		req, _ := http.NewRequest(http.MethodGet, up+"/ua", nil)
		req.Header["User-Agent"] = tt.sent
		if resp, _ := fetch(t, tr, req); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := fmt.Sprint(<-seen); got != tt.want {
			t.Errorf("User-Agent %q: upstream saw %s, want %s", tt.sent, got, tt.want)
		}
	}
}

// Responses on one upstream connection share its header map in turn: none may carry a header of the
// one before.
func TestReusedHeaderMapLeaksNothing(t *testing.T) {
	up, conns := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			extra := ""
			for j := 0; j < i%3; j++ { // 0, 1 or 2 more headers than the response before or after
				extra += fmt.Sprintf("X-Extra-%d: %d\r\n", j, i)
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Only-%d: yes\r\nX-Shared: %d\r\n%sContent-Length: 1\r\n\r\n%d", i, i, extra, i%10)
		}
	})
	tr := newTransport(t, nil)
	for i := 0; i < 7; i++ {
		req, _ := http.NewRequest(http.MethodGet, up+"/x", nil)
		resp, _ := fetch(t, tr, req)
		for k := range resp.Header {
			if strings.HasPrefix(k, "X-Only-") && k != fmt.Sprintf("X-Only-%d", i) {
				t.Errorf("response %d carries %s", i, k)
			}
			if strings.HasPrefix(k, "X-Extra-") && resp.Header.Get(k) != fmt.Sprint(i) {
				t.Errorf("response %d carries %s: %s", i, k, resp.Header.Get(k))
			}
		}
		if resp.Header.Get(fmt.Sprintf("X-Only-%d", i)) != "yes" || resp.Header.Get("X-Shared") != fmt.Sprint(i) || len(resp.Header["X-Shared"]) != 1 {
			t.Errorf("response %d: headers %v", i, resp.Header)
		}
	}
	if conns.Load() != 1 {
		t.Errorf("%d upstream connections; the test needs one, reused", conns.Load())
	}
}

// A target that cuts its answer mid-body: the body's reader gets the error, the cut is logged once,
// at warn, with the try's name for the target and the bytes that came, and closing the body drops
// the try's in-flight count.
func TestCutBodyIsLoggedAndEndsTheTry(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 50))
	})
	core, logs := observer.New(zap.InfoLevel)
	tr := newTransport(t, zap.New(core))
	var inflight atomic.Int64
	inflight.Store(1)
	req, _ := http.NewRequest(http.MethodGet, up+"/x", nil)
	req.Header.Set("X-Request-Id", "r1")
	resp, sent, err := tr.Send(req, Try{Wait: 5 * time.Second, Inflight: &inflight, Name: "target-a"})
	if err != nil {
		t.Fatal(err)
	}
	if sent.IsZero() {
		t.Error("Send did not say when the request went out")
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut body read: %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if inflight.Load() != 1 {
		t.Error("the in-flight count dropped before the body was closed")
	}
	resp.Body.Close()
	resp.Body.Close()
	if inflight.Load() != 0 {
		t.Errorf("in-flight count %d after the body was closed (twice), want 0", inflight.Load())
	}
	cuts := logs.FilterMessageSnippet("cut short").All()
	if len(cuts) != 1 || cuts[0].Level != zap.WarnLevel || logs.Len() != 1 {
		t.Fatalf("cut logged %d times, %d lines in all: %v", len(cuts), logs.Len(), logs.All())
	}
	if f := cuts[0].ContextMap(); f["upstream"] != "target-a" || f["body_bytes_received"] != int64(50) || f["request_id"] != "r1" {
		t.Errorf("logged %v", f)
	}
}

// A try whose answer does not come within Try.Wait fails with ErrDeadline, and the request counts as
// sent.
func TestWaitBoundsTheResponseHead(t *testing.T) {
	release := make(chan struct{})
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err == nil {
			<-release
		}
	})
	defer close(release)
	req, _ := http.NewRequest(http.MethodGet, up+"/slow", nil)
	start := time.Now()
	_, sent, err := newTransport(t, nil).Send(req, Try{Wait: 100 * time.Millisecond, Start: start})
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("%v, want %v", err, ErrDeadline)
	}
	if sent.Before(start) {
		t.Errorf("sent %v, before the try's start %v", sent, start)
	}
}

// Connection tokens compare under ASCII case folding only, as net/http's Transport compares them:
// "cloſe" (a long s, which Unicode folds to "s") is not "close", and the connection stays in use;
// "CLOSE" in a list is.
func TestConnectionTokensFoldASCIIOnly(t *testing.T) {
	up, conns := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/long-s":
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nConnection: clo\u017fe\r\nContent-Length: 2\r\n\r\nok")
			case "/listed":
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nConnection: X-Trace, CLOSE\r\nContent-Length: 2\r\n\r\nok")
				return
			default:
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	tr := newTransport(t, nil)
	for i, tt := range []struct {
		path  string
		conns int64
	}{{"/long-s", 1}, {"/next", 1}, {"/listed", 1}, {"/after", 2}} {
		req, _ := http.NewRequest("GET", up+tt.path, nil)
		if _, b := fetch(t, tr, req); b != "ok" {
			t.Fatalf("%s: %q", tt.path, b)
		}
		if n := conns.Load(); n != tt.conns {
			t.Errorf("after request %d (%s): %d upstream connections, want %d", i, tt.path, n, tt.conns)
		}
	}
}
