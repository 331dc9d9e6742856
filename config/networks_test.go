package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// allow and deny decode into networks; a route without its own takes the defaults'.
func TestAllowDeny(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+`defaults: {allow: [10.0.0.0/8, 192.0.2.7, "::ffff:172.16.0.0/108"]}
routes:
  - {path: /a, upstream: u}
  - {path: /b, upstream: u, deny: [203.0.113.0/24]}
  - {path: /c, upstream: u, allow: []}
`), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := func(ns []Network) (s []string) {
		for _, n := range ns {
			s = append(s, n.String())
		}
		return s
	}
	if a := got(c.Routes[0].Allow); len(a) != 3 || a[0] != "10.0.0.0/8" || a[1] != "192.0.2.7/32" || a[2] != "172.16.0.0/12" {
		t.Errorf("routes[0] allow %v, want the defaults'", a)
	}
	if r := c.Routes[1]; len(r.Allow) != 0 || len(r.Deny) != 1 || r.Deny[0].String() != "203.0.113.0/24" {
		t.Errorf("routes[1] allow %v deny %v, want its own deny only", got(r.Allow), got(r.Deny))
	}
	if r := c.Routes[2]; len(r.Allow) != 0 || len(r.Deny) != 0 {
		t.Errorf("routes[2] allow %v deny %v, want none (allow: [] given)", got(r.Allow), got(r.Deny))
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u, allow: [10.0.0.0/33]}\n", `routes[0].allow[0]: "10.0.0.0/33" is not a CIDR like 10.0.0.0/8 or an IP address (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, allow: [10.0.0.0/8], deny: [10.1.0.0/16]}\n", `routes[0].deny: give allow or deny, not both (line 3)`},
		{"defaults: {deny: [example.com]}\n", `defaults.deny[0]: "example.com" is not a CIDR like 10.0.0.0/8 or an IP address (line 2)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

func TestHeadersAndRedirects(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+`defaults:
  headers: {response: {set: {Strict-Transport-Security: "max-age=63072000"}, remove: [Server]}}
routes:
  - {path: /old, redirect: {to: "https://example.com/new{query}"}}
  - {path: /a, upstream: u}
  - {path: /b, upstream: u, headers: {request: {set: {X-Env: prod}}}}
`), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Routes[0]; r.Redirect.Status != 302 || r.Redirect.To != "https://example.com/new{query}" {
		t.Errorf("redirect %+v, want the default status 302", r.Redirect)
	}
	if h := c.Routes[1].Headers; h == nil || h.Response.Set["Strict-Transport-Security"] != "max-age=63072000" {
		t.Errorf("routes[1] headers %+v, want the defaults'", h)
	}
	if h := c.Routes[2].Headers; h == nil || h.Request.Set["X-Env"] != "prod" || len(h.Response.Remove) != 0 {
		t.Errorf("routes[2] headers %+v, want its own", h)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, redirect: {to: /b}, upstream: u}\n", `routes[0].upstream: a redirect route forwards nothing: give redirect or upstream, not both (line 3)`},
		{"routes:\n  - {path: /a, redirect: {to: /b, status: 200}}\n", `routes[0].redirect.status: 200 is not a redirect status (use 301, 302, 303, 307 or 308) (line 3)`},
		{"routes:\n  - {path: /a, redirect: {status: 301}}\n", `routes[0].redirect.to: missing; give the target, like https://example.com{path}{query} (line 3)`},
		{"routes:\n  - {path: /a, redirect: {to: \"/{paht}\"}}\n", `routes[0].redirect.to: unknown placeholder {paht} (use {host}, {path}, {query}, {request_id}, {client_ip}) (line 3)`},
		{"defaults: {headers: {request: {set: {\"Bad Name\": x}}}}\n", `defaults.headers.request.set.Bad Name: "Bad Name" is not a header field name (line 2)`},
		{"defaults: {headers: {response: {add: {X-A: \"a\\r\\nSet-Cookie: b\"}}}}\n", `defaults.headers.response.add.X-A: the value holds a control character (CR, LF, NUL …) (line 2)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

func TestBasicAuthConfig(t *testing.T) {
	dir := t.TempDir()
	const hash = "$2y$05$Qe3S2m0Qo0pQ2dZ7jVZbEuV2sF1rB8p1m0Xx1bQ1fJpQ9dXKj2H1e" // a bcrypt shape
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte("# team\nalice:"+hash+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "md5"), []byte("bob:$apr1$abc$def\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+"defaults: {auth: {basic: {users_file: users}}}\nroutes:\n  - {path: /a, upstream: u}\n"), "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Routes[0].Auth; a == nil || a.Basic.Realm != "frontgate" || a.Basic.UsersFile != filepath.Join(dir, "users") {
		t.Errorf("routes[0] auth %+v, want the defaults' with the realm filled and the path resolved", a)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u, auth: {basic: {users: {alice: plain}}}}\n", `routes[0].auth.basic.users.alice: not a bcrypt hash (make one with htpasswd -nB alice) (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, auth: {basic: {realm: x}}}\n", `routes[0].auth.basic: give users or users_file (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, auth: {}}\n", `routes[0].auth: give basic: {users: {NAME: BCRYPT_HASH}}, basic: {users_file: htpasswd} or forward: {url: URL} (line 3)`},
		{"defaults: {auth: {basic: {users_file: md5}}}\n", `defaults.auth.basic.users_file: ` + filepath.Join(dir, "md5") + ` line 1: not NAME:BCRYPT_HASH (htpasswd -B writes those) (line 2)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", dir)
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

func TestForwardAuthConfig(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+`defaults: {auth: {forward: {url: "http://127.0.0.1:9100/verify?app=1", copy_headers: [X-User]}}}
routes:
  - {path: /a, upstream: u}
  - {path: /b, upstream: u, auth: {forward: {url: "https://auth.example/check", timeout: 1500ms}}}
`), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Routes[0].Auth.Forward; f == nil || f.URL != "http://127.0.0.1:9100/verify?app=1" || f.Timeout != DefaultForwardAuthTimeout || f.CopyHeaders[0] != "X-User" {
		t.Errorf("routes[0] forward auth %+v, want the defaults' with the timeout filled", f)
	}
	if f := c.Routes[1].Auth.Forward; f.Timeout != 1500*time.Millisecond || len(f.CopyHeaders) != 0 {
		t.Errorf("routes[1] forward auth %+v, want its own", f)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u, auth: {forward: {url: \"http://a/v\"}, basic: {users: {alice: \"$2y$05$Qe3S2m0Qo0pQ2dZ7jVZbEuV2sF1rB8p1m0Xx1bQ1fJpQ9dXKj2H1e\"}}}}\n", `routes[0].auth.forward: give basic or forward, not both (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, auth: {forward: {copy_headers: [X-User]}}}\n", `routes[0].auth.forward.url: missing; give the auth service's URL, like http://127.0.0.1:9100/verify (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, auth: {forward: {url: \"ftp://a/v\"}}}\n", `routes[0].auth.forward.url: "ftp://a/v" is not an http or https URL with a host (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, auth: {forward: {url: \"/verify\"}}}\n", `routes[0].auth.forward.url: "/verify" is not an http or https URL with a host (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, auth: {forward: {url: \"http://u:secret@a/v\"}}}\n", `routes[0].auth.forward.url: no user:password@ in the url: the client's own credentials are passed on (line 3)`},
		{"defaults: {auth: {forward: {url: \"http://a/v\", copy_headers: [X-User, \"X User\"]}}}\n", `defaults.auth.forward.copy_headers[1]: "X User" is not a header field name (line 2)`},
		{"defaults: {auth: {forward: {url: \"http://a/v\", copy_headers: [content-length]}}}\n", `defaults.auth.forward.copy_headers[0]: content-length frames or routes the request: it cannot be copied (line 2)`},
		{"defaults: {auth: {forward: {url: \"http://a/v\", timeout: -1s}}}\n", `defaults.auth.forward.timeout: duration must not be negative, got "-1s" (line 2)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

func TestCORSConfig(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+"defaults: {cors: {origins: [\"https://app.example.com\"], max_age: 10m}}\nroutes:\n  - {path: /a, upstream: u}\n"), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cs := c.Routes[0].CORS; cs == nil || cs.Origins[0] != "https://app.example.com" || cs.MaxAge.Minutes() != 10 {
		t.Errorf("routes[0] cors %+v, want the defaults'", cs)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u, cors: {methods: [GET]}}\n", `routes[0].cors.origins: give the origins allowed, like ["https://app.example.com"], or ["*"] (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, cors: {origins: [\"https://app.example.com/\"]}}\n", `routes[0].cors.origins[0]: "https://app.example.com/" is not an origin: scheme://host[:port], nothing after (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, cors: {origins: [\"*\"], methods: [put]}}\n", `routes[0].cors.methods[0]: "put" is not a method; write methods in upper case, like PUT (line 3)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

func TestErrorPagesConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "404.html"), []byte("<h1>no</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("error_pages: {404: 404.html}\n"), "test", dir)
	if err != nil || c.ErrorPages["404"] != filepath.Join(dir, "404.html") {
		t.Fatalf("%v %v", err, c)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"error_pages: {200: 404.html}\n", `error_pages.200: "200" is not an error status like 404 or a class like 5xx (line 1)`},
		{"error_pages: {5xx: missing.html}\n", `error_pages.5xx: cannot read the page: open ` + filepath.Join(dir, "missing.html") + `: no such file or directory (line 1)`},
	} {
		_, err := Parse([]byte(tt.yaml), "test", dir)
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

func TestRewriteConfig(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+"routes:\n  - {path_prefix: /v1/, upstream: u, rewrite: {regex: \"^/v1/(.*)$\", to: /api/$1}}\n"), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if rw := c.Routes[0].Rewrite; rw.Regex.ReplaceAllString("/v1/users", rw.To) != "/api/users" {
		t.Errorf("rewrite %+v", rw)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u, rewrite: {regex: \"(\", to: /b}}\n", "routes[0].rewrite.regex: not a regular expression (RE2): error parsing regexp: missing closing ): `(` (line 3)"},
		{"routes:\n  - {path: /a, upstream: u, rewrite: {to: /b}}\n", `routes[0].rewrite.regex: missing; give a regular expression (RE2), like ^/v1/(.*)$ (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, rewrite: {regex: a, to: b}}\n", `routes[0].rewrite.to: give the new path, starting with "/", like /api/$1 (line 3)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

// A static mount takes the policy keys a route takes: its own replace the defaults', the others
// are the defaults', and its problems are reported at its own path and line.
func TestStaticMountPoliciesConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`defaults: {max_inflight: 7, allow: [10.0.0.0/8], headers: {response: {set: {X-A: b}}}}
static:
  - {prefix: /a/, path: site, deny: [192.0.2.0/24], rate_limit: {rps: 5}}
  - {prefix: /b/, path: site}
`), "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Static[0].Limits, c.Static[1].Limits
	if a.Allow != nil || len(a.Deny) != 1 || a.RateLimit == nil || a.RateLimit.Burst != 5 || a.MaxInflight != 7 || a.Headers == nil {
		t.Errorf("static[0] %+v: want its own deny and rate limit (burst filled), the defaults' max_inflight and headers", a)
	}
	if len(b.Allow) != 1 || b.MaxBody != DefaultMaxBody || b.Headers == nil {
		t.Errorf("static[1] %+v: want the defaults'", b)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"static:\n  - {prefix: /a/, path: site, rate_limit: {rps: 0}}\n", `static[0].rate_limit.rps: give a positive rate, requests per second (line 2)`},
		{"static:\n  - {prefix: /a/, path: site,\n     allow: [10.0.0.0/8], deny: [10.1.0.0/16]}\n", `static[0].deny: give allow or deny, not both (line 3)`},
		{"static:\n  - {prefix: /a/, path: site, cros: {}}\n", `static[0].cros: unknown key (did you mean "cors"?) (line 2)`},
	} {
		_, err := Parse([]byte(tt.yaml), "test", dir)
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}
