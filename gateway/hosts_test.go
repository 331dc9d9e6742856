package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
)

// named upstreams answer "<name> <path>".
func namedUpstream(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// buildServed builds yaml (with its folder holding a site/ folder with index.html) and serves it on a
// real listener; it returns the base URL and the access log.
func buildServed(t *testing.T, yaml string) (string, *observer.ObservedLogs) {
	return buildObserved(t, yaml, nil)
}

// buildObserved is buildServed reporting to metrics (nil: none).
func buildObserved(t *testing.T, yaml string, metrics Observer) (string, *observer.ObservedLogs) {
	t.Helper()
	base, access, _ := buildLogged(t, yaml, metrics)
	return base, access
}

// buildLogged is buildObserved also returning the gateway's own log lines, debug level included
// (they go to the test's log as well).
func buildLogged(t *testing.T, yaml string, metrics Observer) (base string, access, log *observer.ObservedLogs) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("docs home"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(yaml), "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	logCore, log := observer.New(zap.DebugLevel)
	gwLog := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), logCore))
	gw, err := Build(cfg, Deps{Log: gwLog, Access: zap.New(core), Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		_ = gw.Close(context.Background())
	})
	return srv.URL, logs, log
}

// do sends method path with the Host header host and returns the status and body (with Allow and
// Location when set).
func do(t *testing.T, base, method, host, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, body := roundTrip(t, req)
	return resp.StatusCode, body, resp.Header
}

// roundTrip sends req with Go's client, not following redirects, and reads the answer's body.
func roundTrip(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHostRouting(t *testing.T) {
	api, web, other := namedUpstream(t, "api"), namedUpstream(t, "web"), namedUpstream(t, "other")
	metrics := admin.NewMetrics()
	base, logs := buildObserved(t, fmt.Sprintf(`
upstreams:
  api: {targets: [%q]}
  web: {targets: [%q]}
  other: {targets: [%q]}
routes:
  - {hosts: [api.example.com], path_prefix: /, upstream: api, name: api}
  - {hosts: ["*.example.com", example.com], path_prefix: /, upstream: web, name: web}
  - {path_prefix: /any/, upstream: other, name: other}
  - {hosts: [API.example.com], path: /only-post, methods: [POST], upstream: api, name: post}
static:
  - {hosts: [docs.example.com], prefix: /, path: site}
`, api, web, other), metrics)
	tests := []struct {
		host, path string
		status     int
		body       string
	}{
		{"api.example.com", "/x", 200, "api /x"},
		{"API.Example.com:8080", "/x", 200, "api /x"},
		{"api.example.com.", "/x", 200, "api /x"},
		{"www.example.com", "/x", 200, "web /x"},
		{"example.com", "/y", 200, "web /y"},
		{"a.b.example.com", "/x", 404, ""},                 // the wildcard is one label; nothing else matches /x
		{"a.b.example.com", "/any/x", 200, "other /any/x"}, // the host-less routes still serve it
		{"unknown.org", "/x", 404, ""},
		{"unknown.org", "/any/x", 200, "other /any/x"},
		{"docs.example.com", "/", 200, "docs home"},
		{"docs.example.com", "/any/x", 404, ""},          // its own mount / comes before the host-less routes
		{"www.example.com", "/any/x", 200, "web /any/x"}, // so does its wildcard's route
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			status, body, _ := do(t, base, "GET", tt.host, tt.path)
			if status != tt.status || (tt.body != "" && body != tt.body) {
				t.Errorf("Host %s GET %s = %d %q, want %d %q", tt.host, tt.path, status, body, tt.status, tt.body)
			}
		})
	}
	// The access log names the host pattern that routed each request.
	hosts := map[string]bool{}
	for _, e := range logs.All() {
		if h, ok := e.ContextMap()["host"].(string); ok {
			hosts[h] = true
		}
	}
	for _, want := range []string{"api.example.com", "*.example.com", "example.com", "docs.example.com"} {
		if !hosts[want] {
			t.Errorf("no access line with host %q (saw %v)", want, hosts)
		}
	}
	// So do the metrics: 3 requests routed by api.example.com, none by a host-less route.
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	_, exposition, _ := do(t, srv.URL, "GET", "x", "/metrics")
	for _, want := range []string{`frontgate_host_requests_total{host="api.example.com",status="200"} 3`,
		`frontgate_host_requests_total{host="*.example.com",status="200"} 2`} {
		if !strings.Contains(exposition, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(exposition, `host=""`) {
		t.Error("/metrics counts requests of host-less routes under an empty host")
	}
}

// A route's path belongs to it: a method it does not allow gets 405 with Allow, not whatever a later
// entry (here the static mount at /) would answer.
func TestMethodNotAllowedHasAllow(t *testing.T) {
	api := namedUpstream(t, "api")
	base, _ := buildServed(t, fmt.Sprintf(`
upstreams: {api: {targets: [%q]}}
routes:
  - {path: /submit, methods: [POST], upstream: api}
  - {path: /submit, methods: [PUT, POST], upstream: api}
  - {path_prefix: /items/, methods: [GET], upstream: api}
static:
  - {prefix: /, path: site}
`, api))
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/submit", 200, ""},
		{"PUT", "/submit", 200, ""},
		{"GET", "/submit", 405, "POST, PUT"},
		{"DELETE", "/items/3", 405, "GET"},
		{"GET", "/items/3", 200, ""},
		{"GET", "/index.html", 200, ""},
	} {
		status, _, h := do(t, base, tt.method, "x", tt.path)
		if status != tt.status || h.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d Allow %q, want %d %q", tt.method, tt.path, status, h.Get("Allow"), tt.status, tt.allow)
		}
	}
}

// path_prefix: /b matches /b and /b/x, never /bxyz; a static mount's prefix without its slash
// redirects to it.
func TestPrefixBoundaryAndMountRedirect(t *testing.T) {
	api := namedUpstream(t, "api")
	base, _ := buildServed(t, fmt.Sprintf(`
upstreams: {api: {targets: [%q]}}
routes:
  - {path_prefix: /b, upstream: api}
static:
  - {prefix: /files/, path: site}
`, api))
	for _, tt := range []struct {
		path     string
		status   int
		body     string
		location string
	}{
		{"/b", 200, "api /b", ""},
		{"/b/x", 200, "api /b/x", ""},
		{"/bxyz", 404, "", ""},
		{"/files", 301, "", "/files/"},
		{"/files?v=1", 301, "", "/files/?v=1"},
		{"/files/", 200, "docs home", ""},
	} {
		status, body, h := do(t, base, "GET", "x", tt.path)
		if status != tt.status || (tt.body != "" && body != tt.body) || h.Get("Location") != tt.location {
			t.Errorf("GET %s = %d %q Location %q, want %d %q %q", tt.path, status, body, h.Get("Location"), tt.status, tt.body, tt.location)
		}
	}
}

// curl, another client, sends the host through --resolve, as an operator tries a virtual host.
func TestHostRoutingWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test needs curl: apt-get install -y curl")
	}
	api, web := namedUpstream(t, "api"), namedUpstream(t, "web")
	base, _ := buildServed(t, fmt.Sprintf(`
upstreams: {api: {targets: [%q]}, web: {targets: [%q]}}
routes:
  - {hosts: [api.example.com], path_prefix: /, upstream: api}
  - {hosts: ["*.example.com"], path_prefix: /, upstream: web}
`, api, web))
	port := base[strings.LastIndexByte(base, ':')+1:]
	for host, want := range map[string]string{"api.example.com": "api /hello", "shop.example.com": "web /hello"} {
		out, err := exec.Command("curl", "-sS", "--resolve", host+":"+port+":127.0.0.1", "http://"+host+":"+port+"/hello").CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("curl %s: %q %v, want %q", host, out, err, want)
		}
	}
}
