package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
)

// Automatic certificates (tls.acme) come from certmagic. An acmeManager is one tls.acme setting at
// work: a certmagic cache with its maintenance goroutine (which renews), a certmagic config for the
// managed names and, with on_demand, one for names ordered at their first handshake. The Server owns
// the running manager: Start and Reload make one, start it once the listeners that answer its
// challenges are open, and a reload whose settings differ stops it and starts a new one; Shutdown
// stops it. certSet.GetCertificate (certs.go) asks it for the names no certificate file covers.
//
// The CA proves a name over HTTP-01, answered by the http_listen listener (Server.plainHTTP), or
// TLS-ALPN-01, answered by the public listener: a hello offering only acme-tls/1 gets a config that
// negotiates it (Server.tlsConfig), certmagic's challenge certificate, and a closed connection after
// the handshake (closeChallenges). certmagic's solvers would bind the challenge ports themselves when
// nothing listens there; they never do here, as the manager starts after our listeners are open and
// a port it cannot know (port 0) turns its challenge off.

// acmeALPN is the ALPN protocol of TLS-ALPN-01 validations (RFC 8737).
const acmeALPN = "acme-tls/1"

// askTimeout bounds one question to on_demand.ask.
const askTimeout = 10 * time.Second

// errACMEStopped is what the storage of a stopped manager answers.
var errACMEStopped = errors.New("acme manager stopped")

// acmeSettings is what an ACME manager is made from. A reload whose settings are the same keeps the
// running manager; any change restarts it.
type acmeSettings struct {
	acmeParams
	names   []string // the managed names: tls.acme.names less those files cover
	covered []string // tls.acme.names a certificate file covers: never ordered
}

// acmeParams are the settings besides the names.
type acmeParams struct {
	email, directory, caRoot, storage string
	ask                               string // on_demand.ask; empty: no on-demand issuance
	listenHost                        string // the challenge listeners' host, when they share one
	httpPort                          int    // where HTTP-01 is answered (http_listen); 0: no HTTP-01
	tlsPort                           int    // where TLS-ALPN-01 is answered (listen); 0: no TLS-ALPN-01
}

// newACMESettings is what cfg's tls.acme asks for, given the certificate files loaded for cfg.
func newACMESettings(cfg *config.Config, files *certSet) acmeSettings {
	a := cfg.TLS.ACME
	st := acmeSettings{acmeParams: acmeParams{email: a.Email, directory: a.Directory, caRoot: a.CARoot, storage: a.Storage}}
	if a.OnDemand != nil {
		st.ask = a.OnDemand.Ask
	}
	for _, name := range a.Names {
		if files.match(name) != nil {
			st.covered = append(st.covered, name) // the operator's file is the override
		} else {
			st.names = append(st.names, name)
		}
	}
	host, port := hostPort(cfg.Listen)
	st.tlsPort = port
	st.listenHost = host
	if a.HTTPListen != "" {
		httpHost, httpPort := hostPort(a.HTTPListen)
		st.httpPort = httpPort
		if httpHost != host {
			st.listenHost = "" // certmagic has one host for both; all interfaces conflicts with either
		}
	}
	return st
}

// same reports whether a and b make the same manager.
func (a acmeSettings) same(b acmeSettings) bool {
	return a.acmeParams == b.acmeParams && slices.Equal(a.names, b.names) && slices.Equal(a.covered, b.covered)
}

// hostPort splits a listen address (config has checked it) into its host and port.
func hostPort(addr string) (string, int) {
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return host, n
}

// acmeTuning holds knobs for tests; the zero value is certmagic's defaults.
type acmeTuning struct {
	renewCheck time.Duration // how often the cache checks for certificates to renew; 0: certmagic's 10 minutes
}

// acmeManager obtains, renews and serves the certificates of one tls.acme setting. Its fields are set
// by newACMEManager and read-only after, except expiry.
type acmeManager struct {
	settings acmeSettings
	log      *zap.Logger
	managed  map[string]bool       // settings.names
	storage  *acmeStorage          // shared by both configs
	cache    *certmagic.Cache      // its maintenance goroutine renews the managed names' certificates
	magic    *certmagic.Config     // the managed names
	issuer   *certmagic.ACMEIssuer // magic's; answers HTTP-01 requests
	demand   *certmagic.Config     // on-demand names, ordered and renewed at handshakes; nil without on_demand
	ask      *http.Client          // asks on_demand.ask; nil without on_demand
	askURL   *url.URL              // on_demand.ask; nil without on_demand
	onCert   func()                // called when a certificate was cached or obtained; nil: nothing
	ctx      context.Context       // the obtain jobs start submits run under it
	cancel   context.CancelFunc

	mu     sync.Mutex           // guards expiry, written when a certificate is cached or obtained
	expiry map[string]time.Time // name → notAfter of the certificate certmagic serves for it
}

// newACMEManager makes the manager for st, logging to log; onCert runs whenever a certificate was
// cached or obtained (it refreshes the expiry metrics). It returns a manager whose cache maintenance
// already runs and which orders nothing until start: stop it in any case.
func newACMEManager(st acmeSettings, log *zap.Logger, tune acmeTuning, onCert func()) (*acmeManager, error) {
	var askURL *url.URL
	if st.ask != "" {
		var err error
		if askURL, err = url.Parse(st.ask); err != nil {
			return nil, fmt.Errorf("on_demand ask: %w", err)
		}
	}
	var roots *x509.CertPool
	if st.caRoot != "" {
		rootsPEM, err := os.ReadFile(st.caRoot)
		if err != nil {
			return nil, fmt.Errorf("read ca_root: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool() // no system roots here: the private CA's alone
		}
		if !roots.AppendCertsFromPEM(rootsPEM) {
			return nil, fmt.Errorf("ca_root %s holds no PEM certificate", st.caRoot)
		}
	}
	m := &acmeManager{
		settings: st,
		log:      log,
		managed:  map[string]bool{},
		storage:  &acmeStorage{FileStorage: &certmagic.FileStorage{Path: st.storage}, idle: make(chan struct{})},
		askURL:   askURL,
		onCert:   onCert,
		expiry:   map[string]time.Time{},
	}
	for _, name := range st.names {
		m.managed[name] = true
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configFor,
		Logger:             log,
		RenewCheckInterval: tune.renewCheck,
	})
	template := certmagic.Config{
		Storage:        m.storage,
		Logger:         log,
		OnEvent:        m.event,
		ShouldEmitFunc: func(event string) bool { return event == "cached_managed_cert" || event == "cert_obtained" },
	}
	issuer := certmagic.ACMEIssuer{
		CA:                      st.directory,
		Email:                   st.email,
		Agreed:                  true, // giving tls.acme agrees to the CA's terms
		TrustedRoots:            roots,
		DisableHTTPChallenge:    st.httpPort == 0,
		DisableTLSALPNChallenge: st.tlsPort == 0,
		ListenHost:              st.listenHost,
		AltHTTPPort:             st.httpPort,
		AltTLSALPNPort:          st.tlsPort,
		Logger:                  log,
	}
	m.magic = certmagic.New(m.cache, template)
	m.issuer = certmagic.NewACMEIssuer(m.magic, issuer)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	if askURL != nil {
		m.ask = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: askTimeout}
		template.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.allow}
		m.demand = certmagic.New(m.cache, template)
		m.demand.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.demand, issuer)}
	}
	return m, nil
}

// start loads the managed names' certificates from storage and orders those missing: certmagic's
// ManageAsync does both on goroutines of its own, under m.ctx, retrying with backoff. Renewals are the
// cache maintenance's. Call start once, when the listeners answering the challenges are open.
func (m *acmeManager) start() {
	st := m.settings
	m.log.Info("acme manager started", zap.Strings("names", st.names), zap.Strings("covered_by_files", st.covered),
		zap.String("directory", st.directory), zap.String("storage", st.storage), zap.Bool("http_01", st.httpPort != 0),
		zap.Bool("tls_alpn_01", st.tlsPort != 0), zap.Bool("on_demand", m.demand != nil))
	if st.httpPort == 0 && st.tlsPort == 0 {
		m.log.Warn("acme can answer no challenge: no http_listen, and the public listener's port is 0; only stored certificates are served")
	}
	if len(st.names) > 0 {
		if err := m.magic.ManageAsync(m.ctx, st.names); err != nil {
			m.log.Error("managing certificates", zap.Error(err))
		}
	}
}

// stop ends the manager's work and waits for it until ctx ends. It cancels m.ctx (the obtain jobs start
// submitted, and their retries), stops the cache's maintenance goroutine (certmagic.Cache.Stop waits for
// it; its renewal jobs' context ends with it), closes the storage to new operations and waits until
// those under way end, locks included: certmagic holds a storage lock around every order, renewal and
// ARI update, so none is under way when stop returns, and nothing of this manager touches the storage
// folder after. What certmagic's own worker goroutines (which cannot be joined) may still do of a
// cancelled job is in memory: updating the stopped cache, logging. Call stop once.
func (m *acmeManager) stop(ctx context.Context) error {
	m.cancel()
	idle := m.storage.close()
	m.cache.Stop()
	if m.ask != nil {
		m.ask.CloseIdleConnections()
	}
	select {
	case <-idle:
		m.log.Info("acme manager stopped")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("acme: storage operations still under way after stopping: %w", ctx.Err())
	}
}

// configFor is the certmagic config that manages a certificate (certmagic.CacheOptions.GetConfigForCert).
func (m *acmeManager) configFor(cert certmagic.Certificate) (*certmagic.Config, error) {
	if m.demand != nil && (len(cert.Names) == 0 || !m.managed[cert.Names[0]]) {
		return m.demand, nil
	}
	return m.magic, nil
}

// covers reports whether ACME serves name at a handshake: a managed name, or any host name with
// on_demand.
func (m *acmeManager) covers(name string) bool {
	if name == "" {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false
	}
	return m.managed[name] || m.demand != nil
}

// GetCertificate serves a handshake from certmagic: a TLS-ALPN-01 validation its challenge certificate,
// a managed name its certificate from the cache, and with on_demand any other name its certificate,
// ordered at the first handshake when on_demand.ask allows the name.
func (m *acmeManager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.demand != nil && !m.managed[normalName(hello.ServerName)] && !isACMEChallenge(hello) {
		return m.demand.GetCertificate(hello)
	}
	return m.magic.GetCertificate(hello)
}

// handleHTTPChallenge answers r if it is an HTTP-01 validation of a challenge this process, or a
// replica sharing the storage, has under way, and reports whether it did.
func (m *acmeManager) handleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return m.issuer.HandleHTTPChallenge(w, r)
}

// allow asks on_demand.ask whether name may get a certificate (certmagic's DecisionFunc): GET
// ask?domain=name, and only 200 allows it.
func (m *acmeManager) allow(ctx context.Context, name string) error {
	u := *m.askURL
	q := u.Query()
	q.Set("domain", name)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("on_demand ask: %w", err)
	}
	resp, err := m.ask.Do(req)
	if err != nil {
		return fmt.Errorf("on_demand ask for %s: %w", name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("on_demand ask for %s: %s answered %d, not 200", name, m.settings.ask, resp.StatusCode)
	}
	return nil
}

// event notes the expiry of certificates certmagic caches or obtains (certmagic.Config.OnEvent).
func (m *acmeManager) event(ctx context.Context, event string, data map[string]any) error {
	switch event {
	case "cached_managed_cert":
		names, _ := data["sans"].([]string)
		for _, name := range names {
			m.noteCached(name)
		}
	case "cert_obtained": // a renewal is cached only after this event, without one of its own
		name, _ := data["identifier"].(string)
		key, _ := data["certificate_path"].(string)
		if err := m.noteStored(ctx, name, key); err != nil {
			m.log.Warn("reading an obtained certificate for its expiry", zap.String("name", name), zap.Error(err))
		}
	default:
		return nil
	}
	if m.onCert != nil {
		m.onCert()
	}
	return nil
}

// noteCached notes the expiry of the newest certificate in the cache for name.
func (m *acmeManager) noteCached(name string) {
	var notAfter time.Time
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && slices.Contains(c.Names, name) && c.Leaf.NotAfter.After(notAfter) {
			notAfter = c.Leaf.NotAfter
		}
	}
	if !notAfter.IsZero() {
		m.setExpiry(name, notAfter)
	}
}

// noteStored notes the expiry of the certificate stored at key for name.
func (m *acmeManager) noteStored(ctx context.Context, name, key string) error {
	data, err := m.storage.Load(ctx, key)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return fmt.Errorf("%s holds no PEM block", key)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("parse %s: %w", key, err)
	}
	m.setExpiry(name, leaf.NotAfter)
	return nil
}

func (m *acmeManager) setExpiry(name string, notAfter time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expiry[name] = notAfter
}

// expiries is a copy of the notAfter of every certificate the manager has cached or obtained, by name.
func (m *acmeManager) expiries() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]time.Time, len(m.expiry))
	for name, t := range m.expiry {
		out[name] = t
	}
	return out
}

// isACMEChallenge reports whether hello is a TLS-ALPN-01 validation: it offers acme-tls/1 alone.
func isACMEChallenge(hello *tls.ClientHelloInfo) bool {
	return hello.ServerName != "" && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmeALPN
}

// closeChallenges is an HTTP/1 engine behind tlsfront that closes, rather than serves, the connections
// whose handshake chose acme-tls/1: a TLS-ALPN-01 validation is over with the handshake.
type closeChallenges struct{ engine }

func (c closeChallenges) Serve(ln net.Listener) error { return c.engine.Serve(challengeFilter{ln}) }

// challengeFilter is a listener that closes acme-tls/1 connections instead of handing them out.
type challengeFilter struct{ net.Listener }

func (l challengeFilter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == acmeALPN {
			tc.Close()
			continue
		}
		return c, nil
	}
}

// acmeStorage is certmagic's FileStorage (locks included, so replicas sharing the folder do not order
// the same certificate twice) that counts the operations under way, locks held or awaited among them,
// and refuses new ones once closed, so that a manager's stop can wait for the storage work of its
// certmagic jobs.
type acmeStorage struct {
	*certmagic.FileStorage
	mu     sync.Mutex    // guards busy and closed; taken once per storage operation, which are rare
	busy   int           // operations under way; a lock counts from Lock until Unlock
	closed bool          // no new operations
	idle   chan struct{} // closed once closed and busy is zero
}

func (s *acmeStorage) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errACMEStopped
	}
	s.busy++
	return nil
}

func (s *acmeStorage) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == 0 {
		return // an Unlock of a lock this storage did not take: nothing to count
	}
	s.busy--
	if s.closed && s.busy == 0 {
		close(s.idle)
	}
}

// close refuses new operations and returns a channel closed once none is under way.
func (s *acmeStorage) close() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		if s.busy == 0 {
			close(s.idle)
		}
	}
	return s.idle
}

func (s *acmeStorage) Lock(ctx context.Context, name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	err := s.FileStorage.Lock(ctx, name)
	if err != nil {
		s.leave()
	}
	return err
}

func (s *acmeStorage) TryLock(ctx context.Context, name string) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	ok, err := s.FileStorage.TryLock(ctx, name)
	if !ok || err != nil {
		s.leave()
	}
	return ok, err
}

// Unlock releases a lock taken with Lock or TryLock, closed or not.
func (s *acmeStorage) Unlock(ctx context.Context, name string) error {
	defer s.leave()
	return s.FileStorage.Unlock(ctx, name)
}

func (s *acmeStorage) Store(ctx context.Context, key string, value []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.FileStorage.Store(ctx, key, value)
}

func (s *acmeStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.FileStorage.Load(ctx, key)
}

func (s *acmeStorage) Delete(ctx context.Context, key string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.FileStorage.Delete(ctx, key)
}

func (s *acmeStorage) Exists(ctx context.Context, key string) bool {
	if s.enter() != nil {
		return false
	}
	defer s.leave()
	return s.FileStorage.Exists(ctx, key)
}

func (s *acmeStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.FileStorage.List(ctx, prefix, recursive)
}

func (s *acmeStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := s.enter(); err != nil {
		return certmagic.KeyInfo{}, err
	}
	defer s.leave()
	return s.FileStorage.Stat(ctx, key)
}
