// Package middleware holds frontgate's http.Handler wrappers. Timing, the gateway's signature, measures
// for every request the time spent receiving the request body apart from the time spent handling it,
// and reports both in the access log and in a Server-Timing response header.
package middleware

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// RequestIDHeader carries the request id to upstreams and back to the client.
const RequestIDHeader = "X-Request-Id"

// Options configures Timing. The zero value times requests and sets Server-Timing but logs nothing.
type Options struct {
	// Logger receives one access-log line per request; nil logs nothing.
	Logger *zap.Logger
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
	// KeepID reports whether a request's own X-Request-Id may be kept (it came from a trusted
	// proxy); nil: always replaced. A kept id must be 1 to 128 visible ASCII characters.
	KeepID func(r *http.Request) bool
	// Observe, when set, receives every finished request's measurements (metrics).
	Observe func(Record)
}

// Record is one finished request's measurements, for Options.Observe.
type Record struct {
	Route             string
	Host              string // the host pattern that routed the request; "": none (see SetHost)
	Status            int
	Total, Recv       time.Duration
	Upstream          time.Duration // time to the upstream's response headers
	HasUpstream       bool
	BytesIn, BytesOut int64 // body bytes; for an upgraded connection, its tunnelled bytes too
}

// Timing wraps next so that every request is timed in three parts: recv (handler start to the request
// body's end), handler (the rest, to the end of the response) and total. It gives each request an id
// (X-Request-Id, set on the request and the response; a client's value is replaced, as it is not
// trusted yet) and, when the body was fully read before the response headers were written, sets
// Server-Timing: recv;dur=…, handler;dur=… (milliseconds; handler up to the headers).
func Timing(next http.Handler, opts Options) http.Handler {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &timing{next: next, log: opts.Logger, now: now, ids: newIDSource(), keepID: opts.KeepID, observe: opts.Observe}
}

type timing struct {
	next    http.Handler
	log     *zap.Logger // nil: no access log
	now     func() time.Time
	ids     *idSource
	keepID  func(*http.Request) bool
	observe func(Record)
}

// validID accepts a client's request id: 1 to 128 visible ASCII characters.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

type ctxKey struct{}

// statusClientClosed is nginx's 499, logged for a request whose client went away before any answer
// (the handler aborted it). It is never sent.
const statusClientClosed = 499

// exchange is one request's measurements. Body fields are atomics: a proxy's transport may still be
// reading the body on its own goroutine while the handler finishes.
type exchange struct {
	start time.Time
	now   func() time.Time

	body      timedBody
	bodyLen   int64        // Content-Length, -1 unknown
	bytesIn   atomic.Int64 // body bytes read
	lastRead  atomic.Int64 // ns after start of the latest body read that returned data or EOF; 0: none
	bodyDone  atomic.Int64 // ns after start when the body ended; 0: not yet (or no body)
	routeName string
	hostName  string // the host pattern the router matched; "": a route for every host
	upstream  string
	upstreamD time.Duration

	w            http.ResponseWriter
	rw           responseWriter // what the handler writes to, allocated with the exchange
	access       accessEntry    // the access-log line's fields
	logField     [1]zap.Field   // the line's one field, pointing at access
	ids          [1]string      // X-Request-Id's value, for the request and the response
	serverTiming [1]string      // Server-Timing's value
	status       int
	bytesOut     int64
	tunnel       *countedConn // the hijacked connection, counting the upgraded exchange's bytes; nil: none
	// The flags share one word (the exchange stays in its allocation size class).
	hasBody     bool
	hasUp       bool
	wroteHeader bool
	aborted     bool // the response was cut (http.ErrAbortHandler): the client did not get it whole
}

// totalIn is the request's bytes in: its body's, and an upgraded connection's reads.
func (e *exchange) totalIn() int64 {
	n := e.bytesIn.Load()
	if e.tunnel != nil {
		n += e.tunnel.in.Load()
	}
	return n
}

// totalOut is the response's bytes out: its body's, and an upgraded connection's writes.
func (e *exchange) totalOut() int64 {
	n := e.bytesOut
	if e.tunnel != nil {
		n += e.tunnel.out.Load()
	}
	return n
}

func (e *exchange) since() int64 {
	d := int64(e.now().Sub(e.start))
	if d <= 0 {
		d = 1 // 0 means "not yet"; an instant body end still counts as ended
	}
	return d
}

// recv is how long the request body took to arrive; complete reports whether it fully arrived.
func (e *exchange) recv() (d time.Duration, complete bool) {
	if !e.hasBody {
		return 0, true
	}
	if done := e.bodyDone.Load(); done != 0 {
		return time.Duration(done), true
	}
	return time.Duration(e.lastRead.Load()), false
}

type timedBody struct {
	rc io.ReadCloser
	e  *exchange
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	e := b.e
	if n > 0 || err != nil {
		t := e.since()
		e.lastRead.Store(t)
		total := e.bytesIn.Add(int64(n))
		if err == io.EOF || (e.bodyLen >= 0 && total >= e.bodyLen) {
			e.bodyDone.CompareAndSwap(0, t)
		}
	}
	return n, err
}

func (b *timedBody) Close() error { return b.rc.Close() }

func (t *timing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := &exchange{start: t.now(), now: t.now, w: w, bodyLen: r.ContentLength}
	var id string
	if v := r.Header[RequestIDHeader]; len(v) > 0 { // the key is canonical: no Get
		id = v[0]
	}
	if t.keepID == nil || !validID(id) || !t.keepID(r) {
		id = t.ids.next()
	}
	e.ids[0] = id
	ids := e.ids[:1:1] // one slice for both headers, capped: an Add copies instead of sharing
	r.Header[RequestIDHeader] = ids
	w.Header()[RequestIDHeader] = ids
	// The body is replaced on the copy WithContext makes, never on the server's own request: net/http
	// looks at that one's body after the handler to decide whether the connection may serve another.
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, e))
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		e.hasBody = true
		e.body = timedBody{rc: r.Body, e: e}
		r.Body = &e.body
	}
	rw := &e.rw
	rw.e = e
	defer t.onPanic(e, r)
	t.next.ServeHTTP(rw, r)
	t.finish(e, r)
}

// onPanic records an exchange whose handler panicked, and passes the panic on. A panic that reaches
// Timing is http.ErrAbortHandler (Recover answers the others): the response is being cut, so the
// line says aborted and no status is written.
func (t *timing) onPanic(e *exchange, r *http.Request) {
	if p := recover(); p != nil {
		e.aborted = true
		t.finish(e, r)
		panic(p)
	}
}

// finish logs and reports the exchange once the handler is done.
func (t *timing) finish(e *exchange, r *http.Request) {
	switch {
	case !e.wroteHeader && !e.aborted:
		e.rw.WriteHeader(http.StatusOK) // what net/http sends for a handler that wrote nothing
	case !e.wroteHeader && r.Context().Err() != nil:
		e.status = statusClientClosed // cut before any answer because the client had gone
	}
	total := t.now().Sub(e.start)
	recv, _ := e.recv()
	if recv > total {
		total = recv // the clock's granularity: an instant body end counts as 1ns
	}
	if t.log != nil {
		t.logExchange(e, r, e.ids[0], total, recv)
	}
	if t.observe != nil {
		t.observe(Record{Route: e.routeName, Host: e.hostName, Status: e.status, Total: total, Recv: recv, Upstream: e.upstreamD,
			HasUpstream: e.hasUp, BytesIn: e.totalIn(), BytesOut: e.totalOut()})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (t *timing) logExchange(e *exchange, r *http.Request, id string, total, recv time.Duration) {
	e.access = accessEntry{e: e, r: r, id: id, total: total, recv: recv}
	// The field and the slice that carries it live in the exchange: no allocation.
	e.logField[0] = zap.Inline(&e.access)
	if ce := t.log.Check(accessLevel(e), "request"); ce != nil {
		ce.Write(e.logField[:]...)
	}
}

// accessLevel is an access line's level: error for a 5xx, warn for a 4xx or a response cut short,
// info for the rest; the line's status says which.
func accessLevel(e *exchange) zapcore.Level {
	switch {
	case e.status >= 500:
		return zapcore.ErrorLevel
	case e.status >= 400 || e.aborted:
		return zapcore.WarnLevel
	}
	return zapcore.InfoLevel
}

// accessEntry writes an access-log line's fields straight into the encoder: one zap field instead of a
// slice of thirteen, which the profile showed allocated and type-switched on every request.
type accessEntry struct {
	e           *exchange
	r           *http.Request
	id          string
	total, recv time.Duration
}

func (a *accessEntry) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	e := a.e
	enc.AddString("method", a.r.Method)
	enc.AddString("path", a.r.URL.Path)
	enc.AddInt64("status", int64(e.status))
	enc.AddFloat64("recv_ms", ms(a.recv))
	enc.AddFloat64("handler_ms", ms(a.total-a.recv))
	enc.AddFloat64("total_ms", ms(a.total))
	enc.AddInt64("bytes_in", e.totalIn())
	enc.AddInt64("bytes_out", e.totalOut())
	enc.AddString("route", e.routeName)
	if e.hostName != "" {
		enc.AddString("host", e.hostName)
	}
	enc.AddString("request_id", a.id)
	enc.AddString("remote", a.r.RemoteAddr)
	if e.hasUp {
		enc.AddString("upstream", e.upstream)
		enc.AddFloat64("upstream_ms", ms(e.upstreamD))
	}
	if e.tunnel != nil {
		enc.AddBool("upgraded", true)
	}
	if e.aborted {
		enc.AddBool("aborted", true)
	}
	return nil
}

// SetRoute names the route that matched r, for the access log. It does nothing for a request that
// did not pass through Timing.
func SetRoute(r *http.Request, name string) {
	if e, ok := r.Context().Value(ctxKey{}).(*exchange); ok {
		e.routeName = name
	}
}

// SetHost records the host pattern (app.example.com, *.example.com) that routed r, for the access
// log and metrics. It does nothing for a request that did not pass through Timing.
func SetHost(r *http.Request, pattern string) {
	if e, ok := r.Context().Value(ctxKey{}).(*exchange); ok {
		e.hostName = pattern
	}
}

// SetUpstream records the upstream target that served r and the time to its response headers.
// It does nothing for a request that did not pass through Timing.
func SetUpstream(r *http.Request, target string, headers time.Duration) {
	if e, ok := r.Context().Value(ctxKey{}).(*exchange); ok {
		e.upstream, e.upstreamD, e.hasUp = target, headers, true
	}
}

// Measures are what Timing knows of a request so far, for handlers inside it that report on the
// request (tracing). The zero value is a request that did not pass through Timing.
type Measures struct {
	// Start is when Timing took the request.
	Start time.Time
	// Route and Host are the route's name and the host pattern that routed it ("": none yet).
	Route, Host string
	// RequestID is the request's X-Request-Id.
	RequestID string
	// Status is the answer's status; 0: none written yet.
	Status int
	// BodyDone is when the request body had been read to its end; zero: no body, or not all of it.
	BodyDone time.Time
}

// Measure returns r's measures so far; false for a request that did not pass through Timing. It
// reads what the handler's own goroutine wrote: call it from that goroutine.
func Measure(r *http.Request) (Measures, bool) {
	e, ok := r.Context().Value(ctxKey{}).(*exchange)
	if !ok {
		return Measures{}, false
	}
	m := Measures{Start: e.start, Route: e.routeName, Host: e.hostName, RequestID: e.ids[0], Status: e.status}
	if e.hasBody {
		if done := e.bodyDone.Load(); done != 0 {
			m.BodyDone = e.start.Add(time.Duration(done))
		}
	}
	return m, true
}

// responseWriter notes status and size and adds Server-Timing as the headers go out. Unwrap lets
// http.ResponseController reach the connection's Flush and Hijack.
type responseWriter struct{ e *exchange }

func (w *responseWriter) Header() http.Header { return w.e.w.Header() }

func (w *responseWriter) WriteHeader(code int) {
	e := w.e
	if e.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		e.w.WriteHeader(code) // informational: the real header is still to come
		return
	}
	e.wroteHeader, e.status = true, code
	h := e.w.Header()
	if _, ok := h[RequestIDHeader]; !ok {
		// Gone if the handler cleared the map after an informational answer (ReverseProxy does).
		h[RequestIDHeader] = e.ids[:1:1]
	}
	if recv, complete := e.recv(); complete {
		handler := time.Duration(e.since()) - recv
		var arr [64]byte
		b := append(arr[:0], "recv;dur="...)
		b = appendMillis3(b, recv)
		b = append(b, ", handler;dur="...)
		b = appendMillis3(b, handler)
		e.serverTiming[0] = string(b)
		// Appended to any value the handler set; else the exchange's own slice, capped so that an
		// Add later copies rather than writes into the exchange.
		if old := h["Server-Timing"]; len(old) > 0 {
			h["Server-Timing"] = append(old, e.serverTiming[0])
		} else {
			h["Server-Timing"] = e.serverTiming[:1:1]
		}
	}
	e.w.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.e.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.e.w.Write(p)
	w.e.bytesOut += int64(n)
	return n, err
}

// ReadFrom keeps the connection's sendfile path for static files.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.e.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := w.e.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(w.e.w, src)
	}
	w.e.bytesOut += n
	return n, err
}

// Flush sends buffered data to the client, for streaming handlers that assert http.Flusher.
func (w *responseWriter) Flush() {
	if !w.e.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.e.w).Flush()
}

// Hijack hands the connection to the handler (upgrades); the exchange is logged as 101, upgraded,
// with the bytes read from and written to the connection counted in bytes_in and bytes_out. The
// handler gets the connection wrapped for the count (NetConn returns it unwrapped); what it reads
// or writes through the bufio.ReadWriter goes past the count (ReverseProxy writes only the 101
// response head there, and counts are of bodies and tunnelled bytes, never of heads).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.e.w).Hijack()
	if err != nil {
		return conn, brw, err
	}
	e := w.e
	if !e.wroteHeader {
		e.wroteHeader, e.status = true, http.StatusSwitchingProtocols
	}
	e.tunnel = &countedConn{Conn: conn}
	if _, ok := conn.(closeWriter); ok {
		return halfClosingConn{e.tunnel}, brw, nil
	}
	return e.tunnel, brw, nil
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.e.w }

// countedConn is a hijacked connection that counts the bytes read from it and written to it. The
// two directions of a tunnel are copied on different goroutines (ReverseProxy's), which may still
// run as the exchange is logged: the counts are atomics.
type countedConn struct {
	net.Conn
	in, out atomic.Int64
}

// Read reads from the connection, counting into bytes_in.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

// Write writes to the connection, counting into bytes_out.
func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// NetConn returns the connection itself, uncounted (as tls.Conn's NetConn does).
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// closeWriter is a connection that can close its writing half (TCP, TLS).
type closeWriter interface{ CloseWrite() error }

// halfClosingConn is a countedConn over a closeWriter, which it stays: ReverseProxy closes the
// client's writing half when the upstream's side of a tunnel ends, and lets the other direction run
// on.
type halfClosingConn struct{ *countedConn }

// CloseWrite closes the connection's writing half.
func (c halfClosingConn) CloseWrite() error { return c.Conn.(closeWriter).CloseWrite() }

// appendMillis3 writes d in milliseconds with three decimals, rounded to the nearest microsecond,
// from integers (strconv's float formatting was a visible part of WriteHeader's cost).
func appendMillis3(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := int64((d + 500) / time.Microsecond)
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// idSource makes request ids: a random per-process prefix and a counter, unique and cheap.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &idSource{prefix: hex.EncodeToString(b[:])}
}

func (s *idSource) next() string {
	n := s.n.Add(1)
	b := make([]byte, 0, 32)
	b = append(b, s.prefix...)
	b = append(b, '-')
	return string(strconv.AppendUint(b, n, 36))
}
