package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/acmetest"
)

// The README's ACME config passes check and, pointed at a test CA (Pebble, on loopback) instead of
// Let's Encrypt, gets a certificate for each of its hosts by itself and serves it, with each expiry
// on /metrics. Its ports and storage folder are swapped for the test's, nothing else.
func TestReadmeACMEConfig(t *testing.T) {
	yaml := readmeYAML(t, "acme-config")
	ca := acmetest.Start(t, acmetest.Options{})
	dir := t.TempDir()
	for _, r := range []struct{ old, new string }{
		{`listen: ":443"`, fmt.Sprintf("listen: %q", net.JoinHostPort("127.0.0.1", strconv.Itoa(ca.TLSPort)))},
		{`http_listen: ":80"`, fmt.Sprintf("http_listen: %q", net.JoinHostPort("127.0.0.1", strconv.Itoa(ca.HTTPPort)))},
		{"storage: /var/lib/frontgate/acme", "storage: " + filepath.Join(dir, "acme")},
		{"  acme:\n", fmt.Sprintf("  acme:\n    directory: %s\n    ca_root: %s\n", ca.Directory, ca.DirectoryRootPEM)},
	} {
		if !strings.Contains(yaml, r.old) {
			t.Fatalf("the README's ACME config has no %q to replace", r.old)
		}
		yaml = strings.Replace(yaml, r.old, r.new, 1)
	}
	cfg := writeFile(t, dir, "gw.yaml", yaml+"log: {format: json}\nadmin: {listen: \"127.0.0.1:0\"}\n")
	if stdout, stderr, code := runCmd(t, "check", "-config", cfg); code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, stdout, stderr)
	}

	gw := start(t, "serve", "-config", cfg)
	adminAddr := gw.listenerAddr(t, "admin")
	roots := ca.IssuerRoots(t)
	names := []string{"example.com", "www.example.com"}
	begin := time.Now()
	leaves := map[string]*x509.Certificate{}
	for _, name := range names {
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", gw.Addr, &tls.Config{ServerName: name, RootCAs: roots})
			if err == nil {
				leaves[name] = c.ConnectionState().PeerCertificates[0]
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no certificate from the test CA served within 30s: %v\n%s", name, err, gw.Logs.Text())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !slices.Equal(leaves[name].DNSNames, []string{name}) {
			t.Errorf("%s: served a certificate for %v", name, leaves[name].DNSNames)
		}
	}
	t.Logf("the binary obtained %v in %v", names, time.Since(begin).Round(time.Millisecond))
	if n := strings.Count(ca.Output(), "Added order"); n != len(names) {
		t.Errorf("the CA took %d orders, want %d", n, len(names))
	}

	_, metrics := get(t, "http://"+adminAddr+"/metrics")
	for _, name := range names {
		series := fmt.Sprintf("frontgate_tls_certificate_expiry_seconds{name=%q,source=\"acme\"} ", name)
		_, rest, found := strings.Cut(metrics, "\n"+series)
		value, _, _ := strings.Cut(rest, "\n")
		if v, err := strconv.ParseFloat(value, 64); !found || err != nil || int64(v) != leaves[name].NotAfter.Unix() {
			t.Errorf("metrics: %s%q, want %d", series, value, leaves[name].NotAfter.Unix())
		}
	}
}
