package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/guard"
	"github.com/frontgate/frontgate/tlsfront"
)

// runtime runs the gateway's listeners and swaps generations of the handler tree on reload: a request
// finishes on the generation it started on, and an old generation is closed once its last request ends.
type runtime struct {
	log      *zap.Logger
	path     string // config file; "" for the embedded default
	listen   string // -listen override; "" for the config's
	metrics  *admin.Metrics
	current  atomic.Pointer[generation]
	cert     atomic.Pointer[tls.Certificate]
	stopping atomic.Bool
	https    atomic.Pointer[string] // the public listener's bound port, for the redirect listener

	// mu serializes reloads and shutdown, and guards the fields below.
	mu       sync.Mutex
	cfg      *config.Config
	public   *endpoint
	admin    *endpoint
	redirect *endpoint
	tlsOn    bool           // the public listener speaks TLS (fixed for the process's life)
	draining sync.WaitGroup // old generations and replaced listeners winding down
	lastSum  [32]byte       // the config file's hash at the last load, for watch
}

// endpoint is a listener with its server.
type endpoint struct {
	addr string // as configured
	srv  *serving
}

// generation is one config's handler tree with a count of the requests running on it.
type generation struct {
	gw      *gateway
	active  atomic.Int64
	retired atomic.Bool
	drained chan struct{}
	once    sync.Once
}

func newGeneration(gw *gateway) *generation { return &generation{gw: gw, drained: make(chan struct{})} }

func (g *generation) release() {
	if g.active.Add(-1) == 0 && g.retired.Load() {
		g.once.Do(func() { close(g.drained) })
	}
}

// retire stops new requests from starting on g; drained closes when the last running one ends.
func (g *generation) retire() {
	g.retired.Store(true)
	if g.active.Load() == 0 {
		g.once.Do(func() { close(g.drained) })
	}
}

// ServeHTTP runs r on the current generation.
func (rt *runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := rt.acquire()
	defer g.release() // outside any loop: a defer in a loop is allocated on the heap
	g.gw.handler.ServeHTTP(w, r)
}

// acquire counts a request in on the current generation.
func (rt *runtime) acquire() *generation {
	for {
		g := rt.current.Load()
		g.active.Add(1)
		if !g.retired.Load() {
			return g
		}
		g.release() // swapped out meanwhile: take the new one
	}
}

// loadConfig reads the config (file or embedded) with the -listen override applied.
func (rt *runtime) loadConfig() (*config.Config, [32]byte, error) {
	var sum [32]byte
	if rt.path != "" {
		data, err := os.ReadFile(rt.path)
		if err != nil {
			return nil, sum, fmt.Errorf("read config: %w", err)
		}
		sum = sha256.Sum256(data)
	}
	cfg, err := loadConfig(rt.path)
	if err != nil {
		return nil, sum, err
	}
	if rt.listen != "" {
		cfg.Listen = rt.listen
	}
	return cfg, sum, nil
}

// build makes a gateway for cfg with this runtime's logger and metrics.
func (rt *runtime) build(cfg *config.Config) (*gateway, error) {
	var access *zap.Logger
	if cfg.Log.AccessEnabled() {
		access = rt.log.Named("access")
	}
	return buildGateway(cfg, rt.log, access, rt.metrics)
}

// start loads the config, builds the first generation and opens the listeners.
func (rt *runtime) start(cfg *config.Config, sum [32]byte) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	gw, err := rt.build(cfg)
	if err != nil {
		return fmt.Errorf("build gateway: %w", err)
	}
	rt.current.Store(newGeneration(gw))
	rt.tlsOn = cfg.TLS.Cert != ""
	if err := rt.loadCert(cfg); err != nil {
		return errors.Join(err, gw.Close(context.Background()))
	}
	var eps []*endpoint
	for _, spec := range rt.endpointsFor(cfg) {
		ep, err := rt.open(spec, cfg)
		if err != nil {
			for _, e := range eps {
				_ = e.srv.Stop(context.Background())
			}
			return errors.Join(err, gw.Close(context.Background()))
		}
		eps = append(eps, ep)
		*spec.slot = ep
	}
	rt.cfg, rt.lastSum = cfg, sum
	rt.metrics.ConfigReload(true)
	return nil
}

// endpointSpec names a listener the config asks for and where it is kept.
type endpointSpec struct {
	name string // public, admin, redirect
	addr string
	slot **endpoint
}

func (rt *runtime) endpointsFor(cfg *config.Config) []endpointSpec {
	specs := []endpointSpec{{"public", cfg.Listen, &rt.public}}
	if cfg.Admin.Listen != "" {
		specs = append(specs, endpointSpec{"admin", cfg.Admin.Listen, &rt.admin})
	}
	if cfg.TLS.RedirectHTTP != "" && rt.tlsOn {
		specs = append(specs, endpointSpec{"redirect", cfg.TLS.RedirectHTTP, &rt.redirect})
	}
	return specs
}

// open listens on spec.addr and starts its server.
func (rt *runtime) open(spec endpointSpec, cfg *config.Config) (*endpoint, error) {
	ln, err := net.Listen("tcp", spec.addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", spec.name, err)
	}
	var srv *http.Server
	switch spec.name {
	case "public":
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		rt.https.Store(&port)
		log := rt.log.Named("http")
		// HTTP/1 is served by leanhttp, or by net/http held to the same rules (package guard);
		// over TLS, connections that choose HTTP/2 go to net/http (package tlsfront).
		var h1 server
		if cfg.Server.Engine == "lean" && !cfg.H2C {
			h1 = newLeanServer(rt, log, &cfg.Server)
		} else {
			std := newServer(guard.Handler(rt), log, &cfg.Server)
			std.ConnContext = guard.ConnContext
			if cfg.H2C && !rt.tlsOn {
				var p http.Protocols
				p.SetHTTP1(true)
				p.SetUnencryptedHTTP2(true)
				std.Protocols = &p
			}
			h1 = guardedServer{std, cfg.Server.MaxHeaderBytes}
		}
		if rt.tlsOn {
			h2 := newServer(rt, log, &cfg.Server)
			h1 = &tlsfront.Server{TLSConfig: rt.tlsConfig(), HTTP1: h1, HTTP2: h2, HandshakeTimeout: cfg.Server.ReadHeaderTimeout}
		}
		rt.logListening(spec, ln, rt.tlsOn, cfg)
		return &endpoint{addr: spec.addr, srv: startServer(h1, ln)}, nil
	case "admin":
		srv = newServer(admin.Handler(admin.Options{
			Metrics: rt.metrics,
			Ready:   rt.ready,
			Config:  rt.redactedConfig,
			Logger:  rt.log.Named("admin"),
		}), rt.log.Named("admin"), &cfg.Server)
	case "redirect":
		srv = newServer(http.HandlerFunc(rt.redirectToHTTPS), rt.log.Named("redirect"), &cfg.Server)
	}
	rt.logListening(spec, ln, false, cfg)
	return &endpoint{addr: spec.addr, srv: startServer(srv, ln)}, nil
}

func (rt *runtime) logListening(spec endpointSpec, ln net.Listener, tlsOn bool, cfg *config.Config) {
	rt.log.Info("listening", zap.String("listener", spec.name), zap.String("addr", ln.Addr().String()),
		zap.Bool("tls", tlsOn), zap.String("version", versionString()), zap.Bool("embedded_config", cfg.Embedded))
}

// tlsConfig: TLS 1.2 and up, AEAD suites with forward secrecy only, the certificate read on each
// handshake from the atomically swapped pointer (reloads replace it).
func (rt *runtime) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return rt.cert.Load(), nil },
	}
}

func (rt *runtime) loadCert(cfg *config.Config) error {
	if cfg.TLS.Cert == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	rt.cert.Store(&cert)
	return nil
}

// redirectToHTTPS answers the plain redirect listener: 308 to the same URL over https on the public port.
func (rt *runtime) redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	port := ""
	if p := rt.https.Load(); p != nil {
		port = *p
	}
	if port != "443" && port != "" {
		host = net.JoinHostPort(host, port)
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

func (rt *runtime) ready() error {
	if rt.stopping.Load() {
		return errors.New("shutting down")
	}
	return nil
}

func (rt *runtime) redactedConfig() any {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return admin.Redact(rt.cfg)
}

// reload loads the config again and, if it is valid and builds, swaps it in: new requests take the
// new tree, running ones finish on the old, changed listen addresses are rebound. A bad config is
// logged with every problem and the running one stays.
func (rt *runtime) reload(reason string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stopping.Load() {
		return
	}
	log := rt.log.With(zap.String("reason", reason))
	reject := func(fields ...zap.Field) {
		rt.metrics.ConfigReload(false)
		log.Error("config reload rejected; the running config stays", fields...)
	}
	cfg, sum, err := rt.loadConfig()
	if err != nil {
		if ce := (*config.Error)(nil); errors.As(err, &ce) {
			reject(zap.String("file", ce.File), zap.Strings("problems", problemStrings(ce)))
		} else {
			reject(zap.Error(err))
		}
		rt.lastSum = sum
		return
	}
	gw, err := rt.build(cfg)
	if err != nil {
		reject(zap.Error(err))
		rt.lastSum = sum
		return
	}
	if (cfg.TLS.Cert != "") != rt.tlsOn || cfg.H2C != rt.cfg.H2C || cfg.Server != rt.cfg.Server {
		log.Warn("tls on/off, h2c and server settings take effect at the next restart")
	}
	if err := rt.loadCert(cfg); err != nil && rt.tlsOn {
		reject(zap.Error(err))
		rt.closeLater(gw)
		return
	}
	// Open changed listeners before anything is swapped, so a port in use rejects the reload whole.
	type change struct {
		spec endpointSpec
		ep   *endpoint
	}
	var opened []change
	wanted := map[**endpoint]bool{}
	for _, spec := range rt.endpointsFor(cfg) {
		wanted[spec.slot] = true
		if old := *spec.slot; old != nil && old.addr == spec.addr {
			continue
		}
		ep, err := rt.open(spec, cfg)
		if err != nil {
			for _, c := range opened {
				_ = c.ep.srv.Stop(context.Background())
			}
			reject(zap.Error(err))
			rt.closeLater(gw)
			return
		}
		opened = append(opened, change{spec, ep})
	}
	old := rt.current.Swap(newGeneration(gw))
	old.retire()
	// Upstream series of the old tree go; the new tree's are set again from their state.
	for _, name := range old.gw.poolNames {
		rt.metrics.ForgetUpstreams(name)
	}
	gw.reportHealth(rt.metrics)
	rt.closeLater(old.gw, old.drained)
	for _, c := range opened {
		if prev := *c.spec.slot; prev != nil {
			rt.stopLater(prev)
		}
		*c.spec.slot = c.ep
	}
	for _, slot := range []**endpoint{&rt.admin, &rt.redirect} {
		if *slot != nil && !wanted[slot] {
			rt.stopLater(*slot)
			*slot = nil
		}
	}
	rt.cfg, rt.lastSum = cfg, sum
	rt.metrics.ConfigReload(true)
	log.Info("config reloaded", zap.Int("routes", len(cfg.Routes)), zap.Int("static", len(cfg.Static)), zap.Int("upstreams", len(cfg.Upstreams)))
}

func problemStrings(ce *config.Error) []string {
	out := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		out[i] = p.String()
	}
	return out
}

// closeLater closes gw in the background once every channel in after is closed. rt.mu is held.
func (rt *runtime) closeLater(gw *gateway, after ...chan struct{}) {
	timeout := rt.cfg.Server.ShutdownTimeout
	rt.draining.Add(1)
	go func() {
		defer rt.draining.Done()
		for _, c := range after {
			<-c
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := gw.Close(ctx); err != nil {
			rt.log.Warn("closing a retired config's resources", zap.Error(err))
		}
	}()
}

// stopLater drains a replaced listener in the background. rt.mu is held.
func (rt *runtime) stopLater(ep *endpoint) {
	timeout := rt.cfg.Server.ShutdownTimeout
	rt.draining.Add(1)
	go func() {
		defer rt.draining.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := ep.srv.Stop(ctx); err != nil {
			rt.log.Warn("draining a replaced listener", zap.String("addr", ep.addr), zap.Error(err))
		}
	}()
}

// watch reloads when the config file's content changes, checking every interval while watch is on.
func (rt *runtime) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rt.mu.Lock()
		on, last := rt.cfg.Watch, rt.lastSum
		rt.mu.Unlock()
		if !on {
			continue
		}
		data, err := os.ReadFile(rt.path)
		if err != nil || sha256.Sum256(data) == last {
			continue // a file being replaced may be briefly missing; the next tick looks again
		}
		rt.reload("file changed")
	}
}

// publicServer is the current public listener's server.
func (rt *runtime) publicServer() *serving {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.public.srv
}

// shutdown stops accepting, drains in-flight requests on every generation, and closes everything.
func (rt *runtime) shutdown(ctx context.Context) error {
	rt.stopping.Store(true)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var errs []error
	for _, ep := range []*endpoint{rt.public, rt.redirect} {
		if ep != nil {
			errs = append(errs, ep.srv.Stop(ctx))
		}
	}
	g := rt.current.Load()
	g.retire()
	select {
	case <-g.drained:
	case <-ctx.Done():
	}
	errs = append(errs, g.gw.Close(ctx))
	if rt.admin != nil {
		errs = append(errs, rt.admin.srv.Stop(ctx))
	}
	rt.draining.Wait()
	return errors.Join(errs...)
}
