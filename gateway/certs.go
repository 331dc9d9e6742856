package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
)

// certSettle is how long changed certificate files may fail to load (a file being replaced, a
// certificate written before its key) before the watch warns about them.
const certSettle = 5 * time.Second

// certSet is one load of the public listener's certificates, indexed by the names they cover, and the
// place where the two sources of certificates meet: files first, then ACME (acme.go). It is never
// changed once built: a reload or a renewed file builds a new one and swaps the pointer that
// handshakes read (Server.certs), so a handshake takes no lock.
type certSet struct {
	pairs      []config.CertPair
	defaultSNI string                      // as configured; empty: the first certificate is the default
	sums       [][32]byte                  // each pair's files' hash (see pairFiles.sum), as loaded
	certs      []*tls.Certificate          // in pairs' order, each with its Leaf
	exact      map[string]*tls.Certificate // a DNS name (lower case, no trailing dot) → the first certificate with it
	wild       map[string]*tls.Certificate // "example.com" → the first certificate with "*.example.com"
	def        *tls.Certificate            // for no SNI, an IP address or a name no certificate covers; nil: see acmeDef
	acme       *acmeManager                // ACME's certificates, for the names no file covers; nil: no ACME
	acmeDef    string                      // with def nil, the name whose ACME certificate is the default; "": none
}

// newCertSet loads the certificates t names, without ACME; t must name at least one.
func newCertSet(t *config.TLS) (*certSet, error) {
	s, err := loadCertFiles(t)
	if err != nil {
		return nil, err
	}
	return s.finish(t.DefaultSNI, nil)
}

// loadCertFiles loads the certificate files t names, if any, into a set that finish completes.
func loadCertFiles(t *config.TLS) (*certSet, error) {
	pairs := t.Pairs()
	files, err := readPairs(pairs)
	if err != nil {
		return nil, err
	}
	return indexCerts(pairs, files, time.Now(), nil)
}

// pairFiles is what a certificate file and its key file hold.
type pairFiles struct{ cert, key []byte }

// sum is the hash of both files, compared with the loaded one to notice a change.
func (f pairFiles) sum() [32]byte {
	h := sha256.New()
	h.Write(f.cert)
	h.Write([]byte{0}) // PEM holds no NUL: where one file ends stays unambiguous
	h.Write(f.key)
	return [32]byte(h.Sum(nil))
}

// readPairs reads each pair's certificate and key file.
func readPairs(pairs []config.CertPair) ([]pairFiles, error) {
	files := make([]pairFiles, len(pairs))
	for i, p := range pairs {
		var err error
		if files[i].cert, err = os.ReadFile(p.Cert); err != nil {
			return nil, fmt.Errorf("read certificate: %w", err)
		}
		if files[i].key, err = os.ReadFile(p.Key); err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
	}
	return files, nil
}

// indexCerts parses each pair's files and indexes the certificates' DNS names, for finish to complete;
// where two certificates have the same name, the first one serves it. A pair whose files prev (nil:
// none, else a set of the same pairs) loaded keeps prev's certificate; any other must load and not be
// expired at now.
func indexCerts(pairs []config.CertPair, files []pairFiles, now time.Time, prev *certSet) (*certSet, error) {
	s := &certSet{pairs: pairs, sums: make([][32]byte, len(pairs)),
		exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for i, p := range pairs {
		s.sums[i] = files[i].sum()
		var cert *tls.Certificate
		if prev != nil && prev.sums[i] == s.sums[i] {
			cert = prev.certs[i]
		} else {
			var err error
			if cert, err = loadPair(p, files[i], now); err != nil {
				return nil, err
			}
		}
		s.certs = append(s.certs, cert)
		for _, name := range cert.Leaf.DNSNames {
			index, name := s.exact, normalName(name)
			if parent, ok := strings.CutPrefix(name, "*."); ok {
				index, name = s.wild, parent
			}
			if _, taken := index[name]; !taken {
				index[name] = cert
			}
		}
	}
	return s, nil
}

// finish completes an indexed set with its ACME manager (nil: none) and its default certificate:
// default_sni's, a file's that covers it or else ACME's when it is a managed name; without default_sni
// the first file's, else ACME's for the first managed name (none with on_demand alone: a client
// without SNI then fails its handshake). It returns s.
func (s *certSet) finish(defaultSNI string, acme *acmeManager) (*certSet, error) {
	s.defaultSNI, s.acme = defaultSNI, acme
	switch {
	case len(s.certs) == 0 && acme == nil:
		return nil, errors.New("no certificate given")
	case defaultSNI != "":
		if s.def = s.match(defaultSNI); s.def == nil {
			if acme == nil || !acme.managed[normalName(defaultSNI)] {
				return nil, fmt.Errorf("default_sni %q: no certificate covers it", defaultSNI)
			}
			s.acmeDef = normalName(defaultSNI)
		}
	case len(s.certs) > 0:
		s.def = s.certs[0]
	case len(acme.settings.names) > 0:
		s.acmeDef = acme.settings.names[0]
	}
	return s, nil
}

// loadPair parses a pair's files into a certificate with its Leaf, unless it is expired at now.
func loadPair(p config.CertPair, f pairFiles, now time.Time) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("load %s with %s: %w", p.Cert, p.Key, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse %s: %w", p.Cert, err)
		}
	}
	if now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("%s: the certificate expired on %s", p.Cert, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// normalName is a DNS name as the index keys it: lower case, without a trailing dot.
func normalName(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// match is the certificate that covers name: one with the exact name, else one with a wildcard for
// its leftmost label; nil for none, an empty name or an IP address.
func (s *certSet) match(name string) *tls.Certificate {
	name = normalName(name)
	if name == "" {
		return nil
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return nil
	}
	if c := s.exact[name]; c != nil {
		return c
	}
	if label, parent, ok := strings.Cut(name, "."); ok && label != "" && parent != "" {
		return s.wild[parent]
	}
	return nil
}

// GetCertificate picks the certificate for a handshake by its SNI (tls.Config.GetCertificate): a file's
// that covers the name (an operator's file overrides ACME), else ACME's for a name it serves (managed,
// or any with on_demand), else the default one. A TLS-ALPN-01 validation gets ACME's challenge
// certificate. On a nil set, or with no certificate to give, it fails the handshake.
func (s *certSet) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s == nil {
		return nil, errors.New("tls: no certificate loaded")
	}
	if s.acme != nil && isACMEChallenge(hello) {
		return s.acme.GetCertificate(hello)
	}
	if c := s.match(hello.ServerName); c != nil {
		return c, nil
	}
	var acmeErr error
	if s.acme != nil && s.acme.covers(normalName(hello.ServerName)) {
		c, err := s.acme.GetCertificate(hello)
		if err == nil {
			return c, nil
		}
		acmeErr = err // not obtained yet, or refused by on_demand.ask: the default, if there is one
	}
	switch {
	case s.def != nil:
		return s.def, nil
	case s.acmeDef != "":
		def := *hello
		def.ServerName = s.acmeDef
		return s.acme.GetCertificate(&def)
	case acmeErr != nil:
		return nil, acmeErr
	}
	return nil, fmt.Errorf("tls: no certificate for %q", hello.ServerName)
}

// report sets the expiry series of every certificate the set serves, by the name it serves: the
// files' (a wildcard as *.example.com) and ACME's.
func (s *certSet) report(m *admin.Metrics) {
	for name, c := range s.exact {
		m.SetCertExpiry(name, "file", c.Leaf.NotAfter)
	}
	for parent, c := range s.wild {
		m.SetCertExpiry("*."+parent, "file", c.Leaf.NotAfter)
	}
	if s.acme != nil {
		for name, notAfter := range s.acme.expiries() {
			m.SetCertExpiry(name, "acme", notAfter)
		}
	}
}

// reread reads the set's files again: s itself when they have not changed, else a set built from
// them (with the same pairs, default_sni and ACME manager; unchanged pairs keep their certificates).
func (s *certSet) reread(now time.Time) (*certSet, error) {
	files, err := readPairs(s.pairs)
	if err != nil {
		return nil, err
	}
	changed := false
	for i, f := range files {
		changed = changed || f.sum() != s.sums[i]
	}
	if !changed {
		return s, nil
	}
	next, err := indexCerts(s.pairs, files, now, s)
	if err != nil {
		return nil, err
	}
	return next.finish(s.defaultSNI, s.acme)
}

// certWatch swaps in a new certificate set when a certificate or key file of the current one changes,
// without a reload. Server.startCertWatch calls check every second; the fields belong to the goroutine
// doing that.
type certWatch struct {
	certs    *atomic.Pointer[certSet]
	log      *zap.Logger
	report   func()        // called after a swap (the expiry metrics); nil: nothing
	settle   time.Duration // how long changed files may fail to load before a warning
	badSince time.Time     // when the changed files first failed to load; zero while they load
	warned   bool          // this spell of failing files has been logged
}

// check swaps in a set built from the files when they differ from the current set's. Files that do not
// load leave the current set serving; they are logged once, when they have failed for settle.
func (w *certWatch) check(now time.Time) {
	cur := w.certs.Load()
	if cur == nil {
		return
	}
	next, err := cur.reread(now)
	if err != nil {
		if w.badSince.IsZero() {
			w.badSince = now
		}
		if !w.warned && now.Sub(w.badSince) >= w.settle {
			w.warned = true
			w.log.Warn("changed tls certificate files do not load; the previous certificates keep serving",
				zap.Duration("failing_for", now.Sub(w.badSince)), zap.Error(err))
		}
		return
	}
	w.badSince, w.warned = time.Time{}, false
	if next == cur || !w.certs.CompareAndSwap(cur, next) { // unchanged, or a reload swapped meanwhile
		return
	}
	var files []string
	var notAfter time.Time
	for i, p := range next.pairs {
		if next.sums[i] == cur.sums[i] {
			continue
		}
		files = append(files, p.Cert, p.Key)
		if na := next.certs[i].Leaf.NotAfter; notAfter.IsZero() || na.Before(notAfter) {
			notAfter = na
		}
	}
	w.log.Info("tls certificates renewed from changed files", zap.Strings("files", files), zap.Time("not_after", notAfter))
	if w.report != nil {
		w.report()
	}
}
