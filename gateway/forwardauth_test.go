package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/internal/e2e"
)

// echoUpstream answers with what it received, as JSON: the method, the X-User and X-Role fields,
// the Authorization field and the body.
func echoUpstream(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "x_user": r.Header.Values("X-User"),
			"x_role": r.Header.Values("X-Role"), "authorization": r.Header.Get("Authorization"), "body": string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// upstreamSaw decodes echoUpstream's answer.
type upstreamSaw struct {
	Method        string   `json:"method"`
	XUser         []string `json:"x_user"`
	XRole         []string `json:"x_role"`
	Authorization string   `json:"authorization"`
	Body          string   `json:"body"`
}

// startAiohttpAuth runs testdata/auth_aiohttp.py and returns its base URL.
func startAiohttpAuth(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import aiohttp").CombinedOutput(); err != nil {
		t.Fatalf("this test needs aiohttp for /usr/bin/python3: apt-get install -y python3-aiohttp (%v: %s)", err, out)
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "auth_aiohttp.py"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // if this test process dies first
	stderr := &e2e.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("auth service output:\n%s", stderr.String())
		}
	})
	port := e2e.NewLogSink(stdout).WaitFor(t, "with the auth service's port", func(l string) bool {
		_, err := strconv.Atoi(strings.TrimSpace(l))
		return err == nil
	})
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}

// curlResponse runs curl -si with args and parses what it printed.
func curlResponse(t *testing.T, args ...string) (*http.Response, string) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-s", "-i"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("curl %v printed %q: %v", args, out, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// noSecrets fails t when a log line, its message or any field, holds one of secrets.
func noSecrets(t *testing.T, what string, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("%s line holds %q: %s", what, s, line)
			}
		}
	}
}

// Forward auth end to end: curl through the gateway to a route guarded by an aiohttp auth service.
// The service admits, refuses with 401 and redirects to a login page; the gateway passes its
// refusals on as they are, copies X-User and X-Role onto admitted requests (never the client's own),
// asks with a bodiless GET carrying the client's credentials and the forwarding fields, over one
// kept-alive connection, and logs no credential.
func TestForwardAuthWithAiohttpAndCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test needs curl: apt-get install -y curl")
	}
	auth := startAiohttpAuth(t)
	metrics := admin.NewMetrics()
	base, access, log := buildLogged(t, fmt.Sprintf(`
upstreams: {app: {targets: [%q]}}
routes:
  - path_prefix: /app/
    upstream: app
    name: app
    auth: {forward: {url: %q, copy_headers: [X-User, x-role]}}
`, echoUpstream(t), auth+"/verify"), metrics)
	host := strings.TrimPrefix(base, "http://")

	resp, body := curlResponse(t, "-X", "POST", "--data-binary", "hello body", "-H", "Authorization: Bearer good",
		"-H", "Cookie: sid=secretcookie", "-H", "X-User: mallory", "-H", "X-Forwarded-For: 203.0.113.66",
		"-H", "X-Forwarded-Method: GET", base+"/app/page?x=1&y=%2F")
	var saw upstreamSaw
	if err := json.Unmarshal([]byte(body), &saw); resp.StatusCode != 200 || err != nil {
		t.Fatalf("admitted POST: %d %q", resp.StatusCode, body)
	}
	if saw.Method != "POST" || saw.Body != "hello body" || strings.Join(saw.XUser, ",") != "alice" ||
		strings.Join(saw.XRole, ",") != "admin" || saw.Authorization != "Bearer good" {
		t.Errorf("the upstream saw %+v, want the POST with its body, X-User alice (not mallory), X-Role admin", saw)
	}

	resp, body = curlResponse(t, "-H", "Authorization: Bearer bad", base+"/app/page")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="fg"` ||
		resp.Header.Get("X-Auth-Reason") != "bad-token" || body != `{"error": "bad token"}` {
		t.Errorf("refused: %d %v %q, want the auth service's 401 as it is", resp.StatusCode, resp.Header, body)
	}
	resp, _ = curlResponse(t, base+"/app/page?x=1")
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, "https://login.example/?rd=/app/page") {
		t.Errorf("no credentials: %d Location %q, want the auth service's redirect to its login page", resp.StatusCode, loc)
	}
	for range 2 {
		if resp, _ = curlResponse(t, "-H", "Authorization: Bearer good", base+"/app/again"); resp.StatusCode != 200 {
			t.Errorf("admitted GET: %d", resp.StatusCode)
		}
	}

	var seen []struct {
		Method  string      `json:"method"`
		Headers [][2]string `json:"headers"`
		BodyLen int         `json:"body_len"`
		Port    int         `json:"port"`
	}
	_, got, _ := do(t, auth, "GET", strings.TrimPrefix(auth, "http://"), "/seen")
	if err := json.Unmarshal([]byte(got), &seen); err != nil || len(seen) != 5 {
		t.Fatalf("the auth service saw %s (%v), want 5 requests", got, err)
	}
	fields := map[string][]string{}
	for _, kv := range seen[0].Headers {
		fields[http.CanonicalHeaderKey(kv[0])] = append(fields[http.CanonicalHeaderKey(kv[0])], kv[1])
	}
	want := map[string]string{
		"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/app/page?x=1&y=%2F", "X-Forwarded-Host": host,
		"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1",
		"Authorization": "Bearer good", "Cookie": "sid=secretcookie", "Content-Length": "", "Transfer-Encoding": "",
	}
	for k, v := range want {
		if strings.Join(fields[k], ",") != v {
			t.Errorf("the auth service saw %s: %q, want %q", k, fields[k], v)
		}
	}
	if seen[0].Method != "GET" || seen[0].BodyLen != 0 {
		t.Errorf("the auth request was %s with %d body bytes, want a GET without a body", seen[0].Method, seen[0].BodyLen)
	}
	for i, s := range seen {
		if s.Port != seen[0].Port {
			t.Errorf("auth request %d came on a new connection (port %d, the first on %d): want one kept alive", i, s.Port, seen[0].Port)
		}
	}

	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	if _, exposition, _ := do(t, srv.URL, "GET", "x", "/"); !strings.Contains(exposition, `frontgate_rejected_total{reason="auth",route="app"} 2`) {
		t.Error("/metrics does not count the two refusals")
	}
	if access.Len() != 5 {
		t.Errorf("%d access-log lines, want 5", access.Len())
	}
	noSecrets(t, "access log", access, "Bearer", "secretcookie")
	noSecrets(t, "gateway log", log, "Bearer", "secretcookie")
}

// authSaw is what the Go auth service saw of one request: the method, the header, the body's length.
type authSaw struct {
	method string
	header http.Header
	body   int
}

// goAuth is a Go auth service that answers by a segment of the path of the request it is asked about
// (X-Forwarded-Uri): /ok/ admits as bob, /bare/ admits without X-User, /deny/ refuses with 401, hop
// fields and a cookie, /login/ redirects, /big/ refuses with a body past 64 KiB, /slow/ answers only
// when the request is given up on, and the rest it admits. It keeps what it saw by X-Forwarded-Uri and counts connections.
type goAuth struct {
	url    string
	conns  atomic.Int64 // opened
	closed atomic.Int64
	mu     sync.Mutex // guards saw
	saw    map[string]authSaw
}

func startGoAuth(t *testing.T) *goAuth {
	a := &goAuth{saw: map[string]authSaw{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			a.conns.Add(1)
		case http.StateClosed:
			a.closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	a.url = srv.URL + "/verify"
	return a
}

func (a *goAuth) serve(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	uri := r.Header.Get("X-Forwarded-Uri")
	a.mu.Lock()
	a.saw[uri] = authSaw{method: r.Method, header: r.Header.Clone(), body: int(n)}
	a.mu.Unlock()
	switch {
	case strings.Contains(uri, "/ok/"):
		w.Header().Set("X-User", "bob")
	case strings.Contains(uri, "/bare/"):
	case strings.Contains(uri, "/deny/"):
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
		w.Header().Set("Set-Cookie", "tried=1")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "for the gateway only")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "token expired")
	case strings.Contains(uri, "/login/"):
		http.Redirect(w, r, "https://login.example/?rd="+uri, http.StatusFound)
	case strings.Contains(uri, "/big/"):
		w.WriteHeader(http.StatusForbidden)
		w.Write(bytes.Repeat([]byte("x"), 64<<10+1))
	case strings.Contains(uri, "/slow/"):
		<-r.Context().Done() // the gateway gave up: its connection closed
	}
}

func (a *goAuth) sawFor(uri string) authSaw {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.saw[uri]
}

// send makes one request with header fields and an optional body, without following redirects.
func send(t *testing.T, method, url, body string, fields map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		req.Header.Set(k, v)
	}
	return roundTrip(t, req)
}

// The edge cases of forward auth against a Go auth service.
func TestForwardAuthCases(t *testing.T) {
	auth := startGoAuth(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/verify"
	dead.Close() // refuses connections
	up := echoUpstream(t)
	base, _, log := buildLogged(t, fmt.Sprintf(`
upstreams: {app: {targets: [%q]}}
defaults: {auth: {forward: {url: %q, copy_headers: [X-User]}}}
routes:
  - {path_prefix: /slow/, upstream: app, name: slow, auth: {forward: {url: %[2]q, timeout: 200ms}}}
  - {path_prefix: /down/, upstream: app, name: down, auth: {forward: {url: %[3]q}}}
  - {path_prefix: /limited/, upstream: app, name: limited, rate_limit: {rps: 0.01, burst: 2},
     auth: {forward: {url: %[2]q}}}
  - {path_prefix: /keep/, upstream: app, name: keep, auth: {forward: {url: %[2]q}}}
  - {path_prefix: /, upstream: app}
`, up, auth.url, deadURL), nil)

	for _, tt := range []struct {
		name, method, path, body string
		fields                   map[string]string
		status                   int
		check                    func(t *testing.T, resp *http.Response, body string)
	}{
		{name: "admitted", method: "GET", path: "/ok/a?q=1", fields: map[string]string{"X-User": "mallory", "Authorization": "Bearer t1",
			"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Real-Ip": "203.0.113.9",
			"Forwarded": "for=203.0.113.9", "X-Forwarded-Prefix": "/evil", "Connection": "X-Private", "X-Private": "hop",
			"Proxy-Authorization": "Basic cHJveHk6cGFzcw=="}, status: 200,
			check: func(t *testing.T, resp *http.Response, body string) {
				var saw upstreamSaw
				json.Unmarshal([]byte(body), &saw)
				if strings.Join(saw.XUser, ",") != "bob" || saw.Authorization != "Bearer t1" {
					t.Errorf("the upstream saw %+v, want X-User bob from the auth service", saw)
				}
				h := auth.sawFor("/ok/a?q=1").header
				for k, v := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http",
					"X-Forwarded-Host": strings.TrimPrefix(base, "http://"), "X-Forwarded-Method": "GET", "Authorization": "Bearer t1",
					"Forwarded": "", "X-Forwarded-Prefix": "", "X-Private": "", "Proxy-Authorization": ""} {
					if strings.Join(h.Values(k), ",") != v {
						t.Errorf("the auth service saw %s %q, want %q (the client's own forwarding and hop-by-hop fields left out)", k, h.Values(k), v)
					}
				}
			}},
		{name: "admitted without the copied field", method: "GET", path: "/bare/a", fields: map[string]string{"X-User": "mallory"}, status: 200,
			check: func(t *testing.T, resp *http.Response, body string) {
				var saw upstreamSaw
				if json.Unmarshal([]byte(body), &saw); len(saw.XUser) != 0 {
					t.Errorf("the upstream saw X-User %q, want none: the client's is removed", saw.XUser)
				}
			}},
		{name: "POST body goes upstream, not to the auth service", method: "POST", path: "/ok/post", body: "payload=1",
			fields: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Expect": "100-continue"}, status: 200,
			check: func(t *testing.T, resp *http.Response, body string) {
				var saw upstreamSaw
				if json.Unmarshal([]byte(body), &saw); saw.Method != "POST" || saw.Body != "payload=1" {
					t.Errorf("the upstream saw %+v, want the POST with its body", saw)
				}
				a := auth.sawFor("/ok/post")
				if a.method != "GET" || a.body != 0 || a.header.Get("Content-Length") != "" || a.header.Get("Expect") != "" ||
					a.header.Get("X-Forwarded-Method") != "POST" {
					t.Errorf("the auth service saw %s with %d body bytes, header %v: want a GET without a body", a.method, a.body, a.header)
				}
			}},
		{name: "refused", method: "GET", path: "/deny/x", status: 401,
			check: func(t *testing.T, resp *http.Response, body string) {
				h := resp.Header
				if body != "token expired" || h.Get("WWW-Authenticate") != `Bearer realm="api"` || h.Get("Set-Cookie") != "tried=1" ||
					h.Get("X-Hop") != "" || h.Get("Content-Length") != "13" {
					t.Errorf("refusal %v %q, want the auth service's without its hop-by-hop fields", h, body)
				}
			}},
		{name: "refused HEAD has no body", method: "HEAD", path: "/deny/head", status: 401,
			check: func(t *testing.T, resp *http.Response, body string) {
				if body != "" || auth.sawFor("/deny/head").method != "GET" {
					t.Errorf("HEAD refusal body %q", body)
				}
			}},
		{name: "redirect to login", method: "GET", path: "/login/x", status: 302,
			check: func(t *testing.T, resp *http.Response, body string) {
				if loc := resp.Header.Get("Location"); loc != "https://login.example/?rd=/login/x" {
					t.Errorf("Location %q", loc)
				}
			}},
		{name: "answer too big", method: "GET", path: "/big/x", status: 502},
		{name: "auth service times out", method: "GET", path: "/slow/x", status: 502},
		{name: "auth service down", method: "GET", path: "/down/x", fields: map[string]string{"Authorization": "Bearer downsecret"}, status: 502},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := send(t, tt.method, base+tt.path, tt.body, tt.fields)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %q, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}
			if tt.status == 502 {
				var e map[string]any
				if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] != "authentication unavailable" ||
					e["request_id"] != resp.Header.Get("X-Request-Id") || e["request_id"] == "" {
					t.Errorf("502 body %q is not the JSON error shape with the request id and a message for the client", body)
				}
			}
			if tt.check != nil {
				tt.check(t, resp, body)
			}
		})
	}
	for msg, route := range map[string]string{"auth service timed out": "slow", "auth service failed": "down"} {
		if lines := log.FilterMessage(msg).FilterField(zap.String("route", route)).All(); len(lines) != 1 {
			t.Errorf("%d log lines %q for route %s, want 1", len(lines), msg, route)
		} else if err := fmt.Sprint(lines[0].ContextMap()["error"]); route == "down" && !strings.Contains(err, "refused") {
			t.Errorf("log line error %q, want the cause", err)
		}
	}
	noSecrets(t, "gateway log", log, "Bearer", "downsecret")

	t.Run("refusals are rate limited", func(t *testing.T) {
		var got []int
		for range 3 {
			resp, _ := send(t, "GET", base+"/limited/deny/x", "", nil)
			got = append(got, resp.StatusCode)
		}
		if fmt.Sprint(got) != "[401 401 429]" {
			t.Errorf("statuses %v, want [401 401 429]: refusals count against the rate limit", got)
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		before := auth.conns.Load()
		for i := range 5 {
			if resp, body := send(t, "GET", base+"/keep/"+strconv.Itoa(i), "", nil); resp.StatusCode != 200 {
				t.Fatalf("GET /keep/%d = %d %q", i, resp.StatusCode, body)
			}
		}
		if n := auth.conns.Load() - before; n != 1 {
			t.Errorf("5 sequential requests opened %d connections to the auth service, want 1", n)
		}
	})
}

// From a trusted proxy, the client's X-Forwarded-For names the client and its X-Forwarded-Host and
// -Proto are passed on; X-Forwarded-Method and -Uri are always the request's own.
func TestForwardAuthTrustedProxy(t *testing.T) {
	auth := startGoAuth(t)
	base, _ := buildServed(t, fmt.Sprintf(`
trusted_proxies: [127.0.0.1]
upstreams: {app: {targets: [%q]}}
routes:
  - {path_prefix: /, upstream: app, auth: {forward: {url: %q}}}
`, echoUpstream(t), auth.url))
	send(t, "GET", base+"/ok/t", "", map[string]string{"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Forwarded-Host": "shop.example",
		"X-Forwarded-Proto": "https", "X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/other"})
	h := auth.sawFor("/ok/t").header
	for k, v := range map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9", "X-Forwarded-Host": "shop.example",
		"X-Forwarded-Proto": "https", "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/ok/t"} {
		if strings.Join(h.Values(k), ",") != v {
			t.Errorf("the auth service saw %s %q, want %q", k, h.Values(k), v)
		}
	}
}

// Closing a gateway (as a retired generation is, once drained) closes its idle connections to the
// auth service.
func TestForwardAuthClosedWithGateway(t *testing.T) {
	auth := startGoAuth(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
upstreams: {app: {targets: [%q]}}
routes:
  - {path_prefix: /, upstream: app, auth: {forward: {url: %q}}}
`, echoUpstream(t), auth.url)), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw, err := Build(cfg, Deps{Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	if resp, body := send(t, "GET", srv.URL+"/ok/x", "", nil); resp.StatusCode != 200 {
		t.Fatalf("GET /ok/x = %d %q", resp.StatusCode, body)
	}
	if n := auth.conns.Load(); n != 1 || auth.closed.Load() != 0 {
		t.Fatalf("%d connections opened, %d closed before Close; want 1 kept open", n, auth.closed.Load())
	}
	if err := gw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for auth.closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the server notes the close in its own goroutine
	}
	if auth.closed.Load() != 1 {
		t.Fatal("the auth service's connection is still open 10s after the gateway closed")
	}
}
