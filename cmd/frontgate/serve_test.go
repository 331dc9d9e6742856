package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func multipartBody(t *testing.T, fields map[string]string, fileField string, file []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if fileField != "" {
		fw, err := mw.CreateFormFile(fileField, "photo.jpg")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

func post(t *testing.T, url, contentType string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(t, req)
}

var serverTiming = regexp.MustCompile(`^recv;dur=([0-9.]+), handler;dur=([0-9.]+)$`)

// The embedded default: demo routes, the demo site and /demo2 through the built-in echo upstream, each
// request logged with its timing fields.
func TestEmbeddedDefault(t *testing.T) {
	gw := startGateway(t)

	t.Run("hello", func(t *testing.T) {
		resp, body := get(t, gw.Base+"/")
		if resp.StatusCode != 200 || body != "Hello, world" {
			t.Fatalf("GET / = %d %q", resp.StatusCode, body)
		}
		if !serverTiming.MatchString(resp.Header.Get("Server-Timing")) {
			t.Errorf("Server-Timing %q", resp.Header.Get("Server-Timing"))
		}
		e := gw.Logs.AccessFor(t, resp.Header.Get("X-Request-Id"))
		for _, k := range []string{"recv_ms", "handler_ms", "total_ms", "method", "path", "status", "bytes_in", "bytes_out", "route", "request_id", "remote"} {
			if _, ok := e[k]; !ok {
				t.Errorf("access log lacks %s: %v", k, e)
			}
		}
		if e["route"] != "hello" || e["status"] != 200.0 || e["bytes_out"] != 12.0 || e["recv_ms"] != 0.0 {
			t.Errorf("access log %v", e)
		}
	})

	t.Run("demo1", func(t *testing.T) {
		ct, mp := multipartBody(t, map[string]string{"key": "v"}, "", nil)
		tests := []struct {
			name, contentType string
			body              io.Reader
			status            int
			want              map[string]string
		}{
			{"multipart", ct, mp, 200, map[string]string{"name": "alice", "key": "v"}},
			{"urlencoded", "application/x-www-form-urlencoded", strings.NewReader("key=v&other=1"), 200, map[string]string{"name": "alice", "key": "v"}},
			{"missing key", "application/x-www-form-urlencoded", strings.NewReader("kee=v"), 400, map[string]string{"error": `form field "key" is missing`}},
			{"bad multipart", "multipart/form-data; boundary=zzz", strings.NewReader("not multipart"), 400, map[string]string{"error": "the form could not be read"}},
			{"json body", "application/json", strings.NewReader(`{"key":"v"}`), 415, map[string]string{"error": "send multipart/form-data or application/x-www-form-urlencoded"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := post(t, gw.Base+"/demo1/alice", tt.contentType, tt.body)
				var got map[string]any
				if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != tt.status {
					t.Fatalf("status %d body %q", resp.StatusCode, body)
				}
				want := map[string]any{}
				for k, v := range tt.want {
					want[k] = v
				}
				if tt.status != 200 { // the one error shape, with the request's id
					want["status"], want["request_id"] = float64(tt.status), resp.Header.Get("X-Request-Id")
					if resp.Header.Get("X-Request-Id") == "" {
						t.Error("no X-Request-Id")
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("got %v (%s), want %v", got, resp.Header.Get("Content-Type"), tt.want)
				}
			})
		}
		resp, _ := get(t, gw.Base+"/demo1/alice")
		if resp.StatusCode != 404 && resp.StatusCode != 405 {
			t.Errorf("GET /demo1/alice = %d, want 404 or 405", resp.StatusCode)
		}
	})

	t.Run("demo2 through echo upstream", func(t *testing.T) {
		photo := bytes.Repeat([]byte{0xff, 0xd8, 0x42}, 20000)
		ct, body := multipartBody(t, map[string]string{"image_id": "2"}, "image", photo)
		sent := body.Len()
		req, _ := http.NewRequest(http.MethodPost, gw.Base+"/demo2", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Forwarded-For", "10.9.9.9")
		resp, out := do(t, req)
		var got struct {
			Method  string              `json:"method"`
			Path    string              `json:"path"`
			Headers map[string][]string `json:"headers"`
			Form    map[string][]string `json:"form"`
			Files   map[string][]struct {
				Filename string `json:"filename"`
				Size     int    `json:"size"`
			} `json:"files"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, out)
		}
		if got.Method != "POST" || got.Path != "/demo2" || got.Form["image_id"][0] != "2" ||
			len(got.Files["image"]) != 1 || got.Files["image"][0].Size != len(photo) || got.Files["image"][0].Filename != "photo.jpg" {
			t.Errorf("echo saw %+v", got)
		}
		id := resp.Header.Get("X-Request-Id")
		if xff := got.Headers["X-Forwarded-For"]; len(xff) != 1 || xff[0] != "127.0.0.1" {
			t.Errorf("upstream X-Forwarded-For %v, want [127.0.0.1] (client's value not trusted)", xff)
		}
		if rid := got.Headers["X-Request-Id"]; len(rid) != 1 || rid[0] != id {
			t.Errorf("upstream X-Request-Id %v, want %s", rid, id)
		}
		e := gw.Logs.AccessFor(t, id)
		up, _ := e["upstream"].(string)
		if e["route"] != "demo2" || !strings.HasPrefix(up, "http://127.0.0.1:") || e["upstream_ms"] == nil || e["bytes_in"] != float64(sent) {
			t.Errorf("access log %v", e)
		}
		resp, _ = get(t, gw.Base+"/demo2")
		if resp.StatusCode == 200 {
			t.Errorf("GET /demo2 was forwarded; the route is POST only")
		}
	})

	t.Run("demo site", func(t *testing.T) {
		resp, page := get(t, gw.Base+"/index.html")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, `href="/css/base.css"`) {
			t.Fatalf("index.html: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		resp, css := get(t, gw.Base+"/css/base.css")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("base.css: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		font := regexp.MustCompile(`url\("?(/font/[^")]+)"?\)`).FindStringSubmatch(css)
		if font == nil {
			t.Fatalf("base.css names no /font/ URL")
		}
		resp, _ = get(t, gw.Base+font[1])
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", font[1], resp.StatusCode)
		}
		e := gw.Logs.AccessFor(t, resp.Header.Get("X-Request-Id"))
		if e["route"] != "font" {
			t.Errorf("font logged under route %v", e["route"])
		}
		resp, _ = get(t, gw.Base+"/font/")
		if resp.StatusCode != 404 && resp.StatusCode != 403 {
			t.Errorf("folder URL /font/ = %d, want 403 or 404 (no listing)", resp.StatusCode)
		}
	})
}

// A user's config: a real echo upstream process, strip_prefix, a renamed mount with a listing, and
// errors mapped to 502/504 with JSON bodies.
func TestUserConfig(t *testing.T) {
	echo := start(t, "echo", "-listen", "127.0.0.1:0")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	dir := t.TempDir()
	writeFile(t, dir, "assets/css/site.css", "body{}")
	writeFile(t, dir, "assets/css/sub/x.css", "x{}")
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf(`
listen: "127.0.0.1:0"
log: {format: json}
static:
  - {prefix: /css2017/, path: assets/css, name: css, show_index: true}
upstreams:
  backend: {targets: ["%s"]}
  dead: {targets: ["http://%s"]}
  slow: {targets: ["%s"]}
routes:
  - {path_prefix: /api/, strip_prefix: true, upstream: backend}
  - {path: /down, upstream: dead}
  - {path: /slow, upstream: slow, response_header_timeout: 300ms}
`, echo.Base, deadAddr, slow.URL))
	gw := startGateway(t, "-config", cfg)

	resp, body := get(t, gw.Base+"/api/users/7?x=1")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || got["path"] != "/users/7" || got["query"] != "x=1" {
		t.Fatalf("proxied: %d %s", resp.StatusCode, body)
	}
	e := gw.Logs.AccessFor(t, resp.Header.Get("X-Request-Id"))
	if e["upstream"] != echo.Base || e["route"] != "/api/" {
		t.Errorf("access log %v", e)
	}

	resp, body = get(t, gw.Base+"/css2017/site.css")
	if resp.StatusCode != 200 || body != "body{}" {
		t.Errorf("renamed mount: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, gw.Base+"/css2017/")
	if resp.StatusCode != 200 || !strings.Contains(body, "site.css") || !strings.Contains(body, "sub/") {
		t.Errorf("listing: %d %q", resp.StatusCode, body)
	}

	for _, tt := range []struct {
		path   string
		status int
	}{{"/down", 502}, {"/slow", 504}} {
		resp, body := get(t, gw.Base+tt.path)
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != tt.status ||
			m["request_id"] != resp.Header.Get("X-Request-Id") || strings.Contains(body, "127.0.0.1") {
			t.Errorf("%s: %d %q", tt.path, resp.StatusCode, body)
		}
		if e := gw.Logs.AccessFor(t, resp.Header.Get("X-Request-Id")); e["status"] != float64(tt.status) {
			t.Errorf("%s logged as %v", tt.path, e["status"])
		}
	}
	resp, _ = get(t, gw.Base+"/")
	if resp.StatusCode != 404 {
		t.Errorf("demo off, GET / = %d, want 404", resp.StatusCode)
	}
}

// A client that trickles a 1 MB body over 2 s shows up as recv_ms ≈ 2000 with a small handler_ms,
// in both the Server-Timing header and the access log.
func TestTrickledBodyIsReceiveTime(t *testing.T) {
	gw := startGateway(t)
	const size, pieces, gap = 1 << 20, 20, 100 * time.Millisecond
	body := "key=v&pad=" + strings.Repeat("x", size-len("key=v&pad="))
	conn, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /demo1/alice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", size)
	chunk := size / pieces
	for i := 0; i < pieces; i++ {
		if _, err := io.WriteString(conn, body[i*chunk:(i+1)*chunk]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(gap) // the slow client this test is about
	}
	if _, err := io.WriteString(conn, body[pieces*chunk:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(out) != "{\"key\":\"v\",\"name\":\"alice\"}\n" {
		t.Fatalf("%d %q", resp.StatusCode, out)
	}
	m := serverTiming.FindStringSubmatch(resp.Header.Get("Server-Timing"))
	if m == nil {
		t.Fatalf("Server-Timing %q", resp.Header.Get("Server-Timing"))
	}
	recv, _ := strconv.ParseFloat(m[1], 64)
	handler, _ := strconv.ParseFloat(m[2], 64)
	minRecv := float64(pieces*gap/time.Millisecond) * 0.95
	if recv < minRecv || handler > recv/10 {
		t.Errorf("Server-Timing recv %.1f ms handler %.1f ms; want recv ≈ 2000 and a small handler", recv, handler)
	}
	e := gw.Logs.AccessFor(t, resp.Header.Get("X-Request-Id"))
	if e["recv_ms"].(float64) < minRecv || e["handler_ms"].(float64) > e["recv_ms"].(float64)/10 || e["bytes_in"] != float64(size) {
		t.Errorf("access log %v", e)
	}
	t.Logf("trickled 1 MiB over %v: recv %.1f ms, handler %.3f ms", pieces*gap, recv, handler)
}

// SIGTERM drains: a request in flight when the signal arrives completes, new connections are refused,
// and the process exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\nupstreams: {up: {targets: [%q]}}\nroutes: [{path: /work, upstream: up}]\n", up.URL))
	gw := startGateway(t, "-config", cfg)

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(gw.Base + "/work")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-arrived
	if err := gw.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	gw.Logs.WaitFor(t, "shutting down", func(l string) bool { return strings.Contains(l, "shutting down") })
	// The line comes just before the listeners close (stderr is not buffered): the address refuses
	// connections soon after, while the request is still held.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", gw.Addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Error("new connections still accepted 10s into the drain")
			break
		}
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Errorf("in-flight request: %+v", r)
	}
	if err := gw.Wait(t); err != nil {
		t.Errorf("exit: %v\n%s", err, gw.Logs.Text())
	}
}

// Bad configs: serve and check exit 1 listing every problem with its line, never a stack trace.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "bad.yaml", `listen: "127.0.0.1:0"
demo: true
statik:
  - {prefix: /css/, path: nowhere}
upstreams:
  backend: {targets: ["http://127.0.0.1:9000"]}
routes:
  - {path: /a, upstream: backend}
  - {path: /b, upstream: api}
`)
	want := []string{
		`statik: unknown key (did you mean "static"?) (line 3)`,
		`routes[1].upstream: unknown upstream "api" (line 9)`,
	}
	for _, args := range [][]string{{"check", "-config", cfg}, {"serve", "-config", cfg}} {
		t.Run(args[0], func(t *testing.T) {
			stdout, stderr, code := runCmd(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if !strings.Contains(stderr, "2 problems") || strings.Contains(stderr+stdout, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("output:\n%s%s", stdout, stderr)
			}
		})
	}
	stdout, stderr, code := runCmd(t, "check", "-config", filepath.Join("..", "..", "config.yaml"))
	if code != 0 || !strings.Contains(stdout, "ok: listen 127.0.0.1:8080, 3 static mounts, 1 upstream, 2 routes") {
		t.Errorf("check config.yaml: %d %q %q", code, stdout, stderr)
	}
	if _, stderr, code := runCmd(t, "check", "-config", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: %d %q", code, stderr)
	}
	// A valid config with a route that can never match: ok, with the warning and its line.
	shadowed := writeFile(t, dir, "shadowed.yaml", "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\nroutes:\n"+
		"  - {path_prefix: /api, upstream: u}\n  - {path: /api/v2, upstream: u}\n")
	stdout, stderr, code = runCmd(t, "check", "-config", shadowed)
	if code != 0 || !strings.Contains(stdout, "ok: listen") ||
		!strings.Contains(stdout, "warning: routes[1]: can never match: routes[0] takes every request it would (line 4)") {
		t.Errorf("check shadowed.yaml: %d %q %q", code, stdout, stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	stdout, _, code := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "frontgate ") || strings.Contains(stdout, "(devel)") {
		t.Errorf("version: %d %q", code, stdout)
	}
	for _, cmd := range []string{"serve", "check", "echo", "selftest"} {
		stdout, stderr, code := runCmd(t, cmd, "-h")
		if code != 0 || !strings.Contains(stdout+stderr, "Examples") || !strings.Contains(stdout+stderr, "frontgate "+cmd) {
			t.Errorf("%s -h: exit %d\n%s%s", cmd, code, stdout, stderr)
		}
	}
	if _, stderr, code := runCmd(t, "bogus"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("bogus: %d %q", code, stderr)
	}
}

// A client that goes away cancels the upstream request at once, through the gateway binary (whose
// lean server watches the connection while a handler runs).
func TestClientAbortCancelsUpstreamThroughBinary(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(20 * time.Second):
		}
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /wait, upstream: u}]\n", up.URL))
	gw := startGateway(t, "-config", cfg)
	conn, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	conn.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client left")
	}
	line := gw.Logs.WaitFor(t, "499 in the access log", func(l string) bool {
		e := parseEntry(l)
		return e != nil && e["logger"] == "access" && e["path"] == "/wait"
	})
	if e := parseEntry(line); e["status"] != float64(499) {
		t.Errorf("access log for the abandoned request: %v", e)
	}
}

// Server-sent events pass through the gateway binary event by event: the upstream sends the next
// event only after the client has read the previous one.
func TestSSEThroughBinary(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\ndefaults: {max_body: 1MiB}\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /events, upstream: u}]\n", up.URL))
	gw := startGateway(t, "-config", cfg)
	resp, err := http.Get(gw.Base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{}
	}
}

// A WebSocket-style upgrade passes through the gateway binary and its middleware chain.
func TestUpgradeThroughBinary(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		conn.Write([]byte("echo:" + line))
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\ndefaults: {max_body: 1MiB, max_inflight: 10}\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /ws, upstream: u}]\n", up.URL))
	gw := startGateway(t, "-config", cfg)
	conn, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	fmt.Fprint(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo:ping\n" {
		t.Errorf("%q %v", line, err)
	}
}
