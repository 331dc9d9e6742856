package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// exportOptions configure an exporter; each field's zero value is its default.
type exportOptions struct {
	// Timeout bounds one export, tries and waits between them included (the export's ctx may end
	// it sooner); zero: 10s.
	Timeout time.Duration
	// Tries is how often one batch is posted at the most; zero: 3.
	Tries int
	// Backoff is the wait before the second try, doubled before each later one; zero: 100ms.
	Backoff time.Duration
	// MaxWait caps every wait, a collector's Retry-After included; zero: 5s.
	MaxWait time.Duration
	// UserAgent is the posts' User-Agent; "": frontgate.
	UserAgent string
	// Headers are more header fields of every post (a collector's API key); nil: none.
	Headers map[string]string
	// Sleep waits d, or less if ctx ends first (then it returns ctx's error); nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock a Retry-After date is read by; nil: time.Now.
	Now func() time.Time
}

// maxResponseRead is how much of an answer is read: all of any answer a collector sends in
// practice (an empty one, a partial success, a status), so that the connection is kept.
const maxResponseRead = 64 << 10

// errShutDown is what an export after Shutdown returns.
var errShutDown = errors.New("tracing exporter is shut down")

// exporter posts spans to an OTLP/HTTP collector: one POST per batch, protobuf, gzip-compressed,
// on keep-alive connections of its own. A batch the collector was too busy for (429, 502, 503,
// 504) or that a connection failed to carry is posted again after a wait, while tries and the
// export's time last; any other answer but a 2xx (a 400: the collector cannot read it) is final.
// A 2xx counts as delivered even when the collector reports a partial success (some spans
// rejected): that part of the answer is not read. Written in place of OpenTelemetry's otlptracehttp,
// whose collector types link gRPC into the binary.
type exporter struct {
	url   string // where spans are posted
	where string // url with any password hidden, for errors
	opts  exportOptions
	hc    *http.Client

	stop context.Context    // done once Shutdown was called
	shut context.CancelFunc // ends stop
}

// gzipWriters are the compressors of past exports, kept: each holds hundreds of KB of tables.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// newExporter returns an exporter posting to traces, the full URL (path included).
func newExporter(traces string, opts exportOptions) (*exporter, error) {
	u, err := url.Parse(traces)
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Tries <= 0 {
		opts.Tries = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 100 * time.Millisecond
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 5 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "frontgate"
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	stop, shut := context.WithCancel(context.Background())
	return &exporter{url: traces, where: u.Redacted(), opts: opts, hc: &http.Client{Transport: tr}, stop: stop, shut: shut}, nil
}

// ExportSpans posts spans, trying again as the type's comment says; it returns once they are
// delivered, or with why not.
func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stop.Err() != nil {
		return errShutDown
	}
	if len(spans) == 0 {
		return nil
	}
	body, err := encode(spans)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	defer context.AfterFunc(e.stop, cancel)() // Shutdown ends an export under way
	for try := 1; ; try++ {
		again, after, err := e.post(ctx, body)
		if err == nil {
			return nil
		}
		if !again || try == e.opts.Tries {
			return fmt.Errorf("exporting %d spans to %s, try %d of %d: %w", len(spans), e.where, try, e.opts.Tries, err)
		}
		wait := min(max(e.opts.Backoff<<(try-1), after), e.opts.MaxWait)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fmt.Errorf("exporting %d spans to %s, try %d: %w; the next try, in %v, would be past the deadline",
				len(spans), e.where, try, err, wait)
		}
		if werr := e.opts.Sleep(ctx, wait); werr != nil {
			return fmt.Errorf("exporting %d spans to %s, try %d: %w; waiting for the next: %w", len(spans), e.where, try, err, werr)
		}
	}
}

// post sends body once. again says whether another try may go through: a connection error
// (unless ctx ended) or a busy collector, which may have said how long to wait (after).
func (e *exporter) post(ctx context.Context, body []byte) (again bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	for k, v := range e.opts.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", e.opts.UserAgent)
	resp, err := e.hc.Do(req)
	if err != nil {
		return ctx.Err() == nil, 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead)) // read to keep the connection
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return false, 0, nil
	}
	err = fmt.Errorf("the collector answered %s%s", resp.Status, explanation(resp.Header.Get("Content-Type"), answer))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		after, _ = httpsyntax.RetryAfter(resp.Header.Get("Retry-After"), e.opts.Now())
		return true, after, err
	}
	return false, 0, err
}

// Shutdown ends any export under way, closes the idle connections and makes later exports fail.
func (e *exporter) Shutdown(context.Context) error {
	e.shut()
	e.hc.CloseIdleConnections()
	return nil
}

var _ sdktrace.SpanExporter = (*exporter)(nil)

// encode is spans as a gzip-compressed ExportTraceServiceRequest.
func encode(spans []sdktrace.ReadOnlySpan) ([]byte, error) {
	raw, err := proto.Marshal(tracesData(spans))
	if err != nil {
		return nil, fmt.Errorf("encoding %d spans: %w", len(spans), err)
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	_, err = zw.Write(raw)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	zw.Reset(io.Discard) // lets go of buf
	if err != nil {
		return nil, fmt.Errorf("compressing %d spans: %w", len(spans), err)
	}
	return buf.Bytes(), nil
}

// explanation is what a collector's refusal says, as ` ("message")`: the message of the
// google.rpc.Status OTLP/HTTP answers with in protobuf, or the start of a text answer; "" when it
// says nothing readable.
func explanation(contentType string, body []byte) string {
	const most = 200
	var msg string
	switch mt, _, _ := mime.ParseMediaType(contentType); {
	case mt == "application/x-protobuf":
		msg = statusMessage(body)
	case strings.HasPrefix(mt, "text/"), mt == "application/json":
		msg = strings.TrimSpace(string(body))
	}
	if len(msg) > most {
		msg = msg[:most] + "…"
	}
	if msg == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", msg)
}

// statusMessage is the message (field 2) of an encoded google.rpc.Status, "" if it has none or is
// not one. Read by hand: the Go type's package would add genproto to the binary.
func statusMessage(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
