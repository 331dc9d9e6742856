package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"

	"go.uber.org/zap/zaptest"
)

// upstream is a real listener that reports what it received.
func newUpstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Keep-Alive", "timeout=5") // hop-by-hop: must not reach the client
		_ = json.NewEncoder(w).Encode(map[string]any{
			"name": name, "path": r.URL.Path, "raw_path": r.URL.RawPath, "query": r.URL.RawQuery, "host": r.Host,
			"xff": r.Header.Values("X-Forwarded-For"), "xfh": r.Header.Get("X-Forwarded-Host"),
			"xfp": r.Header.Get("X-Forwarded-Proto"), "connection_hdr": r.Header.Get("X-Hop"),
			"body": string(body), "request_id": r.Header.Get("X-Request-Id"),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func specs(urls ...string) []TargetSpec {
	var out []TargetSpec
	for _, u := range urls {
		out = append(out, TargetSpec{URL: u})
	}
	return out
}

func newFront(t *testing.T, targets []string, opts Options) *httptest.Server {
	t.Helper()
	return newFrontPool(t, newPool(t, specs(targets...), PoolOptions{}), opts)
}

func newPool(t *testing.T, targets []TargetSpec, opts PoolOptions) *Pool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	pool, err := NewPool(targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start()
	t.Cleanup(pool.Close)
	return pool
}

func newFrontPool(t *testing.T, pool *Pool, opts Options) *httptest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	front := httptest.NewServer(New(pool, opts))
	t.Cleanup(front.Close)
	return front
}

func getJSON(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return resp, m
}

func TestRoundRobinAcrossRealUpstreams(t *testing.T) {
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	front := newFront(t, []string{a.URL, b.URL, c.URL}, Options{})
	counts := map[string]int{}
	for i := 0; i < 30; i++ {
		req, _ := http.NewRequest("GET", front.URL+"/x", nil)
		_, m := getJSON(t, req)
		counts[m["name"].(string)]++
	}
	if counts["a"] != 10 || counts["b"] != 10 || counts["c"] != 10 {
		t.Errorf("distribution %v, want 10 each", counts)
	}
}

func TestRewrite(t *testing.T) {
	up := newUpstream(t, "u")
	tests := []struct {
		name      string
		target    string
		strip     string
		path      string
		wantPath  string
		wantQuery string
	}{
		{"unchanged", up.URL, "", "/api/users?id=7", "/api/users", "id=7"},
		{"strip prefix", up.URL, "/api/", "/api/users?id=7", "/users", "id=7"},
		{"strip to root", up.URL, "/api/", "/api/", "/", ""},
		{"target base path", up.URL + "/base", "/api/", "/api/users", "/base/users", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front := newFront(t, []string{tt.target}, Options{StripPrefix: tt.strip})
			req, _ := http.NewRequest("GET", front.URL+tt.path, nil)
			req.Header.Set("X-Forwarded-For", "6.6.6.6") // not trusted: replaced
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("Connection", "X-Hop")
			req.Header.Set("X-Hop", "must be stripped")
			resp, m := getJSON(t, req)
			if m["path"] != tt.wantPath || m["query"] != tt.wantQuery {
				t.Errorf("upstream saw path %v query %v, want %s %s", m["path"], m["query"], tt.wantPath, tt.wantQuery)
			}
			xff := fmt.Sprint(m["xff"])
			if xff != "[127.0.0.1]" {
				t.Errorf("X-Forwarded-For = %s, want only the real client [127.0.0.1]", xff)
			}
			frontHost := strings.TrimPrefix(front.URL, "http://")
			if m["xfh"] != frontHost || m["xfp"] != "http" {
				t.Errorf("X-Forwarded-Host %v Proto %v, want %s http", m["xfh"], m["xfp"], frontHost)
			}
			if m["host"] != strings.TrimPrefix(up.URL, "http://") {
				t.Errorf("Host %v, want the upstream's", m["host"])
			}
			if m["connection_hdr"] != "" {
				t.Errorf("hop-by-hop header named in Connection reached the upstream: %v", m["connection_hdr"])
			}
			if resp.Header.Get("Keep-Alive") != "" {
				t.Errorf("upstream's Keep-Alive reached the client")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	refused := "http://" + e2e.RefusedAddr(t)

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	reset := newResetServer(t)

	tests := []struct {
		name   string
		target string
		status int
	}{
		{"refused", refused, http.StatusBadGateway},
		{"reset", reset, http.StatusBadGateway},
		{"header timeout", slow.URL, http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var observed []string
			var mu sync.Mutex
			front := newFront(t, []string{tt.target}, Options{
				ResponseHeaderTimeout: 200 * time.Millisecond,
				Observe: func(r *http.Request, target string, d time.Duration) {
					mu.Lock()
					observed = append(observed, target)
					mu.Unlock()
				},
			})
			req, _ := http.NewRequest("GET", front.URL+"/x", nil)
			req.Header.Set("X-Request-Id", "rid-42")
			resp, m := getJSON(t, req)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if m["request_id"] != "rid-42" || m["status"] != float64(tt.status) || len(m) != 3 {
				t.Errorf("error body %v, want only error, status and request_id", m)
			}
			if s := fmt.Sprint(m["error"]); strings.Contains(s, "127.0.0.1") || strings.Contains(s, "dial") {
				t.Errorf("internal error text leaked: %q", s)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(observed) != 1 || observed[0] != tt.target {
				t.Errorf("observed %v, want [%s]", observed, tt.target)
			}
		})
	}
}

// newResetServer accepts connections, reads the request and resets the connection (RST, no answer).
func newResetServer(t *testing.T) string {
	url, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		_, _ = br.Peek(1)                 // one read of the request, as it comes
		_ = c.(*net.TCPConn).SetLinger(0) // the close that follows sends RST
	})
	return url
}

// A client that goes away cancels the upstream request at once.
func TestClientAbortCancelsUpstream(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(cancelled)
	}))
	defer up.Close()
	front := newFront(t, []string{up.URL}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request was not cancelled after the client left")
	}
	if err := <-errc; err == nil {
		t.Error("client request should have failed")
	}
}

// The request body is streamed: the upstream sees its first bytes before the client has sent the rest.
func TestRequestBodyIsStreamed(t *testing.T) {
	firstByte := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			t.Error(err)
			return
		}
		close(firstByte)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n+1)
	}))
	defer up.Close()
	front := newFront(t, []string{up.URL}, Options{})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", front.URL+"/upload", pr)
	req.ContentLength = 2 << 20
	done := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	if _, err := pw.Write(make([]byte, 1<<20)); err != nil { // half the body
		t.Fatal(err)
	}
	select {
	case <-firstByte: // arrived while the client still holds back half the body
	case <-time.After(10 * time.Second):
		t.Fatal("upstream saw nothing while the client was still sending: body buffered?")
	}
	_, _ = pw.Write(make([]byte, 1<<20))
	pw.Close()
	if got := <-done; got != fmt.Sprint(2<<20) {
		t.Errorf("upstream counted %s bytes", got)
	}
}

func TestNewPoolRejectsBadTargets(t *testing.T) {
	for _, targets := range [][]string{nil, {"ftp://x:1"}, {"http://"}, {"::"}} {
		if _, err := NewPool(specs(targets...), PoolOptions{}); err == nil {
			t.Errorf("NewPool(%q) succeeded", targets)
		}
	}
}
