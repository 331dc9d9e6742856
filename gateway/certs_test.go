package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/frontgate/frontgate/config"
)

// writePair writes a self-signed ECDSA certificate named tag (its CommonName) for names, with the given
// serial, valid for an hour, and its key to dir/tag.crt and dir/tag.key.
func writePair(t *testing.T, dir, tag string, serial int64, names ...string) config.CertPair {
	t.Helper()
	return writePairUntil(t, dir, tag, serial, time.Now().Add(time.Hour), names...)
}

// writePairUntil is writePair with a certificate valid for two hours until notAfter.
func writePairUntil(t *testing.T, dir, tag string, serial int64, notAfter time.Time, names ...string) config.CertPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: tag}, DNSNames: names,
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter,
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
	p := config.CertPair{Cert: filepath.Join(dir, tag+".crt"), Key: filepath.Join(dir, tag+".key")}
	writeTestFile(t, p.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeTestFile(t, p.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return p
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCertSelection(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", 1, "a.test", "www.a.test", "*.a.test")
	b := writePair(t, dir, "b", 2, "B.test", "*.b.test", "api.shop.test")
	c := writePair(t, dir, "c", 3, "x.a.test") // exact beats a's wildcard
	d := writePair(t, dir, "d", 4, "a.test")   // a has it first
	tests := []struct {
		name       string
		defaultSNI string
		sni        string
		want       string
	}{
		{"exact", "b.test", "www.a.test", "a"},
		{"exact in a later certificate", "", "api.shop.test", "b"},
		{"the first certificate with a name wins", "", "a.test", "a"},
		{"exact beats a wildcard", "", "x.a.test", "c"},
		{"wildcard", "b.test", "y.a.test", "a"},
		{"a wildcard does not cover its parent", "b.test", "shop.test", "b"},
		{"wildcard covers one label only", "b.test", "z.y.a.test", "b"},
		{"wildcard needs a label", "b.test", ".a.test", "b"},
		{"no SNI", "", "", "a"},
		{"no SNI, default_sni", "api.shop.test", "", "b"},
		{"default_sni by wildcard", "q.B.test.", "", "b"},
		{"unknown name", "b.test", "nowhere.test", "b"},
		{"case", "b.test", "WWW.A.Test", "a"},
		{"case in the certificate", "", "b.test", "b"},
		{"trailing dot", "", "x.a.test.", "c"},
		{"IP literal", "b.test", "127.0.0.1", "b"},
		{"IPv6 literal", "b.test", "::1", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := newCertSet(&config.TLS{Cert: a.Cert, Key: a.Key, Certs: []config.CertPair{b, c, d}, DefaultSNI: tt.defaultSNI})
			if err != nil {
				t.Fatal(err)
			}
			cert, err := set.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			if err != nil {
				t.Fatal(err)
			}
			if got := cert.Leaf.Subject.CommonName; got != tt.want {
				t.Errorf("SNI %q: certificate %s, want %s", tt.sni, got, tt.want)
			}
		})
	}
}

func TestCertSetErrors(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", 1, "a.test", "*.a.test")
	b := writePair(t, dir, "b", 2, "b.test")
	tests := []struct {
		name string
		tls  config.TLS
		want string
	}{
		{"default_sni not covered", config.TLS{Certs: []config.CertPair{a, b}, DefaultSNI: "x.y.a.test"}, `default_sni "x.y.a.test": no certificate covers it`},
		{"key of another certificate", config.TLS{Cert: a.Cert, Key: b.Key}, "private key does not match public key"},
		{"missing file", config.TLS{Certs: []config.CertPair{{Cert: a.Cert, Key: filepath.Join(dir, "nope.key")}}}, "read key: open " + dir + "/nope.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newCertSet(&tt.tls); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := (*certSet)(nil).GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("a nil set gave a certificate")
	}
}

// The watch swaps in renewed files, waits out a pair that is half written, and warns once about files
// that stay bad, keeping the old certificates serving.
func TestCertWatch(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", 1, "a.test")
	b := writePair(t, dir, "b", 2, "b.test")
	set, err := newCertSet(&config.TLS{Certs: []config.CertPair{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	var certs atomic.Pointer[certSet]
	certs.Store(set)
	core, logs := observer.New(zap.InfoLevel)
	w := &certWatch{certs: &certs, log: zap.New(core), settle: 3 * time.Second}
	serial := func(name string) int64 {
		t.Helper()
		c, err := certs.Load().GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	t0 := time.Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	w.check(at(0))
	if certs.Load() != set || logs.Len() != 0 {
		t.Fatalf("unchanged files: swapped %v, logs %v", certs.Load() != set, logs.All())
	}

	// The new certificate lands before its key: not loadable yet, not worth a word.
	next := writePair(t, t.TempDir(), "b", 20, "b.test")
	copyFile(t, next.Cert, b.Cert)
	for s := 1; s <= 3; s++ {
		w.check(at(s))
	}
	if serial("b.test") != 2 || logs.Len() != 0 {
		t.Fatalf("half-written pair: serial %d, logs %v", serial("b.test"), logs.All())
	}
	copyFile(t, next.Key, b.Key)
	w.check(at(4))
	if serial("b.test") != 20 || serial("a.test") != 1 {
		t.Errorf("after the renewal: b %d, a %d; want 20 and 1", serial("b.test"), serial("a.test"))
	}
	renewed := logs.FilterMessage("tls certificates renewed from changed files").All()
	if len(renewed) != 1 {
		t.Fatalf("renewal log lines: %v", logs.All())
	}
	fields := renewed[0].ContextMap()
	if files := fmt.Sprint(fields["files"]); files != fmt.Sprint([]string{b.Cert, b.Key}) {
		t.Errorf("renewal names files %s, want %s and %s", files, b.Cert, b.Key)
	}
	if na, _ := fields["not_after"].(time.Time); !na.After(time.Now()) {
		t.Errorf("renewal line's not_after %v", fields["not_after"])
	}

	// A key that stays missing is logged once, after settle; the renewed set keeps serving.
	if err := os.Remove(a.Key); err != nil {
		t.Fatal(err)
	}
	for s := 5; s <= 12; s++ {
		w.check(at(s))
	}
	warned := logs.FilterMessage("changed tls certificate files do not load; the previous certificates keep serving").All()
	if len(warned) != 1 || serial("a.test") != 1 || serial("b.test") != 20 {
		t.Errorf("a missing key: %d warnings (want 1), serials a %d b %d", len(warned), serial("a.test"), serial("b.test"))
	}
}

// A renewed pair is checked for expiry, and an unchanged pair that has expired meanwhile does not
// hold back another's renewal.
func TestCertWatchExpiry(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a := writePairUntil(t, dir, "a", 1, now.Add(time.Hour), "a.test")
	b := writePairUntil(t, dir, "b", 2, now.Add(time.Hour), "b.test")
	set, err := newCertSet(&config.TLS{Certs: []config.CertPair{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	var certs atomic.Pointer[certSet]
	certs.Store(set)
	core, logs := observer.New(zap.InfoLevel)
	w := &certWatch{certs: &certs, log: zap.New(core), settle: time.Second}

	writePairUntil(t, dir, "b", 20, now.Add(-time.Minute), "b.test") // renewed, but expired
	w.check(now)
	w.check(now.Add(time.Second))
	warned := logs.FilterMessage("changed tls certificate files do not load; the previous certificates keep serving").All()
	if certs.Load() != set || len(warned) != 1 || !strings.Contains(warned[0].ContextMap()["error"].(string), "expired") {
		t.Fatalf("an expired renewal: swapped %v, logs %v", certs.Load() != set, logs.All())
	}

	later := now.Add(2 * time.Hour) // a has expired, unchanged
	writePairUntil(t, dir, "b", 30, now.Add(3*time.Hour), "b.test")
	w.check(later)
	next := certs.Load()
	if next == set || next.certs[0] != set.certs[0] || next.certs[1].Leaf.SerialNumber.Int64() != 30 {
		t.Errorf("b's renewal beside an expired a: swapped %v, logs %v", next != set, logs.All())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, to, b)
}
