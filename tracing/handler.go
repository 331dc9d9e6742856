package tracing

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The server span's events, in the order a forwarded request meets them.
const (
	EventBodyReceived    = "request body received"
	EventUpstreamHeaders = "upstream headers"
	EventResponseEnd     = "response end"
)

// RequestIDKey is the attribute that carries the request's X-Request-Id.
const RequestIDKey = attribute.Key("frontgate.request_id")

// Facts are what the gateway knows of a request, for its span.
type Facts struct {
	// Start is when the gateway took the request; zero: when Handler did.
	Start time.Time
	// Route is the name of the route that matched; "": none (the span is named by the method alone).
	Route string
	// RequestID is the request's X-Request-Id; "": none.
	RequestID string
	// Status is the answer's status; 0: none was written (200 unless the response was cut).
	Status int
	// BodyDone is when the request body had arrived whole; zero: no body, or not all of it.
	BodyDone time.Time
}

// Options configure Handler.
type Options struct {
	// Trusted reports whether r's peer may say which trace r belongs to (traceparent, tracestate);
	// nil trusts nobody. Another peer's request starts a new trace, and the trace fields it sent are
	// not forwarded.
	Trusted func(r *http.Request) bool
	// Describe returns what the gateway knows of r, on r's goroutine as its span starts and ends;
	// nil: nothing (the span has no route, request id or body event).
	Describe func(r *http.Request) Facts
	// ClientIP returns r's client address (client.address), as trusted proxies vouch for it; nil:
	// none (network.peer.address is the peer's anyway).
	ClientIP func(r *http.Request) string
}

// Handler wraps next so that every request gets a server span, the current span of the request's
// context (Try makes the upstream tries its children). The span is named "METHOD route", carries
// OpenTelemetry's HTTP attributes and the request id, is an error for a 5xx or a response cut
// short, and has the events EventBodyReceived, EventUpstreamHeaders and EventResponseEnd, in time
// order, for those that happened.
func (p *Provider) Handler(next http.Handler, opts Options) http.Handler {
	return &handler{p: p, next: next, trusted: opts.Trusted, describe: opts.Describe, clientIP: opts.ClientIP}
}

type handler struct {
	p        *Provider
	next     http.Handler
	trusted  func(*http.Request) bool
	describe func(*http.Request) Facts
	clientIP func(*http.Request) string
}

type exchangeKey struct{}

// exchange is one request's span and what its upstream tries report to it.
type exchange struct {
	span trace.Span
	// headers is when the last try got the upstream's response headers, in Unix nanoseconds; 0:
	// none. Atomic: a transport may report on a goroutine of its own.
	headers atomic.Int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.trusted != nil && h.trusted(r) {
		ctx = h.p.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	var start time.Time
	if h.describe != nil {
		start = h.describe(r).Start
	}
	if start.IsZero() {
		start = time.Now()
	}
	name, _ := methodName(r.Method)
	ctx, span := h.p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	if span.IsRecording() {
		span.SetAttributes(requestAttributes(r)...)
	}
	x := &exchange{span: span}
	r = r.WithContext(context.WithValue(ctx, exchangeKey{}, x))
	done := false
	defer func() {
		if !done { // a panic on its way out: http.ErrAbortHandler, a response cut short
			h.end(x, r, true)
		}
	}()
	h.next.ServeHTTP(w, r)
	done = true
	h.end(x, r, false)
}

// end finishes the request's span: its route, status and events.
func (h *handler) end(x *exchange, r *http.Request, aborted bool) {
	span := x.span
	end := time.Now()
	if !span.IsRecording() {
		span.End(trace.WithTimestamp(end))
		return
	}
	var f Facts
	if h.describe != nil {
		f = h.describe(r)
	}
	if f.Status == 0 && !aborted {
		f.Status = http.StatusOK // what the server sends for a handler that wrote nothing
	}
	if f.Route != "" {
		name, _ := methodName(r.Method)
		span.SetName(name + " " + f.Route)
		span.SetAttributes(semconv.HTTPRoute(f.Route))
	}
	if f.Status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(f.Status))
	}
	if f.RequestID != "" {
		span.SetAttributes(RequestIDKey.String(f.RequestID))
	}
	if h.clientIP != nil {
		if ip := h.clientIP(r); ip != "" {
			span.SetAttributes(semconv.ClientAddress(ip))
		}
	}
	switch {
	case aborted:
		span.SetAttributes(semconv.ErrorTypeKey.String("aborted"))
		span.SetStatus(codes.Error, "the response was cut short")
	case f.Status >= 500:
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(f.Status)))
		span.SetStatus(codes.Error, "")
	}
	type event struct {
		name string
		at   time.Time
	}
	events := make([]event, 0, 3)
	if !f.BodyDone.IsZero() {
		events = append(events, event{EventBodyReceived, f.BodyDone})
	}
	if ns := x.headers.Load(); ns != 0 {
		events = append(events, event{EventUpstreamHeaders, time.Unix(0, ns)})
	}
	events = append(events, event{EventResponseEnd, end})
	for i := 1; i < len(events); i++ { // by time: the body may end after the upstream answered
		for j := i; j > 0 && events[j].at.Before(events[j-1].at); j-- {
			events[j], events[j-1] = events[j-1], events[j]
		}
	}
	for _, e := range events {
		span.AddEvent(e.name, trace.WithTimestamp(e.at))
	}
	span.End(trace.WithTimestamp(end))
}

// requestAttributes are the server span's attributes known at its start.
func requestAttributes(r *http.Request) []attribute.KeyValue {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs, methodAttributes(r.Method)...)
	attrs = append(attrs, semconv.URLPath(r.URL.Path), semconv.URLScheme(scheme), networkProtocolVersion(r))
	attrs = append(attrs, serverAddress(r.Host, scheme)...)
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, semconv.NetworkPeerAddress(host))
	}
	return attrs
}

// Try starts a client span for one upstream try, a child of the request's span, and sets out's
// traceparent (and tracestate, when the trace has one) to it, replacing whatever the client sent.
// The function it returns ends the span as the try got its response headers (resp) or failed
// (err). It is proxy.Options.TraceTry.
func (p *Provider) Try(out *http.Request, target *url.URL) func(resp *http.Response, err error) {
	ctx := out.Context()
	name, _ := methodName(out.Method)
	ctx, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	delete(out.Header, "Traceparent") // the keys are canonical: HeaderCarrier sets them so
	delete(out.Header, "Tracestate")
	p.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	if span.IsRecording() {
		attrs := append(methodAttributes(out.Method), serverAddress(target.Host, target.Scheme)...)
		span.SetAttributes(append(attrs, semconv.URLScheme(target.Scheme))...)
	}
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return func(resp *http.Response, err error) {
		now := time.Now()
		if resp != nil && x != nil {
			x.headers.Store(now.UnixNano())
		}
		if span.IsRecording() {
			switch {
			case err != nil:
				span.RecordError(err, trace.WithTimestamp(now))
				span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
				span.SetStatus(codes.Error, err.Error())
			case resp != nil:
				span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
				if resp.StatusCode >= 400 {
					span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
					span.SetStatus(codes.Error, "")
				}
			}
		}
		span.End(trace.WithTimestamp(now))
	}
}

// errorType is error.type for a failed try: a few kinds by name, else the failed network
// operation (dial, read, write), else _OTHER; the span's status says the error itself.
func errorType(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.As(err, &op):
		return op.Op
	}
	return "_OTHER"
}

// methodName is the span name's method: the method when HTTP defines it, else "HTTP" (a client's
// made-up methods would make span names without end).
func methodName(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m, true
	}
	return "HTTP", false
}

// methodAttributes are http.request.method, and http.request.method_original for a method HTTP
// does not define.
func methodAttributes(m string) []attribute.KeyValue {
	if _, known := methodName(m); known {
		return []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(m)}
	}
	return []attribute.KeyValue{semconv.HTTPRequestMethodOther, semconv.HTTPRequestMethodOriginal(m)}
}

// serverAddress are server.address and server.port of a host[:port], the port defaulting by scheme.
func serverAddress(hostport, scheme string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		n = 80
		if scheme == "https" {
			n = 443
		}
	}
	return []attribute.KeyValue{semconv.ServerAddress(host), semconv.ServerPort(n)}
}

func networkProtocolVersion(r *http.Request) attribute.KeyValue {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return semconv.NetworkProtocolVersion("1.1")
	case r.ProtoMajor == 2:
		return semconv.NetworkProtocolVersion("2")
	}
	return semconv.NetworkProtocolVersion(strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor))
}
