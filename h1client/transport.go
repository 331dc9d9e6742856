// Package h1client is a lean HTTP/1.1 client for plain-http targets, made for a gateway's upstream
// requests. net/http's Transport hands every request between three goroutines (the caller, a write
// loop and a read loop); here the caller's goroutine writes the request and reads the response on a
// pooled connection, which is what makes proxying cheap per request. Everything it does not handle
// itself (https, HTTP/2, protocol upgrades) goes to a fallback net/http Transport.
//
// Send makes one try within limits given as plain values (Try), without a context value or a timer;
// RoundTrip serves as an http.RoundTripper. A response's body reads from its connection, which goes
// back to the pool once the body was read to its end and closed.
package h1client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// Options configures a Transport. The zero value dials with a zero net.Dialer and no timeout but
// the request's, keeps http.DefaultMaxIdleConnsPerHost idle connections per host for as long as
// they stay open, hands what it does not handle to a clone of http.DefaultTransport, copies each
// streamed request body through a buffer of its own and logs nothing.
type Options struct {
	// Dialer connects to targets; nil: a zero net.Dialer.
	Dialer *net.Dialer
	// DialTimeout bounds connecting when the try sets no bound of its own; zero: none but the
	// request's context.
	DialTimeout time.Duration
	// MaxIdlePerHost is how many idle connections are kept per host:port; zero:
	// http.DefaultMaxIdleConnsPerHost, negative: none.
	MaxIdlePerHost int
	// IdleTimeout is how long after its last exchange began a connection may still be used again;
	// zero: no limit.
	IdleTimeout time.Duration
	// Fallback serves the requests that Handles refuses; nil: a clone of http.DefaultTransport.
	Fallback *http.Transport
	// Buffers lends the buffers that streamed (chunked) request bodies are copied through; nil: a
	// buffer per copy.
	Buffers httputil.BufferPool
	// Logger receives a line for each response body the target cut short (see CutLogger); nil: none.
	Logger *zap.Logger
}

// Transport is the lean client. It is safe for concurrent use. The zero value is not: make one with
// New.
type Transport struct {
	dialer      *net.Dialer
	dialTimeout time.Duration
	maxIdle     int
	idleTimeout time.Duration
	fallback    *http.Transport
	buffers     httputil.BufferPool // nil: a buffer per copy
	log         *zap.Logger         // bodies cut short; nil: none

	mu   sync.Mutex         // guards idle: taken once per request to get and once to put a conn
	idle map[string][]*conn // per host:port, most recently used last
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport configured by opts.
func New(opts Options) *Transport {
	t := &Transport{
		dialer:      opts.Dialer,
		dialTimeout: opts.DialTimeout,
		maxIdle:     opts.MaxIdlePerHost,
		idleTimeout: opts.IdleTimeout,
		fallback:    opts.Fallback,
		buffers:     opts.Buffers,
		log:         opts.Logger,
		idle:        map[string][]*conn{},
	}
	if t.dialer == nil {
		t.dialer = &net.Dialer{}
	}
	if t.maxIdle == 0 {
		t.maxIdle = http.DefaultMaxIdleConnsPerHost
	}
	if t.idleTimeout <= 0 {
		t.idleTimeout = math.MaxInt64
	}
	if t.fallback == nil {
		t.fallback = http.DefaultTransport.(*http.Transport).Clone()
	}
	return t
}

// Try is one try's limits, handed to Send as plain values rather than a context value and a timer.
// The zero value sets none: the Transport's dial timeout, no bound on the wait for the response
// headers, the clock read when needed, no count to drop and the target named by its host:port.
type Try struct {
	// Dial bounds connecting; zero: the Transport's DialTimeout.
	Dial time.Duration
	// Wait bounds the wait for the response headers, counted from when the request was sent (a slow
	// upload does not use it up): past it, Send fails with ErrDeadline. Zero: no bound.
	Wait time.Duration
	// Start is when the try began, as the caller read the clock: a request written without waiting
	// on a kept-alive connection counts as sent then, which saves a clock read. Zero: the clock is
	// read.
	Start time.Time
	// Inflight, unless nil, drops by one when the body of the response that Send returned is closed
	// (the caller counted the try in; after an error, counting it out is the caller's).
	Inflight *atomic.Int64
	// Name names the target in the line logged for a body cut short; empty: its host:port.
	Name string
	// Log receives that line (a route's logger, say, with the route's name on it); nil: the
	// Transport's Logger.
	Log *zap.Logger
}

// ErrDeadline is wrapped in Send's error when the wait for the response headers passed Try.Wait.
var ErrDeadline = errors.New("response header deadline exceeded")

// errStale marks a failure on a reused connection before any byte of the response arrived.
var errStale = errors.New("kept-alive connection closed by the target")

// Handles reports whether Send may take req: a plain-http request asking for no protocol upgrade.
// RoundTrip hands the others to the fallback.
func (t *Transport) Handles(req *http.Request) bool {
	return req.URL.Scheme == "http" && len(req.Header["Upgrade"]) == 0 // the key is canonical: no Get
}

// RoundTrip sends req with Send, without limits, if Handles takes it, else with the fallback.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.Handles(req) {
		return t.fallback.RoundTrip(req)
	}
	resp, _, err := t.Send(req, Try{})
	return resp, err
}

// Send makes one try of req, which Handles must take, within try's limits: it writes req on an idle
// connection to req.URL.Host, or a new one, and reads the response head; the body reads from the
// connection. sent is when the request was written (zero when it was not): the wait for the response
// headers counts from then. On an error, Send closes req's body.
//
// A kept-alive connection that turns out closed before any byte of the response came is no fault of
// the target: a request whose method is Idempotent and whose body is empty or a Rewinder that
// rewinds goes out once more on a new connection.
func (t *Transport) Send(req *http.Request, try Try) (resp *http.Response, sent time.Time, err error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		now := try.Start
		if now.IsZero() {
			now = time.Now()
		}
		c, reused, err := t.get(ctx, req.URL.Host, try.Dial, now)
		if err != nil {
			closeBody(req)
			return nil, sent, err
		}
		if !reused {
			try.Start = time.Time{} // dialing took time: the send is timed on its own
		}
		c.used = now
		resp, err := t.exchange(ctx, c, req, &try, &sent)
		if err == nil {
			return resp, sent, nil
		}
		c.nc.Close()
		// A kept-alive connection the target closed meanwhile fails before any response byte; an
		// idempotent request whose body can be sent again goes out once more on a fresh connection.
		if reused && attempt == 0 && ctx.Err() == nil && errors.Is(err, errStale) && Idempotent(req.Method) && rewindBody(req) {
			continue
		}
		closeBody(req)
		return nil, sent, err
	}
}

// Idempotent reports whether a request with method may be sent again after a failure that may have
// reached the target (RFC 9110 9.2.2).
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// exchange writes req on c and reads the response headers, noting in sent when the request was
// written; the body is read later through body.
//
// Cancellation and the header deadline are armed only when a read or write would block (see
// connIO): usually the request goes out in one write and, after a yield, the response is already
// there, and then the exchange costs no context registration and no timer update.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request, try *Try, sent *time.Time) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing was sent, and nobody waits for the answer
	}
	c.ctx, c.deadline, c.blocked = ctx, time.Time{}, false
	if c.rc == nil {
		c.block(false) // no optimistic system calls on this kind of connection: arm now
	}
	if err := writeRequest(c.bw, req, t.buffers); err != nil {
		return t.failed(c, err, true)
	}
	// The header deadline covers the wait for the answer, not the upload of the request body.
	// A request written without waiting went out at the try's start, as far as timing goes.
	if *sent = try.Start; c.blocked || sent.IsZero() {
		*sent = time.Now()
	}
	if try.Wait > 0 {
		c.deadline = sent.Add(try.Wait)
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
			_ = c.nc.SetDeadline(httpsyntax.ALongTimeAgo)
		}
	}
	t.setBody(resp, c, try)
	return resp, nil
}

// failed ends an exchange that got no response, saying why: the context, the header deadline, or a
// kept-alive connection found closed (stale).
func (t *Transport) failed(c *conn, err error, stale bool) (*http.Response, error) {
	ctx := c.ctx
	c.release()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("%w: %w", ErrDeadline, err)
	}
	if stale {
		return nil, fmt.Errorf("%w: %w", errStale, err)
	}
	return nil, err
}

// get returns an idle connection to hostport or dials one, within dialTimeout if set; now is the
// current time.
func (t *Transport) get(ctx context.Context, hostport string, dialTimeout time.Duration, now time.Time) (*conn, bool, error) {
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
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, false, err
	}
	return newConn(nc, hostport), false, nil
}

// put returns c to the idle pool, or closes it when the pool is full. Its idle time is counted from
// when the exchange began, not ended (one clock read fewer per request): it can only look idle a
// little longer than it is, which at worst makes reuse peek at it.
func (t *Transport) put(c *conn) {
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

// CloseIdleConnections closes every idle connection, the fallback's too.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*conn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}
