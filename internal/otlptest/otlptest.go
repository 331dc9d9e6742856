// Package otlptest is an OTLP/HTTP trace receiver for tests: a real net/http server on a loopback
// port that takes POST /v1/traces (protobuf, gzip or not), decodes ExportTraceServiceRequest with
// OpenTelemetry's own generated types and keeps the spans for the test to look at; a test may script
// refusals (Script) to see an exporter try again. It is for tests only; nothing in the product
// imports it (the collector's types link gRPC).
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span with its ids in hex, as in a traceparent.
type Span struct {
	*tracepb.Span
	TraceID, SpanID, ParentID string // ParentID "": a root span
	// Service is the resource's service.name.
	Service string
	// Resource holds the resource's string attributes.
	Resource map[string]string
}

// Attr is the span's attribute key as a string (ints and bools formatted); "" when it has none.
func (s Span) Attr(key string) string { return attrString(s.Attributes, key) }

// Event is the span's first event named name, or nil.
func (s Span) Event(name string) *tracepb.Span_Event {
	for _, e := range s.Events {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func attrString(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue
		case *commonpb.AnyValue_IntValue:
			return strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			if v.BoolValue {
				return "true"
			}
			return "false"
		}
	}
	return ""
}

// Answer is a scripted answer to one post, in place of 200 with an empty ExportTraceServiceResponse.
// The post is checked and decoded all the same, but its spans are not kept.
type Answer struct {
	// Status is the answer's status; 0: 503.
	Status int
	// Header holds fields of the answer (Retry-After, Content-Type); nil: none.
	Header http.Header
	// Body is the answer's body; nil: none.
	Body []byte
	// Drop closes the connection without an answer (the other fields are unused).
	Drop bool
	// Hang answers nothing until the client gives up (the other fields are unused).
	Hang bool
}

// Receiver collects the spans posted to it.
type Receiver struct {
	// URL is the receiver's base URL (http://127.0.0.1:PORT), what otlp_endpoint takes.
	URL string

	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex // guards spans, exports, requests, header, script, opened, open and changed
	spans    []Span
	exports  []*collector.ExportTraceServiceRequest
	requests int
	header   http.Header   // the last post's
	opened   int           // connections accepted
	open     int           // connections not closed yet
	script   []Answer      // the answers to the next posts, in order
	changed  chan struct{} // closed and replaced whenever a post arrives
}

// Script makes the next posts get answers, in order, before the receiver goes back to accepting.
func (rc *Receiver) Script(answers ...Answer) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.script = append(rc.script, answers...)
}

// Start runs a receiver until the test ends.
func Start(t testing.TB) *Receiver {
	rc := &Receiver{t: t, changed: make(chan struct{})}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.srv.Config.ConnState = rc.connState
	rc.srv.Start()
	rc.URL = rc.srv.URL
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		rc.t.Errorf("otlptest: %s %s, want POST /v1/traces", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		rc.t.Errorf("otlptest: Content-Type %q, want application/x-protobuf", ct)
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			rc.t.Errorf("otlptest: gzip: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collector.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		rc.t.Errorf("otlptest: the body is not an ExportTraceServiceRequest: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range req.ResourceSpans {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.Key] = attrString([]*commonpb.KeyValue{kv}, kv.Key)
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				got = append(got, Span{Span: s, TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId),
					ParentID: hex.EncodeToString(s.ParentSpanId), Service: res["service.name"], Resource: res})
			}
		}
	}
	// Kept before the answer: an exporter that got it has delivered the spans.
	rc.mu.Lock()
	rc.requests++
	rc.header = r.Header.Clone()
	scripted := len(rc.script) > 0
	var a Answer
	if scripted {
		a, rc.script = rc.script[0], rc.script[1:]
	} else {
		rc.spans = append(rc.spans, got...)
		rc.exports = append(rc.exports, &req)
	}
	close(rc.changed)
	rc.changed = make(chan struct{})
	rc.mu.Unlock()
	if scripted {
		rc.answer(w, r, a)
		return
	}
	out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *Receiver) answer(w http.ResponseWriter, r *http.Request, a Answer) {
	switch {
	case a.Drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			rc.t.Errorf("otlptest: hijack: %v", err)
			return
		}
		conn.Close()
	case a.Hang:
		<-r.Context().Done()
	default:
		for k, v := range a.Header {
			w.Header()[k] = v
		}
		if a.Status == 0 {
			a.Status = http.StatusServiceUnavailable
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}
}

func (rc *Receiver) connState(_ net.Conn, state http.ConnState) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch state {
	case http.StateNew:
		rc.opened++
		rc.open++
	case http.StateClosed, http.StateHijacked:
		rc.open--
	}
	close(rc.changed)
	rc.changed = make(chan struct{})
}

// Connections is how many connections the receiver accepted, and how many of them are still open.
func (rc *Receiver) Connections() (opened, open int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.opened, rc.open
}

// Header is the last post's header; nil before the first.
func (rc *Receiver) Header() http.Header {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.header.Clone()
}

// Until waits until ok holds, at most timeout, checking whenever a post or a connection comes or
// goes; it fails the test past the timeout, saying "no " + what.
func (rc *Receiver) Until(timeout time.Duration, what string, ok func() bool) {
	rc.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		rc.mu.Lock()
		changed := rc.changed
		rc.mu.Unlock()
		if ok() {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			rc.t.Fatalf("otlptest: no %s within %v", what, timeout)
			return
		}
	}
}

// Exports returns the export requests accepted so far, as decoded, in order of arrival.
func (rc *Receiver) Exports() []*collector.ExportTraceServiceRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]*collector.ExportTraceServiceRequest, len(rc.exports))
	for i, req := range rc.exports {
		out[i] = proto.Clone(req).(*collector.ExportTraceServiceRequest)
	}
	return out
}

// Spans returns the spans received so far, in order of arrival.
func (rc *Receiver) Spans() []Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.spans)
}

// Requests is how many export requests arrived, scripted answers included.
func (rc *Receiver) Requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests
}

// WaitFor waits until ok holds for the spans received, at most timeout (exports are asynchronous by
// design), and returns them; it fails the test past the timeout.
func (rc *Receiver) WaitFor(timeout time.Duration, what string, ok func([]Span) bool) []Span {
	rc.t.Helper()
	var spans []Span
	rc.Until(timeout, what, func() bool {
		spans = rc.Spans()
		return ok(spans)
	})
	return spans
}
