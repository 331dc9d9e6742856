package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// The embedded default, built in-process and served on a real listener: the demo routes, the static
// site, /demo2 through the built-in echo upstream, and the router's own errors in the one JSON shape.
func TestBuildEmbeddedDefault(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := Build(cfg, Deps{Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		if err := gw.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if _, body := get(t, srv.URL+"/"); body != "Hello, world" {
		t.Errorf("GET / = %q", body)
	}
	resp, err := http.Post(srv.URL+"/demo2", "application/x-www-form-urlencoded", strings.NewReader("image_id=2"))
	if err != nil {
		t.Fatal(err)
	}
	var echoed struct {
		Method string              `json:"method"`
		Form   map[string][]string `json:"form"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&echoed); err != nil || resp.StatusCode != 200 || echoed.Method != "POST" || echoed.Form["image_id"][0] != "2" {
		t.Errorf("POST /demo2 through echo: %d %+v %v", resp.StatusCode, echoed, err)
	}
	resp.Body.Close()
	if resp, _ := get(t, srv.URL+"/css/base.css"); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("GET /css/base.css = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "/nowhere", 404}, {"DELETE", "/", 405}} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body map[string]any
		err = json.Unmarshal(raw, &body)
		id := resp.Header.Get("X-Request-Id")
		if err != nil || resp.StatusCode != tt.status || body["status"] != float64(tt.status) || id == "" || body["request_id"] != id {
			t.Errorf("%s %s = %d %q (id %q), want %d in the JSON error shape", tt.method, tt.path, resp.StatusCode, raw, id, tt.status)
		}
	}
}

// A reload swaps in a new generation without a restart; a bad file is refused and the running
// config keeps serving.
func TestServerReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream saw "+r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("listen: 127.0.0.1:0\nlog: {access: false}\ndemo: true\n")
	cfg, err := LoadConfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	metrics := admin.NewMetrics()
	s := NewServer(Options{Path: path, Log: zaptest.NewLogger(t), Metrics: metrics})
	if err := s.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	base := "http://" + s.Addr()
	if resp, _ := get(t, base+"/api/x"); resp.StatusCode != 404 {
		t.Fatalf("before reload: %d", resp.StatusCode)
	}
	if _, body := get(t, base+"/"); body != "Hello, world" { // counted under the demo route hello
		t.Fatalf("before reload: GET / = %q", body)
	}

	write("listen: 127.0.0.1:0\nlog: {access: false}\nupstreams:\n  u: {targets: [\"" + upstream.URL + "\"]}\nroutes:\n  - {path_prefix: /api/, upstream: u}\n")
	s.Reload("test")
	if _, body := get(t, base+"/api/x"); body != "upstream saw /api/x" {
		t.Errorf("after reload: %q", body)
	}
	if resp, _ := get(t, base+"/"); resp.StatusCode != 404 {
		t.Errorf("demo routes still served after reload: %d", resp.StatusCode)
	}

	write("listen: 127.0.0.1:0\nroutes:\n  - {path: /a, upstream: missing}\n")
	s.Reload("test")
	if _, body := get(t, base+"/api/y"); body != "upstream saw /api/y" {
		t.Errorf("a bad config replaced the running one: %q", body)
	}

	// The metrics count two reloads (one refused), not the load at start; the demo route the first
	// reload removed has no series left once its generation has drained.
	scrape := func() string {
		srv := httptest.NewServer(metrics.Handler())
		defer srv.Close()
		_, body := get(t, srv.URL)
		return body
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(scrape(), `route="hello"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the retired generation closes in the background
	}
	exposition := scrape()
	for _, want := range []string{`frontgate_config_reloads_total{result="ok"} 1`, `frontgate_config_reloads_total{result="error"} 1`,
		`frontgate_requests_total{route="/api/",status="200"} 2`} {
		if !strings.Contains(exposition, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(exposition, `route="hello"`) {
		t.Error("/metrics still has series of the removed demo route")
	}
}

// A request running on the old generation finishes there; the old generation's resources close
// only after it.
func TestGenerationsDrain(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	oldGW := &Gateway{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "old")
	})}
	newGW := &Gateway{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") })}
	var gens generations
	old := newGeneration(oldGW)
	gens.current.Store(old)
	srv := httptest.NewServer(&gens)
	t.Cleanup(srv.Close)

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-entered
	gens.current.Swap(newGeneration(newGW))
	old.retire()
	if _, body := get(t, srv.URL); body != "new" {
		t.Errorf("a request after the swap got %q", body)
	}
	select {
	case <-old.drained:
		t.Fatal("the old generation drained with a request still on it")
	default:
	}
	close(release)
	if got := <-slow; got != "old" {
		t.Errorf("the running request got %q, want it to finish on the old generation", got)
	}
	select {
	case <-old.drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the old generation never drained")
	}
}
