// Package proxy forwards requests to pools of upstream targets through httputil.ReverseProxy, with a
// tuned transport, pooled copy buffers and one error handler that maps failures to 502, 504 or 499.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the response. It is logged,
// never sent (there is nobody to send it to).
const StatusClientClosedRequest = 499

// Upstream is one target of a pool.
type Upstream struct {
	// URL is the target's base URL; its path, if any, prefixes every forwarded path.
	URL *url.URL
	// Name is the URL as configured, for logs.
	Name string
}

// Selector picks the target for a request from a non-empty pool.
type Selector interface {
	Select(pool []*Upstream, r *http.Request) *Upstream
}

// RoundRobin hands out targets in turn. The zero value is ready to use.
type RoundRobin struct{ n atomic.Uint64 }

var _ Selector = (*RoundRobin)(nil)

// Select returns the next target in turn.
func (rr *RoundRobin) Select(pool []*Upstream, _ *http.Request) *Upstream {
	return pool[(rr.n.Add(1)-1)%uint64(len(pool))]
}

// PoolOptions tunes a pool's connections. Zero values take the defaults noted.
type PoolOptions struct {
	// DialTimeout bounds connecting to a target; zero means 5s.
	DialTimeout time.Duration
	// MaxIdlePerTarget is how many keep-alive connections are kept per target; zero means 256.
	MaxIdlePerTarget int
}

// Pool is a set of targets sharing one connection pool (transport) and one selector.
type Pool struct {
	targets   []*Upstream
	selector  Selector
	transport http.RoundTripper
}

// NewPool builds a pool from target URLs (http or https), selected round-robin.
func NewPool(targets []string, opts PoolOptions) (*Pool, error) {
	if len(targets) == 0 {
		return nil, errors.New("new pool: no targets")
	}
	p := &Pool{selector: &RoundRobin{}, transport: newTransport(opts)}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("new pool: target %q is not an http(s) URL", t)
		}
		p.targets = append(p.targets, &Upstream{URL: u, Name: t})
	}
	return p, nil
}

// Close drops the pool's idle connections.
func (p *Pool) Close() {
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// newTransport is http.DefaultTransport's shape tuned for a gateway: many idle connections per target
// (the default keeps 2), no compression negotiated on the client's behalf, no environment proxy.
func newTransport(opts PoolOptions) *http.Transport {
	dial := opts.DialTimeout
	if dial == 0 {
		dial = 5 * time.Second
	}
	idle := opts.MaxIdlePerTarget
	if idle == 0 {
		idle = 256
	}
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
}

// Options configures one route's Handler. The zero value forwards paths unchanged, waits up to 30s for
// response headers and logs nothing.
type Options struct {
	// StripPrefix is removed from the start of the forwarded path.
	StripPrefix string
	// ResponseHeaderTimeout bounds the wait for the upstream's response headers; past it the client
	// gets 504. Zero means 30s.
	ResponseHeaderTimeout time.Duration
	// Logger receives upstream errors; nil means zap.NewNop().
	Logger *zap.Logger
	// Observe, when set, is called once per upstream exchange with the request sent upstream (its
	// context is the client request's), the target's name and the time to its response headers (or
	// to the failure).
	Observe func(r *http.Request, target string, headers time.Duration)
}

// New returns a handler forwarding to pool.
func New(pool *Pool, opts Options) http.Handler {
	if opts.ResponseHeaderTimeout == 0 {
		opts.ResponseHeaderTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	h := &handler{pool: pool, opts: opts, log: log}
	h.rp = &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    &timedTransport{next: pool.transport, timeout: opts.ResponseHeaderTimeout, observe: opts.Observe},
		BufferPool:   bufferPool,
		ErrorHandler: h.handleError,
		ErrorLog:     zap.NewStdLog(log),
	}
	return h.rp
}

type handler struct {
	pool *Pool
	opts Options
	log  *zap.Logger
	rp   *httputil.ReverseProxy
}

// rewrite picks a target and builds the outbound request. ReverseProxy has already removed hop-by-hop
// headers and the client's X-Forwarded-* (not trusted); SetXForwarded sets ours.
func (h *handler) rewrite(pr *httputil.ProxyRequest) {
	target := h.pool.selector.Select(h.pool.targets, pr.In)
	if h.opts.StripPrefix != "" {
		stripPrefix(pr.Out.URL, h.opts.StripPrefix)
	}
	pr.SetURL(target.URL)
	pr.SetXForwarded()
}

// stripPrefix removes prefix from u's path, keeping a leading slash and the raw (escaped) form.
func stripPrefix(u *url.URL, prefix string) {
	trimmed := strings.TrimPrefix(u.Path, strings.TrimSuffix(prefix, "/"))
	if !strings.HasPrefix(trimmed, "/") {
		trimmed = "/" + trimmed
	}
	if u.RawPath != "" {
		raw := strings.TrimPrefix(u.RawPath, strings.TrimSuffix(prefix, "/"))
		if !strings.HasPrefix(raw, "/") {
			raw = "/" + raw
		}
		u.RawPath = raw
	}
	u.Path = trimmed
}

var errHeaderTimeout = errors.New("upstream response header timeout")

// timedTransport measures the time to the upstream's response headers and enforces the route's header
// timeout. Its context outlives RoundTrip until the response body is closed.
type timedTransport struct {
	next    http.RoundTripper
	timeout time.Duration
	observe func(*http.Request, string, time.Duration)
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.timeout, func() { cancel(errHeaderTimeout) })
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	timer.Stop()
	target := req.URL.Scheme + "://" + req.URL.Host
	if t.observe != nil {
		t.observe(req, target, time.Since(start))
	}
	if err != nil {
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, errHeaderTimeout) {
			err = errHeaderTimeout
		}
		return nil, &upstreamError{target: target, err: err}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}

type upstreamError struct {
	target string
	err    error
}

func (e *upstreamError) Error() string { return e.target + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// classify maps a forwarding error to the status the client gets.
func classify(r *http.Request, err error) int {
	switch {
	case errors.Is(err, errHeaderTimeout), errors.Is(err, context.DeadlineExceeded):
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
	if status == StatusClientClosedRequest {
		h.log.Debug("client went away", fields...)
		w.WriteHeader(status) // for the access log; the client is gone
		return
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		h.log.Warn("upstream refused connection", fields...)
	default:
		h.log.Warn("upstream failed", fields...)
	}
	writeError(w, status, id)
}

// writeError sends a JSON error naming the status and the request id, never internal error text.
func writeError(w http.ResponseWriter, status int, id string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error     string `json:"error"`
		Status    int    `json:"status"`
		RequestID string `json:"request_id,omitempty"`
	}{strings.ToLower(http.StatusText(status)), status, id})
}

// bufferPool recycles ReverseProxy's 32 KiB copy buffers.
var bufferPool httputil.BufferPool = &buffers{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type buffers struct{ p sync.Pool }

func (b *buffers) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *buffers) Put(p []byte) { b.p.Put(&p) }
