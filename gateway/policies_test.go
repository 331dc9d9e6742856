package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/internal/browser"
)

// allow and deny answer 403 in the JSON error shape before a request reaches its route (the
// upstream, a static mount), counted as rejected for reason "ip"; the test's client is 127.0.0.1.
func TestAllowDenyAtTheEdge(t *testing.T) {
	api := namedUpstream(t, "api")
	metrics := admin.NewMetrics()
	base, _ := buildObserved(t, fmt.Sprintf(`
defaults: {deny: [127.0.0.0/8]}
upstreams: {api: {targets: [%q]}}
routes:
  - {path: /open, upstream: api, allow: [127.0.0.1, "::1"]}
  - {path: /closed, upstream: api, allow: [198.51.100.0/24], name: closed}
  - {path: /inherits, upstream: api, name: inherits}
static:
  - {prefix: /, path: site, name: site}
`, api), metrics)
	for _, tt := range []struct {
		path   string
		status int
	}{{"/open", 200}, {"/closed", 403}, {"/inherits", 403}, {"/index.html", 403}} {
		status, body, h := do(t, base, "GET", "x", tt.path)
		if status != tt.status {
			t.Errorf("GET %s = %d %q, want %d", tt.path, status, body, tt.status)
			continue
		}
		if status == 403 {
			var e map[string]any
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["status"] != 403.0 || e["request_id"] != h.Get("X-Request-Id") {
				t.Errorf("GET %s: 403 body %q is not the JSON error shape with the request id", tt.path, body)
			}
		} else if body != "api /open" {
			t.Errorf("GET /open = %q", body)
		}
	}
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	_, exposition, _ := do(t, srv.URL, "GET", "x", "/")
	for _, want := range []string{`frontgate_rejected_total{reason="ip",route="closed"} 1`, `frontgate_rejected_total{reason="ip",route="site"} 1`} {
		if !strings.Contains(exposition, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A redirect route answers with its target; header rules reach the upstream and change the answer
// after the proxy's own fields.
func TestRedirectsAndHeaderRules(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "upstream/1.0")
		fmt.Fprintf(w, "env=%s from=%s cookie=%q proto=%s", r.Header.Get("X-Env"), r.Header.Get("X-Client"), r.Header.Get("Cookie"),
			r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(up.Close)
	base, _ := buildServed(t, fmt.Sprintf(`
defaults:
  headers:
    response: {set: {Strict-Transport-Security: "max-age=63072000"}, remove: [Server]}
upstreams: {u: {targets: [%q]}}
routes:
  - {path_prefix: /old/, redirect: {to: "https://{host}/new{path}{query}", status: 308}}
  - path: /app
    upstream: u
    headers:
      request: {set: {X-Env: prod, X-Client: "{client_ip}", X-Forwarded-Proto: https}, remove: [Cookie]}
      response: {set: {X-Frame-Options: DENY}}
  - {path: /plain, upstream: u}
`, up.URL))
	status, _, h := do(t, base, "GET", "shop.example:8080", "/old/cart?id=3")
	if status != 308 || h.Get("Location") != "https://shop.example/new/old/cart?id=3" || h.Get("Strict-Transport-Security") == "" {
		t.Errorf("redirect: %d Location %q", status, h.Get("Location"))
	}
	req, _ := http.NewRequest("GET", base+"/app", nil)
	req.Header.Set("Cookie", "session=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `env=prod from=127.0.0.1 cookie="" proto=https` { // the rule wins over the proxy's own field
		t.Errorf("the upstream saw %s", body)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Server") != "upstream/1.0" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("/app answer header %v: want its own rules (not the defaults')", resp.Header)
	}
	_, _, h = do(t, base, "GET", "x", "/plain")
	if h.Get("Server") != "" || h.Get("Strict-Transport-Security") != "max-age=63072000" {
		t.Errorf("/plain answer header %v: want the defaults' rules", h)
	}
}

// Basic auth against an htpasswd file written by Debian's htpasswd (bcrypt), tried with curl.
func TestBasicAuthWithHtpasswdAndCurl(t *testing.T) {
	for _, tool := range []string{"htpasswd", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this test needs %s: apt-get install -y apache2-utils curl", tool)
		}
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if out, err := exec.Command("htpasswd", "-B", "-b", "-c", users, "alice", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v %s", err, out)
	}
	up := namedUpstream(t, "admin")
	metrics := admin.NewMetrics()
	base, _ := buildObserved(t, fmt.Sprintf(`
upstreams: {admin: {targets: [%q]}}
routes:
  - {path_prefix: /admin/, upstream: admin, name: admin, auth: {basic: {realm: admin, users_file: %q}}}
  - {path: /open, upstream: admin}
`, up, users), metrics)
	curl := func(args ...string) string {
		out, err := exec.Command("curl", append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code} %header{www-authenticate}"}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{base + "/admin/x"}, `401 Basic realm="admin", charset="UTF-8"`},
		{[]string{"-u", "alice:wrong", base + "/admin/x"}, `401 Basic realm="admin", charset="UTF-8"`},
		{[]string{"-u", "alice:s3cret", base + "/admin/x"}, "200 "},
		{[]string{base + "/open"}, "200 "},
	} {
		if got := curl(tt.args...); got != tt.want {
			t.Errorf("curl %v = %q, want %q", tt.args, got, tt.want)
		}
	}
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	if _, exposition, _ := do(t, srv.URL, "GET", "x", "/"); !strings.Contains(exposition, `frontgate_rejected_total{reason="auth",route="admin"} 2`) {
		t.Error("/metrics does not count the two refusals")
	}
}

// Chromium's fetch from a page of another origin: the preflight is answered at the edge, the PUT
// with a custom header reaches the upstream and its answer the page; a route whose policy does not
// list the page's origin is blocked by the browser.
func TestCORSFromChromium(t *testing.T) {
	var puts atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Header.Get("X-Token") == "t1" {
			puts.Add(1)
		}
		io.WriteString(w, "from-upstream")
	}))
	t.Cleanup(up.Close)
	var gatewayURL string // set before the page server starts, read by its handler
	page := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><p id="a">pending</p><p id="b">pending</p><script>
function call(path, id) {
  return fetch(%q + path, {method: "PUT", headers: {"X-Token": "t1"}})
    .then(r => r.text()).then(t => { document.getElementById(id).textContent = "got:" + t; })
    .catch(() => { document.getElementById(id).textContent = "blocked"; });
}
call("/api/x", "a"); call("/other/x", "b");
</script>`, gatewayURL)
	}))
	t.Cleanup(page.Close)
	origin := "http://" + page.Listener.Addr().String()
	base, _ := buildServed(t, fmt.Sprintf(`
upstreams: {u: {targets: [%q]}}
routes:
  - {path_prefix: /api/, upstream: u, cors: {origins: [%q], methods: [GET, PUT], headers: [X-Token], max_age: 10m}}
  - {path_prefix: /other/, upstream: u, cors: {origins: ["https://elsewhere.example"], methods: [PUT], headers: [X-Token]}}
`, up.URL, origin))
	gatewayURL = base
	page.Start()
	dom := browser.Render(t, page.URL)
	if !strings.Contains(dom, `<p id="a">got:from-upstream</p>`) || !strings.Contains(dom, `<p id="b">blocked</p>`) {
		t.Errorf("the page shows:\n%s", dom)
	}
	if puts.Load() != 1 {
		t.Errorf("%d PUTs reached the upstream, want 1 (the allowed origin's)", puts.Load())
	}
}

// Error pages: a browser gets the HTML page for the status of frontgate's own error answers (the
// router's 404, the proxy's 502), everyone else the JSON shape.
func TestErrorPages(t *testing.T) {
	dir := t.TempDir()
	for name, html := range map[string]string{"404.html": "<h1>Nothing at this address</h1>", "5xx.html": "<h1>Down ({status}, {request_id})</h1>"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // refuses connections: 502
	base, _ := buildServed(t, fmt.Sprintf(`
error_pages: {404: %q, 5xx: %q}
upstreams: {gone: {targets: [%q]}}
routes:
  - {path: /app, upstream: gone, retries: 0}
`, filepath.Join(dir, "404.html"), filepath.Join(dir, "5xx.html"), deadURL))
	fetch := func(path, accept string) (int, string, string, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b), resp.Header.Get("X-Request-Id")
	}
	browser := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	if status, ct, body, _ := fetch("/nowhere", browser); status != 404 || ct != "text/html; charset=utf-8" || body != "<h1>Nothing at this address</h1>" {
		t.Errorf("browser 404: %d %s %q", status, ct, body)
	}
	if status, ct, body, id := fetch("/app", browser); status != 502 || body != "<h1>Down (502, "+id+")</h1>" {
		t.Errorf("browser 502: %d %s %q", status, ct, body)
	}
	if status, ct, body, _ := fetch("/nowhere", ""); status != 404 || ct != "application/json" || !strings.Contains(body, `"status":404`) {
		t.Errorf("API client 404: %d %s %q", status, ct, body)
	}
}

// rewrite changes the forwarded path by its regular expression, after strip_prefix; the query stays.
func TestRewrite(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RequestURI())
	}))
	t.Cleanup(up.Close)
	base, _ := buildServed(t, fmt.Sprintf(`
upstreams: {u: {targets: [%q]}}
routes:
  - {path_prefix: /v1/, upstream: u, rewrite: {regex: "^/v1/(.*)$", to: "/api/$1"}}
  - {path_prefix: /shop/, strip_prefix: true, upstream: u, rewrite: {regex: "^/items/([0-9]+)$", to: "/item?id=$1"}}
`, up.URL))
	for path, want := range map[string]string{
		"/v1/users?page=2": "/api/users?page=2",
		"/v1/a%20b":        "/api/a%20b",
		"/shop/items/42":   "/item%3Fid=42", // a path stays a path: ? is escaped, never a query
		"/shop/other":      "/other",
	} {
		if _, body, _ := do(t, base, "GET", "x", path); body != want {
			t.Errorf("GET %s: the upstream saw %q, want %q", path, body, want)
		}
	}
}

// A static mount takes the policy keys a route takes, each key not given falling back to the
// defaults section's: here one mount asks for a password and another refuses the test's network,
// while a third keeps the defaults' header rule.
func TestStaticMountPolicies(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := buildServed(t, fmt.Sprintf(`
defaults:
  headers: {response: {set: {X-Frame-Options: DENY}}}
static:
  - {prefix: /private/, path: site, auth: {basic: {realm: docs, users: {alice: %q}}}}
  - {prefix: /closed/, path: site, deny: [127.0.0.0/8, "::1"]}
  - {prefix: /, path: site, headers: {response: {set: {X-Mount: root}}}}
  - {prefix: /plain/, path: site}
`, hash))
	for _, tt := range []struct {
		path, user   string
		status       int
		frame, mount string
	}{
		{path: "/private/index.html", status: 401, frame: "DENY"},
		{path: "/private/index.html", user: "alice:s3cret", status: 200, frame: "DENY"},
		{path: "/closed/index.html", status: 403, frame: "DENY"},
		{path: "/index.html", status: 200, mount: "root"}, // its own rules replace the defaults'
		{path: "/plain/index.html", status: 200, frame: "DENY"},
	} {
		t.Run(tt.path+" "+tt.user, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tt.path, nil)
			if name, pass, ok := strings.Cut(tt.user, ":"); ok {
				req.SetBasicAuth(name, pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || (tt.status == 200 && string(body) != "docs home") {
				t.Fatalf("status %d body %q, want %d", resp.StatusCode, body, tt.status)
			}
			if got := resp.Header.Get("X-Frame-Options"); got != tt.frame {
				t.Errorf("X-Frame-Options %q, want %q", got, tt.frame)
			}
			if got := resp.Header.Get("X-Mount"); got != tt.mount {
				t.Errorf("X-Mount %q, want %q", got, tt.mount)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="docs", charset="UTF-8"` {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// auth: false, cors: false and headers: false on a route or mount lift the defaults' policy there;
// the others keep it.
func TestSwitchingDefaultsOff(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	api := namedUpstream(t, "api")
	base, _ := buildServed(t, fmt.Sprintf(`
defaults:
  auth: {basic: {users: {alice: %q}}}
  cors: {origins: ["https://app.example.com"]}
  headers: {response: {set: {X-Frame-Options: DENY}}}
upstreams: {api: {targets: [%q]}}
routes:
  - {path: /guarded, upstream: api}
  - {path: /public, upstream: api, auth: false, cors: false, headers: false}
static:
  - {prefix: /, path: site, auth: false}
`, hash, api))
	for _, tt := range []struct {
		path         string
		status       int
		frame, allow string
	}{
		{"/guarded", 401, "DENY", "https://app.example.com"},
		{"/public", 200, "", ""},
		{"/index.html", 200, "DENY", "https://app.example.com"},
	} {
		req, _ := http.NewRequest("GET", base+tt.path, nil)
		req.Header.Set("Origin", "https://app.example.com")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("X-Frame-Options") != tt.frame ||
			resp.Header.Get("Access-Control-Allow-Origin") != tt.allow {
			t.Errorf("GET %s: %d, X-Frame-Options %q, Access-Control-Allow-Origin %q; want %d %q %q", tt.path, resp.StatusCode,
				resp.Header.Get("X-Frame-Options"), resp.Header.Get("Access-Control-Allow-Origin"), tt.status, tt.frame, tt.allow)
		}
	}
}
