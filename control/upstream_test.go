package control

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostile is an upstream over raw TCP that answers by path, some answers well and some in the ways
// real servers misbehave. It parses requests with net/http's ReadRequest (the witness need not be
// ours) and writes every answer byte by byte as its script says. Each instance serves one front, so
// that what one front does to a connection cannot show in another's outcome.
type hostile struct {
	ln     net.Listener
	events chan string // "stray", "cut", …: written once the misbehaviour is on the wire
	wg     sync.WaitGroup

	mu    sync.Mutex // guards seen and conns
	seen  []seenRequest
	conns map[net.Conn]bool
}

// seenRequest is what the upstream received.
type seenRequest struct {
	method, path string
	header       http.Header
	body         string
	err          error // reading the body failed
}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{ln: ln, events: make(chan string, 64), conns: map[net.Conn]bool{}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns[c] = true
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer func() {
					c.Close()
					h.mu.Lock()
					delete(h.conns, c)
					h.mu.Unlock()
				}()
				h.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		for c := range h.conns {
			c.Close() // kept-alive connections a proxy still holds
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

func (h *hostile) url() string { return "http://" + h.ln.Addr().String() }

// event waits for the upstream to say it did what a script step announced.
func (h *hostile) event(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-h.events:
		if got != want {
			t.Fatalf("upstream event %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("upstream never reported %q", want)
	}
}

func (h *hostile) requests() []seenRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seenRequest(nil), h.seen...)
}

// answer is the body of a well-behaved answer to target: each client can tell its own.
func answer(target string) string { return "answer to " + target }

// okResponse is a well-framed, kept-alive answer.
func okResponse(target string) string {
	body := answer(target)
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// stray is a whole response nobody asked for.
const stray = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + strayBody

// strayBody is the body of the stray answer.
const strayBody = "STRAY-ANSWER"

func (h *hostile) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, berr := io.ReadAll(req.Body)
		h.mu.Lock()
		h.seen = append(h.seen, seenRequest{method: req.Method, path: req.URL.Path, header: req.Header, body: string(body), err: berr})
		h.mu.Unlock()
		if berr != nil {
			return // the gateway cut its request: nothing to answer
		}
		target := req.URL.RequestURI()
		write := func(s string) bool { _, err := io.WriteString(c, s); return err == nil }
		// later writes s once the answer before it has surely been taken as complete, then gives
		// the proxy up to 200ms to notice and close the connection (net/http's Transport notices
		// on a goroutine of its own; frontgate looks when it next uses the connection) before it
		// tells the test to go on.
		later := func(s, event string) {
			time.Sleep(50 * time.Millisecond)
			write(s)
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, _ = br.Peek(1)
			_ = c.SetReadDeadline(time.Time{})
			h.events <- event
		}
		switch req.URL.Path {
		case "/ok":
			write(okResponse(target))
		case "/echo":
			write(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body))

		// Answers followed by bytes nobody asked for: the connection must not serve another request.
		case "/stray":
			write(okResponse(target))
			later(stray, "stray")
		case "/stray-same-write":
			write(okResponse(target) + stray)
		case "/cl-then-more":
			write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
		case "/head-with-body": // the HEAD is answered with a body
			write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
			later("hello", "body")
		case "/204-with-body":
			write("HTTP/1.1 204 No Content\r\n\r\n")
			later("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "body")
		case "/304-with-body":
			write("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
			later(stray, "body")
		case "/408-after":
			write(okResponse(target))
			later("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "408")
			return

		// Malformed heads: 502, and the connection is not used again.
		case "/cl-minus-zero":
			write("HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n" + stray)
		case "/cl-plus":
			write("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello")
		case "/cl-conflict":
			write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
		case "/te-gzip":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello")
			return

		// Chunked answers: each must end promptly, and the connection serve the next.
		case "/chunked":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		case "/chunked-slow": // chunks in separate writes, the last one after a pause
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			time.Sleep(20 * time.Millisecond)
			write("6\r\n world\r\n")
			time.Sleep(20 * time.Millisecond)
			write("0\r\n\r\n")
		case "/chunked-trailers":
			write("HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
		case "/chunked-empty":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		case "/chunked-extensions":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0;c=\"d\"\r\n\r\n")
		case "/te-and-cl": // Transfer-Encoding wins; the Content-Length must not reach the client
			write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

		// Answers cut mid-body: the client must see the cut.
		case "/cut-cl":
			write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 50))
			h.events <- "cut"
			return
		case "/cut-chunked":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			h.events <- "cut"
			return
		case "/cut-reset": // close-delimited, reset mid-body: only the reset tells
			write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello")
			time.Sleep(20 * time.Millisecond)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			h.events <- "cut"
			return
		case "/chunked-bad-size":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n")
			return
		case "/chunked-bare-lf":
			write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n")
			return

		// Other framings that must pass through.
		case "/close-delimited":
			write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + answer(target))
			return
		case "/http10":
			write("HTTP/1.0 200 OK\r\n\r\n" + answer(target))
			return
		case "/http10-keep-alive":
			body := answer(target)
			write(fmt.Sprintf("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
		case "/no-reason":
			body := answer(target)
			write(fmt.Sprintf("HTTP/1.1 200\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
		case "/unasked-100":
			write("HTTP/1.1 100 Continue\r\n\r\n" + okResponse(target))
		case "/early-hints":
			write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + okResponse(target))
		default:
			write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
	}
}
