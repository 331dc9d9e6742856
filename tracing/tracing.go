// Package tracing traces the requests frontgate serves with OpenTelemetry and exports the spans over
// OTLP/HTTP (protobuf, gzip) with an exporter of its own (export.go), which leaves gRPC out of the
// binary. A Provider holds one tracing config's tracer provider: a batch span processor,
// a parent-based ratio sampler and a resource naming the service. Handler gives each request a server
// span (its parent the caller's W3C traceparent when the caller is trusted), with the request's
// timing as events: the body fully received, the upstream's response headers, the response's end.
// Try gives each upstream try a client span and the traceparent that names it. The package knows
// nothing of the gateway's other packages: the gateway hands in what it knows through Options, and
// wires Try into the proxy.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// Settings configure a Provider.
type Settings struct {
	// Endpoint is the collector's OTLP/HTTP base URL (http or https); spans are posted to its path
	// + /v1/traces. Required.
	Endpoint string
	// Sample is the share of new traces sampled, 0 to 1; a trusted caller's sampled flag decides for
	// its traces. The zero value samples no new trace.
	Sample float64
	// Headers are header fields sent with every export (a collector's API key); nil: none.
	Headers map[string]string
	// ServiceName and ServiceVersion are the resource's service.name and service.version; empty:
	// "frontgate", and no version.
	ServiceName, ServiceVersion string
	// Log receives export failures, at most one line per LogEvery; nil: none.
	Log *zap.Logger
	// LogEvery is the least time between two export-failure lines; zero: a minute.
	LogEvery time.Duration
}

// Provider is one tracing config at work: its tracer, its sampler, its batches of spans on the way
// to the collector. Shutdown exports what is left.
type Provider struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TraceContext
}

// New starts a Provider for s. Nothing is sent until a span ends; a collector that is down costs
// log lines, never requests.
func New(s Settings) (*Provider, error) {
	traces, err := tracesURL(s.Endpoint)
	if err != nil {
		return nil, err
	}
	agent := "frontgate"
	if s.ServiceVersion != "" {
		agent += "/" + s.ServiceVersion
	}
	exp, err := newExporter(traces, exportOptions{UserAgent: agent, Headers: s.Headers})
	if err != nil {
		return nil, err
	}
	name := s.ServiceName
	if name == "" {
		name = "frontgate"
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if s.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(s.ServiceVersion))
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	log := s.Log
	if log == nil {
		log = zap.NewNop()
	}
	every := s.LogEvery
	if every <= 0 {
		every = time.Minute
	}
	logged := &loggedExporter{SpanExporter: exp, log: log, every: every, now: time.Now}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(logged),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.Sample))),
	)
	return &Provider{tp: tp, tracer: tp.Tracer("github.com/frontgate/frontgate/tracing")}, nil
}

// tracesURL is where the spans of a collector's base URL go: its path + /v1/traces.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing endpoint %q is not an http or https URL", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	u.RawPath = ""
	return u.String(), nil
}

// Shutdown exports the spans that have ended and not gone yet, within ctx, and stops the provider:
// spans that end later are dropped.
func (p *Provider) Shutdown(ctx context.Context) error {
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}

// loggedExporter logs the exporter's failures, at most one line per every (with the count of those
// in between), and reports none to the batch processor, whose fallback is OpenTelemetry's global
// error handler writing to stderr.
type loggedExporter struct {
	sdktrace.SpanExporter
	log   *zap.Logger
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex // guards last and skipped: the batch processor's goroutine and Shutdown's flush export
	last    time.Time  // when the last line was written; zero: never
	skipped int        // failed exports since then, not logged
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.failed(err, len(spans))
	}
	return nil
}

// failed logs a failed export of n spans, unless a line went out less than every ago.
func (e *loggedExporter) failed(err error, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if !e.last.IsZero() && now.Sub(e.last) < e.every {
		e.skipped++
		return
	}
	e.log.Warn("exporting spans failed; they are dropped", zap.Int("spans", n), zap.Int("failures_not_logged", e.skipped),
		zap.Duration("next_line_after", e.every), zap.Error(err))
	e.last, e.skipped = now, 0
}

var _ sdktrace.SpanExporter = (*loggedExporter)(nil)
