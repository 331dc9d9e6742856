package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/internal/acmetest"
)

// These tests run the gateway in-process against Pebble (internal/acmetest) on loopback. The names
// a.frontgate.test and b.frontgate.test appear in two tests, which must not run at once: certmagic
// keeps the challenges under way in a process-wide table by name. The parallel tests use names of
// their own.

// acmeWait bounds every wait for an issuance, a renewal or a handshake to serve a certificate.
const acmeWait = 30 * time.Second

// acmeConfig is a config serving hosts (exact names, routed to the echo upstream; none: a route for
// every host) on listen, with tls.acme against ca storing in storage; acme holds more keys of tls.acme,
// each line indented by four spaces.
func acmeConfig(ca *acmetest.CA, listen, storage string, hosts []string, acme string) string {
	return fmt.Sprintf(`listen: %q
log: {access: false}
upstreams: {echo: {builtin: echo}}
routes:
  - {hosts: [%s], path_prefix: /, upstream: echo}
tls:
  acme:
    email: ops@frontgate.test
    directory: %s
    ca_root: %s
    storage: %s
%s`, listen, strings.Join(hosts, ", "), ca.Directory, ca.DirectoryRootPEM, storage, acme)
}

// acmeGateway is a Server under test, on a config file that tests may rewrite and reload.
type acmeGateway struct {
	*Server
	path    string
	logs    *observer.ObservedLogs
	metrics *admin.Metrics
	stop    func() // shuts the server down, once; the test's cleanup calls it too
}

// startACMEGateway writes yaml to dir/gw.yaml and starts a server on it with tune. Its log is kept in
// memory (certmagic's goroutines may log after the test) and shown when the test fails.
func startACMEGateway(t *testing.T, dir, yaml string, tune acmeTuning) *acmeGateway {
	t.Helper()
	path, cfg := writeConfig(t, dir, yaml)
	core, logs := observer.New(zap.InfoLevel)
	g := &acmeGateway{path: path, logs: logs, metrics: admin.NewMetrics()}
	g.Server = NewServer(Options{Path: path, Log: zap.New(core), Metrics: g.metrics})
	g.acmeTune = tune
	if err := g.Start(cfg); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("%s %s: %s %v", e.Level, e.LoggerName, e.Message, e.ContextMap())
			}
		}
	})
	return g
}

// writeConfig writes yaml to dir/gw.yaml and loads it.
func writeConfig(t *testing.T, dir, yaml string) (string, *config.Config) {
	t.Helper()
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// manager is the running ACME manager.
func (g *acmeGateway) manager() *acmeManager {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.acme
}

// count is how many log lines say msg.
func (g *acmeGateway) count(msg string) int {
	return g.logs.FilterMessage(msg).Len()
}

// pebbleOrders is how many orders Pebble has taken.
func pebbleOrders(ca *acmetest.CA) int { return strings.Count(ca.Output(), "Added order") }

// handshake asks addr for sni, trusting roots, and returns the verified chain's leaf.
func handshake(addr, sni string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// waitServed polls addr until a handshake for name gets a certificate for it that chains to roots
// (with the intermediates the server sends), whose serial is not one of not, and returns its leaf.
func waitServed(t *testing.T, addr, name string, roots *x509.CertPool, not ...*x509.Certificate) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(acmeWait)
	for {
		leaf, err := handshake(addr, name, roots)
		if err == nil && !slices.ContainsFunc(not, func(c *x509.Certificate) bool { return c.SerialNumber.Cmp(leaf.SerialNumber) == 0 }) {
			if !slices.Equal(leaf.DNSNames, []string{name}) {
				t.Fatalf("%s: served a certificate for %v", name, leaf.DNSNames)
			}
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no new certificate chaining to the CA served within %v (last: %v)", name, acmeWait, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expiry is the value of frontgate_tls_certificate_expiry_seconds{name,source}; false when absent.
func expiry(t *testing.T, m *admin.Metrics, name, source string) (int64, bool) {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "frontgate_tls_certificate_expiry_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["name"] == name && labels["source"] == source {
				return int64(s.GetGauge().GetValue()), true
			}
		}
	}
	return 0, false
}

// wantExpiry checks that the expiry series of name from source holds leaf's notAfter.
func wantExpiry(t *testing.T, m *admin.Metrics, name, source string, leaf *x509.Certificate) {
	t.Helper()
	if got, ok := expiry(t, m, name, source); !ok || got != leaf.NotAfter.Unix() {
		t.Errorf("frontgate_tls_certificate_expiry_seconds{name=%q,source=%q} = %d (present %v), want %d", name, source, got, ok, leaf.NotAfter.Unix())
	}
}

// A fresh gateway gets certificates for its hosts over HTTP-01 alone (the public listener is on a port
// the CA does not know) and serves them; the HTTP-01 listener redirects other requests to https; a
// reload with unchanged acme settings keeps the manager, a changed one restarts it, and a restart on
// the same storage serves the stored certificates: neither orders again.
func TestACMEHTTP01ReloadRestart(t *testing.T) {
	ca := acmetest.Start(t, acmetest.Options{})
	roots := ca.IssuerRoots(t)
	names := []string{"a.frontgate.test", "b.frontgate.test"}
	dir := t.TempDir()
	storage := filepath.Join(dir, "acme")
	httpListen := fmt.Sprintf("127.0.0.1:%d", ca.HTTPPort)
	yaml := acmeConfig(ca, "127.0.0.1:0", storage, names, "    http_listen: "+httpListen+"\n")
	g := startACMEGateway(t, dir, yaml, acmeTuning{})

	start := time.Now()
	leaves := map[string]*x509.Certificate{}
	for _, name := range names {
		leaves[name] = waitServed(t, g.Addr(), name, roots)
	}
	t.Logf("obtained %v over HTTP-01 in %v", names, time.Since(start).Round(time.Millisecond))
	if n := pebbleOrders(ca); n != len(names) {
		t.Errorf("pebble took %d orders, want %d", n, len(names))
	}
	for _, name := range names {
		wantExpiry(t, g.metrics, name, "acme", leaves[name])
	}

	// A verified HTTPS request to a.frontgate.test reaches its route.
	_, port, _ := net.SplitHostPort(g.Addr())
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, g.Addr())
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://a.frontgate.test:" + port + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET https://a.frontgate.test/hello: %d", resp.StatusCode)
	}
	// The HTTP-01 listener sends everything but challenges to https.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = plain.Get("http://" + httpListen + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != "https://127.0.0.1:"+port+"/x?y=1" {
		t.Errorf("plain GET on http_listen: %d to %q", resp.StatusCode, loc)
	}

	// The same acme settings keep the manager; another email restarts it.
	m := g.manager()
	g.Reload("test")
	if g.manager() != m || g.count("acme manager stopped") != 0 {
		t.Fatal("a reload without acme changes restarted the manager")
	}
	changed := strings.Replace(yaml, "email: ops@frontgate.test", "email: admin@frontgate.test", 1)
	if err := os.WriteFile(g.path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Reload("test")
	if g.manager() == m || g.count("acme manager stopped") != 1 || g.count("acme manager started") != 2 {
		t.Fatalf("a reload with another email: manager replaced %v, %d stopped, %d started",
			g.manager() != m, g.count("acme manager stopped"), g.count("acme manager started"))
	}
	for _, name := range names {
		if leaf := waitServed(t, g.Addr(), name, roots); leaf.SerialNumber.Cmp(leaves[name].SerialNumber) != 0 {
			t.Errorf("%s: after the restart by reload, serial %x, want the stored %x", name, leaf.SerialNumber, leaves[name].SerialNumber)
		}
	}

	// A new process on the same storage serves the stored certificates.
	g.stop()
	g2 := startACMEGateway(t, dir, changed, acmeTuning{})
	for _, name := range names {
		if leaf := waitServed(t, g2.Addr(), name, roots); leaf.SerialNumber.Cmp(leaves[name].SerialNumber) != 0 {
			t.Errorf("%s: after a restart, serial %x, want the stored %x", name, leaf.SerialNumber, leaves[name].SerialNumber)
		}
		wantExpiry(t, g2.metrics, name, "acme", leaves[name])
	}
	if n := pebbleOrders(ca); n != len(names) {
		t.Errorf("pebble took %d orders after the reload and the restart, want still %d", n, len(names))
	}
	if locks, _ := filepath.Glob(filepath.Join(storage, "locks", "*.lock")); len(locks) != 0 {
		t.Errorf("lock files left in storage: %v", locks)
	}
}

// A fresh gateway whose public listener is on the port the CA validates TLS-ALPN-01 at, and without
// http_listen, gets its certificates over TLS-ALPN-01: the public listener answers the validations.
func TestACMETLSALPN01(t *testing.T) {
	ca := acmetest.Start(t, acmetest.Options{})
	roots := ca.IssuerRoots(t)
	names := []string{"a.frontgate.test", "b.frontgate.test"}
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", ca.TLSPort)
	g := startACMEGateway(t, dir, acmeConfig(ca, listen, filepath.Join(dir, "acme"), names, ""), acmeTuning{})

	start := time.Now()
	for _, name := range names {
		leaf := waitServed(t, g.Addr(), name, roots)
		wantExpiry(t, g.metrics, name, "acme", leaf)
	}
	t.Logf("obtained %v over TLS-ALPN-01 in %v", names, time.Since(start).Round(time.Millisecond))
	if n := pebbleOrders(ca); n != len(names) {
		t.Errorf("pebble took %d orders, want %d", n, len(names))
	}
	if n := g.logs.FilterMessage("served key authentication certificate").FilterField(zap.String("challenge", "tls-alpn-01")).Len(); n < len(names) {
		t.Errorf("%d TLS-ALPN-01 validations answered, want at least %d", n, len(names))
	}
	started := g.logs.FilterMessage("acme manager started").All()
	if len(started) != 1 || started[0].ContextMap()["http_01"] != false || started[0].ContextMap()["tls_alpn_01"] != true {
		t.Errorf("manager start lines: %v", started)
	}
	// HTTP/2 still works next to acme-tls/1.
	leaf, err := handshake(g.Addr(), "b.frontgate.test", roots)
	if err != nil || leaf.DNSNames[0] != "b.frontgate.test" {
		t.Errorf("after issuance: %v, %v", leaf, err)
	}
}

// With a short validity, certmagic's maintenance renews the certificate by itself, and the new one is
// served from the next handshake on, with its expiry in the metrics.
func TestACMERenewal(t *testing.T) {
	t.Parallel()
	ca := acmetest.Start(t, acmetest.Options{CertValidity: 12 * time.Second})
	roots := ca.IssuerRoots(t)
	const name = "renew.frontgate.test"
	dir := t.TempDir()
	yaml := acmeConfig(ca, "127.0.0.1:0", filepath.Join(dir, "acme"), []string{name},
		fmt.Sprintf("    http_listen: 127.0.0.1:%d\n", ca.HTTPPort))
	g := startACMEGateway(t, dir, yaml, acmeTuning{renewCheck: 200 * time.Millisecond})

	first := waitServed(t, g.Addr(), name, roots)
	start := time.Now()
	renewed := waitServed(t, g.Addr(), name, roots, first)
	t.Logf("renewed after %v (serial %x, then %x)", time.Since(start).Round(time.Millisecond), first.SerialNumber, renewed.SerialNumber)
	if got, ok := expiry(t, g.metrics, name, "acme"); !ok || got < renewed.NotAfter.Unix() {
		t.Errorf("expiry series %d (present %v), want at least the renewed %d", got, ok, renewed.NotAfter.Unix())
	}
	if n := pebbleOrders(ca); n < 2 {
		t.Errorf("pebble took %d orders, want at least 2", n)
	}
}

// With on_demand, a name the ask endpoint allows gets a certificate at its first handshake; one it
// refuses fails its handshake (there is no default certificate) and is never ordered.
func TestACMEOnDemand(t *testing.T) {
	t.Parallel()
	ca := acmetest.Start(t, acmetest.Options{})
	roots := ca.IssuerRoots(t)
	const allowed, refused = "yes.frontgate.test", "no.frontgate.test"
	var mu sync.Mutex
	var asked []string
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("domain")
		mu.Lock()
		asked = append(asked, name)
		mu.Unlock()
		if name != allowed {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer ask.Close()
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", ca.TLSPort)
	g := startACMEGateway(t, dir, acmeConfig(ca, listen, filepath.Join(dir, "acme"), nil,
		"    on_demand: {ask: \""+ask.URL+"/allowed?token=t\"}\n"), acmeTuning{})

	start := time.Now()
	leaf, err := handshake(g.Addr(), allowed, roots)
	if err != nil {
		t.Fatalf("first handshake for %s: %v", allowed, err)
	}
	t.Logf("obtained %s at its first handshake in %v", allowed, time.Since(start).Round(time.Millisecond))
	if !slices.Equal(leaf.DNSNames, []string{allowed}) {
		t.Errorf("served a certificate for %v", leaf.DNSNames)
	}
	wantExpiry(t, g.metrics, allowed, "acme", leaf)
	if n := pebbleOrders(ca); n != 1 {
		t.Errorf("pebble took %d orders, want 1", n)
	}

	if _, err := handshake(g.Addr(), refused, roots); err == nil {
		t.Errorf("a handshake for %s, which ask refuses, succeeded", refused)
	}
	if n := pebbleOrders(ca); n != 1 {
		t.Errorf("pebble took %d orders after the refused name, want still 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(asked, refused) || !slices.Contains(asked, allowed) {
		t.Errorf("ask was asked about %v", asked)
	}
}

// Without a CA: a certificate file covers a name of tls.acme.names, which is then never ordered and
// gets the file's certificate; a managed name without a certificate yet gets the default (the file's);
// the settings decide whether a reload keeps the manager.
func TestACMEFilesOverride(t *testing.T) {
	dir := t.TempDir()
	file := writePair(t, dir, "a", 7, "a.test")
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
tls:
  certs: [{cert: %s, key: %s}]
  acme: {directory: "https://127.0.0.1:1/dir", storage: acme, names: [a.test, c.test]}
`, file.Cert, file.Key)
	cfg, err := config.Parse([]byte(yaml), "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Options{})
	s.tlsOn = true
	set, m, err := s.loadCerts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.dropACME(m)
	if !slices.Equal(m.settings.names, []string{"c.test"}) || !slices.Equal(m.settings.covered, []string{"a.test"}) {
		t.Errorf("managed %v, covered by files %v", m.settings.names, m.settings.covered)
	}
	conn, peer := net.Pipe() // certmagic logs the remote address of a hello
	defer conn.Close()
	defer peer.Close()
	for _, name := range []string{"a.test", "c.test", ""} {
		c, err := set.GetCertificate(&tls.ClientHelloInfo{ServerName: name, Conn: conn})
		if err != nil || c.Leaf.SerialNumber.Int64() != 7 {
			t.Errorf("%q: got %v, %v; want the file's certificate", name, c, err)
		}
	}
	if _, err := set.GetCertificate(&tls.ClientHelloInfo{ServerName: "c.test", SupportedProtos: []string{acmeALPN}, Conn: conn}); err == nil {
		t.Error("a TLS-ALPN-01 hello without a challenge under way got a certificate")
	}

	s.certs.Store(set)
	s.reportCerts()
	if got, ok := expiry(t, s.opts.Metrics, "a.test", "file"); !ok || got != set.certs[0].Leaf.NotAfter.Unix() {
		t.Errorf("file expiry series %d (present %v)", got, ok)
	}

	s.acme = m
	if _, again, err := s.loadCerts(cfg); err != nil || again != m {
		t.Errorf("unchanged settings: manager %p, want the running %p (%v)", again, m, err)
	}
	cfg.TLS.ACME.Email = "ops@example.com"
	_, other, err := s.loadCerts(cfg)
	if err != nil || other == m {
		t.Errorf("another email: manager %p, want a new one (%v)", other, err)
	}
	s.dropACME(other)
	s.acme = nil
}
