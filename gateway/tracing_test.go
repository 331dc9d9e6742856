package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap/zaptest"

	"github.com/frontgate/frontgate/internal/otlptest"
	"github.com/frontgate/frontgate/tracing"
)

// tracedUpstream answers 201 "ok" after reading the whole body, and keeps the trace fields of every
// request it got.
type tracedUpstream struct {
	URL string

	mu   sync.Mutex // guards seen
	seen []http.Header
}

func startTracedUpstream(t *testing.T) *tracedUpstream {
	u := &tracedUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, http.Header{"Traceparent": r.Header["Traceparent"], "Tracestate": r.Header["Tracestate"]})
		u.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *tracedUpstream) last(t *testing.T) http.Header {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.seen[len(u.seen)-1]
}

// startServer runs a Server with opts (Path, and Log unless given, filled in) on the config file
// yaml, written in dir; stop shuts it down (once; the test's end does it otherwise).
func startServer(t *testing.T, dir, yaml string, opts Options) (s *Server, base string, stop func()) {
	t.Helper()
	path, cfg := writeConfig(t, dir, yaml)
	opts.Path = path
	if opts.Log == nil {
		opts.Log = zaptest.NewLogger(t)
	}
	s = NewServer(opts)
	if err := s.Start(cfg); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := s.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return s, "http://" + s.Addr(), stop
}

// startTraced is startServer in a folder of its own, as version v1.2.3-test (the resource's).
func startTraced(t *testing.T, yaml string) (s *Server, base string, stop func()) {
	t.Helper()
	return startServer(t, t.TempDir(), yaml, Options{Version: "v1.2.3-test"})
}

// sendID is send returning the answer's status and X-Request-Id.
func sendID(t *testing.T, method, url, body string, fields map[string]string) (int, string) {
	t.Helper()
	resp, _ := send(t, method, url, body, fields)
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

func spansOfKind(spans []otlptest.Span, kind tracepb.Span_SpanKind) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range spans {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$`)

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

// A forwarded POST from a caller, traced with sample: 1. From a trusted caller the server span
// joins the caller's trace; from anyone else it starts a new one, and the caller's trace fields do
// not reach the upstream. Either way the upstream's traceparent names the client span, a child of the
// server span, and the spans have arrived when Shutdown returns.
func TestTracingForwardedRequest(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted string
	}{{"trusted caller", "[127.0.0.1]"}, {"untrusted caller", "[]"}} {
		t.Run(tt.name, func(t *testing.T) {
			rc := otlptest.Start(t)
			up := startTracedUpstream(t)
			_, base, stop := startTraced(t, fmt.Sprintf(`listen: 127.0.0.1:0
log: {access: false}
trusted_proxies: %s
tracing: {otlp_endpoint: %q, sample: 1, service_name: gw-test}
upstreams: {u: {targets: [%q]}}
routes:
  - {path: /orders, upstream: u, name: orders}
`, tt.trusted, rc.URL, up.URL))
			body := strings.Repeat("x", 256<<10)
			status, id := sendID(t, "POST", base+"/orders", body, map[string]string{
				"Traceparent": "00-" + callerTrace + "-" + callerSpan + "-01", "Tracestate": "vendor=caller", "User-Agent": "trace-test/1"})
			if status != 201 {
				t.Fatalf("POST /orders = %d", status)
			}
			stop() // flushes: every span is in by now, without waiting
			spans := rc.Spans()
			servers, clients := spansOfKind(spans, tracepb.Span_SPAN_KIND_SERVER), spansOfKind(spans, tracepb.Span_SPAN_KIND_CLIENT)
			if len(servers) != 1 || len(clients) != 1 || len(spans) != 2 {
				t.Fatalf("got %d spans (%d server, %d client), want one of each", len(spans), len(servers), len(clients))
			}
			srv, cl := servers[0], clients[0]

			trusted := tt.trusted != "[]"
			if trusted && (srv.TraceID != callerTrace || srv.ParentID != callerSpan || srv.TraceState != "vendor=caller") {
				t.Errorf("server span trace %s parent %q state %q, want the caller's %s, %s, vendor=caller", srv.TraceID, srv.ParentID, srv.TraceState, callerTrace, callerSpan)
			}
			if !trusted && (srv.TraceID == callerTrace || srv.ParentID != "" || srv.TraceState != "") {
				t.Errorf("server span trace %s parent %q state %q, want a new root", srv.TraceID, srv.ParentID, srv.TraceState)
			}
			if cl.TraceID != srv.TraceID || cl.ParentID != srv.SpanID {
				t.Errorf("client span trace %s parent %s, want trace %s parent %s (the server span)", cl.TraceID, cl.ParentID, srv.TraceID, srv.SpanID)
			}
			seen := up.last(t)
			wantParent := "00-" + srv.TraceID + "-" + cl.SpanID + "-01"
			if got := seen["Traceparent"]; len(got) != 1 || got[0] != wantParent {
				t.Errorf("the upstream got traceparent %q, want %q (the client span)", got, wantParent)
			}
			wantState := []string(nil)
			if trusted {
				wantState = []string{"vendor=caller"}
			}
			if got := seen["Tracestate"]; strings.Join(got, ",") != strings.Join(wantState, ",") {
				t.Errorf("the upstream got tracestate %q, want %q", got, wantState)
			}

			if srv.Name != "POST orders" {
				t.Errorf("server span name %q, want POST orders", srv.Name)
			}
			upURL, _ := url.Parse(up.URL)
			for _, a := range []struct {
				s         otlptest.Span
				key, want string
			}{
				{srv, "http.request.method", "POST"}, {srv, "url.path", "/orders"}, {srv, "url.scheme", "http"},
				{srv, "http.route", "orders"}, {srv, "http.response.status_code", "201"}, {srv, "server.address", "127.0.0.1"},
				{srv, "client.address", "127.0.0.1"}, {srv, "network.protocol.version", "1.1"},
				{srv, "user_agent.original", "trace-test/1"}, {srv, "frontgate.request_id", id},
				{cl, "http.request.method", "POST"}, {cl, "server.address", upURL.Hostname()}, {cl, "server.port", upURL.Port()},
				{cl, "http.response.status_code", "201"},
			} {
				if got := a.s.Attr(a.key); got != a.want || got == "" {
					t.Errorf("%s span %s = %q, want %q", a.s.Name, a.key, got, a.want)
				}
			}
			if srv.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR || cl.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("a 201 marked an error: server %v client %v", srv.Status, cl.Status)
			}
			if srv.Service != "gw-test" || srv.Resource["service.version"] != "v1.2.3-test" {
				t.Errorf("resource %v, want service gw-test version v1.2.3-test", srv.Resource)
			}

			// The events, in time order within the span: the body arrived whole before the upstream
			// (which reads it all) answered, and the response ended last.
			var names []string
			var last uint64
			for _, e := range srv.Events {
				names = append(names, e.Name)
				if e.TimeUnixNano < last || e.TimeUnixNano < srv.StartTimeUnixNano || e.TimeUnixNano > srv.EndTimeUnixNano {
					t.Errorf("event %q at %d is out of order or outside the span [%d, %d]", e.Name, e.TimeUnixNano, srv.StartTimeUnixNano, srv.EndTimeUnixNano)
				}
				last = e.TimeUnixNano
			}
			if want := []string{tracing.EventBodyReceived, tracing.EventUpstreamHeaders, tracing.EventResponseEnd}; strings.Join(names, "|") != strings.Join(want, "|") {
				t.Errorf("server span events %q, want %q", names, want)
			}
			if h := srv.Event(tracing.EventUpstreamHeaders); h != nil && h.TimeUnixNano < cl.StartTimeUnixNano {
				t.Errorf("upstream headers at %d, before the try started at %d", h.TimeUnixNano, cl.StartTimeUnixNano)
			}
		})
	}
}

// With sample: 0 a request without a caller's trace is not recorded: nothing is exported. The
// upstream still gets a traceparent, of a new trace and flagged not sampled, so that the services
// behind agree not to record it either.
func TestTracingSampleZero(t *testing.T) {
	rc := otlptest.Start(t)
	up := startTracedUpstream(t)
	_, base, stop := startTraced(t, fmt.Sprintf(`listen: 127.0.0.1:0
log: {access: false}
tracing: {otlp_endpoint: %q, sample: 0}
upstreams: {u: {targets: [%q]}}
routes:
  - {path: /a, upstream: u}
`, rc.URL, up.URL))
	if status, _ := sendID(t, "GET", base+"/a", "", nil); status != 201 {
		t.Fatalf("GET /a = %d", status)
	}
	stop()
	if n := rc.Requests(); n != 0 {
		t.Errorf("the collector got %d exports (%d spans), want none", n, len(rc.Spans()))
	}
	got := up.last(t)["Traceparent"]
	if len(got) != 1 || !traceparentRE.MatchString(got[0]) || traceparentRE.FindStringSubmatch(got[0])[3] != "00" {
		t.Errorf("the upstream got traceparent %q, want one with the sampled flag off", got)
	}
}

// A try that cannot connect is retried on the next target: two client spans, children of the one
// server span, the first an error, the second the answer; the upstream sees the second's id.
func TestTracingRetries(t *testing.T) {
	rc := otlptest.Start(t)
	up := startTracedUpstream(t)
	dead := "http://" + e2e.RefusedAddr(t)
	_, base, _ := startTraced(t, fmt.Sprintf(`listen: 127.0.0.1:0
log: {access: false}
tracing: {otlp_endpoint: %q}
upstreams: {u: {targets: [%q, %q]}}
routes:
  - {path: /r, upstream: u, retries: 1, name: retried}
`, rc.URL, dead, up.URL))
	if status, _ := sendID(t, "GET", base+"/r", "", nil); status != 201 {
		t.Fatalf("GET /r = %d", status)
	}
	// Not shut down: the batch goes out on its own schedule (sdk's default, 5s), which is waited for.
	spans := rc.WaitFor(30*time.Second, "three spans", func(s []otlptest.Span) bool { return len(s) >= 3 })
	servers, clients := spansOfKind(spans, tracepb.Span_SPAN_KIND_SERVER), spansOfKind(spans, tracepb.Span_SPAN_KIND_CLIENT)
	if len(servers) != 1 || len(clients) != 2 {
		t.Fatalf("got %d server and %d client spans, want 1 and 2", len(servers), len(clients))
	}
	if clients[0].StartTimeUnixNano > clients[1].StartTimeUnixNano {
		clients[0], clients[1] = clients[1], clients[0]
	}
	failed, served := clients[0], clients[1]
	for _, c := range clients {
		if c.ParentID != servers[0].SpanID || c.TraceID != servers[0].TraceID {
			t.Errorf("client span %s: parent %s trace %s, want the server span %s", c.SpanID, c.ParentID, c.TraceID, servers[0].SpanID)
		}
	}
	deadURL, _ := url.Parse(dead)
	if failed.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || failed.Attr("error.type") != "connection_refused" ||
		failed.Attr("server.port") != deadURL.Port() || failed.Attr("http.response.status_code") != "" || failed.Event("exception") == nil {
		t.Errorf("first try: status %v error.type %q port %q, want an error at the dead target's port %s with an exception event",
			failed.Status, failed.Attr("error.type"), failed.Attr("server.port"), deadURL.Port())
	}
	if served.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR || served.Attr("http.response.status_code") != "201" {
		t.Errorf("second try: status %v code %q, want 201 without error", served.Status, served.Attr("http.response.status_code"))
	}
	if got := up.last(t)["Traceparent"]; len(got) != 1 || got[0] != "00-"+served.TraceID+"-"+served.SpanID+"-01" {
		t.Errorf("the upstream got traceparent %q, want the second try's span %s", got, served.SpanID)
	}
	if servers[0].Attr("http.route") != "retried" || servers[0].Name != "GET retried" {
		t.Errorf("server span %q route %q", servers[0].Name, servers[0].Attr("http.route"))
	}
}

// A 5xx makes the server span an error, a 4xx does not; a request no route matched is named by its
// method alone.
func TestTracingStatus(t *testing.T) {
	rc := otlptest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	_, base, stop := startTraced(t, fmt.Sprintf(`listen: 127.0.0.1:0
log: {access: false}
tracing: {otlp_endpoint: %q}
upstreams: {down: {targets: [%q]}}
routes:
  - {path: /down, upstream: down, name: down}
`, rc.URL, dead))
	if status, _ := sendID(t, "GET", base+"/down", "", nil); status != 502 {
		t.Fatalf("GET /down = %d, want 502", status)
	}
	if status, _ := sendID(t, "GET", base+"/nowhere", "", nil); status != 404 {
		t.Fatalf("GET /nowhere = %d, want 404", status)
	}
	stop()
	byName := map[string]otlptest.Span{}
	for _, s := range spansOfKind(rc.Spans(), tracepb.Span_SPAN_KIND_SERVER) {
		byName[s.Name] = s
	}
	down, ok := byName["GET down"]
	if !ok || down.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || down.Attr("http.response.status_code") != "502" || down.Attr("error.type") != "502" {
		t.Errorf("GET /down: span %+v, want an error with status 502", down.Span)
	}
	if down.Event(tracing.EventUpstreamHeaders) != nil || down.Event(tracing.EventBodyReceived) != nil || down.Event(tracing.EventResponseEnd) == nil {
		t.Errorf("GET /down: events %v, want only the response's end", down.Events)
	}
	nowhere, ok := byName["GET"]
	if !ok || nowhere.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR || nowhere.Attr("http.response.status_code") != "404" || nowhere.Attr("http.route") != "" {
		t.Errorf("GET /nowhere: span %+v, want GET, 404, no route, no error", nowhere.Span)
	}
}

// A reload that leaves tracing alone keeps the provider; one that changes it swaps in a new one, and
// the old one's spans still arrive, flushed once the generations built with it have closed.
func TestTracingReload(t *testing.T) {
	rc := otlptest.Start(t)
	up := startTracedUpstream(t)
	write := func(path, service, extra string) {
		t.Helper()
		yaml := fmt.Sprintf("listen: 127.0.0.1:0\nlog: {access: false}\ntracing: {otlp_endpoint: %q, service_name: %s}\n"+
			"upstreams: {u: {targets: [%q]}}\nroutes:\n  - {path: /a, upstream: u}\n%s", rc.URL, service, up.URL, extra)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(filepath.Join(dir, "first.yaml"), "first", "")
	data, _ := os.ReadFile(filepath.Join(dir, "first.yaml"))
	s, base, stop := startTraced(t, string(data))
	path := s.opts.Path
	first := s.tracer
	sendID(t, "GET", base+"/a", "", nil)

	write(path, "first", "  - {path: /b, upstream: u}\n")
	s.Reload("test")
	if s.tracer != first {
		t.Fatal("a reload that left tracing alone made a new provider")
	}
	write(path, "second", "")
	s.Reload("test")
	if s.tracer == first || s.tracer == nil {
		t.Fatal("a reload that changed tracing kept the provider")
	}
	sendID(t, "GET", base+"/a", "", nil)
	// The first provider is shut down in the background, after its generations drained.
	rc.WaitFor(10*time.Second, "the first provider's span", func(spans []otlptest.Span) bool {
		for _, sp := range spans {
			if sp.Service == "first" {
				return true
			}
		}
		return false
	})
	stop()
	services := map[string]int{}
	for _, sp := range spansOfKind(rc.Spans(), tracepb.Span_SPAN_KIND_SERVER) {
		services[sp.Service]++
	}
	if services["first"] != 1 || services["second"] != 1 {
		t.Errorf("server spans by service %v, want one each of first and second", services)
	}
}
