package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/frontgate/frontgate/internal/e2e"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/loadgen"
)

// selfFunc starts the gateway for self mode, as startSelf does.
type selfFunc = func(path string) (baseURL string, cfg *config.Config, stop func(), err error)

// runSelftestWith runs the selftest command in-process with self as its self mode (nil: none).
func runSelftestWith(t *testing.T, self selfFunc, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = selftest(context.Background(), args, &out, &errOut, self)
	return code, out.String(), errOut.String()
}

// countingServer serves "ok" to every request and counts them.
func countingServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &served
}

func TestSelftestFailOnExitCode(t *testing.T) {
	url, _ := countingServer(t)
	closed := "http://" + e2e.RefusedAddr(t) + "/"
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"-n", "20", "-c", "2", "-fail-on", "errors>1%", url}, 0},
		{[]string{"-n", "20", "-c", "2", "-fail-on", "requests>=20", url}, 1},
		{[]string{"-n", "20", "-c", "2", "-fail-on", "p99>1h", url}, 0},
		{[]string{"-n", "20", "-c", "2", "-fail-on", "errors>1%", closed}, 1},
		{[]string{"-n", "20", "-c", "2", "-fail-on", "errors>", url}, 2},
		{[]string{"-n", "20", "-c", "2", closed}, 1}, // nothing answered: the run could not start
	} {
		code, _, stderr := runSelftestWith(t, nil, tt.args...)
		if code != tt.code {
			t.Errorf("selftest(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr)
		}
		if code == 1 && !strings.Contains(stderr, "holds") && !strings.Contains(stderr, "refused=20") {
			t.Errorf("selftest(%q): stderr does not say which condition held:\n%s", tt.args, stderr)
		}
	}
}

func TestSelftestUsage(t *testing.T) {
	url, served := countingServer(t)
	for _, args := range [][]string{
		{},                     // no URL, no self mode
		{"-c", "0", url},       // bad -c
		{"-o", "xml", url},     // bad -o
		{"-n", "0", url},       // bad -n
		{"-d", "-1s", url},     // bad -d
		{"-rounds", "0", url},  // bad -rounds
		{"-bogus", url},        // unknown flag
		{url, url},             // two URLs
		{"-H", "NoColon", url}, // bad header
		{"-body", "x", "-F", "a=b", url},
		{"-rate", "1:2", url},                // a ramp without -d
		{"-stages", "1s:x", url},             // bad stage
		{"-stages", "1s:5", "-d", "1s", url}, // -stages with -d
	} {
		if code, _, stderr := runSelftestWith(t, nil, args...); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("selftest(%q) = %d, want 2 with usage; stderr:\n%s", args, code, stderr)
		}
	}
	if served.Load() != 0 {
		t.Errorf("usage errors sent %d requests", served.Load())
	}
	// Flags after the URL are parsed too.
	if code, out, stderr := runSelftestWith(t, nil, url, "-n", "3", "-c", "1"); code != 0 || !strings.Contains(out, "3 completed") {
		t.Errorf("selftest(URL -n 3) = %d:\n%s%s", code, out, stderr)
	}
}

func TestSelftestTextReport(t *testing.T) {
	url, _ := countingServer(t)
	code, out, stderr := runSelftestWith(t, nil, "-n", "30", "-c", "3", "-rounds", "2", "-hist", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"round 1 of 2", "round 2 of 2", "== total ==", "60 completed, 0 failed",
		"Total time:", "p99.9", "Requests/s:", "Sent:", "Received:", "Payload:", "MB in all", "Throughput:", "MB/s", "MB = 10^6 bytes", "Status:       200=60", "Errors:       none",
		"Latency histogram:", "#"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if stderr != "" {
		t.Errorf("stderr is not a terminal but got %q", stderr)
	}
}

// jsonKeys are the documented keys of every JSONResult.
var jsonKeys = []string{"requests", "errors", "duration_s", "rps", "latency_ms", "bytes_sent", "bytes_received",
	"body_bytes_sent", "body_bytes_received", "mb_per_s", "status", "error_kinds"}

func checkJSONResult(t *testing.T, where string, m map[string]any, open bool) {
	t.Helper()
	keys := jsonKeys
	if open {
		keys = append(keys, "latency_uncorrected_ms")
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: key %q missing", where, k)
		}
	}
	for _, lk := range []string{"latency_ms", "latency_uncorrected_ms"} {
		if lat, ok := m[lk].(map[string]any); ok {
			for _, k := range []string{"min", "mean", "p50", "p90", "p95", "p99", "p999", "max"} {
				if _, ok := lat[k].(float64); !ok {
					t.Errorf("%s: %s.%s missing", where, lk, k)
				}
			}
		}
	}
	if ek, ok := m["error_kinds"].(map[string]any); ok {
		for _, k := range loadgen.ErrorKinds {
			if _, ok := ek[k]; !ok {
				t.Errorf("%s: error_kinds.%s missing", where, k)
			}
		}
	}
}

func TestSelftestJSONSchema(t *testing.T) {
	url, _ := countingServer(t)
	for _, open := range []bool{false, true} {
		args := []string{"-o", "json", "-n", "20", "-c", "2", "-rounds", "2", url}
		if open {
			args = append([]string{"-rate", "2000"}, args...)
		}
		code, out, stderr := runSelftestWith(t, nil, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		checkJSONResult(t, "top", m, open)
		for _, k := range []string{"url", "conns", "rate", "client", "interrupted", "rounds"} {
			if _, ok := m[k]; !ok {
				t.Errorf("top: key %q missing", k)
			}
		}
		rounds, _ := m["rounds"].([]any)
		if len(rounds) != 2 {
			t.Fatalf("rounds = %v, want 2 entries", m["rounds"])
		}
		for i, r := range rounds {
			checkJSONResult(t, fmt.Sprintf("rounds[%d]", i), r.(map[string]any), open)
		}
		if m["requests"].(float64) != 40 || m["status"].(map[string]any)["200"].(float64) != 40 {
			t.Errorf("requests %v, status %v; want 40 200s", m["requests"], m["status"])
		}
		if _, ok := m["latency_uncorrected_ms"]; ok != open {
			t.Errorf("open=%v but latency_uncorrected_ms present=%v", open, ok)
		}
	}
}

func TestSelftestMultipart(t *testing.T) {
	dir := t.TempDir()
	photo := demo.JPEG(5000)
	photoPath := filepath.Join(dir, "photo.jpg")
	notePath := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(photoPath, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notePath, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(format string, a ...any) {
			if bad.Add(1) == 1 {
				t.Errorf(format, a...)
			}
			w.WriteHeader(http.StatusBadRequest)
		}
		if r.Method != "POST" {
			fail("method %s", r.Method)
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			fail("parse multipart: %v", err)
			return
		}
		if got := r.FormValue("name"); got != "value with spaces" {
			fail("name = %q", got)
			return
		}
		if got := r.FormValue("note"); got != "from a file" {
			fail("note = %q", got)
			return
		}
		f, h, err := r.FormFile("image")
		if err != nil {
			fail("image: %v", err)
			return
		}
		defer f.Close()
		data, _ := io.ReadAll(f)
		if !bytes.Equal(data, photo) || h.Filename != "photo.jpg" || h.Header.Get("Content-Type") != "image/jpeg" {
			fail("image: %d bytes, filename %q, type %q", len(data), h.Filename, h.Header.Get("Content-Type"))
			return
		}
	}))
	defer srv.Close()
	code, out, stderr := runSelftestWith(t, nil, "-o", "json", "-n", "12", "-c", "3",
		"-F", "name=value with spaces", "-F", "image=@"+photoPath+";type=image/jpeg", "-F", "note=<"+notePath, srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep loadgen.JSONReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status["200"] != 12 || bad.Load() != 0 {
		t.Errorf("status %v, %d bad requests", rep.Status, bad.Load())
	}
	if rep.BodyBytesSent < 12*uint64(len(photo)) {
		t.Errorf("body bytes sent %d for 12 forms with a %d-byte file", rep.BodyBytesSent, len(photo))
	}
}

// selfRoutes are the targets self mode drives with the embedded default config.
var selfRoutes = []string{"/", "/demo1/x", "/css/base.css", "/font/frontgate.ttf", "/index.html", "/demo2"}

// demoServer implements the routes that self mode drives with the embedded default config, answering 400
// to anything unexpected.
func demoServer(t *testing.T, counts map[string]*atomic.Int64) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		counts["/"].Add(1)
		io.WriteString(w, "Hello, world")
	})
	mux.HandleFunc("POST /demo1/x", func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("key") != "v" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		counts["/demo1/x"].Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"key":"v"}`)
	})
	mux.HandleFunc("POST /demo2", func(w http.ResponseWriter, r *http.Request) {
		if r.ParseMultipartForm(1<<20) != nil || r.FormValue("image_id") != "2" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f, _, err := r.FormFile("image")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		defer f.Close()
		data, _ := io.ReadAll(f)
		if len(data) != demo.ImageSize || data[0] != 0xFF || data[1] != 0xD8 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		counts["/demo2"].Add(1)
		w.Write(data)
	})
	for _, p := range selfRoutes[2:5] {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			counts[p].Add(1)
			io.WriteString(w, "a file\n")
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestSelftestSelfMode(t *testing.T) {
	routes := selfRoutes
	counts := map[string]*atomic.Int64{}
	for _, r := range routes {
		counts[r] = new(atomic.Int64)
	}
	srv := demoServer(t, counts)
	var started, stopped atomic.Int64
	var cfgPath string // the -config path self mode got
	self := func(path string) (string, *config.Config, func(), error) {
		started.Add(1)
		cfgPath = path
		cfg, err := config.Default()
		return srv.URL, cfg, func() { stopped.Add(1) }, err
	}
	code, out, stderr := runSelftestWith(t, self, "-o", "json", "-n", "60", "-c", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if started.Load() != 1 || stopped.Load() != 1 || cfgPath != "" {
		t.Errorf("self started %d times (config %q), stopped %d times", started.Load(), cfgPath, stopped.Load())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	rm, _ := m["routes"].(map[string]any)
	for _, r := range routes {
		got, ok := rm[r].(map[string]any)
		if !ok {
			t.Errorf("routes lacks %q: %v", r, m["routes"])
			continue
		}
		checkJSONResult(t, "routes["+r+"]", got, false)
		served := counts[r].Load()
		if r == "/demo2" {
			served-- // the probe of the forwarded route
		}
		if got["requests"].(float64) != 10 || served != 10 {
			t.Errorf("route %s: reported %v requests, served %d; want 10", r, got["requests"], served)
		}
		if st := got["status"].(map[string]any); len(st) != 1 || st["200"].(float64) != 10 {
			t.Errorf("route %s: status %v, want 10 200s", r, st)
		}
	}
	if d2 := rm["/demo2"].(map[string]any); d2["body_bytes_received"].(float64) != 10*demo.ImageSize {
		t.Errorf("/demo2 echoed %v body bytes, want %d", d2["body_bytes_received"], 10*demo.ImageSize)
	}
	// The text report has a per-route table; -config, in either form, reaches self mode.
	code, text, _ := runSelftestWith(t, self, "-n", "8", "-config", "/etc/a.yaml", "-c", "2")
	if code != 0 || !strings.Contains(text, "Routes:") || !strings.Contains(text, "/css/base.css") {
		t.Errorf("text report (exit %d) lacks the route table:\n%s", code, text)
	}
	if cfgPath != "/etc/a.yaml" {
		t.Errorf("-config /etc/a.yaml: self mode got %q", cfgPath)
	}
	if code, _, stderr := runSelftestWith(t, self, "-n", "4", "-c", "1", "--config=b.yaml"); code != 0 || cfgPath != "b.yaml" {
		t.Errorf("--config=b.yaml: exit %d, self mode got %q; stderr:\n%s", code, cfgPath, stderr)
	}
	// Self mode rejects request-shaping flags, and a failing start is an error.
	if code, _, _ := runSelftestWith(t, self, "-m", "PUT"); code != 2 {
		t.Errorf("self mode with -m: exit %d, want 2", code)
	}
	failing := func(string) (string, *config.Config, func(), error) { return "", nil, nil, fmt.Errorf("no config") }
	if code, _, stderr := runSelftestWith(t, failing); code != 1 || !strings.Contains(stderr, "no config") {
		t.Errorf("failing self: exit %d, stderr %q", code, stderr)
	}
}

func TestSelftestBodyAndHeaders(t *testing.T) {
	bodyPath := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(bodyPath, []byte(`{"a":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == "PUT" && string(b) == "hello" && r.Header.Get("X-A") == "1" && r.Header.Get("X-B") == "two words":
			w.WriteHeader(http.StatusCreated)
		case r.Method == "POST" && string(b) == `{"a":1}` && r.Header.Get("Content-Type") == "application/json":
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	for _, tt := range []struct {
		args   []string
		status string
	}{
		{[]string{"-m", "PUT", "-H", "X-A: 1", "-H", "X-B:  two words", "-body", "hello"}, "201"},
		{[]string{"-body-file", bodyPath, "-H", "Content-Type: application/json"}, "202"}, // POST by default
		{[]string{"-m", "DELETE"}, "418"},
	} {
		args := append(append([]string{"-o", "json", "-n", "5", "-c", "2"}, tt.args...), srv.URL+"/x?y=1")
		code, out, stderr := runSelftestWith(t, nil, args...)
		if code != 0 {
			t.Fatalf("selftest(%q) = %d: %s", args, code, stderr)
		}
		var rep loadgen.JSONReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Status[tt.status] != 5 || len(rep.Status) != 1 {
			t.Errorf("selftest(%q): status %v, want 5 %s", args, rep.Status, tt.status)
		}
	}
}

// Self mode through the command line: the real gateway, started in-process from the embedded config,
// answers every route of the demo mix; a config that cannot be loaded fails the run, and a URL makes
// -config moot.
func TestSelftestGateway(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"selftest", "-o", "json", "-n", "60", "-c", "4"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep loadgen.JSONReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	if !strings.HasPrefix(rep.URL, "http://127.0.0.1:") || strings.HasSuffix(rep.URL, "/") {
		t.Errorf("url %q, want the gateway's base URL", rep.URL)
	}
	for _, name := range selfRoutes {
		if r := rep.Routes[name]; r.Status["200"] != 10 || r.Errors != 0 {
			t.Errorf("route %s: status %v, %d errors; want 10 200s", name, r.Status, r.Errors)
		}
	}
	if len(rep.Routes) != len(selfRoutes) || len(rep.Skipped) != 0 {
		t.Errorf("routes %v, skipped %v; want %q and none skipped", slices.Collect(maps.Keys(rep.Routes)), rep.Skipped, selfRoutes)
	}

	missing := filepath.Join(t.TempDir(), "missing.yaml")
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"selftest", "-n", "4", "-config", missing}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "start the gateway") || !strings.Contains(errOut.String(), "missing.yaml") {
		t.Errorf("-config %s: exit %d, stderr %q", missing, code, errOut.String())
	}

	url, served := countingServer(t)
	errOut.Reset()
	if code := run(context.Background(), []string{"selftest", "-n", "3", "-c", "1", url, "-config", missing}, io.Discard, &errOut); code != 0 || served.Load() != 3 {
		t.Errorf("URL with -config: exit %d, %d requests served; stderr %q", code, served.Load(), errOut.String())
	}
}
