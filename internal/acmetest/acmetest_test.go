package acmetest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/frontgate/frontgate/internal/acmetest"
	"github.com/frontgate/frontgate/internal/e2e"
)

// TestCertmagicObtainsFromPebble obtains a certificate for one name over HTTP-01 alone and for
// another over TLS-ALPN-01 alone, with certmagic listening on the harness's challenge ports, and
// checks that each chains to pebble's issuing root and names its host.
func TestCertmagicObtainsFromPebble(t *testing.T) {
	ca := acmetest.Start(t, acmetest.Options{})
	m := newMagic(t)
	roots := ca.IssuerRoots(t)
	for _, tc := range []struct {
		name    string
		tlsALPN bool // solve TLS-ALPN-01 alone; otherwise HTTP-01 alone
	}{
		{name: "a.frontgate.test"},
		{name: "b.frontgate.test", tlsALPN: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := m.config(ca, tc.name, tc.tlsALPN)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			start := time.Now()
			if err := cfg.ManageSync(ctx, []string{tc.name}); err != nil {
				t.Fatalf("ManageSync(%s): %v", tc.name, err)
			}
			t.Logf("obtained %s in %v", tc.name, time.Since(start).Round(time.Millisecond))

			// The certificate is now served from certmagic's cache, as in a handshake.
			served, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.name})
			if err != nil {
				t.Fatalf("GetCertificate(%s): %v", tc.name, err)
			}
			verifyLeaf(t, served.Certificate, tc.name, roots)

			// The issuance lock was released: its lock file is gone.
			locks, err := filepath.Glob(filepath.Join(m.storage.Path, "locks", "*.lock"))
			if err != nil {
				t.Fatal(err)
			}
			if len(locks) != 0 {
				t.Fatalf("lock files left in storage: %v", locks)
			}
		})
	}
}

// TestShortValidityAndRenewal checks Options.CertValidity and SetRenewalWindow, and that a forced
// renewal gets a new certificate.
func TestShortValidityAndRenewal(t *testing.T) {
	const name = "c.frontgate.test"
	ca := acmetest.Start(t, acmetest.Options{CertValidity: time.Hour})
	m := newMagic(t)
	cfg, iss := m.config(ca, name, false)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := cfg.ManageSync(ctx, []string{name}); err != nil {
		t.Fatalf("ManageSync(%s): %v", name, err)
	}
	first, err := cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		t.Fatalf("CacheManagedCertificate(%s): %v", name, err)
	}
	roots := ca.IssuerRoots(t)
	leaf := verifyLeaf(t, first.Certificate.Certificate, name, roots)
	// Pebble's NotAfter is NotBefore + validity - 1 s.
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life != time.Hour-time.Second {
		t.Fatalf("certificate lifetime %v, want %v", life, time.Hour-time.Second)
	}

	winStart := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	winEnd := winStart.Add(time.Hour)
	ca.SetRenewalWindow(t, leaf, winStart, winEnd)
	ari, err := iss.GetRenewalInfo(ctx, first)
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	if !ari.SuggestedWindow.Start.Equal(winStart) || !ari.SuggestedWindow.End.Equal(winEnd) {
		t.Fatalf("ARI window [%v, %v], want [%v, %v]", ari.SuggestedWindow.Start, ari.SuggestedWindow.End, winStart, winEnd)
	}

	if err := cfg.RenewCertSync(ctx, name, true); err != nil {
		t.Fatalf("RenewCertSync(%s): %v", name, err)
	}
	second, err := cfg.CacheManagedCertificate(ctx, name)
	if err != nil {
		t.Fatalf("CacheManagedCertificate(%s) after renewal: %v", name, err)
	}
	renewed := verifyLeaf(t, second.Certificate.Certificate, name, roots)
	if renewed.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatalf("renewal kept serial %x", leaf.SerialNumber)
	}
}

// TestDNSHelpers checks that challtestsrv answers as the harness says it does.
func TestDNSHelpers(t *testing.T) {
	ca := acmetest.Start(t, acmetest.Options{})
	expect := func(host string, want ...string) {
		t.Helper()
		var got []string
		for _, ip := range ca.LookupIP(t, host) {
			got = append(got, ip.String())
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s resolves to %v, want %v", host, got, want)
		}
	}

	expect("x.frontgate.test", "127.0.0.1") // and no IPv6 address
	ca.AddARecord(t, "x.frontgate.test", "127.0.0.2")
	expect("x.frontgate.test", "127.0.0.2")
	expect("y.frontgate.test", "127.0.0.1")
	ca.ClearARecord(t, "x.frontgate.test")
	expect("x.frontgate.test", "127.0.0.1")
	ca.SetDefaultIPv4(t, "127.0.0.3")
	expect("y.frontgate.test", "127.0.0.3")
	ca.SetDefaultIPv4(t, "")
	expect("y.frontgate.test")
}

// magic is certmagic's side of a test: one cache, one storage folder and one logger shared by
// the configs it makes.
type magic struct {
	cache   *certmagic.Cache
	storage *certmagic.FileStorage
	logger  *zap.Logger

	mu      sync.Mutex // guards configs, read by the cache's maintenance goroutine
	configs map[string]*certmagic.Config
}

// newMagic makes a certmagic cache, stopped when t ends (before the CA, if t started the CA
// first: cleanups run last-in first-out), with storage in a temporary folder.
func newMagic(t *testing.T) *magic {
	m := &magic{
		storage: &certmagic.FileStorage{Path: t.TempDir()},
		logger:  bufferedLogger(t),
		configs: map[string]*certmagic.Config{},
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(cert certmagic.Certificate) (*certmagic.Config, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if cfg, ok := m.configs[cert.Names[0]]; ok {
				return cfg, nil
			}
			return nil, errors.New("no config for " + cert.Names[0])
		},
		Logger: m.logger,
	})
	t.Cleanup(m.cache.Stop)
	return m
}

// config makes the certmagic config that manages name with ca, solving TLS-ALPN-01 alone if
// tlsALPN, HTTP-01 alone otherwise, on the ports where pebble validates them.
func (m *magic) config(ca *acmetest.CA, name string, tlsALPN bool) (*certmagic.Config, *certmagic.ACMEIssuer) {
	cfg := certmagic.New(m.cache, certmagic.Config{
		Storage: m.storage,
		Logger:  m.logger,
		// pebble's certificates name no OCSP responder; certmagic would only log that.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
	})
	iss := certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:                      ca.Directory,
		TrustedRoots:            ca.DirectoryRoots(),
		Email:                   "admin@frontgate.test",
		Agreed:                  true,
		DisableHTTPChallenge:    tlsALPN,
		DisableTLSALPNChallenge: !tlsALPN,
		ListenHost:              "127.0.0.1",
		AltHTTPPort:             ca.HTTPPort,
		AltTLSALPNPort:          ca.TLSPort,
		CertObtainTimeout:       20 * time.Second,
		Logger:                  m.logger,
	})
	cfg.Issuers = []certmagic.Issuer{iss}
	m.mu.Lock()
	m.configs[name] = cfg
	m.mu.Unlock()
	return cfg, iss
}

// verifyLeaf checks that chain (DER, leaf first) is a server certificate for name only that
// chains to roots, and returns the leaf.
func verifyLeaf(t *testing.T, chain [][]byte, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	if len(chain) == 0 {
		t.Fatalf("empty chain for %s", name)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatalf("parsing the leaf for %s: %v", name, err)
	}
	intermediates := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("parsing the chain for %s: %v", name, err)
		}
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		t.Fatalf("leaf for %s does not verify against pebble's root: %v", name, err)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
		t.Fatalf("leaf names %v, want [%s]", leaf.DNSNames, name)
	}
	return leaf
}

// bufferedLogger returns a zap logger that keeps everything in memory and hands it to t.Log
// only if the test failed. Unlike zaptest's, it is safe to use from goroutines that outlive t,
// such as certmagic's renewal jobs.
func bufferedLogger(t *testing.T) *zap.Logger {
	buf := &e2e.Buffer{}
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(buf), zap.DebugLevel)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("certmagic log:\n%s", buf.String())
		}
	})
	return zap.New(core)
}
