package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The public listener serves each client the certificate for the name it asks for (SNI), the default
// one without a name, and a certificate whose files are rewritten from the next handshakes on, without
// a signal and without watch: true.
func TestSNICertificates(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test needs curl: apt-get install -y curl")
	}
	dir := t.TempDir()
	certA, _ := selfSigned(t, dir, "a", "a.test")
	certB, _ := selfSigned(t, dir, "b", "b.test", "*.b.test")
	cfg := writeFile(t, dir, "gw.yaml", "log: {format: json}\ndemo: true\ntls:\n  certs:\n"+
		"    - {cert: a.crt, key: a.key}\n    - {cert: b.crt, key: b.key}\n  default_sni: b.test\n")
	gw := startGateway(t, "-config", cfg)
	_, port, _ := net.SplitHostPort(gw.Addr)

	// curl asks for a.test, trusting only a's certificate; -w '%{certs}' shows what it was served.
	curl := func(caFile string) string {
		t.Helper()
		out, err := exec.Command("curl", "-sS", "--max-time", "10", "--resolve", "a.test:"+port+":127.0.0.1",
			"--cacert", caFile, "-w", "\n%{certs}", "https://a.test:"+port+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		return string(out)
	}
	out := curl(certA)
	if !strings.HasPrefix(out, "Hello, world\n") || !strings.Contains(out, "DNS:a.test") || strings.Contains(out, "DNS:b.test") {
		t.Errorf("curl for a.test:\n%s", out)
	}

	// Go's client asks for names of b's certificate, exact and by wildcard, and for none.
	for _, tt := range []struct{ sni, want string }{
		{"b.test", "b.test"}, {"api.b.test", "b.test"}, {"a.test", "a.test"},
		{"", "b.test"}, {"unknown.test", "b.test"}, // the default: default_sni
	} {
		t.Run("sni "+cmp.Or(tt.sni, "none"), func(t *testing.T) {
			if names := servedLeaf(t, gw.Addr, tt.sni).DNSNames; !slices.Contains(names, tt.want) {
				t.Errorf("served a certificate for %v, want the one for %s", names, tt.want)
			}
		})
	}
	resp, err := tlsClientFor(t, "b.test", certB).Get("https://" + gw.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("verified request for b.test: %d over %s", resp.StatusCode, resp.Proto)
	}

	// Renew a's certificate in place (the certificate written before its key) and send no signal.
	oldSerial := servedLeaf(t, gw.Addr, "a.test").SerialNumber
	certA, _ = selfSigned(t, dir, "a", "a.test")
	newSerial := fileSerial(t, certA)
	if newSerial.Cmp(oldSerial) == 0 {
		t.Fatal("the renewed certificate has the old serial")
	}
	deadline := time.Now().Add(10 * time.Second)
	for servedLeaf(t, gw.Addr, "a.test").SerialNumber.Cmp(newSerial) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate (serial %v) is not served within 10s", newSerial)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := curl(certA); !strings.HasPrefix(out, "Hello, world\n") {
		t.Errorf("curl with the renewed certificate:\n%s", out)
	}
	if names := servedLeaf(t, gw.Addr, "b.test").DNSNames; !slices.Contains(names, "b.test") {
		t.Errorf("after a's renewal, b.test is served %v", names)
	}
	line := gw.Logs.WaitFor(t, "the renewal's log line", func(l string) bool {
		e := parseEntry(l)
		return e != nil && e["msg"] == "tls certificates renewed from changed files"
	})
	if e := parseEntry(line); !strings.Contains(fmt.Sprint(e["files"]), certA) || e["not_after"] == nil {
		t.Errorf("renewal line %s", line)
	}
	if n := gw.countMsgs("config reloaded"); n != 0 {
		t.Errorf("%d config reloads; the renewal needs none", n)
	}
}

// servedLeaf handshakes with addr asking for sni (none when empty) and returns the certificate served.
func servedLeaf(t *testing.T, addr, sni string) *x509.Certificate {
	t.Helper()
	// Go sends no SNI for an IP address: dialing 127.0.0.1 without a ServerName asks for no name.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// tlsClientFor is tlsClient asking for serverName and verifying the certificate for it.
func tlsClientFor(t *testing.T, serverName string, certs ...string) *http.Client {
	t.Helper()
	c := tlsClient(t, certs...)
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = serverName
	return c
}

// fileSerial is the serial of the certificate in a PEM file.
func fileSerial(t *testing.T, path string) *big.Int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}
