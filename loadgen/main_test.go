package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func runMain(t *testing.T, self SelfFunc, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut, self)
	return code, out.String(), errOut.String()
}

func TestParseFailOn(t *testing.T) {
	res := &Result{Requests: 990, Errors: 10, Duration: time.Second,
		Latency: Latency{Min: time.Millisecond, Mean: 20 * time.Millisecond, P50: 10 * time.Millisecond,
			P90: 100 * time.Millisecond, P95: 150 * time.Millisecond, P99: 250 * time.Millisecond,
			P999: 300 * time.Millisecond, Max: time.Second},
		Status: map[int]uint64{200: 980, 503: 10}}
	tests := []struct {
		expr    string
		want    []Condition // Metric, Op, Value, Percent only
		holds   bool
		wantErr bool
	}{
		{expr: "errors>1%", want: []Condition{{Metric: "errors", Op: ">", Value: 1, Percent: true}}, holds: false},
		{expr: "errors>=1%", want: []Condition{{Metric: "errors", Op: ">=", Value: 1, Percent: true}}, holds: true},
		{expr: "errors > 5", want: []Condition{{Metric: "errors", Op: ">", Value: 5}}, holds: true},
		{expr: "p99>200ms", want: []Condition{{Metric: "p99", Op: ">", Value: 200}}, holds: true},
		{expr: "p99>0.3s", want: []Condition{{Metric: "p99", Op: ">", Value: 300}}, holds: false},
		{expr: "p99.9>=300", want: []Condition{{Metric: "p999", Op: ">=", Value: 300}}, holds: true},
		{expr: "P50 < 500us", want: []Condition{{Metric: "p50", Op: "<", Value: 0.5}}, holds: false},
		{expr: "max<=1s", want: []Condition{{Metric: "max", Op: "<=", Value: 1000}}, holds: true},
		{expr: "mean=20ms", want: []Condition{{Metric: "mean", Op: "==", Value: 20}}, holds: true},
		{expr: "rps<1000", want: []Condition{{Metric: "rps", Op: "<", Value: 1000}}, holds: true},
		{expr: "requests!=990", want: []Condition{{Metric: "requests", Op: "!=", Value: 990}}, holds: false},
		{expr: "non2xx>0.5%", want: []Condition{{Metric: "non2xx", Op: ">", Value: 0.5, Percent: true}}, holds: true},
		{expr: "p99>1s, errors>2%", want: []Condition{{Metric: "p99", Op: ">", Value: 1000}, {Metric: "errors", Op: ">", Value: 2, Percent: true}}, holds: false},
		{expr: "p99>1s || errors>0", want: []Condition{{Metric: "p99", Op: ">", Value: 1000}, {Metric: "errors", Op: ">", Value: 0}}, holds: true},
		{expr: "", wantErr: true},
		{expr: "p99", wantErr: true},
		{expr: ">5", wantErr: true},
		{expr: "latency>5ms", wantErr: true},
		{expr: "p99>fast", wantErr: true},
		{expr: "rps>10%", wantErr: true},
		{expr: "errors>", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			conds, err := ParseFailOn(tt.expr)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %+v", conds)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(conds) != len(tt.want) {
				t.Fatalf("got %d conditions, want %d", len(conds), len(tt.want))
			}
			for i, c := range conds {
				w := tt.want[i]
				if c.Metric != w.Metric || c.Op != w.Op || c.Value != w.Value || c.Percent != w.Percent {
					t.Errorf("condition %d = %+v, want %+v", i, c, w)
				}
			}
			if got := len(Failed(conds, res)) > 0; got != tt.holds {
				t.Errorf("holds = %v, want %v", got, tt.holds)
			}
		})
	}
}

func TestMainFailOnExitCode(t *testing.T) {
	url, _ := countingServer(t, nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
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
		code, _, stderr := runMain(t, nil, tt.args...)
		if code != tt.code {
			t.Errorf("Main(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr)
		}
		if code == 1 && !strings.Contains(stderr, "holds") && !strings.Contains(stderr, "refused=20") {
			t.Errorf("Main(%q): stderr does not say which condition held:\n%s", tt.args, stderr)
		}
	}
}

func TestMainUsage(t *testing.T) {
	url, served := countingServer(t, nil)
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
		{"-F", "f=@/does/not/exist", url},
	} {
		if code, _, stderr := runMain(t, nil, args...); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("Main(%q) = %d, want 2 with usage; stderr:\n%s", args, code, stderr)
		}
	}
	if served.Load() != 0 {
		t.Errorf("usage errors sent %d requests", served.Load())
	}
	// Flags after the URL are parsed too.
	if code, out, stderr := runMain(t, nil, url, "-n", "3", "-c", "1"); code != 0 || !strings.Contains(out, "3 completed") {
		t.Errorf("Main(URL -n 3) = %d:\n%s%s", code, out, stderr)
	}
}

func TestMainTextReport(t *testing.T) {
	url, _ := countingServer(t, nil)
	code, out, stderr := runMain(t, nil, "-n", "30", "-c", "3", "-rounds", "2", "-hist", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"round 1 of 2", "round 2 of 2", "== total ==", "60 completed, 0 failed",
		"p99.9", "Requests/s:", "Sent:", "Received:", "Throughput:", "Status:       200=60", "Errors:       none",
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
		for _, k := range ErrorKinds {
			if _, ok := ek[k]; !ok {
				t.Errorf("%s: error_kinds.%s missing", where, k)
			}
		}
	}
}

func TestMainJSONSchema(t *testing.T) {
	url, _ := countingServer(t, nil)
	for _, open := range []bool{false, true} {
		args := []string{"-o", "json", "-n", "20", "-c", "2", "-rounds", "2", url}
		if open {
			args = append([]string{"-rate", "2000"}, args...)
		}
		code, out, stderr := runMain(t, nil, args...)
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

func TestMainMultipart(t *testing.T) {
	dir := t.TempDir()
	photo := DemoJPEG(5000)
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
	code, out, stderr := runMain(t, nil, "-o", "json", "-n", "12", "-c", "3",
		"-F", "name=value with spaces", "-F", "image=@"+photoPath+";type=image/jpeg", "-F", "note=<"+notePath, srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep JSONReport
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

// demoServer implements the four demo routes that self mode drives, answering 400 to anything unexpected.
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
		if len(data) != SelfImageSize || data[0] != 0xFF || data[1] != 0xD8 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		counts["/demo2"].Add(1)
		w.Write(data)
	})
	mux.HandleFunc("GET /css/base.css", func(w http.ResponseWriter, r *http.Request) {
		counts["/css/base.css"].Add(1)
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, "body { margin: 0 }\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestMainSelfMode(t *testing.T) {
	routes := []string{"/", "/demo1/x", "/demo2", "/css/base.css"}
	counts := map[string]*atomic.Int64{}
	for _, r := range routes {
		counts[r] = new(atomic.Int64)
	}
	srv := demoServer(t, counts)
	var started, stopped atomic.Int64
	self := func(ctx context.Context) (string, func(), error) {
		started.Add(1)
		return srv.URL, func() { stopped.Add(1) }, nil
	}
	code, out, stderr := runMain(t, self, "-o", "json", "-n", "40", "-c", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if started.Load() != 1 || stopped.Load() != 1 {
		t.Errorf("self started %d times, stopped %d times", started.Load(), stopped.Load())
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
		if got["requests"].(float64) != 10 || counts[r].Load() != 10 {
			t.Errorf("route %s: reported %v requests, served %d; want 10", r, got["requests"], counts[r].Load())
		}
		if st := got["status"].(map[string]any); len(st) != 1 || st["200"].(float64) != 10 {
			t.Errorf("route %s: status %v, want 10 200s", r, st)
		}
	}
	if d2 := rm["/demo2"].(map[string]any); d2["body_bytes_received"].(float64) != 10*SelfImageSize {
		t.Errorf("/demo2 echoed %v body bytes, want %d", d2["body_bytes_received"], 10*SelfImageSize)
	}
	// The text report has a per-route table.
	code, text, _ := runMain(t, self, "-n", "8", "-c", "2")
	if code != 0 || !strings.Contains(text, "Routes:") || !strings.Contains(text, "/css/base.css") {
		t.Errorf("text report (exit %d) lacks the route table:\n%s", code, text)
	}
	// Self mode rejects request-shaping flags, and a failing start is an error.
	if code, _, _ := runMain(t, self, "-m", "PUT"); code != 2 {
		t.Errorf("self mode with -m: exit %d, want 2", code)
	}
	failing := func(context.Context) (string, func(), error) { return "", nil, fmt.Errorf("no config") }
	if code, _, stderr := runMain(t, failing); code != 1 || !strings.Contains(stderr, "no config") {
		t.Errorf("failing self: exit %d, stderr %q", code, stderr)
	}
}

func TestProgressLine(t *testing.T) {
	l := progressLine(0.5, 1234, 5678.9, 1500*time.Millisecond)
	for _, want := range []string{"\r[", "===============>", " 50%", "1234 req", "5679 req/s", "1.5s"} {
		if !strings.Contains(l, want) {
			t.Errorf("progress line %q lacks %q", l, want)
		}
	}
	if l := progressLine(-1, 1, 1, 0); !strings.Contains(l, "?%") {
		t.Errorf("unknown end: %q", l)
	}
}

func TestMainBodyAndHeaders(t *testing.T) {
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
		code, out, stderr := runMain(t, nil, args...)
		if code != 0 {
			t.Fatalf("Main(%q) = %d: %s", args, code, stderr)
		}
		var rep JSONReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Status[tt.status] != 5 || len(rep.Status) != 1 {
			t.Errorf("Main(%q): status %v, want 5 %s", args, rep.Status, tt.status)
		}
	}
}

func TestDrawProgress(t *testing.T) {
	start := time.Now()
	rd := &round{pacer: Pacer{Max: 400}, start: start}
	workers := []*worker{{}, {}}
	workers[0].done.Store(100)
	workers[1].done.Store(50)
	tick := make(chan time.Time)
	finished := make(chan struct{})
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		drawProgress(&out, rd, workers, finished, tick)
	}()
	tick <- start.Add(time.Second)
	close(finished)
	<-done
	got := out.String()
	for _, want := range []string{" 38%", "150 req", "150 req/s", "1.0s", "\r\033[K"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("progress output %q does not end by erasing the line", got)
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is reported as a terminal")
	}
}
