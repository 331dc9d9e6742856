package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

// listenerAddr waits for the "listening" line of the named listener.
func (p *proc) listenerAddr(t *testing.T, name string) string {
	t.Helper()
	line := p.Logs.WaitFor(t, "listening "+name, func(l string) bool {
		e := parseEntry(l)
		return e != nil && e["msg"] == "listening" && e["listener"] == name
	})
	return parseEntry(line)["addr"].(string)
}

// reloaded sends SIGHUP and waits for the outcome's log line after the given count of earlier ones.
func (p *proc) reload(t *testing.T, want string) logEntry {
	t.Helper()
	seen := p.countMsgs("config reloaded") + p.countMsgs("config reload rejected; the running config stays")
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n := 0
	line := p.Logs.WaitFor(t, want, func(l string) bool {
		e := parseEntry(l)
		if e == nil || (e["msg"] != "config reloaded" && e["msg"] != "config reload rejected; the running config stays") {
			return false
		}
		n++
		return n > seen
	})
	e := parseEntry(line)
	if e["msg"] != want {
		t.Fatalf("reload: %v, want %q", e, want)
	}
	return e
}

func (p *proc) countMsgs(msg string) int {
	n := 0
	for _, l := range p.Logs.Lines() {
		if e := parseEntry(l); e != nil && e["msg"] == msg {
			n++
		}
	}
	return n
}

func textServer(t *testing.T, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	t.Cleanup(s.Close)
	return s
}

func TestReload(t *testing.T) {
	one, two := textServer(t, "one"), textServer(t, "two")
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "slow-old")
	}))
	defer slow.Close()
	dir := t.TempDir()
	write := func(target string) string {
		return writeFile(t, dir, "gw.yaml", fmt.Sprintf(`log: {format: json}
admin: {listen: "127.0.0.1:0"}
upstreams: {u: {targets: [%q]}, s: {targets: [%q]}}
routes: [{path: /v, upstream: u}, {path: /slow, upstream: s}]
`, target, slow.URL))
	}
	cfg := write(one.URL)
	gw := startGateway(t, "-config", cfg)
	adminAddr := gw.listenerAddr(t, "admin")
	if _, body := get(t, gw.Base+"/v"); body != "one" {
		t.Fatalf("before reload: %q", body)
	}

	// A request in flight on the old tree finishes there.
	done := make(chan string, 1)
	go func() {
		resp, err := http.Get(gw.Base + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-arrived

	write(two.URL)
	gw.reload(t, "config reloaded")
	if _, body := get(t, gw.Base+"/v"); body != "two" {
		t.Errorf("after reload: %q, want two", body)
	}
	close(release)
	if got := <-done; got != "slow-old" {
		t.Errorf("in-flight request across the reload: %q", got)
	}

	// A bad config is refused with every problem; the running one stays.
	writeFile(t, dir, "gw.yaml", "log: {format: json}\nupstreams: {u: {targets: [\"ftp://x\"]}}\nroutes: [{path: /v, upstream: nope}]\nbogus: 1\n")
	e := gw.reload(t, "config reload rejected; the running config stays")
	problems := fmt.Sprint(e["problems"])
	for _, want := range []string{`bogus: unknown key`, `routes[0].upstream: unknown upstream "nope" (line 3)`, `upstreams.u.targets[0]`} {
		if !strings.Contains(problems, want) {
			t.Errorf("rejection lacks %q: %s", want, problems)
		}
	}
	if _, body := get(t, gw.Base+"/v"); body != "two" {
		t.Errorf("after a bad reload: %q, want two (the running config)", body)
	}
	_, metrics := get(t, "http://"+adminAddr+"/metrics")
	for _, want := range []string{`frontgate_config_reloads_total{result="error"} 1`, `frontgate_config_reloads_total{result="ok"} 1`, // the load at start is no reload
		fmt.Sprintf(`frontgate_upstream_up{pool="u",target=%q} 1`, two.URL), `frontgate_upstream_header_seconds_count{route="/v"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if gone := fmt.Sprintf(`target=%q`, one.URL); strings.Contains(metrics, gone) {
		t.Errorf("metrics still report the target the reload removed (%s)", gone)
	}
}

func TestWatchReloadsOnFileChange(t *testing.T) {
	one, two := textServer(t, "one"), textServer(t, "two")
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\nwatch: true\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /v, upstream: u}]\n", one.URL))
	gw := startGateway(t, "-config", cfg)
	// Replace the file the way editors do: write a new one and rename it over.
	tmp := writeFile(t, dir, "gw.yaml.new", fmt.Sprintf("log: {format: json}\nwatch: true\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /v, upstream: u}]\n", two.URL))
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	line := gw.Logs.WaitFor(t, "config reloaded", func(l string) bool {
		e := parseEntry(l)
		return e != nil && e["msg"] == "config reloaded"
	})
	if parseEntry(line)["reason"] != "file changed" {
		t.Errorf("reload line %s", line)
	}
	if _, body := get(t, gw.Base+"/v"); body != "two" {
		t.Errorf("after the file changed: %q", body)
	}
}

// A listen address change rebinds the public listener; the admin listener keeps serving throughout.
func TestReloadRebindsChangedListener(t *testing.T) {
	dir := t.TempDir()
	first, second, adminAddr := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	write := func(listen string) string {
		return writeFile(t, dir, "gw.yaml", fmt.Sprintf("listen: %q\nlog: {format: json}\ndemo: true\nadmin: {listen: %q}\n", listen, adminAddr))
	}
	cfg := write(first)
	gw := start(t, "serve", "-config", cfg)
	gw.listenerAddr(t, "admin")
	write(second)
	gw.reload(t, "config reloaded")
	if _, body := get(t, "http://"+second+"/"); body != "Hello, world" {
		t.Errorf("new address: %q", body)
	}
	// The old listener closes after the swap (the reload's log line may come first): poll.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", first, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Errorf("old address %s still accepts 10s after the reload", first)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, _ := get(t, "http://"+adminAddr+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("admin after rebind: %d", resp.StatusCode)
	}
	// A port in use rejects the reload whole.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	write(busy.Addr().String())
	gw.reload(t, "config reload rejected; the running config stays")
	if _, body := get(t, "http://"+second+"/"); body != "Hello, world" {
		t.Errorf("after a refused rebind: %q", body)
	}
}

func TestAdminEndpoints(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "one")
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\ndemo: true\nadmin: {listen: \"127.0.0.1:0\"}\ntls: {cert: %q, key: %q}\n", cert, key))
	gw := startGateway(t, "-config", cfg)
	adminBase := "http://" + gw.listenerAddr(t, "admin")
	client := tlsClient(t, cert)
	for i := 0; i < 3; i++ {
		resp, err := client.Get("https://" + gw.Addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": `frontgate_requests_total{route="hello",status="200"} 3`,
		"/config":  `"key": "[redacted]"`,
	} {
		resp, body := get(t, adminBase+path)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("admin %s: %d, lacks %q:\n%.400s", path, resp.StatusCode, want, body)
		}
	}
	if _, body := get(t, adminBase+"/config"); strings.Contains(body, key) {
		t.Error("/config shows the key path")
	}
	if resp, _ := get(t, adminBase+"/debug/pprof/"); resp.StatusCode != 200 {
		t.Errorf("pprof: %d", resp.StatusCode)
	}
	// Never on the public listener.
	resp, err := client.Get("https://" + gw.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("public /metrics: %d, want 404", resp.StatusCode)
	}
}

// selfSigned writes a fresh certificate for 127.0.0.1 and the DNS names given, and its key, named by
// tag (dir/tag.crt, dir/tag.key); each call gives a new key and a random serial.
func selfSigned(t *testing.T, dir, tag string, names ...string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "frontgate-test-" + tag},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = writeFile(t, dir, tag+".crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyPath = writeFile(t, dir, tag+".key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return certPath, keyPath
}

// tlsClient trusts the certificates in the given files and speaks HTTP/2 when offered.
func tlsClient(t *testing.T, certs ...string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range certs {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert1, key1 := selfSigned(t, dir, "one")
	redirectAddr := e2e.FreeAddr(t)
	write := func(cert, key string) string {
		return writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\ndemo: true\ntls: {cert: %q, key: %q, redirect_http: %q}\n", cert, key, redirectAddr))
	}
	cfg := write(cert1, key1)
	gw := startGateway(t, "-config", cfg)
	gw.listenerAddr(t, "redirect")

	resp, err := tlsClient(t, cert1).Get("https://" + gw.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "Hello, world" || resp.ProtoMajor != 2 {
		t.Errorf("https: %q over %s, want Hello, world over HTTP/2", b, resp.Proto)
	}
	// TLS 1.1 is refused.
	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", gw.Addr, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	// The plain listener redirects to https on the public port.
	resp, err = tlsClient(t).Get("http://" + redirectAddr + "/demo1/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(gw.Addr)
	if want := "https://127.0.0.1:" + port + "/demo1/x?y=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 308 %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// A reload picks up a new certificate for new connections.
	cert2, key2 := selfSigned(t, dir, "two")
	write(cert2, key2)
	gw.reload(t, "config reloaded")
	conn, err := tls.Dial("tcp", gw.Addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "frontgate-test-two" {
		t.Errorf("certificate after reload: %s", cn)
	}
}

// HTTP/1.1 over TLS is read by the same rules as over plain TCP, on both engines: a request whose
// framing two parsers could read differently is refused and the connection closed, and a good one
// reaches the upstream marked https. (HTTP/2 over TLS is TestTLS's.)
func TestTLSHTTP1FollowsTheRules(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %q", r.Method, r.URL.Path, r.Header.Get("X-Forwarded-Proto"), b)
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "h1")
	for _, engine := range []string{"lean", "stdlib"} {
		t.Run(engine, func(t *testing.T) {
			cfg := writeFile(t, dir, engine+".yaml", fmt.Sprintf("log: {format: json}\nserver: {engine: %s}\ntls: {cert: %q, key: %q}\n"+
				"upstreams:\n  up: {targets: [%q]}\nroutes:\n  - {path_prefix: /, upstream: up}\n", engine, cert, key, up.URL))
			gw := startGateway(t, "-config", cfg)
			dial := func() *tls.Conn {
				c, err := tls.Dial("tcp", gw.Addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				return c
			}
			c := dial()
			io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			for _, want := range []string{`POST /a https "hello"`, `GET /b https ""`} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(b) != want {
					t.Errorf("%d %q, want %q", resp.StatusCode, b, want)
				}
			}
			c = dial()
			io.WriteString(c, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
			br = bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if _, err := br.ReadByte(); resp.StatusCode != http.StatusBadRequest || err != io.EOF {
				t.Errorf("Content-Length with Transfer-Encoding: %d, then %v; want 400 and a close", resp.StatusCode, err)
			}
		})
	}
}

func TestRouteLimits(t *testing.T) {
	up := textServer(t, "up")
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf(`log: {format: json}
upstreams: {u: {targets: [%q]}}
defaults: {max_body: 1KiB}
routes:
  - {path: /limited, upstream: u, rate_limit: {rps: 0.5, burst: 2}}
  - {path: /small, upstream: u}
  - {path: /big, upstream: u, max_body: 1MiB}
`, up.URL))
	gw := startGateway(t, "-config", cfg)
	for i, want := range []int{200, 200, 429} {
		resp, _ := get(t, gw.Base+"/limited")
		if resp.StatusCode != want {
			t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
		if resp.Header.Get("RateLimit-Limit") != "2" {
			t.Errorf("request %d: RateLimit-Limit %q", i, resp.Header.Get("RateLimit-Limit"))
		}
		if want == 429 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q, want 2", resp.Header.Get("Retry-After"))
		}
	}
	body := strings.Repeat("x", 2048)
	for path, want := range map[string]int{"/small": 413, "/big": 200} {
		resp, _ := post(t, gw.Base+path, "text/plain", strings.NewReader(body))
		if resp.StatusCode != want {
			t.Errorf("POST 2 KiB to %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestH2CListener(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", "log: {format: json}\ndemo: true\nh2c: true\n")
	gw := startGateway(t, "-config", cfg)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	resp, err := client.Get(gw.Base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || string(b) != "Hello, world" {
		t.Errorf("h2c: %s %q", resp.Proto, b)
	}
}

// The net/http engine stays available for plain listeners.
func TestStdlibEngine(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", "log: {format: json}\ndemo: true\nserver: {engine: stdlib}\n")
	gw := startGateway(t, "-config", cfg)
	resp, body := get(t, gw.Base+"/")
	if body != "Hello, world" || resp.Header.Get("Server-Timing") == "" {
		t.Errorf("stdlib engine: %q %v", body, resp.Header)
	}
}
