package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/leanhttp"
)

// Options configure a Server.
type Options struct {
	// Path is the config file, loaded again on every reload (LoadConfig); empty: the embedded default.
	Path string
	// Listen overrides the reloaded config's public listen address; empty: the config's.
	Listen string
	// Version is logged with every "listening" line.
	Version string
	// Log receives the server's and the gateway's log lines; nil: none.
	Log *zap.Logger
	// AccessOut receives the access log when the config names no log.access_file: the process's
	// stdout. Nil: the access log goes to Log, named "access". With log.access_file it goes to the
	// file either way.
	AccessOut *os.File
	// Metrics is served on the admin listener and fed by every generation; nil: a fresh set.
	Metrics *admin.Metrics
}

// Server runs the gateway's listeners and swaps generations of it on reload: a request finishes on
// the generation it started on, and an old generation is closed once its last request ends.
type Server struct {
	opts      Options
	log       *zap.Logger
	gens      generations
	certs     atomic.Pointer[certSet] // the public listener's certificates while TLS is on
	stopping  atomic.Bool
	httpsPort atomic.Pointer[string] // the public listener's bound port, for the redirect listener
	acmeTune  acmeTuning             // set by tests before Start
	// certReport serializes reportCerts, so that the expiry series end up describing the latest set.
	certReport sync.Mutex

	// mu serializes reloads and shutdown, and guards the fields below.
	mu       sync.Mutex
	cfg      *config.Config
	public   *endpoint
	admin    *endpoint
	redirect *endpoint
	acmeHTTP *endpoint      // tls.acme.http_listen, when it is not redirect_http's address
	acme     *acmeManager   // the running ACME manager; nil without tls.acme
	tracer   *tracerRef     // the server's hold on the running tracing provider; nil without tracing
	tlsOn    bool           // the public listener speaks TLS (fixed for the process's life)
	draining sync.WaitGroup // old generations and replaced listeners winding down
	lastSum  [32]byte       // the config file's hash at the last load, for the file watch
	// stopCertWatch stops the certificate files' watch and waits for it; nil while none runs.
	stopCertWatch func()
	// access is the access log's writer, shared by every generation, from the first config that
	// writes the access log to AccessOut or a file until Shutdown; nil before.
	access *accessWriter
}

// NewServer returns a server that has not started: Run (or Start) it with the config from LoadConfig.
func NewServer(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = admin.NewMetrics()
	}
	return &Server{opts: opts, log: opts.Log}
}

// LoadConfig loads the config file at path, or the embedded default when path is empty, with the
// public listen address replaced by listen unless it is empty.
func LoadConfig(path, listen string) (*config.Config, error) {
	var cfg *config.Config
	var err error
	if path == "" {
		cfg, err = config.Default()
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, err
	}
	if listen != "" {
		cfg.Listen = listen
	}
	return cfg, nil
}

// build makes a gateway for cfg with this server's logger and metrics, tracing to tracer (nil:
// none), on which the gateway takes a hold of its own until closeGateway. s.mu is held.
func (s *Server) build(cfg *config.Config, tracer *tracerRef) (*Gateway, error) {
	for _, w := range cfg.Warnings {
		s.log.Warn("config warning", zap.String("problem", w.String()))
	}
	deps := Deps{Log: s.log, Observer: s.opts.Metrics, Tracing: tracer.provider()}
	switch {
	case !cfg.Log.Access:
	case !s.writesAccess(cfg):
		deps.Access = s.log.Named("access")
	default:
		if s.access == nil {
			s.access = newAccessWriter(s.opts.AccessOut, s.log)
		}
		var err error
		if deps.Access, err = s.access.logger(cfg.Log); err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
	}
	if tracer != nil {
		tracer.refs.Add(1)
	}
	gw, err := Build(cfg, deps)
	if err != nil {
		_ = tracer.release(context.Background()) // nothing traced yet: the build error is the one to report
		return nil, err
	}
	gw.tracer = tracer
	return gw, nil
}

// closeGateway closes gw and lets go of its hold on its tracing provider, which exports the spans
// left once no gateway and not the server hold it.
func (s *Server) closeGateway(ctx context.Context, gw *Gateway) error {
	return errors.Join(gw.Close(ctx), gw.tracer.release(ctx))
}

// writesAccess is true when cfg's access lines go through the access writer: to a file, or to
// AccessOut.
func (s *Server) writesAccess(cfg *config.Config) bool {
	return cfg.Log.Access && (cfg.Log.AccessFile != "" || s.opts.AccessOut != nil)
}

// useAccess points the access writer at cfg's file (or AccessOut) once cfg's generation serves.
// Without an access log of its own, cfg leaves the writer as it is, for the lines of the requests
// still running on older generations. s.mu is held.
func (s *Server) useAccess(cfg *config.Config) error {
	if !s.writesAccess(cfg) {
		return nil
	}
	if err := s.access.use(cfg.Log); err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}

// ReopenAccessLog closes the access-log file and opens its path again, having written out every line
// logged so far: SIGUSR1, after an external logrotate has moved the file away. Without a file it
// does nothing.
func (s *Server) ReopenAccessLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var path string
	var err error
	if s.access != nil {
		path, err = s.access.reopen()
	}
	switch {
	case err != nil:
		s.log.Error("access log reopen failed; lines are lost until the file opens", zap.String("file", path), zap.Error(err))
	case path == "":
		s.log.Info("no access-log file to reopen")
	default:
		s.log.Info("access log reopened", zap.String("file", path))
	}
}

// Start builds the first generation from cfg (from Load) and opens the listeners. With TLS on it also
// starts watching the certificate files and, with tls.acme, the ACME manager; Shutdown stops both.
func (s *Server) Start(cfg *config.Config) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if err != nil && s.access != nil {
			err = errors.Join(err, s.access.close())
			s.access = nil
		}
	}()
	tracer, err := s.tracerFor(cfg)
	if err != nil {
		return fmt.Errorf("start tracing: %w", err)
	}
	gw, err := s.build(cfg, tracer)
	if err != nil {
		return errors.Join(fmt.Errorf("build gateway: %w", err), tracer.release(context.Background()))
	}
	if err := s.useAccess(cfg); err != nil {
		return errors.Join(err, s.closeGateway(context.Background(), gw), tracer.release(context.Background()))
	}
	s.gens.current.Store(newGeneration(gw))
	s.tlsOn = cfg.TLS.On()
	set, acme, err := s.loadCerts(cfg)
	if err != nil {
		return errors.Join(err, s.closeGateway(context.Background(), gw), tracer.release(context.Background()))
	}
	s.certs.Store(set) // before the listeners open; the ACME manager starts after
	var opened []*endpoint
	for _, spec := range s.listenersFor(cfg) {
		ep, err := s.open(spec, cfg)
		if err != nil {
			for _, e := range opened {
				_ = e.Stop(context.Background()) // the listen error is the one to report
			}
			s.dropACME(acme)
			return errors.Join(err, s.closeGateway(context.Background(), gw), tracer.release(context.Background()))
		}
		opened = append(opened, ep)
		*spec.slot = ep
	}
	s.cfg, s.lastSum = cfg, cfg.Digest
	s.tracer = tracer
	s.useCerts(set, acme)
	s.opts.Metrics.ConfigLoaded()
	if s.tlsOn {
		s.startCertWatch()
	}
	return nil
}

// startCertWatch watches the certificate files every second, with or without watch: true, and swaps
// in renewed ones; Shutdown stops it. s.mu is held.
func (s *Server) startCertWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := &certWatch{certs: &s.certs, log: s.log.Named("tls"), settle: certSettle, report: s.reportCerts}
	go func() {
		defer close(done)
		every(ctx, time.Second, w.check)
	}()
	s.stopCertWatch = func() {
		cancel()
		<-done
	}
}

// Addr is the public listener's bound address; "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.public == nil {
		return ""
	}
	return s.public.bound
}

// Run starts the server on cfg and serves until ctx ends, reopening the access-log file on every
// SIGUSR1 from signals and reloading on every other value (and on file changes while the config says
// watch: true), then, not ready any more, serves on for the shutdown delay and drains in-flight
// requests within the shutdown timeout. It fails when the public listener stops on its own.
func (s *Server) Run(ctx context.Context, cfg *config.Config, signals <-chan os.Signal) error {
	if err := s.Start(cfg); err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Add(1)
	go func() {
		defer watching.Done()
		m := &memoryReturner{naps: leanhttp.Naps, free: debug.FreeOSMemory}
		every(watchCtx, returnInterval, m.tick)
	}()
	if s.opts.Path != "" {
		watching.Add(1)
		go func() {
			defer watching.Done()
			s.watch(watchCtx, time.Second)
		}()
	}
	var failure error
	for failure == nil && ctx.Err() == nil {
		pub := s.publicEndpoint()
		select {
		case sig := <-signals:
			if sig == syscall.SIGUSR1 {
				s.ReopenAccessLog()
			} else {
				s.Reload("SIGHUP")
			}
		case <-pub.Done():
			if pub == s.publicEndpoint() { // not a listener replaced by a reload
				failure = fmt.Errorf("serve: %w", pub.Failed())
			}
		case <-ctx.Done():
		}
	}
	stopWatch()
	watching.Wait()
	s.mu.Lock()
	timeout, delay := s.cfg.Server.ShutdownTimeout, s.cfg.Server.ShutdownDelay
	s.mu.Unlock()
	if failure == nil && delay > 0 {
		s.stopping.Store(true) // /readyz answers 503 and reloads stop; the listeners still serve
		s.log.Info("shutting down: not ready, serving on for the delay", zap.Duration("delay", delay))
		time.Sleep(delay)
	}
	if failure == nil {
		s.log.Info("shutting down: draining in-flight requests", zap.Duration("timeout", timeout))
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(drainCtx); err != nil || failure != nil {
		return errors.Join(failure, err)
	}
	s.log.Info("stopped", zap.Duration("drain", time.Since(start)))
	return nil
}

func (s *Server) ready() error {
	if s.stopping.Load() {
		return errors.New("shutting down")
	}
	return nil
}

func (s *Server) redactedConfig() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return admin.Redact(s.cfg)
}

// Reload loads the config again and, if it is valid and builds, swaps it in: new requests take the
// new generation, running ones finish on the old, changed listen addresses are rebound. A bad config
// is logged with every problem and the running one stays.
func (s *Server) Reload(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return
	}
	log := s.log.With(zap.String("reason", reason))
	reject := func(fields ...zap.Field) {
		s.opts.Metrics.ConfigReload(false)
		log.Error("config reload rejected; the running config stays", fields...)
	}
	cfg, err := LoadConfig(s.opts.Path, s.opts.Listen)
	if err != nil {
		var sum [32]byte // a bad file is not loaded again until it changes
		if data, err := os.ReadFile(s.opts.Path); err == nil {
			sum = sha256.Sum256(data)
		}
		if ce := (*config.Error)(nil); errors.As(err, &ce) {
			reject(zap.String("file", ce.File), zap.Strings("problems", problemStrings(ce)))
		} else {
			reject(zap.Error(err))
		}
		s.lastSum = sum
		return
	}
	tracer, err := s.tracerFor(cfg)
	if err != nil {
		reject(zap.Error(err))
		s.lastSum = cfg.Digest
		return
	}
	// A tracer made for this reload and not kept is shut down with the last gateway built with it.
	dropTracer := func() { _ = tracer.release(context.Background()) }
	gw, err := s.build(cfg, tracer)
	if err != nil {
		dropTracer()
		reject(zap.Error(err))
		s.lastSum = cfg.Digest
		return
	}
	if cfg.TLS.On() != s.tlsOn || cfg.H2C != s.cfg.H2C || cfg.Server != s.cfg.Server {
		log.Warn("tls on/off, h2c and server settings take effect at the next restart")
	}
	set, acme, err := s.loadCerts(cfg)
	if err != nil {
		reject(zap.Error(err))
		s.closeLater(gw)
		dropTracer()
		return
	}
	// Open changed listeners before anything is swapped, so a port in use rejects the reload whole.
	type change struct {
		spec listenerSpec
		ep   *endpoint
	}
	var opened []change
	wanted := map[**endpoint]bool{}
	for _, spec := range s.listenersFor(cfg) {
		wanted[spec.slot] = true
		if old := *spec.slot; old != nil && old.addr == spec.addr {
			continue
		}
		ep, err := s.open(spec, cfg)
		if err != nil {
			for _, c := range opened {
				_ = c.ep.Stop(context.Background()) // the listen error is the one to report
			}
			s.dropACME(acme)
			reject(zap.Error(err))
			s.closeLater(gw)
			dropTracer()
			return
		}
		opened = append(opened, change{spec, ep})
	}
	old := s.gens.current.Swap(newGeneration(gw))
	old.retire()
	// Upstream series of the old tree go; the new tree's are set again from their state.
	for _, name := range old.gw.poolNames {
		s.opts.Metrics.ForgetUpstreams(name)
	}
	gw.reportHealth(s.opts.Metrics)
	s.closeLater(old.gw, old.drained)
	if err := s.useAccess(cfg); err != nil {
		log.Error("the new access-log file does not open; its lines are lost until it does", zap.Error(err))
	}
	for _, c := range opened {
		if prev := *c.spec.slot; prev != nil {
			s.stopLater(prev)
		}
		*c.spec.slot = c.ep
	}
	for _, slot := range []**endpoint{&s.admin, &s.redirect, &s.acmeHTTP} {
		if *slot != nil && !wanted[slot] {
			s.stopLater(*slot)
			*slot = nil
		}
	}
	s.useCerts(set, acme)
	// The old provider, if this is a new one, goes once the generations built with it have closed.
	_ = s.tracer.release(context.Background())
	s.tracer = tracer
	s.cfg, s.lastSum = cfg, cfg.Digest
	s.opts.Metrics.ConfigReload(true)
	log.Info("config reloaded", zap.Int("routes", len(cfg.Routes)), zap.Int("static", len(cfg.Static)), zap.Int("upstreams", len(cfg.Upstreams)))
}

func problemStrings(ce *config.Error) []string {
	out := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		out[i] = p.String()
	}
	return out
}

// closeLater closes gw (closeGateway) in the background once every channel in after is closed. s.mu
// is held.
func (s *Server) closeLater(gw *Gateway, after ...chan struct{}) {
	timeout := s.cfg.Server.ShutdownTimeout
	s.draining.Add(1)
	go func() {
		defer s.draining.Done()
		for _, c := range after {
			<-c
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.closeGateway(ctx, gw); err != nil {
			s.log.Warn("closing a retired config's resources", zap.Error(err))
		}
		s.forgetRetired(gw)
	}()
}

// forgetRetired drops the metrics series of the routes and hosts gw had that the running config
// has not: once gw's last request has ended, nothing counts under them again.
func (s *Server) forgetRetired(gw *Gateway) {
	current := s.gens.current.Load().gw
	var routes, hosts []string
	for _, r := range gw.routeNames {
		if !slices.Contains(current.routeNames, r) {
			routes = append(routes, r)
		}
	}
	for _, h := range gw.hosts {
		if !slices.Contains(current.hosts, h) {
			hosts = append(hosts, h)
		}
	}
	s.opts.Metrics.ForgetRoutes(routes...)
	s.opts.Metrics.ForgetHosts(hosts...)
}

// stopLater drains a replaced listener in the background. s.mu is held.
func (s *Server) stopLater(ep *endpoint) {
	timeout := s.cfg.Server.ShutdownTimeout
	s.draining.Add(1)
	go func() {
		defer s.draining.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := ep.Stop(ctx); err != nil {
			s.log.Warn("draining a replaced listener", zap.String("addr", ep.addr), zap.Error(err))
		}
	}()
}

// watch reloads when the config file's content changes, checking every interval while watch is on.
func (s *Server) watch(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func(time.Time) {
		s.mu.Lock()
		on, last := s.cfg.Watch, s.lastSum
		s.mu.Unlock()
		if !on {
			return
		}
		data, err := os.ReadFile(s.opts.Path)
		if err != nil || sha256.Sum256(data) == last {
			return // a file being replaced may be briefly missing; the next tick looks again
		}
		s.Reload("file changed")
	})
}

// every calls f with the time every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}

// publicEndpoint is the current public listener's endpoint.
func (s *Server) publicEndpoint() *endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.public
}

// Shutdown stops accepting, drains in-flight requests on every generation until ctx ends, and closes
// everything.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopCertWatch != nil {
		s.stopCertWatch()
	}
	var errs []error
	for _, ep := range []*endpoint{s.public, s.redirect, s.acmeHTTP} {
		if ep != nil {
			errs = append(errs, ep.Stop(ctx))
		}
	}
	if s.acme != nil { // no handshake is under way any more
		errs = append(errs, s.acme.stop(ctx))
		s.acme = nil
	}
	if g := s.gens.current.Load(); g != nil {
		g.retire()
		select {
		case <-g.drained:
		case <-ctx.Done():
		}
		errs = append(errs, s.closeGateway(ctx, g.gw))
	}
	if s.admin != nil {
		errs = append(errs, s.admin.Stop(ctx))
	}
	s.draining.Wait()
	// The last hold: the spans of the last requests are exported before Shutdown returns.
	errs = append(errs, s.tracer.release(ctx))
	s.tracer = nil
	if s.access != nil { // after every generation has logged its last line
		errs = append(errs, s.access.close())
	}
	return errors.Join(errs...)
}
