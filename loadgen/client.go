package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// exchange is what one request/response cycle moved; the fast client fills it without allocating.
type exchange struct {
	status int
	traffic
}

// traffic counts the bytes of exchanges.
type traffic struct {
	wireSent uint64 // request bytes written, head and body
	wireRecv uint64 // response bytes read, head and body (chunk framing included)
	bodySent uint64 // request body bytes
	bodyRecv uint64 // response body bytes (decoded from chunked framing)
}

func (t *traffic) add(o traffic) {
	t.wireSent += o.wireSent
	t.wireRecv += o.wireRecv
	t.bodySent += o.bodySent
	t.bodyRecv += o.bodyRecv
}

// requester sends prepared requests over the one connection it owns. It is driven by a single goroutine,
// except abort, which may be called from any goroutine to make the current and later exchanges fail.
type requester interface {
	// do sends r and reads its response; at is the time since the round's start, when r is sent.
	do(r *prepared, at time.Duration, ex *exchange) error
	abort()
	aborted() bool
	close()
}

// prepared is a Target serialised once for the hot loop.
type prepared struct {
	route   int    // index into the plan's distinct route names
	addr    string // host:port to dial
	raw     []byte // the whole HTTP/1.1 request, head and body
	head    bool   // HEAD: the response has no body whatever its headers say
	bodyLen int
	// resendable: an idempotent method without a body (GET, HEAD, OPTIONS, TRACE), which may be sent
	// again on a new connection when a kept-alive one closed before answering (net/http's rule); a
	// POST or an upload never is: the server may have acted on it.
	resendable bool

	// For the net/http and HTTP/2 clients.
	method string
	url    string
	header []Header
	body   []byte
	// std is the request as net/http sends it, built once: each exchange sends a shallow copy with its
	// own context and body reader (RoundTrippers never change a request, so the copies share Header).
	std *http.Request
}

const userAgent = "frontgate-selftest"

// prepare serialises t as an HTTP/1.1 request.
func prepare(t Target, route int) (*prepared, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", t.URL, err)
	}
	method := t.Method
	if method == "" {
		method = "GET"
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	p := &prepared{
		route:   route,
		addr:    net.JoinHostPort(u.Hostname(), port),
		head:    method == "HEAD",
		bodyLen: len(t.Body),
		resendable: len(t.Body) == 0 &&
			(method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE"),
		method: method,
		url:    t.URL,
		header: t.Header,
		body:   t.Body,
	}
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(u.RequestURI())
	b.WriteString(" HTTP/1.1\r\n")
	host, ua := u.Host, userAgent
	for _, h := range t.Header {
		switch {
		case httpsyntax.EqualFold(h.Key, "Host"):
			host = h.Value
		case httpsyntax.EqualFold(h.Key, "User-Agent"):
			ua = h.Value
		}
	}
	b.WriteString("Host: " + host + "\r\n")
	if ua != "" {
		b.WriteString("User-Agent: " + ua + "\r\n")
	}
	for _, h := range t.Header {
		if httpsyntax.EqualFold(h.Key, "Host") || httpsyntax.EqualFold(h.Key, "User-Agent") {
			continue
		}
		b.WriteString(h.Key + ": " + h.Value + "\r\n")
	}
	if len(t.Body) > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(t.Body))
	}
	b.WriteString("\r\n")
	b.Write(t.Body)
	p.raw = []byte(b.String())
	if p.std, err = http.NewRequest(method, t.URL, nil); err != nil {
		return nil, fmt.Errorf("prepare %q: %w", t.URL, err)
	}
	p.std.Header.Set("User-Agent", userAgent)
	for _, h := range t.Header {
		if httpsyntax.EqualFold(h.Key, "Host") {
			p.std.Host = h.Value
			continue
		}
		p.std.Header.Add(h.Key, h.Value)
	}
	return p, nil
}

// Errors of the response parser; they are reported under the "other" kind.
var (
	errMalformed   = errors.New("malformed response")
	errLineTooLong = errors.New("response header line too long")
	errCanceled    = errors.New("request aborted: run canceled")
)

// fastConn is the lean HTTP/1.1 client: one keep-alive connection, a reused read buffer, the request
// written as prepared bytes and a minimal response parser. It reconnects when the server closes.
type fastConn struct {
	ctx     context.Context // cancelled to abort dials
	dialer  net.Dialer
	timeout time.Duration
	slack   time.Duration // deadlines are refreshed only when they would cut a request short by more than this

	base     time.Time // the round's start: the times given to do count from it
	nc       net.Conn  // owned by the driving goroutine; mu guards swaps against abort
	br       *bufio.Reader
	reused   bool          // nc has carried a complete exchange
	deadline time.Duration // deadline currently set on nc, from base; 0 for none

	mu    sync.Mutex
	abrtd atomic.Bool
}

func newFastConn(ctx context.Context, base time.Time, timeout time.Duration) *fastConn {
	return &fastConn{
		ctx:     ctx,
		base:    base,
		dialer:  net.Dialer{Timeout: timeout},
		timeout: timeout,
		slack:   timeout / 100,
		br:      bufio.NewReaderSize(nil, 32<<10),
	}
}

func (c *fastConn) aborted() bool { return c.abrtd.Load() }

// abort makes the in-flight exchange fail now and every later one fail at once.
func (c *fastConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abrtd.Store(true)
	if c.nc != nil {
		_ = c.nc.SetDeadline(httpsyntax.ALongTimeAgo)
	}
}

func (c *fastConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
	c.reused = false
}

func (c *fastConn) dial(addr string) error {
	if c.abrtd.Load() {
		return errCanceled
	}
	nc, err := c.dialer.DialContext(c.ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abrtd.Load() {
		_ = nc.Close()
		return errCanceled
	}
	c.nc = nc
	c.br.Reset(nc)
	c.reused = false
	c.deadline = 0
	return nil
}

// do sends r and reads its response. On a reused connection that the server closed before answering
// (a keep-alive race), it reconnects and sends a resendable request once more, as browsers and
// net/http do; any other request reports the error.
//
// After writing the request it yields to the other connections' goroutines before reading: by the time
// it runs again the answer has usually arrived, which saves a read that would fail with EAGAIN and the
// park that follows (about 0.4 µs of CPU per request).
func (c *fastConn) do(r *prepared, at time.Duration, ex *exchange) error {
	for attempt := 0; ; attempt++ {
		if c.nc == nil {
			if err := c.dial(r.addr); err != nil {
				return err
			}
		}
		if end := at + c.timeout; end > c.deadline {
			c.deadline = end + c.slack
			if err := c.nc.SetDeadline(c.base.Add(c.deadline)); err != nil {
				c.close()
				return fmt.Errorf("set deadline: %w", err)
			}
			if c.abrtd.Load() {
				c.close()
				return errCanceled
			}
		}
		reused := c.reused
		n, err := c.nc.Write(r.raw)
		ex.wireSent += uint64(n)
		if err == nil {
			ex.bodySent += uint64(r.bodyLen)
			recv := ex.wireRecv
			runtime.Gosched()
			err = c.readResponse(r.head, ex)
			if err == nil {
				return nil
			}
			if ex.wireRecv != recv {
				reused = false // the server started answering: never resend
			}
		}
		c.close()
		if reused && attempt == 0 && r.resendable && retryable(err) {
			at = time.Since(c.base)
			continue
		}
		return err
	}
}

// retryable reports whether err means the peer closed the connection without reading the request.
func retryable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// line reads one header line and returns it without its CR LF. The slice is valid until the next read.
func (c *fastConn) line(ex *exchange) ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	ex.wireRecv += uint64(len(b))
	if err != nil {
		switch {
		case err == bufio.ErrBufferFull:
			return nil, errLineTooLong
		case err == io.EOF && len(b) > 0:
			return nil, fmt.Errorf("read response: %w", io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

// readResponse parses one response (skipping interim 1xx ones) and consumes its body. It closes the
// connection when the response says so or is delimited by the close.
func (c *fastConn) readResponse(head bool, ex *exchange) error {
	for {
		b, err := c.line(ex)
		if err != nil {
			return err
		}
		// "HTTP/1.x NNN reason"
		if len(b) < 12 || string(b[:7]) != "HTTP/1." || b[8] != ' ' || (len(b) > 12 && b[12] != ' ') {
			return fmt.Errorf("status line: %w", errMalformed)
		}
		status := 0
		for _, d := range b[9:12] {
			if d < '0' || d > '9' {
				return fmt.Errorf("status code: %w", errMalformed)
			}
			status = status*10 + int(d-'0')
		}
		keepAlive := b[7] == '1'
		contentLength, chunked := int64(-1), false
		for {
			b, err = c.line(ex)
			if err != nil {
				return err
			}
			if len(b) == 0 {
				break
			}
			colon := bytes.IndexByte(b, ':')
			if colon <= 0 {
				return fmt.Errorf("header line: %w", errMalformed)
			}
			name, value := b[:colon], httpsyntax.TrimOWS(b[colon+1:])
			switch len(name) {
			case len("content-length"):
				if httpsyntax.EqualFold(name, "content-length") {
					var ok bool
					if contentLength, ok = httpsyntax.ContentLength(value); !ok {
						return fmt.Errorf("content-length: %w", errMalformed)
					}
				}
			case len("transfer-encoding"):
				if httpsyntax.EqualFold(name, "transfer-encoding") {
					chunked = httpsyntax.ListHasToken(value, "chunked")
				}
			case len("connection"):
				if httpsyntax.EqualFold(name, "connection") {
					switch {
					case httpsyntax.EqualFold(value, "keep-alive"): // the common case, without a token scan
						keepAlive = true
					case httpsyntax.ListHasToken(value, "close"):
						keepAlive = false
					case httpsyntax.ListHasToken(value, "keep-alive"):
						keepAlive = true
					}
				}
			}
		}
		if status >= 100 && status < 200 {
			if status == 101 {
				return fmt.Errorf("switching protocols is not supported: %w", errMalformed)
			}
			continue
		}
		ex.status = status
		switch {
		case head || status == 204 || status == 304:
		case chunked:
			if err := c.readChunked(ex); err != nil {
				return err
			}
		case contentLength >= 0:
			if err := c.discard(contentLength, ex); err != nil {
				return fmt.Errorf("read body: %w", err)
			}
		default:
			// Delimited by the end of the connection.
			n, err := c.br.WriteTo(io.Discard)
			ex.wireRecv += uint64(n)
			ex.bodyRecv += uint64(n)
			if err != nil {
				return fmt.Errorf("read body: %w", err)
			}
			keepAlive = false
		}
		if keepAlive {
			c.reused = true
		} else {
			c.close()
		}
		return nil
	}
}

// discard reads n body bytes, counting them; input that ends first is io.ErrUnexpectedEOF.
func (c *fastConn) discard(n int64, ex *exchange) error {
	got, err := c.br.Discard(int(n))
	ex.wireRecv += uint64(got)
	ex.bodyRecv += uint64(got)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (c *fastConn) readChunked(ex *exchange) error {
	for {
		b, err := c.line(ex)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(b, ';'); i >= 0 {
			b = b[:i]
		}
		size, rest, ok := httpsyntax.ChunkSize(httpsyntax.TrimOWS(b))
		if !ok || len(rest) != 0 {
			return fmt.Errorf("chunk size: %w", errMalformed)
		}
		if size == 0 {
			for { // trailers up to the empty line
				b, err := c.line(ex)
				if err != nil {
					return err
				}
				if len(b) == 0 {
					return nil
				}
			}
		}
		if err := c.discard(size, ex); err != nil {
			return fmt.Errorf("read chunk: %w", err)
		}
		if b, err = c.line(ex); err != nil {
			return err
		}
		if len(b) != 0 {
			return fmt.Errorf("chunk trailer: %w", errMalformed)
		}
	}
}
