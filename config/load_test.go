package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/leanhttp"
	"github.com/frontgate/frontgate/proxy"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "static", "css"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "afile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "frontgate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadGood(t *testing.T) {
	path := writeConfig(t, `
listen: "127.0.0.1:8080"
log: {level: debug, format: json, access: false}
demo: true
static:
  - {prefix: /css2017/, path: static/css, name: css, show_index: true}
upstreams:
  backend:
    targets: ["http://127.0.0.1:9000", {url: "http://127.0.0.1:9001/base", weight: 3}]
    dial_timeout: 2s
    balance: hash
    hash_key: "header:X-User"
    health: {path: /healthz, expect_status: 204}
routes:
  - {path: /demo2, methods: [POST], upstream: backend}
  - {path_prefix: /api/, strip_prefix: true, upstream: backend, response_header_timeout: 250ms, retries: 0, retry_body_max: 1MiB, host: preserve}
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Log.Level != "debug" || c.Log.Access || !c.Demo {
		t.Errorf("top level decoded wrong: %+v", c)
	}
	want := filepath.Join(filepath.Dir(path), "static", "css")
	if got := c.Static[0]; got.Path != want || got.Prefix != "/css2017/" || !got.ShowIndex || got.Name != "css" {
		t.Errorf("static[0] = %+v, want path %s", got, want)
	}
	if u := c.Upstreams["backend"]; len(u.Targets) != 2 || u.Targets[0].Weight != 1 || u.Targets[1].Weight != 3 || u.Targets[1].URL != "http://127.0.0.1:9001/base" ||
		u.DialTimeout != 2*time.Second || u.MaxIdlePerTarget != proxy.DefaultMaxIdlePerTarget || u.Balance != Hash || u.HashKey.Key != (Key{Header, "X-User"}) ||
		u.Health.Interval != proxy.DefaultHealthInterval || u.Health.Rise != proxy.DefaultRise || u.Health.ExpectStatus != 204 || u.MaxFails != DefaultMaxFails {
		t.Errorf("upstream decoded wrong: %+v", u)
	}
	if r := c.Routes[1]; r.PathPrefix != "/api/" || !r.StripPrefix || r.ResponseHeaderTimeout != 250*time.Millisecond || r.Name != "/api/" ||
		r.Retries != 0 || r.RetryBodyMax != 1<<20 || r.Host != PreserveHost || r.TryTimeout != 250*time.Millisecond {
		t.Errorf("routes[1] decoded wrong: %+v", r)
	}
	if r := c.Routes[0]; r.ResponseHeaderTimeout != proxy.DefaultResponseHeaderTimeout || r.Methods[0] != "POST" {
		t.Errorf("routes[0] defaults wrong: %+v", r)
	}
	if r := c.Routes[0]; r.Retries != DefaultRetries || r.RetryBodyMax != proxy.DefaultRetryBodyMax || r.Host != TargetHost || r.DialTimeout != 2*time.Second {
		t.Errorf("routes[0] engine defaults wrong: %+v", r)
	}
	if c.Server.ReadHeaderTimeout != leanhttp.DefaultReadHeaderTimeout || c.Server.MaxHeaderBytes != leanhttp.DefaultMaxHeaderBytes {
		t.Errorf("server defaults wrong: %+v", c.Server)
	}
}

func TestDefault(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded || c.Listen != ":8080" || !c.Demo || c.Upstreams["demo"].Builtin != "echo" {
		t.Errorf("default config unexpected: %+v", c)
	}
}

// Each bad config must produce exactly the listed problems, each naming its YAML path and line.
func TestLoadBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key with suggestion", "listen: :8080\nlisen: :9090\n",
			[]string{`lisen: unknown key (did you mean "listen"?) (line 2)`}},
		{"unknown nested key", "upstreams:\n  b:\n    targets: [\"http://x:1\"]\n    tagets: []\n",
			[]string{`upstreams.b.tagets: unknown key (did you mean "targets"?) (line 4)`}},
		{"unknown route and upstream", "upstreams:\n  backend:\n    targets: [\"http://127.0.0.1:9000\"]\nroutes:\n  - {path: /a, upstream: backend}\n  - {path: /b, upstream: api}\n",
			[]string{`routes[1].upstream: unknown upstream "api" (line 6)`}},
		{"every problem at once", `listen: "nowhere"
log: {level: loud, format: xml}
static:
  - {prefix: css, path: static/css}
  - {prefix: /x/, path: missing}
  - {prefix: /y/, path: afile}
upstreams:
  a: {targets: ["ftp://h:1"]}
  b: {}
routes:
  - {upstream: a}
  - {path: /p, path_prefix: /q/, upstream: a}
  - {path: /r, strip_prefix: true, methods: [post]}
`, []string{
			`listen: "nowhere" is not host:port, like 127.0.0.1:8080 or :8080 (line 1)`,
			`log.level: unknown level "loud" (use debug, info, warn or error) (line 2)`,
			`log.format: unknown format "xml" (use json or console) (line 2)`,
			`static[0].prefix: "css" must start and end with "/", like /css/ (line 4)`,
			`static[1].path: folder "` + "DIR" + `/missing" does not exist (line 5)`,
			`static[2].path: "DIR/afile" is a file, not a folder (line 6)`,
			`upstreams.a.targets[0]: "ftp://h:1": the scheme must be http or https (line 8)`,
			`upstreams.b: give targets (like ["http://127.0.0.1:9000"]) or builtin: echo (line 9)`,
			`routes[0]: give path or path_prefix (line 11)`,
			`routes[1]: give either path or path_prefix, not both (line 12)`,
			`routes[2].strip_prefix: only works with path_prefix (line 13)`,
			`routes[2].methods[0]: "post" is not a method; write methods in upper case, like POST (line 13)`,
			`routes[2].upstream: missing; name one of upstreams (a, b) (line 13)`,
		}},
		{"wrong types", "listen: [1]\ndemo: yes please\nserver: {idle_timeout: 5, max_header_bytes: lots}\nstatic: {prefix: /a/}\n",
			[]string{
				`listen: expected a string, got a list (line 1)`,
				`demo: expected true or false, got "yes please" (line 2)`,
				`server.idle_timeout: expected a duration like "5s", "250ms" or "30d", got "5" (line 3)`,
				`server.max_header_bytes: expected a whole number, got "lots" (line 3)`,
				`static: expected a list, got a mapping (line 4)`,
			}},
		{"duplicate key", "demo: true\ndemo: false\n", []string{`demo: key given twice (line 2)`}},
		{"server engine", "server: {engine: turbo}\n", []string{`server.engine: unknown engine "turbo" (use lean or stdlib) (line 1)`}},
		{"duplicate prefix and name", "static:\n  - {prefix: /a/, path: static, name: s}\n  - {prefix: /a/, path: static, name: s}\n",
			[]string{`static[1].prefix: "/a/" is already mounted by static[0] (line 3)`, `static[1].name: "s" is already the name of static[0] (line 3)`}},
		{"yaml syntax", "listen: :8080\n  demo: [\n", []string{`(line 2)`}},
		{"builtin and targets", "upstreams:\n  x: {builtin: echo, targets: [\"http://a:1\"]}\n  y: {builtin: nginx}\n",
			[]string{`upstreams.x: give either targets or builtin, not both (line 2)`, `upstreams.y.builtin: unknown builtin upstream "nginx" (the one there is: echo) (line 3)`}},
		{"empty", "", []string{"the file is empty"}},
		{"upstream engine", `trusted_proxies: ["10.0.0.0/8", "bogus"]
upstreams:
  a:
    targets: ["http://a:1", {url: "http://b:2", weight: -2}, {url: "http://c:3", wieght: 2}]
    balance: fastest
    health: {interval: 1s}
  b:
    targets: ["http://a:1"]
    balance: hash
    hash_key: "ip"
  c:
    targets: ["https://a:1"]
    h2c: true
    hash_key: client_ip
routes:
  - {path: /a, upstream: a, host: client, retries: 11, try_timeout: 1m, retry_body_max: lots}
`, []string{
			`trusted_proxies[1]: "bogus" is not a CIDR like 10.0.0.0/8 or an IP address (line 1)`,
			`upstreams.a.targets[2].wieght: unknown key (did you mean "weight"?) (line 4)`,
			`upstreams.a.targets[1].weight: must be between 1 and 1000, got -2 (line 4)`,
			`upstreams.a.balance: unknown policy "fastest" (use round_robin, least_conn, random or hash) (line 5)`,
			`upstreams.a.health: give a path to check, or leave health out (line 6)`,
			`upstreams.b.hash_key: unknown key "ip" (use client_ip, header:NAME or cookie:NAME) (line 10)`,
			`upstreams.c.targets[0]: h2c is HTTP/2 without TLS: use http:// targets (line 12)`,
			`upstreams.c.hash_key: only works with balance: hash (line 14)`,
			`routes[0].host: unknown value "client" (use upstream or preserve) (line 16)`, // decoded in the line's order
			`routes[0].retry_body_max: expected a size like 65536, "64KiB" or "32MiB", got "lots" (line 16)`,
			`routes[0].retries: must be between 0 and 10, got 11 (line 16)`,
			`routes[0].try_timeout: 1m0s is longer than response_header_timeout (30s) (line 16)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.yaml)
			got, err := loadProblems(t, path)
			if tt.name == "yaml syntax" {
				if len(got) != 1 || !strings.HasSuffix(got[0], tt.want[0]) {
					t.Fatalf("got %q, want one problem ending %q", got, tt.want[0])
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// loadProblems loads the config at path, which must fail with a *Error, and returns its problems,
// the config's folder written as DIR, and the error.
func loadProblems(t *testing.T, path string) ([]string, error) {
	t.Helper()
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error = %v, want *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, strings.ReplaceAll(p.String(), filepath.Dir(path), "DIR"))
	}
	return got, err
}

// The documented example at the repository root must always load.
func TestExampleConfig(t *testing.T) {
	if _, err := Load(filepath.Join("..", "config.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "65536": 65536, "64KiB": 64 << 10, "32MiB": 32 << 20, "1GiB": 1 << 30, "2KB": 2000, "5 MB": 5000000, "7B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "12 parsecs", "99999999999GiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
}

// writeCertPair writes a self-signed ECDSA certificate for names, valid until notAfter, and its key to
// dir/tag.crt and dir/tag.key.
func writeCertPair(t *testing.T, dir, tag string, notAfter time.Time, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: tag},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{tag + ".crt": {Type: "CERTIFICATE", Bytes: der}, tag + ".key": {Type: "EC PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// loadTLSConfig writes body as a config beside the pairs a (a.test, *.a.test), b (b.test) and old
// (expired on 2020-01-02), loads it and returns the config's folder too.
func loadTLSConfig(t *testing.T, body string) (*Config, string, error) {
	t.Helper()
	path := writeConfig(t, body)
	dir := filepath.Dir(path)
	later := time.Now().Add(time.Hour)
	writeCertPair(t, dir, "a", later, "a.test", "*.a.test")
	writeCertPair(t, dir, "b", later, "b.test")
	writeCertPair(t, dir, "old", time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), "old.test")
	c, err := Load(path)
	return c, dir, err
}

func TestLoadTLS(t *testing.T) {
	c, dir, err := loadTLSConfig(t, "tls:\n  cert: a.crt\n  key: a.key\n  certs:\n    - {cert: b.crt, key: b.key}\n  default_sni: X.A.Test.\n  redirect_http: \":0\"\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []CertPair{{filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")}, {filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key")}}
	if got := c.TLS.Pairs(); !slices.Equal(got, want) {
		t.Errorf("pairs %v, want %v", got, want)
	}
	if c, _, err := loadTLSConfig(t, "tls:\n  certs: [{cert: b.crt, key: b.key}]\n"); err != nil || len(c.TLS.Pairs()) != 1 {
		t.Errorf("certs alone: %v", err)
	}
}

// wantProblems checks that err is a *Error with exactly the problems want, in order, with the
// config's folder dir written DIR.
func wantProblems(t *testing.T, err error, dir string, want []string) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error = %v, want *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, strings.ReplaceAll(p.String(), dir, "DIR"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Each bad tls section must produce exactly the listed problems (DIR is the config's folder).
func TestLoadTLSBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"a pair given half", "tls:\n  certs:\n    - {cert: a.crt}\n    - {key: b.key}\n",
			[]string{`tls.certs[0].key: missing; give the key file with the certificate (line 3)`, `tls.certs[1].cert: missing; give the certificate file with the key (line 4)`}},
		{"the single pair given half", "tls: {key: a.key}\n", []string{`tls.cert: missing; give the certificate file with the key (line 1)`}},
		{"pairs that do not load", "tls:\n  certs:\n    - {cert: a.crt, key: b.key}\n    - {cert: nope.crt, key: b.key}\n", []string{
			`tls.certs[0].key: cannot load the key for the certificate: tls: private key does not match public key (line 3)`,
			`tls.certs[1].cert: cannot load the certificate and key: open DIR/nope.crt: no such file or directory (line 4)`,
		}},
		{"expired", "tls:\n  cert: a.crt\n  key: a.key\n  certs:\n    - {cert: old.crt, key: old.key}\n",
			[]string{`tls.certs[0].cert: the certificate expired on 2020-01-02T00:00:00Z (notAfter) (line 5)`}},
		{"expired single pair", "tls: {cert: old.crt, key: old.key}\n",
			[]string{`tls.cert: the certificate expired on 2020-01-02T00:00:00Z (notAfter) (line 1)`}},
		{"default_sni no certificate covers", "tls:\n  certs: [{cert: a.crt, key: a.key}, {cert: b.crt, key: b.key}]\n  default_sni: x.y.a.test\n",
			[]string{`tls.default_sni: "x.y.a.test" is not a name any of the certificates covers (line 3)`}},
		{"default_sni an address", "tls:\n  certs: [{cert: a.crt, key: a.key}]\n  default_sni: 127.0.0.1\n",
			[]string{`tls.default_sni: "127.0.0.1" is an IP address; give a DNS name one of the certificates covers (line 3)`}},
		{"no certificate", "tls:\n  default_sni: a.test\n  redirect_http: \":80\"\n", []string{
			`tls.default_sni: needs a certificate: give tls.cert and tls.key or tls.certs (line 2)`,
			`tls.redirect_http: needs tls.cert and tls.key: it redirects to https (line 3)`,
		}},
		{"certs not a list", "tls: {certs: {cert: a.crt}}\n", []string{`tls.certs: expected a list, got a mapping (line 1)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir, err := loadTLSConfig(t, tt.yaml)
			wantProblems(t, err, dir, tt.want)
		})
	}
}
