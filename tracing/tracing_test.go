package tracing

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// failing is an exporter whose every export fails.
type failing struct{ calls int }

func (f *failing) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	f.calls++
	return errors.New("collector unreachable")
}
func (f *failing) Shutdown(context.Context) error { return nil }

// Export failures are logged at most once per interval, with the count of those not logged, and
// never reported to the batch processor (whose fallback writes to stderr).
func TestExportFailuresAreLoggedOncePerInterval(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	now := time.Unix(1_700_000_000, 0)
	e := &loggedExporter{SpanExporter: &failing{}, log: zap.New(core), every: time.Minute, now: func() time.Time { return now }}
	for _, tt := range []struct {
		after   time.Duration // since the start
		lines   int           // lines written so far
		skipped int64         // the last line's failures_not_logged
	}{{0, 1, 0}, {10 * time.Second, 1, 0}, {59 * time.Second, 1, 0}, {61 * time.Second, 2, 2}, {62 * time.Second, 2, 2}, {3 * time.Minute, 3, 1}} {
		now = time.Unix(1_700_000_000, 0).Add(tt.after)
		if err := e.ExportSpans(context.Background(), make([]sdktrace.ReadOnlySpan, 3)); err != nil {
			t.Fatalf("ExportSpans returned %v, want nil (logged instead)", err)
		}
		lines := logs.All()
		if len(lines) != tt.lines {
			t.Fatalf("after %v: %d lines, want %d", tt.after, len(lines), tt.lines)
		}
		if got := lines[len(lines)-1].ContextMap()["failures_not_logged"]; got != tt.skipped {
			t.Errorf("after %v: failures_not_logged = %v, want %d", tt.after, got, tt.skipped)
		}
	}
}

// A collector that is not there costs a log line, not an error: Shutdown still succeeds.
func TestDeadCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	core, logs := observer.New(zap.WarnLevel)
	p, err := New(Settings{Endpoint: "http://" + addr, Sample: 1, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.tracer.Start(context.Background(), "GET")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	lines := logs.FilterMessage("exporting spans failed; they are dropped").All()
	if len(lines) != 1 || lines[0].ContextMap()["spans"] != int64(1) {
		t.Errorf("log lines %v, want one about the 1 span dropped", logs.All())
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":          "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":         "http://127.0.0.1:4318/v1/traces",
		"https://otel.example.com/otlp":  "https://otel.example.com/otlp/v1/traces",
		"https://otel.example.com/otlp/": "https://otel.example.com/otlp/v1/traces",
	} {
		if got, err := tracesURL(in); err != nil || got != want {
			t.Errorf("tracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNewRefusesBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", "127.0.0.1:4318", "grpc://127.0.0.1:4317", "http://"} {
		if _, err := New(Settings{Endpoint: ep}); err == nil {
			t.Errorf("New(%q) succeeded", ep)
		}
	}
}
