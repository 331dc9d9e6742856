package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/guard"
	"github.com/frontgate/frontgate/leanhttp"
	"github.com/frontgate/frontgate/tlsfront"
)

// engine is an HTTP server implementation: net/http's, leanhttp's or tlsfront's.
type engine interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// guardedEngine is net/http's server on listeners whose connections package guard watches.
type guardedEngine struct {
	*http.Server
	maxHeaderBytes int
}

func (g guardedEngine) Serve(ln net.Listener) error {
	return g.Server.Serve(guard.Listener(ln, g.maxHeaderBytes))
}

// endpoint is an engine serving a listener in a goroutine it owns; Stop drains and waits for it.
type endpoint struct {
	addr  string // as configured
	bound string // the address listened on
	eng   engine
	done  chan struct{} // closed when Serve has returned
	err   error         // Serve's result, readable once done is closed
}

// startEndpoint serves eng on ln; addr is the configured address ln was opened for.
func startEndpoint(addr string, eng engine, ln net.Listener) *endpoint {
	e := &endpoint{addr: addr, bound: ln.Addr().String(), eng: eng, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.err = eng.Serve(ln)
	}()
	return e
}

// Done is closed when the engine has stopped, on its own or by Stop.
func (e *endpoint) Done() <-chan struct{} { return e.done }

// Failed reports, once Done is closed, why the engine stopped on its own (nil after Stop).
func (e *endpoint) Failed() error {
	if errors.Is(e.err, http.ErrServerClosed) {
		return nil
	}
	return e.err
}

// Stop stops accepting, drains in-flight requests until ctx ends, and waits for Serve to return.
func (e *endpoint) Stop(ctx context.Context) error {
	err := e.eng.Shutdown(ctx)
	<-e.done
	return errors.Join(err, e.Failed())
}

// newStdServer is net/http's server with the configured protection limits.
func newStdServer(h http.Handler, log *zap.Logger, s *config.Server) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log),
	}
}

// listenerSpec names a listener the config asks for and where the server keeps it.
type listenerSpec struct {
	name string // public, admin, redirect, acme_http
	addr string
	slot **endpoint
}

func (s *Server) listenersFor(cfg *config.Config) []listenerSpec {
	specs := []listenerSpec{{"public", cfg.Listen, &s.public}}
	if cfg.Admin.Listen != "" {
		specs = append(specs, listenerSpec{"admin", cfg.Admin.Listen, &s.admin})
	}
	if cfg.TLS.RedirectHTTP != "" && s.tlsOn {
		specs = append(specs, listenerSpec{"redirect", cfg.TLS.RedirectHTTP, &s.redirect})
	}
	// On redirect_http's address, the redirect listener answers the challenges too (plainHTTP).
	if a := cfg.TLS.ACME; a != nil && a.HTTPListen != "" && a.HTTPListen != cfg.TLS.RedirectHTTP && s.tlsOn {
		specs = append(specs, listenerSpec{"acme_http", a.HTTPListen, &s.acmeHTTP})
	}
	return specs
}

// open listens on spec.addr and starts its engine.
func (s *Server) open(spec listenerSpec, cfg *config.Config) (*endpoint, error) {
	ln, err := net.Listen("tcp", spec.addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", spec.name, err)
	}
	var eng engine
	tlsOn := false
	switch spec.name {
	case "public":
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		s.httpsPort.Store(&port)
		eng, tlsOn = s.publicEngine(cfg), s.tlsOn
	case "admin":
		eng = newStdServer(admin.Handler(admin.Options{
			Metrics: s.opts.Metrics,
			Ready:   s.ready,
			Config:  s.redactedConfig,
			Logger:  s.log.Named("admin"),
		}), s.log.Named("admin"), &cfg.Server)
	case "redirect", "acme_http":
		eng = newStdServer(http.HandlerFunc(s.plainHTTP), s.log.Named(spec.name), &cfg.Server)
	}
	s.log.Info("listening", zap.String("listener", spec.name), zap.String("addr", ln.Addr().String()),
		zap.Bool("tls", tlsOn), zap.String("version", s.opts.Version), zap.Bool("embedded_config", cfg.Embedded))
	return startEndpoint(spec.addr, eng, ln), nil
}

// publicEngine serves the generations. HTTP/1 is served by leanhttp, or by net/http held to the same
// rules (package guard); over TLS, connections that choose HTTP/2 go to net/http (package tlsfront).
func (s *Server) publicEngine(cfg *config.Config) engine {
	log := s.log.Named("http")
	var h1 engine
	if sc := cfg.Server; sc.Engine == config.Lean && !cfg.H2C {
		h1 = &leanhttp.Server{Handler: &s.gens, Logger: log,
			ReadHeaderTimeout: sc.ReadHeaderTimeout, IdleTimeout: sc.IdleTimeout, MaxHeaderBytes: sc.MaxHeaderBytes}
	} else {
		std := newStdServer(guard.Handler(&s.gens), log, &cfg.Server)
		std.ConnContext = guard.ConnContext
		if cfg.H2C && !s.tlsOn {
			var p http.Protocols
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			std.Protocols = &p
		}
		h1 = guardedEngine{std, cfg.Server.MaxHeaderBytes}
	}
	if !s.tlsOn {
		return h1
	}
	h2 := newStdServer(&s.gens, log, &cfg.Server)
	return &tlsfront.Server{TLSConfig: s.tlsConfig(), HTTP1: closeChallenges{h1}, HTTP2: h2, HandshakeTimeout: cfg.Server.ReadHeaderTimeout}
}

// tlsConfig: TLS 1.2 and up, AEAD suites with forward secrecy only, the certificate picked by SNI on
// each handshake from the atomically swapped certificate set (reloads and renewed files replace it).
// With ACME, a hello offering acme-tls/1 alone (a TLS-ALPN-01 validation) gets a config that
// negotiates that protocol: tlsfront sets NextProtos to h2 and http/1.1 on the config it is given.
func (s *Server) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certs.Load().GetCertificate(hello)
		},
	}
	challenge := cfg.Clone()
	challenge.NextProtos = []string{acmeALPN}
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if set := s.certs.Load(); set != nil && set.acme != nil && isACMEChallenge(hello) {
			return challenge, nil
		}
		return nil, nil // the config itself
	}
	return cfg
}

// loadCerts loads the certificate files cfg names and pairs them with the ACME manager for its
// tls.acme: the running one when its settings are unchanged, else a new one (not started: useCerts
// does that), or none. With TLS off (it is fixed at Start), or with neither certificate files nor acme
// in cfg (turning TLS off takes a restart), it returns the set and manager in use. A new manager that
// the caller does not useCerts must be given to dropACME.
func (s *Server) loadCerts(cfg *config.Config) (*certSet, *acmeManager, error) {
	if !s.tlsOn || !cfg.TLS.On() {
		return s.certs.Load(), s.acme, nil
	}
	set, err := loadCertFiles(&cfg.TLS)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	var m *acmeManager
	if cfg.TLS.ACME != nil {
		st := newACMESettings(cfg, set)
		if m = s.acme; m == nil || !m.settings.same(st) {
			if m, err = newACMEManager(st, s.log.Named("acme"), s.acmeTune, s.reportCerts); err != nil {
				return nil, nil, fmt.Errorf("tls.acme: %w", err)
			}
		}
	}
	if _, err := set.finish(cfg.TLS.DefaultSNI, m); err != nil {
		s.dropACME(m)
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	return set, m, nil
}

// useCerts serves set from the next handshake on. When m is not the running ACME manager, the running
// one stops first (its jobs are cancelled and waited for, within the shutdown timeout) and m starts:
// call useCerts once the listeners answering m's challenges are open. s.mu is held.
func (s *Server) useCerts(set *certSet, m *acmeManager) {
	if m != s.acme {
		if old := s.acme; old != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
			if err := old.stop(ctx); err != nil {
				s.log.Warn("stopping the replaced acme manager", zap.Error(err))
			}
			cancel()
		}
		if m != nil {
			m.start()
		}
		s.acme = m
	}
	s.certs.Store(set)
	s.reportCerts()
}

// dropACME stops m unless it is the running manager: one loadCerts made for a config that will not be
// used. s.mu is held.
func (s *Server) dropACME(m *acmeManager) {
	if m == nil || m == s.acme {
		return
	}
	if err := m.stop(context.Background()); err != nil { // never started: nothing to wait for
		s.log.Warn("stopping an unused acme manager", zap.Error(err))
	}
}

// reportCerts sets the certificate expiry series to the certificates served now. It runs at start, on
// reloads, when certificate files change and when ACME caches or obtains a certificate.
func (s *Server) reportCerts() {
	s.certReport.Lock()
	defer s.certReport.Unlock()
	s.opts.Metrics.ForgetCerts()
	if set := s.certs.Load(); set != nil {
		set.report(s.opts.Metrics)
	}
}

// plainHTTP answers the plain listeners (redirect_http, tls.acme.http_listen): HTTP-01 validations of
// the challenges under way, and a redirect to https for everything else.
func (s *Server) plainHTTP(w http.ResponseWriter, r *http.Request) {
	if set := s.certs.Load(); set != nil && set.acme != nil && set.acme.handleHTTPChallenge(w, r) {
		return
	}
	s.redirectToHTTPS(w, r)
}

// redirectToHTTPS answers the plain redirect listener: 308 to the same URL over https on the public port.
func (s *Server) redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	port := ""
	if p := s.httpsPort.Load(); p != nil {
		port = *p
	}
	if port != "443" && port != "" {
		host = net.JoinHostPort(host, port)
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}
