package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// get requests path from srv with method and returns status, headers and body.
func do(t *testing.T, srv *httptest.Server, method, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestHealthz(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()
	code, h, body := do(t, srv, http.MethodGet, "/healthz")
	if code != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	code, _, body = do(t, srv, http.MethodHead, "/healthz")
	if code != http.StatusOK || body != "" {
		t.Fatalf("HEAD /healthz = %d %q, want 200 and no body", code, body)
	}
}

func TestReadyzFlips(t *testing.T) {
	var notReady atomic.Pointer[error]
	srv := httptest.NewServer(Handler(Options{Ready: func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}}))
	defer srv.Close()

	if code, _, body := do(t, srv, http.MethodGet, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("ready: GET /readyz = %d %q, want 200 \"ready\\n\"", code, body)
	}
	err := errors.New("pool api: no healthy target")
	notReady.Store(&err)
	if code, _, body := do(t, srv, http.MethodGet, "/readyz"); code != http.StatusServiceUnavailable || body != err.Error()+"\n" {
		t.Fatalf("not ready: GET /readyz = %d %q, want 503 %q", code, body, err.Error()+"\n")
	}
	notReady.Store(nil)
	if code, _, _ := do(t, srv, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Fatalf("ready again: GET /readyz = %d, want 200", code)
	}
}

func TestReadyzNilIsReady(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()
	if code, _, _ := do(t, srv, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz with nil Ready = %d, want 200", code)
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Metrics: NewMetrics(), Config: func() any { return map[string]any{} }}))
	defer srv.Close()
	for _, path := range []string{"/", "/healthz", "/readyz", "/metrics", "/config", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			code, h, _ := do(t, srv, method, path)
			if code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, path, code)
			}
			if allow := h.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
				t.Errorf("%s %s: Allow = %q, want GET and HEAD", method, path, allow)
			}
		}
	}
	for _, path := range []string{"/nope", "/healthz/x", "/metricsx", "/debug/"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if code, _, _ := do(t, srv, method, path); code != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404", method, path, code)
			}
		}
	}
	// Below /debug/pprof/ pprof itself answers unknown profile names (a POST there is a 405 first).
	if code, _, _ := do(t, srv, http.MethodGet, "/debug/pprof/nosuchprofile"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/nosuchprofile = %d, want 404", code)
	}
}

// The admin root lists the endpoints there are.
func TestIndex(t *testing.T) {
	for _, tt := range []struct {
		opts      Options
		want, not []string
	}{
		{Options{Metrics: NewMetrics(), Config: func() any { return nil }}, []string{"/healthz", "/readyz", "/metrics", "/config", "/debug/pprof/"}, nil},
		{Options{}, []string{"/healthz", "/readyz", "/debug/pprof/"}, []string{"/metrics", "/config"}},
	} {
		srv := httptest.NewServer(Handler(tt.opts))
		code, _, body := do(t, srv, http.MethodGet, "/")
		srv.Close()
		if code != http.StatusOK {
			t.Errorf("GET / = %d", code)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("index lacks %s:\n%s", w, body)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(body, n) {
				t.Errorf("index lists %s, which is not served:\n%s", n, body)
			}
		}
	}
}

func TestNilMetricsAndConfigAre404(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()
	for _, path := range []string{"/metrics", "/config"} {
		if code, _, _ := do(t, srv, http.MethodGet, path); code != http.StatusNotFound {
			t.Errorf("GET %s with nil option = %d, want 404", path, code)
		}
	}
}

type testTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type testUpstream struct {
	URL      string        `yaml:"url"`
	Timeout  time.Duration `yaml:"timeout"`
	Password string        `yaml:"password"`
	Weight   int           `yaml:"weight"`
}

type testConfig struct {
	Listen    string                  `yaml:"listen"`
	TLS       *testTLS                `yaml:"tls"`
	Upstreams map[string]testUpstream `yaml:"upstreams"`
	Auth      struct {
		Users  []string `yaml:"users"`
		Bearer string   `yaml:"bearer" redact:"true"`
	} `yaml:"auth"`
	Dir string `yaml:"-"`
}

func TestConfigIsRedactedJSON(t *testing.T) {
	cfg := testConfig{
		Listen: ":8443",
		TLS:    &testTLS{Cert: "/etc/fg/cert.pem", Key: "/etc/fg/key.pem"},
		Upstreams: map[string]testUpstream{
			"api": {URL: "http://10.0.0.1:9000", Timeout: 5 * time.Second, Password: "hunter2", Weight: 3},
		},
		Dir: "/etc/fg",
	}
	cfg.Auth.Users = []string{"alice", "bob"}
	cfg.Auth.Bearer = "s3cr3t-bearer"
	srv := httptest.NewServer(Handler(Options{Config: func() any { return Redact(cfg) }}))
	defer srv.Close()

	code, h, body := do(t, srv, http.MethodGet, "/config")
	if code != http.StatusOK {
		t.Fatalf("GET /config = %d %q, want 200", code, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	for _, secret := range []string{"hunter2", "s3cr3t-bearer", "/etc/fg/key.pem", "/etc/fg\""} {
		if strings.Contains(body, secret) {
			t.Errorf("/config leaks %q:\n%s", secret, body)
		}
	}
	var got any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("/config is not JSON: %v\n%s", err, body)
	}
	want := map[string]any{
		"listen": ":8443",
		"tls":    map[string]any{"cert": "/etc/fg/cert.pem", "key": Redacted},
		"upstreams": map[string]any{
			"api": map[string]any{"url": "http://10.0.0.1:9000", "timeout": "5s", "password": Redacted, "weight": 3.0},
		},
		"auth": map[string]any{"users": []any{"alice", "bob"}, "bearer": Redacted},
	}
	if !jsonEqual(got, want) {
		t.Fatalf("/config =\n%s\nwant the equivalent of %#v", body, want)
	}
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func TestConfigEncodeErrorIs500AndLogged(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	srv := httptest.NewServer(Handler(Options{
		Config: func() any { return map[string]any{"bad": func() {}} },
		Logger: zap.New(core),
	}))
	defer srv.Close()
	if code, _, _ := do(t, srv, http.MethodGet, "/config"); code != http.StatusInternalServerError {
		t.Fatalf("GET /config with an unencodable value = %d, want 500", code)
	}
	if logs.FilterMessage("encoding config").Len() != 1 {
		t.Fatalf("logged %v, want one \"encoding config\" error", logs.All())
	}
}

func TestPprof(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()

	code, _, body := do(t, srv, http.MethodGet, "/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("GET /debug/pprof/ = %d, body without profile list:\n%.300s", code, body)
	}
	code, _, body = do(t, srv, http.MethodGet, "/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("GET /debug/pprof/goroutine?debug=1 = %d %.200q", code, body)
	}
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/allocs", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/trace?seconds=0.05"} {
		if code, _, body := do(t, srv, http.MethodGet, path); code != http.StatusOK || body == "" {
			t.Errorf("GET %s = %d with %d bytes, want 200 and a body", path, code, len(body))
		}
	}
	// A CPU profile is gzipped protobuf: a non-empty body starting with the gzip magic.
	code, h, body := do(t, srv, http.MethodGet, "/debug/pprof/profile?seconds=1")
	if code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/profile?seconds=1 = %d %q", code, body)
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile: %d bytes (Content-Type %q), want a gzipped profile", len(body), h.Get("Content-Type"))
	}
}
