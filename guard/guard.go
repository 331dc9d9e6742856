// Package guard holds net/http's HTTP/1 server to the request rules that frontgate's own server
// (leanhttp) applies: net/http reads Transfer-Encoding with Content-Length as chunked, ignores
// Transfer-Encoding in HTTP/1.0, joins folded lines, and lets through chunk extensions and hosts
// that those rules refuse. Listener watches each connection's bytes as net/http reads them and
// judges every request head with httpsyntax.ParseRequestHead, following each body's framing with
// httpsyntax's chunked decoder to find the next head; Handler, given the requests net/http parsed,
// answers the refused ones 400 (or the rule's status) and closes the connection, and fails a body
// whose framing the rules refuse. Nothing of a refused request reaches the handler it wraps.
//
// Wire it as:
//
//	srv := &http.Server{Handler: guard.Handler(h), ConnContext: guard.ConnContext}
//	srv.Serve(guard.Listener(ln, maxHeaderBytes))
package guard

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/frontgate/frontgate/internal/httpsyntax"
	"github.com/frontgate/frontgate/leanhttp"
)

// Listener returns ln with every accepted connection watched (see the package comment). A request
// head over maxHeaderBytes is refused with 431; zero or less: 64 KiB.
func Listener(ln net.Listener, maxHeaderBytes int) net.Listener {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = leanhttp.DefaultMaxHeaderBytes
	}
	return &listener{Listener: ln, maxHead: maxHeaderBytes}
}

type listener struct {
	net.Listener
	maxHead int
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	gc := &conn{Conn: c, maxHead: l.maxHead}
	if tc, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := tc.ConnectionState() // the handshake is done (package tlsfront does it)
		gc.tls = &st
	}
	return gc, nil
}

type connKey struct{}

// ConnContext is the http.Server's ConnContext: it gives each request its watched connection.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, gc)
	}
	return ctx
}

// verdict is what the rules say of one request head, and later of its body.
type verdict struct {
	method, target string
	status         int   // non-zero: refused, with this status
	upgrade        bool  // the request asks for a protocol upgrade
	chunked        bool  // its body is chunked
	bodyErr        error // its body's framing failed (set by the scanner, read by the body; under conn.mu)
}

type scanState uint8

const (
	inHead    scanState = iota // gathering a request head
	inLength                   // a Content-Length body: left bytes to come
	inChunked                  // a chunked body
	paused                     // after an upgrade request's head: the handler's answer decides
	stopped                    // the connection was taken over, or scanning failed
)

// conn watches the bytes net/http reads. Read runs on net/http's goroutines for the connection (one
// at a time: the serving one, or its background read), the checks on the handler's.
type conn struct {
	net.Conn
	maxHead int
	tls     *tls.ConnectionState // the connection's TLS, which net/http cannot see through conn; nil: plain

	mu      sync.Mutex // guards everything below
	state   scanState
	head    []byte // a head being gathered
	left    int64  // inLength: body bytes to come
	chunks  httpsyntax.Dechunker
	parsed  httpsyntax.RequestHead
	blanks  int        // empty lines dropped before the head being gathered
	cur     *verdict   // the request whose body is being scanned
	served  *verdict   // the request whose handler runs (or ran last)
	queue   []*verdict // judged heads whose handler has not run yet, in order
	pending []byte     // paused: bytes read meanwhile, scanned if the upgrade is refused
	failed  bool       // scanning stopped on a refused request: what follows cannot be framed
}

func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	var refused error
	if c.served != nil {
		refused = c.served.bodyErr
	}
	c.mu.Unlock()
	if refused != nil {
		// The request being served has a body the rules refused, which net/http's decoder may be
		// waiting on still (a trailer section that never ends for it): no more bytes for it.
		return 0, fmt.Errorf("request body: %w", refused)
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		n = c.scan(p[:n])
		c.mu.Unlock()
		if n == 0 && err == nil {
			return c.Read(p) // all of it was empty lines before a request line
		}
	}
	return n, err
}

// scan follows the request stream over b and returns how many bytes of it net/http gets: the empty
// lines before a request line, which net/http refuses and RFC 9112 2.2 asks a server to skip, are
// taken out (the rest moves up). c.mu is held.
func (c *conn) scan(b []byte) int {
	in, out := 0, 0       // next byte to look at; bytes kept, at the front of b
	pass := func(k int) { // the next k bytes are kept
		if out != in {
			copy(b[out:], b[in:in+k])
		}
		in, out = in+k, out+k
	}
	for in < len(b) {
		switch c.state {
		case stopped:
			pass(len(b) - in)
		case paused:
			if len(c.pending)+len(b)-in > c.maxHead {
				c.stop() // too much for a request that was refused its upgrade: give up on it
			} else {
				c.pending = append(c.pending, b[in:]...)
			}
			pass(len(b) - in)
		case inLength:
			k := int(min(int64(len(b)-in), c.left))
			c.left -= int64(k)
			pass(k)
			if c.left == 0 {
				c.bodyDone()
			}
		case inChunked:
			n, _, err := c.chunks.Step(b[in:], len(b)-in)
			pass(n)
			if err != nil {
				c.cur.bodyErr = err
				c.fail()
			} else if c.chunks.Done() {
				c.bodyDone()
			}
		case inHead:
			if len(c.head) == 0 && c.blanks < 4 {
				if k := httpsyntax.EmptyLines(b[in:], 1); k > 0 {
					in += k // dropped
					c.blanks++
					continue
				}
			}
			from := len(c.head)
			c.head = append(c.head, b[in:]...)
			n := httpsyntax.HeadLength(c.head)
			if n < 0 {
				if len(c.head) > c.maxHead {
					c.refuse(http.StatusRequestHeaderFieldsTooLarge)
				}
				pass(len(b) - in)
				continue
			}
			pass(n - from) // the rest of the head; what follows it is looked at next
			c.judge(string(c.head[:n]))
			c.head, c.blanks = c.head[:0], 0
		}
	}
	return out
}

// judge queues the verdict on one head and readies the scan of its body.
func (c *conn) judge(head string) {
	if len(head) > c.maxHead {
		c.refuse(http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	h := &c.parsed
	if status, err := httpsyntax.ParseRequestHead(head, h); err != nil {
		c.refuse(status)
		return
	}
	v := &verdict{method: h.Method, target: h.Target, chunked: h.Length < 0}
	for _, f := range h.Fields {
		if f.Name == "Upgrade" {
			v.upgrade = true
		}
	}
	c.queue = append(c.queue, v)
	c.cur = v
	switch {
	case h.Length < 0:
		c.chunks = httpsyntax.Dechunker{MaxTrailerBytes: c.maxHead}
		c.state = inChunked
	case h.Length > 0:
		c.left, c.state = h.Length, inLength
	default:
		c.bodyDone()
	}
}

// bodyDone moves on to the next head, or waits for the answer to an upgrade request.
func (c *conn) bodyDone() {
	c.state = inHead
	if c.cur != nil && c.cur.upgrade {
		c.state = paused
	}
}

func (c *conn) refuse(status int) {
	c.queue = append(c.queue, &verdict{status: status})
	c.fail()
}

func (c *conn) fail() {
	c.failed = true
	c.stop()
}

func (c *conn) stop() {
	c.state = stopped
	c.head, c.pending = nil, nil
}

// resume scans what came while an upgrade request waited for its answer, which was not 101.
func (c *conn) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != paused {
		return
	}
	c.state = inHead
	pending := c.pending
	c.pending = nil
	c.scan(pending)
}

// takenOver stops the scan: the connection speaks another protocol now (or is the handler's).
func (c *conn) takenOver() {
	c.mu.Lock()
	c.stop()
	c.mu.Unlock()
}

// next returns the verdict on the request net/http just parsed (method and target as sent). Heads
// net/http answered itself (OPTIONS *) are passed over; a refused head, or none at all (scanning had
// stopped), refuses the request.
func (c *conn) next(method, target string) *verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) > 0 {
		v := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if v.status != 0 || v.method == method && v.target == target {
			c.served = v
			return v
		}
	}
	return &verdict{status: http.StatusBadRequest} // not judged: the stream could not be followed
}

func (c *conn) bodyErr(v *verdict) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return v.bodyErr
}

// Handler wraps next so that each HTTP/1 request that came through Listener runs only if the rules
// accept its head, and reads a body whose framing they accept. A refused request is answered with
// the rule's status, a short plain-text body and Connection: close.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*conn)
		if c == nil || r.ProtoMajor != 1 {
			next.ServeHTTP(w, r) // not from a watched connection, or HTTP/2
			return
		}
		v := c.next(r.Method, r.RequestURI)
		if v.status != 0 {
			refuse(w, v.status)
			return
		}
		if v.chunked || c.tls != nil {
			r = r.WithContext(r.Context()) // the server's own request keeps its body (see middleware.MaxBody)
			if c.tls != nil {
				r.TLS = c.tls
			}
			if v.chunked {
				r.Body = &checkedBody{ReadCloser: r.Body, c: c, v: v}
			}
		}
		if !v.upgrade {
			next.ServeHTTP(w, r)
			return
		}
		uw := &upgradeWriter{ResponseWriter: w, c: c}
		next.ServeHTTP(uw, r)
		if !uw.hijacked {
			c.resume()
		}
	})
}

// refuse answers a refused request, as leanhttp answers one it cannot read.
func refuse(w http.ResponseWriter, status int) {
	text := http.StatusText(status)
	h := w.Header()
	clear(h)
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// checkedBody fails a chunked body as soon as the scanner found its framing refused, although
// net/http's decoder would have read on.
type checkedBody struct {
	io.ReadCloser
	c *conn
	v *verdict
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if berr := b.c.bodyErr(b.v); berr != nil {
		return 0, fmt.Errorf("request body: %w", berr)
	}
	return n, err
}

// upgradeWriter tells the scan how an upgrade request was answered: taken over (hijacked after a
// 101) or not (the stream goes on as HTTP/1.1).
type upgradeWriter struct {
	http.ResponseWriter
	c        *conn
	hijacked bool
}

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.c.takenOver()
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return nc, brw, err
}

func (w *upgradeWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
