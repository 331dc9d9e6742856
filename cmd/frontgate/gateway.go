package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/leanhttp"
	"github.com/frontgate/frontgate/middleware"
	"github.com/frontgate/frontgate/proxy"
	"github.com/frontgate/frontgate/static"
)

// gateway is a config turned into running parts: the public handler, and what it started and owns:
// the built-in upstreams, upstream pools (health checks) and open static folders.
type gateway struct {
	handler http.Handler
	cfg     *config.Config

	builtins  []*serving // the built-in upstreams
	roots     []*os.Root // open static folders
	pools     []*proxy.Pool
	poolNames []string // pools[i]'s name
}

// reportHealth sets every target's health gauge from its current state.
func (gw *gateway) reportHealth(obs observer) {
	for i, p := range gw.pools {
		for _, t := range p.Targets() {
			obs.SetUpstreamHealth(gw.poolNames[i], t.Name, t.Available())
		}
	}
}

// observer receives what metrics need; admin.Metrics is one. nil observers are allowed everywhere.
type observer interface {
	ObserveRequest(route string, status int, total, recv, upstream time.Duration, hasUpstream bool)
	InflightAdd(route string, delta int)
	RateLimited(route string)
	Rejected(route, reason string)
	SetUpstreamHealth(pool, target string, up bool)
}

// buildGateway turns a validated config into a gateway. access may be nil for no access log; obs may
// be nil for no metrics.
func buildGateway(cfg *config.Config, log, access *zap.Logger, obs observer) (gw *gateway, err error) {
	gw = &gateway{cfg: cfg}
	defer func() {
		if err != nil {
			gw.Close(context.Background())
		}
	}()
	trusted, err := middleware.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	b := &builder{cfg: cfg, log: log, trusted: trusted, obs: obs}
	r := mux.NewRouter()
	r.NotFoundHandler = withRoute("", http.HandlerFunc(notFound))
	r.MethodNotAllowedHandler = withRoute("", http.HandlerFunc(methodNotAllowed))

	if cfg.Demo {
		r.Path("/").Methods(http.MethodGet, http.MethodHead).Name("hello").Handler(b.route("hello", cfg.Defaults, demo.Hello()))
		r.Path("/demo1/{name}").Methods(http.MethodPost).Name("demo1").
			Handler(b.route("demo1", cfg.Defaults, demo.Form(func(r *http.Request) string { return mux.Vars(r)["name"] })))
	}

	pools := map[string]*proxy.Pool{}
	for _, name := range sortedNames(cfg.Upstreams) {
		p, err := gw.buildPool(name, cfg.Upstreams[name], trusted, log, obs)
		if err != nil {
			return nil, fmt.Errorf("upstreams.%s: %w", name, err)
		}
		pools[name] = p
	}
	proxyLog := log.Named("proxy")
	var trustedPeer func(netip.Addr) bool // nil when nobody is trusted: the proxy skips parsing the peer
	if !trusted.Empty() {
		trustedPeer = trusted.Contains
	}
	for _, rt := range cfg.Routes {
		h := proxy.New(pools[rt.Upstream], proxy.Options{
			StripPrefix:           stripFor(rt),
			PreserveHost:          rt.Host == "preserve",
			DialTimeout:           rt.DialTimeout,
			ResponseHeaderTimeout: rt.ResponseHeaderTimeout,
			TryTimeout:            rt.TryTimeout,
			Timeout:               rt.Timeout,
			Retries:               *rt.Retries,
			RetryBodyMax:          int64(rt.RetryBodyMax),
			TrustedPeer:           trustedPeer,
			Logger:                proxyLog.With(zap.String("route", rt.Name)),
			Observe:               middleware.SetUpstream,
		})
		var route *mux.Route
		if rt.Path != "" {
			route = r.Path(rt.Path)
		} else {
			route = r.PathPrefix(rt.PathPrefix)
		}
		if len(rt.Methods) > 0 {
			route = route.Methods(rt.Methods...)
		}
		limits := config.Limits{MaxBody: *rt.MaxBody, MaxInflight: *rt.MaxInflight, RateLimit: rt.RateLimit}
		route.Name(rt.Name).Handler(b.route(rt.Name, limits, h))
	}

	// Longest prefix first, so /css/ wins over /.
	mounts := append([]config.Static(nil), cfg.Static...)
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].Prefix) > len(mounts[j].Prefix) })
	for _, m := range mounts {
		fsys, err := gw.openFolder(m.Path)
		if err != nil {
			return nil, fmt.Errorf("static %s: %w", m.Prefix, err)
		}
		h := static.New(fsys, static.Options{ShowIndex: m.ShowIndex, Logger: log.With(zap.String("mount", m.Name))})
		h = http.StripPrefix(strings.TrimSuffix(m.Prefix, "/"), h)
		r.PathPrefix(m.Prefix).Name(m.Name).Handler(b.route(m.Name, cfg.Defaults, h))
	}

	literal := []string{}
	if cfg.Demo {
		literal = append(literal, "/")
	}
	for _, rt := range cfg.Routes {
		if rt.Path != "" {
			literal = append(literal, rt.Path)
		}
	}
	var root http.Handler = newDispatch(r, literal)
	if cfg.RateLimit != nil {
		root = b.rateLimit("", cfg.RateLimit, root)
	}
	root = middleware.Recover(root, log.Named("panic"))
	opts := middleware.Options{Logger: access, KeepID: func(r *http.Request) bool { return peerTrusted(trusted, r) }}
	if obs != nil {
		opts.Observe = func(rec middleware.Record) {
			obs.ObserveRequest(rec.Route, rec.Status, rec.Total, rec.Recv, rec.Upstream, rec.HasUpstream)
		}
	}
	gw.handler = middleware.Timing(root, opts)
	return gw, nil
}

// builder holds what every route's middleware chain needs.
type builder struct {
	cfg     *config.Config
	log     *zap.Logger
	trusted middleware.TrustedProxies
	obs     observer
}

// route wraps h in the route's chain: name it for the log, then rate limit, concurrency cap, body cap.
func (b *builder) route(name string, l config.Limits, h http.Handler) http.Handler {
	var tooBig, tooMany func(*http.Request)
	if b.obs != nil {
		tooBig = func(*http.Request) { b.obs.Rejected(name, "max_body") }
		tooMany = func(*http.Request) { b.obs.Rejected(name, "max_inflight") }
	}
	h = middleware.MaxBody(h, int64(l.MaxBody), tooBig)
	h = middleware.MaxInflight(h, l.MaxInflight, tooMany)
	if b.obs != nil {
		h = countInflight(name, b.obs, h)
	}
	if l.RateLimit != nil {
		h = b.rateLimit(name, l.RateLimit, h)
	}
	return withRoute(name, h)
}

func (b *builder) rateLimit(route string, rl *config.RateLimit, h http.Handler) http.Handler {
	opts := middleware.RateLimitOptions{RPS: rl.RPS, Burst: rl.Burst, Logger: b.log.Named("ratelimit")}
	switch kind, name, _ := strings.Cut(rl.Key, ":"); kind {
	case "global":
	case "header":
		opts.Key = middleware.KeyHeader(name, b.trusted)
	default:
		opts.Key = middleware.KeyClientIP(b.trusted)
	}
	if b.obs != nil {
		opts.OnReject = func(*http.Request) { b.obs.RateLimited(route) }
	}
	return middleware.RateLimit(h, opts)
}

// countInflight keeps the in-flight gauge for metrics.
func countInflight(route string, obs observer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.InflightAdd(route, 1)
		defer obs.InflightAdd(route, -1)
		h.ServeHTTP(w, r)
	})
}

// peerTrusted reports whether r's direct peer is a trusted proxy.
func peerTrusted(tp middleware.TrustedProxies, r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && tp.Contains(ap.Addr().Unmap())
}

// buildPool turns an upstream's config into a started pool (health checks run until Close).
func (gw *gateway) buildPool(name string, u config.Upstream, trusted middleware.TrustedProxies, log *zap.Logger, obs observer) (*proxy.Pool, error) {
	var targets []proxy.TargetSpec
	for _, t := range u.Targets {
		targets = append(targets, proxy.TargetSpec{URL: t.URL, Weight: t.Weight})
	}
	if u.Builtin == "echo" {
		addr, err := gw.startEcho(log)
		if err != nil {
			return nil, err
		}
		targets = []proxy.TargetSpec{{URL: "http://" + addr}}
		log.Info("builtin upstream started", zap.String("upstream", name), zap.String("builtin", u.Builtin), zap.String("addr", addr))
	}
	var sel proxy.Selector
	switch u.Balance {
	case "least_conn":
		sel = &proxy.LeastConn{}
	case "random":
		sel = proxy.Random{}
	case "hash":
		sel = &proxy.Hash{Key: hashKey(u.HashKey, trusted)}
	default:
		sel = &proxy.RoundRobin{}
	}
	opts := proxy.PoolOptions{
		Name:        name,
		Selector:    sel,
		MaxFails:    u.MaxFails,
		FailWindow:  u.FailWindow,
		FailTimeout: u.FailTimeout,
		Health: proxy.HealthCheck{
			Path: u.Health.Path, Interval: u.Health.Interval, Timeout: u.Health.Timeout,
			ExpectStatus: u.Health.ExpectStatus, Rise: u.Health.Rise, Fall: u.Health.Fall,
		},
		DialTimeout:      u.DialTimeout,
		MaxIdlePerTarget: u.MaxIdlePerTarget,
		H2C:              u.H2C,
		Logger:           log.Named("upstream"),
	}
	if obs != nil {
		opts.OnChange = func(t *proxy.Upstream, up bool) { obs.SetUpstreamHealth(name, t.Name, up) }
	}
	p, err := proxy.NewPool(targets, opts)
	if err != nil {
		return nil, err
	}
	gw.poolNames = append(gw.poolNames, name)
	if obs != nil {
		for _, t := range p.Targets() {
			obs.SetUpstreamHealth(name, t.Name, true) // targets start in service
		}
	}
	p.Start()
	gw.pools = append(gw.pools, p)
	return p, nil
}

// hashKey turns a hash_key setting (client_ip, header:NAME, cookie:NAME) into a key function.
func hashKey(spec string, trusted middleware.TrustedProxies) func(*http.Request) string {
	kind, name, _ := strings.Cut(spec, ":")
	switch kind {
	case "header":
		return func(r *http.Request) string { return r.Header.Get(name) }
	case "cookie":
		return func(r *http.Request) string {
			if c, err := r.Cookie(name); err == nil {
				return c.Value
			}
			return ""
		}
	}
	return func(r *http.Request) string { return trusted.ClientIP(r).String() }
}

func stripFor(rt config.Route) string {
	if rt.StripPrefix {
		return rt.PathPrefix
	}
	return ""
}

// openFolder opens a static folder: inside the embedded demo site for the embedded default, else on
// disk through an os.Root, which refuses paths and symlinks that lead outside the folder.
func (gw *gateway) openFolder(path string) (fs.FS, error) {
	if gw.cfg.Embedded {
		return fs.Sub(static.Site, path)
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("open folder: %w", err)
	}
	gw.roots = append(gw.roots, root)
	return root.FS(), nil
}

// startEcho runs the built-in echo upstream on a free loopback port.
func (gw *gateway) startEcho(log *zap.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start echo upstream: %w", err)
	}
	gw.builtins = append(gw.builtins, startServer(newServer(demo.Echo(), log.Named("echo"), &gw.cfg.Server), ln))
	return ln.Addr().String(), nil
}

// Close stops the built-in upstreams (draining until ctx ends) and releases folders and connections.
func (gw *gateway) Close(ctx context.Context) error {
	var errs []error
	for _, s := range gw.builtins {
		errs = append(errs, s.Stop(ctx))
	}
	for _, r := range gw.roots {
		errs = append(errs, r.Close())
	}
	for _, p := range gw.pools {
		p.Close()
	}
	return errors.Join(errs...)
}

// newServer is an http.Server with the configured protection limits.
func newServer(h http.Handler, log *zap.Logger, s *config.Server) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log),
	}
}

// dispatch serves requests through the mux router's matching, without the two request copies
// mux.Router.ServeHTTP makes on every request to put the route and its variables in the context (the
// profile's largest allocation). Routes with path variables still get them, so mux.Vars works there.
type dispatch struct {
	r *mux.Router
	// exact holds mux's own answer for the routes' literal paths, per method in probeMethods, found
	// by asking the router at build time: for these paths a map lookup replaces matching every
	// route's regular expression in turn. Only answers that name a handler without path variables
	// are kept; everything else goes to the router. The router's answer can depend on nothing but
	// the path and the method, since the gateway registers no host, header, query or scheme matchers.
	exact map[string]*[len(probeMethods)]http.Handler
}

var probeMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodPatch, http.MethodOptions}

// newDispatch serves through r, answering requests for the given literal paths from a table.
func newDispatch(r *mux.Router, paths []string) dispatch {
	d := dispatch{r: r, exact: map[string]*[len(probeMethods)]http.Handler{}}
	for _, p := range paths {
		if strings.ContainsAny(p, "{}") || cleanPath(p) != p {
			continue
		}
		var row [len(probeMethods)]http.Handler
		found := false
		for i, m := range probeMethods {
			req := &http.Request{Method: m, URL: &url.URL{Path: p}, Header: http.Header{}}
			var rm mux.RouteMatch
			if r.Match(req, &rm) && rm.MatchErr == nil && rm.Handler != nil && len(rm.Vars) == 0 {
				row[i], found = rm.Handler, true
			}
		}
		if found {
			d.exact[p] = &row
		}
	}
	return d
}

func methodIndex(m string) int {
	for i, p := range probeMethods {
		if m == p {
			return i
		}
	}
	return -1
}

func (d dispatch) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if row := d.exact[req.URL.Path]; row != nil {
		if i := methodIndex(req.Method); i >= 0 && row[i] != nil {
			row[i].ServeHTTP(w, req)
			return
		}
	}
	// Like mux: a path that is not clean is redirected to its clean form.
	if p := cleanPath(req.URL.Path); p != req.URL.Path {
		u := *req.URL
		u.Path = p
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	var m mux.RouteMatch
	if !d.r.Match(req, &m) || m.Handler == nil {
		d.r.NotFoundHandler.ServeHTTP(w, req)
		return
	}
	if len(m.Vars) > 0 {
		req = mux.SetURLVars(req, m.Vars)
	}
	m.Handler.ServeHTTP(w, req)
}

// cleanPath is path.Clean keeping a trailing slash, as mux does.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// newLeanServer is leanhttp's server with the configured protection limits.
func newLeanServer(h http.Handler, log *zap.Logger, s *config.Server) *leanhttp.Server {
	return &leanhttp.Server{
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		Logger:            log,
	}
}

// withRoute names the matched route for the access log.
func withRoute(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		middleware.SetRoute(r, name)
		h.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	demo.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	demo.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
