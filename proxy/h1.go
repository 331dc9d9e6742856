package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// h1Transport is a lean HTTP/1.1 client for plain-http targets. net/http's Transport hands every
// request between three goroutines (the caller, a write loop and a read loop); here the caller's
// goroutine writes the request and reads the response on a pooled connection, which is what makes
// proxying cheap per request. Everything it does not handle — https, HTTP/2, protocol upgrades — goes
// to the fallback Transport.
type h1Transport struct {
	dialer      *net.Dialer
	dialTimeout time.Duration
	maxIdle     int
	idleTimeout time.Duration
	fallback    *http.Transport
	log         *zap.Logger // bodies cut short; nil: none

	mu   sync.Mutex           // guards idle and closed: taken once per request to get and once to put a conn
	idle map[string][]*h1Conn // per host:port, most recently used last
}

var _ http.RoundTripper = (*h1Transport)(nil)

type h1Conn struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	headers headerSpace     // the header map of this connection's responses, reused
	rc      syscall.RawConn // for system calls tried without waiting; nil: always the usual way
	io      *rawIO          // rc's callbacks and their outcome
	key     string
	used    time.Time // when the running (or last) exchange began: a pooled connection's idle time counts from it

	// The running exchange (see exchange and connIO); zero between exchanges.
	ctx      context.Context // the request's; nil: no exchange runs
	stop     func() bool     // removes the context watch; nil: not registered
	deadline time.Time       // the header deadline to set when a read must wait; zero: none
	blocked  bool            // a call had to wait: the exchange is armed, calls go the usual way
	armed    bool            // the read deadline is set on the socket (never past the response head)
}

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// tryLimits are one try's limits, handed over by the proxy without a context value or a timer.
type tryLimits struct {
	dial   time.Duration // connect timeout; zero: the transport's
	wait   time.Duration // how long to wait for the response headers once the request is sent; zero: no limit
	target *Upstream     // whose in-flight count the response body's Close drops; nil: none

	start time.Time // when the try began, standing in for the send time of a request written at once
	sent  time.Time // set by the transport: when the request was written
}

// errDeadline is a try whose wait for response headers passed tryLimits.wait.
var errDeadline = errors.New("response header deadline exceeded")

// handles reports whether roundTrip serves req itself (else RoundTrip hands it to the fallback).
func (t *h1Transport) handles(req *http.Request) bool {
	return req.URL.Scheme == "http" && len(req.Header["Upgrade"]) == 0 // the key is canonical: no Get
}

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		return t.fallback.RoundTrip(req)
	}
	return t.roundTrip(req, &tryLimits{})
}

func (t *h1Transport) roundTrip(req *http.Request, lim *tryLimits) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		now := lim.start
		if now.IsZero() {
			now = time.Now()
		}
		c, reused, err := t.conn(ctx, req.URL.Host, lim.dial, now)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		if !reused {
			lim.start = time.Time{} // dialing took time: the send is timed on its own
		}
		c.used = now
		resp, err := t.exchange(ctx, c, req, lim)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// A kept-alive connection the target closed meanwhile fails before any response byte; an
		// idempotent request whose body can be sent again goes out once more on a fresh connection.
		if reused && attempt == 0 && ctx.Err() == nil && errors.Is(err, errStale) && idempotent(req.Method) && rewindBody(req) {
			continue
		}
		closeBody(req)
		return nil, err
	}
}

// errStale marks a failure on a reused connection before any byte of the response arrived.
var errStale = errors.New("kept-alive connection closed by the target")

// exchange writes req on c and reads the response headers; the body is read later through h1Body.
//
// Cancellation and the header deadline are armed only when a read or write would block (see
// connIO): usually the request goes out in one write and, after a yield, the response is already
// there, and then the exchange costs no context registration and no timer update.
func (t *h1Transport) exchange(ctx context.Context, c *h1Conn, req *http.Request, lim *tryLimits) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing was sent, and nobody waits for the answer
	}
	c.ctx, c.deadline, c.blocked = ctx, time.Time{}, false
	if c.rc == nil {
		c.block(false) // no optimistic system calls on this kind of connection: arm now
	}
	if err := writeRequest(c.bw, req); err != nil {
		return t.failed(c, err, true)
	}
	// The header deadline covers the wait for the answer, not the upload of the request body.
	// A request written without waiting went out at the try's start, as far as timing goes.
	if lim.sent = lim.start; c.blocked || lim.sent.IsZero() {
		lim.sent = time.Now()
	}
	if lim.wait > 0 {
		c.deadline = lim.sent.Add(lim.wait)
		if c.blocked {
			c.block(true)
		}
	}
	// The target needs a moment to answer: let other requests run first, so that the read below
	// usually finds the response instead of an empty socket (a wasted read and a netpoll round).
	runtime.Gosched()
	resp, err := readResponse(c.br, req, &c.headers)
	if err != nil {
		return t.failed(c, err, c.br.Buffered() == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)))
	}
	c.deadline = time.Time{} // the body may take its time
	if c.armed {
		// Clearing could undo a cancellation that fired meanwhile, so look again after.
		_ = c.nc.SetReadDeadline(time.Time{})
		c.armed = false
		if ctx.Err() != nil {
			_ = c.nc.SetDeadline(aLongTimeAgo)
		}
	}
	t.setBody(resp, c, lim.target)
	return resp, nil
}

// failed ends an exchange that got no response, saying why: the context, the header deadline, or a
// kept-alive connection found closed (stale).
func (t *h1Transport) failed(c *h1Conn, err error, stale bool) (*http.Response, error) {
	ctx := c.ctx
	c.release()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("%w: %w", errDeadline, err)
	}
	if stale {
		return nil, fmt.Errorf("%w: %w", errStale, err)
	}
	return nil, err
}

// block readies c for a read or write that may wait: the context's cancellation closes it at once,
// and a read past the header deadline fails. Calling it again adds only what is missing.
func (c *h1Conn) block(read bool) {
	c.blocked = true
	if c.stop == nil && c.ctx != nil {
		c.stop = context.AfterFunc(c.ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	}
	if read && !c.armed && !c.deadline.IsZero() {
		_ = c.nc.SetReadDeadline(c.deadline)
		c.armed = true
		// The watch may have fired since it was registered (during a write that had to wait):
		// the deadline just set would undo its cut, so look again.
		if c.ctx != nil && c.ctx.Err() != nil {
			_ = c.nc.SetDeadline(aLongTimeAgo)
		}
	}
}

// release ends the exchange's hold on c: the context watch is removed and the context forgotten (a
// pooled connection must not keep a finished request alive). It reports whether the watch had not
// fired, that is whether the connection was not cut by a cancellation.
func (c *h1Conn) release() bool {
	ok := true
	if c.stop != nil {
		ok = c.stop()
		c.stop = nil
	}
	c.ctx, c.deadline, c.blocked = nil, time.Time{}, false
	return ok
}

// connIO is what a connection's bufio reader and writer use. While an exchange runs, each system call
// is first tried without waiting; only when the socket would block is the exchange armed (see block)
// and the call made the usual way, parking in the netpoller.
type connIO struct{ c *h1Conn }

func (x connIO) Read(p []byte) (int, error) {
	c := x.c
	if c.ctx != nil && !c.blocked && len(p) > 0 {
		c.io.buf = p
		err := c.rc.Read(c.io.read)
		n, serr := c.io.n, c.io.err
		c.io.buf, c.io.err = nil, nil
		switch {
		case err != nil:
			return 0, err // closed, or a deadline passed
		case serr == nil && n > 0:
			return n, nil
		case serr == nil:
			return 0, io.EOF
		case serr != syscall.EAGAIN && serr != syscall.EINTR:
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("read", serr)}
		}
	}
	if c.ctx != nil {
		c.block(true)
	}
	return c.nc.Read(p)
}

func (x connIO) Write(p []byte) (int, error) {
	c := x.c
	written := 0
	if c.ctx != nil && !c.blocked {
		c.io.buf = p
		err := c.rc.Write(c.io.write)
		written = c.io.n
		serr := c.io.err
		c.io.buf, c.io.err = nil, nil
		if err != nil {
			return written, err
		}
		if serr == nil {
			return written, nil
		}
		// Would block, or failed: the usual write waits, or reports the error as net.Conn does.
		p = p[written:]
	}
	if c.ctx != nil {
		c.block(false)
	}
	n, err := c.nc.Write(p)
	return written + n, err
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "read" || op.Op == "write")
}

// rawIO holds one optimistic system call's buffer and outcome, with the callbacks RawConn runs,
// made once per connection so that a call allocates nothing.
type rawIO struct {
	buf         []byte
	n           int
	err         error
	read, write func(fd uintptr) bool
}

func newRawIO() *rawIO {
	r := &rawIO{}
	r.read = func(fd uintptr) bool {
		r.n, r.err = syscall.Read(int(fd), r.buf)
		return true
	}
	r.write = func(fd uintptr) bool {
		r.n, r.err = 0, nil
		for r.n < len(r.buf) {
			n, err := syscall.Write(int(fd), r.buf[r.n:])
			if err != nil {
				r.err = err
				break
			}
			r.n += n
		}
		return true
	}
	return r
}

// writeRequest sends the request line, headers and body. ReverseProxy has removed hop-by-hop headers;
// framing headers are written from ContentLength here.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		for _, v := range vs {
			if v == "" && k == "User-Agent" {
				continue // an empty User-Agent means none, as for net/http's transports
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(httpsyntax.SafeValue(v)) // net/http's server refuses CR and LF; other handlers may not
			bw.WriteString("\r\n")
		}
	}
	body := req.Body
	hasBody := body != nil && body != http.NoBody
	chunked := false
	switch {
	case req.ContentLength > 0 || (req.ContentLength == 0 && !hasBody && methodWantsLength(req.Method)):
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
		bw.WriteString("\r\n")
	case hasBody && req.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		chunked = true
	}
	bw.WriteString("\r\n")
	if !hasBody || req.ContentLength == 0 {
		return bw.Flush()
	}
	if chunked {
		cw := httputil.NewChunkedWriter(bw)
		if _, err := copyBody(cw, body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		bw.WriteString("\r\n")
		return bw.Flush()
	}
	n, err := copyBody(bw, io.LimitReader(body, req.ContentLength))
	if err != nil {
		return err
	}
	if n != req.ContentLength {
		return fmt.Errorf("request body: %d bytes, Content-Length said %d", n, req.ContentLength)
	}
	return bw.Flush()
}

// methodWantsLength: an empty POST, PUT or PATCH still says Content-Length: 0.
func methodWantsLength(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// copyBody copies with a pooled buffer, marking read errors of the source apart from write errors.
func copyBody(dst io.Writer, src io.Reader) (int64, error) {
	buf := bufferPool.Get()
	defer bufferPool.Put(buf)
	return io.CopyBuffer(dst, onlyReader{src}, buf)
}

// onlyReader hides WriterTo so that io.CopyBuffer uses the pooled buffer.
type onlyReader struct{ io.Reader }

func rewindBody(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	rb, ok := req.Body.(interface{ rewind() bool })
	return ok && rb.rewind()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// conn returns an idle connection to hostport or dials one; now is the current time.
func (t *h1Transport) conn(ctx context.Context, hostport string, dialTimeout time.Duration, now time.Time) (*h1Conn, bool, error) {
	t.mu.Lock()
	for list := t.idle[hostport]; len(list) > 0; list = t.idle[hostport] {
		c := list[len(list)-1]
		t.idle[hostport] = list[:len(list)-1]
		// A pooled connection is used again only if the target has not closed it nor written
		// anything on it since its last answer ended: a byte there would be taken for the answer
		// to the next request, which would then reach the wrong client. So every reuse peeks, one
		// system call that does not wait.
		if now.Sub(c.used) > t.idleTimeout || !alive(c) {
			t.mu.Unlock()
			c.nc.Close()
			t.mu.Lock()
			continue
		}
		t.mu.Unlock()
		return c, true, nil
	}
	t.mu.Unlock()
	d := t.dialTimeout
	if dialTimeout > 0 {
		d = dialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	nc, err := t.dialer.DialContext(dctx, "tcp", hostport)
	if err != nil {
		return nil, false, err
	}
	c := &h1Conn{nc: nc, key: hostport}
	if sc, ok := nc.(syscall.Conn); ok {
		if c.rc, _ = sc.SyscallConn(); c.rc != nil {
			c.io = newRawIO()
		}
	}
	c.br, c.bw = bufio.NewReaderSize(connIO{c}, 16<<10), bufio.NewWriterSize(connIO{c}, 16<<10)
	return c, false, nil
}

// alive peeks at an idle connection without blocking: a target that closed it, or wrote anything
// unasked on it (a 408 before closing, a stray second answer, a body after a HEAD's or a 204's
// head), makes it unusable.
func alive(c *h1Conn) bool {
	if c.rc == nil {
		return true
	}
	ok := false
	var b [1]byte
	err := c.rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == syscall.EAGAIN
		return true
	})
	return err == nil && ok
}

// put returns c to the idle pool, or closes it when the pool is full. Its idle time is counted from
// when the exchange began, not ended (one clock read fewer per request): it can only look idle a
// little longer than it is, which at worst makes reuse peek at it.
func (t *h1Transport) put(c *h1Conn) {
	t.mu.Lock()
	list := t.idle[c.key]
	if t.idle != nil && len(list) < t.maxIdle {
		t.idle[c.key] = append(list, c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.nc.Close()
}

// CloseIdleConnections closes every idle connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}
