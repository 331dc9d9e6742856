// Package proxy forwards requests to pools of upstream targets through httputil.ReverseProxy: load
// balancing, active and passive health, retries, per-route timeouts, trusted forwarding headers, a
// tuned transport, pooled copy buffers and one error handler mapping failures to 502, 503, 504 or 499.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/h1client"
	"github.com/frontgate/frontgate/internal/httpsyntax"
	"github.com/frontgate/frontgate/internal/jsonerror"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the response. It is never
// sent: the handler aborts the response (a panic with http.ErrAbortHandler, which the server takes
// for "cut the connection") and the access log says 499.
const StatusClientClosedRequest = 499

// Options configures one route's Handler. The zero value forwards paths unchanged with the target's
// Host, no retries, a 30s response-header timeout, no overall timeout, trusts
// no client forwarding headers and logs nothing.
type Options struct {
	// StripPrefix is removed from the start of the forwarded path.
	StripPrefix string
	// PreserveHost sends the client's Host header upstream instead of the target's.
	PreserveHost bool
	// DialTimeout bounds connecting to a target; zero: the pool's.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers over all tries (then 504), counted
	// from when each try's request was sent (a slow upload does not use it up); zero: 30s.
	ResponseHeaderTimeout time.Duration
	// TryTimeout bounds one try's wait for response headers; zero: ResponseHeaderTimeout.
	TryTimeout time.Duration
	// Timeout bounds the whole exchange, bodies included; zero: none.
	Timeout time.Duration
	// Retries is how many other targets may be tried after a failed try; zero or negative: none. A
	// connection that could not be made is retried (the body has not flowed); other failures only
	// for idempotent methods whose body is empty or buffered (at most RetryBodyMax bytes).
	Retries int
	// RetryBodyMax is the largest body buffered for replay; zero: 64 KiB.
	RetryBodyMax int64
	// TrustedPeer reports whether a direct peer is a trusted proxy whose X-Forwarded-For, Forwarded,
	// X-Forwarded-Host and X-Forwarded-Proto are kept and extended; nil trusts nobody.
	TrustedPeer func(netip.Addr) bool
	// RewritePath, when set, gives the forwarded path (after StripPrefix) for the client's; the
	// result is escaped again as the URL requires.
	RewritePath func(path string) string
	// EditRequest, when set, changes the forwarded request's header last, after the proxy set its
	// own forwarding fields (X-Forwarded-*, Forwarded), given the client's request.
	EditRequest func(out http.Header, in *http.Request)
	// Logger receives upstream errors; nil means zap.NewNop().
	Logger *zap.Logger
	// Observe, when set, is called once per try with the request sent upstream (its context is the
	// client request's), the target's name and the time to its response headers (or to the failure).
	Observe func(r *http.Request, target string, headers time.Duration)
	// TraceTry, when set, is called as each try starts, with the request about to be sent (its
	// context is the client request's; its Header may be changed, to carry trace context) and the
	// target's URL. The function it returns is called once, as the try got the target's response
	// headers (resp) or failed (err). Nil: nothing is called.
	TraceTry func(out *http.Request, target *url.URL) (done func(resp *http.Response, err error))
}

// New returns a handler forwarding to pool.
func New(pool *Pool, opts Options) http.Handler {
	if opts.ResponseHeaderTimeout <= 0 {
		opts.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if opts.TryTimeout <= 0 || opts.TryTimeout > opts.ResponseHeaderTimeout {
		opts.TryTimeout = opts.ResponseHeaderTimeout
	}
	if opts.RetryBodyMax <= 0 {
		opts.RetryBodyMax = DefaultRetryBodyMax
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	h := &handler{pool: pool, opts: opts, log: log}
	// ReverseProxy's own lines repeat what this package logs with context (a cut body, a failed
	// try): at debug. NewStdLogAt fails only for a level above fatal.
	rpLog, _ := zap.NewStdLogAt(log, zap.DebugLevel)
	h.rp = &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    h,
		BufferPool:   bufferPool,
		ErrorHandler: h.handleError,
		ErrorLog:     rpLog,
	}
	return h
}

type handler struct {
	pool *Pool
	opts Options
	log  *zap.Logger
	rp   *httputil.ReverseProxy
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if up := r.Header["Upgrade"]; len(up) > 0 && httpsyntax.HasToken(up, "h2c") {
		// An h2c upgrade would give the target a raw HTTP/2 connection, past routing, methods and
		// limits. A server may ignore an Upgrade (RFC 9110 7.8): the request goes on as HTTP/1.1.
		delete(r.Header, "Upgrade")
		delete(r.Header, "Http2-Settings")
	}
	if h.opts.Timeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	h.rp.ServeHTTP(w, r)
}

// rewrite builds the outbound request. ReverseProxy has already removed hop-by-hop headers and the
// client's forwarding headers; they come back only from a trusted peer. The target is chosen per try,
// in RoundTrip.
func (h *handler) rewrite(pr *httputil.ProxyRequest) {
	if h.opts.StripPrefix != "" {
		stripPrefix(pr.Out.URL, h.opts.StripPrefix)
	}
	if h.opts.RewritePath != nil {
		u := pr.Out.URL
		u.Path, u.RawPath = h.opts.RewritePath(u.Path), ""
	}
	trusted := false
	if h.opts.TrustedPeer != nil {
		if ap, err := netip.ParseAddrPort(pr.In.RemoteAddr); err == nil {
			trusted = h.opts.TrustedPeer(ap.Addr().Unmap())
		}
	}
	if trusted {
		if v := pr.In.Header["X-Forwarded-For"]; len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
	}
	setXForwarded(pr)
	if trusted {
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(k); v != "" {
				pr.Out.Header.Set(k, v)
			}
		}
		if v := pr.In.Header.Values("Forwarded"); len(v) > 0 {
			pr.Out.Header["Forwarded"] = append(append([]string(nil), v...), forwardedElement(pr.In))
		}
	}
	if h.opts.PreserveHost {
		pr.Out.Host = pr.In.Host
	} else {
		pr.Out.Host = ""
	}
	if h.opts.EditRequest != nil {
		h.opts.EditRequest(pr.Out.Header, pr.In)
	}
}

// setXForwarded is ProxyRequest.SetXForwarded (X-Forwarded-For extended with the peer, or set to
// it; X-Forwarded-Host and -Proto from the inbound request) writing the map directly: the keys are
// canonical constants, and the three values share one backing array. It also marks User-Agent as
// present but empty when the client sent none, so that ReverseProxy does not set it (net/http's
// transports send no User-Agent for an empty one, and neither does the lean client).
func setXForwarded(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	vals := make([]string, 3)
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		vals[0] = ip
		h["X-Forwarded-For"] = vals[0:1:1]
	} else {
		delete(h, "X-Forwarded-For")
	}
	vals[1] = pr.In.Host
	h["X-Forwarded-Host"] = vals[1:2:2]
	vals[2] = "http"
	if pr.In.TLS != nil {
		vals[2] = "https"
	}
	h["X-Forwarded-Proto"] = vals[2:3:3]
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil
	}
}

// forwardedElement is RFC 7239's element for this hop: for=the peer, host, proto.
func forwardedElement(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if strings.Contains(host, ":") {
		host = `"[` + host + `]"`
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	return "for=" + host + ";host=" + quoteIfNeeded(r.Host) + ";proto=" + proto
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, ":[]\",;= ") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// stripPrefix removes prefix from u's path, keeping a leading slash and the raw (escaped) form.
func stripPrefix(u *url.URL, prefix string) {
	cut := func(p string) string {
		p = strings.TrimPrefix(p, strings.TrimSuffix(prefix, "/"))
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		return p
	}
	if u.RawPath != "" {
		u.RawPath = cut(u.RawPath)
	}
	u.Path = cut(u.Path)
}

var (
	errHeaderTimeout = errors.New("upstream response header timeout")
	errTryTimeout    = errors.New("upstream try timeout")
	errNoTarget      = errors.New("no available upstream target")
)

// RoundTrip sends the outbound request to a target chosen per try, retrying on other targets as the
// options allow. It is the ReverseProxy's transport.
func (h *handler) RoundTrip(req *http.Request) (*http.Response, error) {
	body, replayable, err := h.prepareBody(req)
	if err != nil {
		return nil, err
	}
	// The outbound request is ReverseProxy's own copy: each try points its URL at the target in place.
	path, rawPath := req.URL.Path, req.URL.RawPath
	if body != nil {
		req.Body = body
	}
	budget := h.opts.ResponseHeaderTimeout // what is left of the wait for headers, over all tries
	var triedArr [4]*Upstream
	tried := triedArr[:0]
	for try := 0; ; try++ {
		target := h.pick(req, tried)
		if target == nil {
			if try > 0 && err != nil {
				return nil, err // the last try's error says more than "none left"
			}
			return nil, errNoTarget
		}
		tried = append(tried, target)
		var resp *http.Response
		var waited time.Duration
		resp, waited, err = h.try(req, target, path, rawPath, budget)
		if err == nil {
			return resp, nil
		}
		budget -= waited
		var ce *clientError
		if errors.As(err, &ce) || req.Context().Err() != nil || try >= h.opts.Retries || budget <= 0 {
			return nil, err
		}
		if !isDialError(err) && (!replayable || !h1client.Idempotent(req.Method)) {
			return nil, err
		}
		if body != nil && !body.Rewind() {
			return nil, err // bytes flowed upstream and cannot be replayed
		}
		h.log.Debug("retrying on another target", zap.String("request_id", req.Header.Get("X-Request-Id")),
			zap.String("failed", target.Name), zap.Error(err))
	}
}

// pick chooses a target not tried yet, or nil when none is left.
func (h *handler) pick(req *http.Request, tried []*Upstream) *Upstream {
	wheel := h.pool.Available()
	if len(wheel) == 0 {
		return nil
	}
	u := h.pool.selector.Select(wheel, req)
	if !contains(tried, u) {
		return u
	}
	for _, c := range wheel {
		if !contains(tried, c) {
			return c
		}
	}
	return nil
}

func contains(list []*Upstream, u *Upstream) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}

// prepareBody wraps the request body so that a retry can tell whether bytes flowed, buffering small
// bodies of idempotent requests so they can be replayed. replayable is true for no body or a buffered
// one.
func (h *handler) prepareBody(req *http.Request) (*retryBody, bool, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true, nil
	}
	b := &retryBody{src: req.Body}
	// Small bodies of idempotent requests are buffered even without retries: a kept-alive connection
	// the target closed meanwhile needs the body sent again.
	if h1client.Idempotent(req.Method) && req.ContentLength > 0 && req.ContentLength <= h.opts.RetryBodyMax {
		buf := make([]byte, req.ContentLength)
		if _, err := io.ReadFull(req.Body, buf); err != nil {
			return nil, false, &clientError{err: err}
		}
		b.buf = buf
		b.r = bytes.NewReader(buf)
	}
	return b, b.buf != nil, nil
}

// retryBody is a request body shared by the tries of one request. Transports close bodies on errors;
// Close is ignored here so that a later try can still read (the server closes the client's body).
//
// Read may run on a transport's own goroutine, even after RoundTrip returned (net/http's Transport
// writes bodies from its write loop): what it notes is atomic.
type retryBody struct {
	src    io.ReadCloser
	buf    []byte        // the whole body when buffered for replay
	r      *bytes.Reader // reads buf
	read   atomic.Bool   // some byte went to a try
	srcErr atomic.Value  // error: reading the client's body failed, through no fault of the target
}

func (b *retryBody) Read(p []byte) (int, error) {
	var n int
	var err error
	if b.r != nil {
		n, err = b.r.Read(p)
	} else {
		n, err = b.src.Read(p)
		if err != nil && err != io.EOF {
			b.srcErr.CompareAndSwap(nil, error(&clientError{err: err}))
		}
	}
	if n > 0 {
		b.read.Store(true)
	}
	return n, err
}

// failed is the client's body's error wrapped as a clientError, or nil.
func (b *retryBody) failed() error {
	if err, _ := b.srcErr.Load().(error); err != nil {
		return err
	}
	return nil
}

func (b *retryBody) Close() error { return nil }

var _ h1client.Rewinder = (*retryBody)(nil)

// Rewind readies the body for another try, by the handler or by the lean client (a kept-alive
// connection found closed); false when streamed bytes are gone or the client's body failed.
func (b *retryBody) Rewind() bool {
	if b.failed() != nil {
		return false
	}
	if b.r != nil {
		b.r.Reset(b.buf)
		return true
	}
	return !b.read.Load()
}

// try sends one try to target. Its wait for response headers, which starts once the request is sent
// (a slow upload does not count), is bounded by the try timeout and by budget, what is left of the
// response-header timeout; waited is how much of budget the try used.
func (h *handler) try(out *http.Request, target *Upstream, path, rawPath string, budget time.Duration) (*http.Response, time.Duration, error) {
	u := out.URL
	u.Scheme, u.Host, u.Path, u.RawPath = target.URL.Scheme, target.URL.Host, path, rawPath
	if target.URL.Path != "" && target.URL.Path != "/" {
		u.Path = singleJoin(target.URL.Path, path)
		if rawPath != "" {
			u.RawPath = singleJoin(target.URL.EscapedPath(), rawPath)
		}
	}
	req := out
	limit, cause := h.opts.TryTimeout, errTryTimeout
	if budget <= limit {
		limit, cause = budget, errHeaderTimeout
	}
	var traced func(*http.Response, error)
	if h.opts.TraceTry != nil {
		traced = h.opts.TraceTry(out, target.URL)
	}
	target.inflight.Add(1)
	start := time.Now()
	sent := start // when the request was sent; the lean client reports it, others count from the start
	var resp *http.Response
	var err error
	cancel := func(error) {}
	lean := false
	if h.pool.lean != nil && h.pool.lean.Handles(out) {
		// The lean client takes the limits directly (no context, no timer per try), and its body
		// drops the in-flight count itself when closed.
		lean = true
		var leanSent time.Time
		resp, leanSent, err = h.pool.lean.Send(out, h1client.Try{
			Dial: h.opts.DialTimeout, Wait: limit, Start: start, Inflight: &target.inflight, Name: target.Name, Log: h.log,
		})
		if !leanSent.IsZero() {
			sent = leanSent
		}
		if errors.Is(err, h1client.ErrDeadline) {
			err = cause
		}
	} else {
		var ctx context.Context
		ctx, cancel = context.WithCancelCause(req.Context())
		if h.opts.DialTimeout > 0 {
			ctx = context.WithValue(ctx, dialTimeoutKey{}, h.opts.DialTimeout)
		}
		// The wait for headers starts once the transport has written the request.
		var (
			mu    sync.Mutex // guards timer, done and wrote: WroteRequest runs on the transport's goroutine
			timer *time.Timer
			done  bool
			wrote time.Time
		)
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				wrote = time.Now()
				timer = time.AfterFunc(limit, func() { cancel(cause) })
			}
		}})
		out = out.WithContext(ctx)
		resp, err = h.pool.transport.RoundTrip(out)
		mu.Lock()
		done = true
		if timer != nil {
			timer.Stop()
			sent = wrote
		}
		mu.Unlock()
		if c := context.Cause(ctx); err != nil && (errors.Is(c, errTryTimeout) || errors.Is(c, errHeaderTimeout)) {
			err = c
		}
	}
	end := time.Now()
	waited := end.Sub(sent)
	if h.opts.Observe != nil {
		h.opts.Observe(out, target.Name, end.Sub(start))
	}
	if traced != nil {
		traced(resp, err)
	}
	if err != nil {
		target.inflight.Add(-1)
		cancel(nil)
		if rb, ok := out.Body.(*retryBody); ok {
			if ce := rb.failed(); ce != nil {
				return nil, waited, ce // never counted against the target
			}
		}
		if req.Context().Err() == nil {
			h.pool.failed(target, err)
		}
		return nil, waited, &upstreamError{target: target.Name, err: err}
	}
	if lean {
		return resp, waited, nil
	}
	done := func() {
		target.inflight.Add(-1)
		cancel(nil)
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &upgradedBody{ReadWriteCloser: rwc, done: done}
	} else {
		resp.Body = &finishBody{ReadCloser: resp.Body, done: done, cut: h1client.CutLogger{Log: h.log, Target: target.Name, Req: out}}
	}
	return resp, waited, nil
}

func singleJoin(a, b string) string {
	return strings.TrimSuffix(a, "/") + "/" + strings.TrimPrefix(b, "/")
}

// finishBody runs done once, when the response body is closed, and logs a body cut short.
type finishBody struct {
	io.ReadCloser
	once sync.Once
	done func()
	cut  h1client.CutLogger
}

func (b *finishBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.cut.Note(n, err)
	return n, err
}

func (b *finishBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// upgradedBody keeps an upgraded connection writable (WebSocket) while running done on close.
type upgradedBody struct {
	io.ReadWriteCloser
	once sync.Once
	done func()
}

func (b *upgradedBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.once.Do(b.done)
	return err
}

// clientError is a try that failed because of the client's request body (malformed, cut short, too
// slow or too large), not the target's: it is never retried nor counted against the target.
type clientError struct{ err error }

func (e *clientError) Error() string { return "client request body: " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

type upstreamError struct {
	target string
	err    error
}

func (e *upstreamError) Error() string { return e.target + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// isDialError reports whether err means no connection was made, so nothing reached the target.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// classify maps a forwarding error to the status the client gets.
func classify(r *http.Request, err error) int {
	var ce *clientError
	if errors.As(err, &ce) {
		var tooLarge *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.Is(err, httpsyntax.ErrChunked):
			return http.StatusBadRequest // malformed, whether or not the client is still there
		case r.Context().Err() != nil:
			return StatusClientClosedRequest
		case errors.As(err, &tooLarge):
			return http.StatusRequestEntityTooLarge
		case errors.As(err, &ne) && ne.Timeout():
			return http.StatusRequestTimeout
		}
		return http.StatusBadRequest // malformed or cut short
	}
	switch {
	case errors.Is(err, errNoTarget):
		return http.StatusServiceUnavailable
	case errors.Is(err, errHeaderTimeout), errors.Is(err, errTryTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case r.Context().Err() != nil:
		return StatusClientClosedRequest
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway // refused, reset, unreachable, malformed response, …
}

func (h *handler) handleError(w http.ResponseWriter, r *http.Request, err error) {
	status := classify(r, err)
	id := r.Header.Get("X-Request-Id")
	target := ""
	var ue *upstreamError
	if errors.As(err, &ue) {
		target, err = ue.target, ue.err
	}
	fields := []zap.Field{zap.String("request_id", id), zap.String("upstream", target), zap.Int("status", status), zap.Error(err)}
	var ce *clientError
	switch {
	case status == StatusClientClosedRequest:
		// A status line written now could still reach a client that only half-closed; there is
		// nobody to answer, so the connection is cut instead.
		h.log.Debug("client went away", fields...)
		panic(http.ErrAbortHandler)
	case errors.As(err, &ce):
		// The rest of the client's body cannot be trusted or is not coming: the connection closes.
		h.log.Info("client request body failed", fields...)
		w.Header().Set("Connection", "close")
	case status == http.StatusServiceUnavailable:
		h.log.Warn("no upstream target available", fields...)
	case errors.Is(err, syscall.ECONNREFUSED):
		h.log.Warn("upstream refused connection", fields...)
	default:
		h.log.Warn("upstream failed", fields...)
	}
	jsonerror.Write(w, r, status)
}

// bufferPool recycles ReverseProxy's 32 KiB copy buffers. It keeps array pointers, so that Put
// stores what it is given without allocating a slice header to point at.
var bufferPool httputil.BufferPool = &buffers{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

const copyBufferSize = 32 << 10

type buffers struct{ p sync.Pool }

func (b *buffers) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *buffers) Put(p []byte) {
	if cap(p) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(p[:copyBufferSize]))
	}
}
