// Package gateway turns a config into the running gateway. Build makes one config's handler tree
// (routing, middleware chains, upstream pools, static folders, the built-in echo upstream); Server runs
// generations of it on the public, admin and redirect listeners, swapping in a new generation on
// reload while running requests finish on the old one.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/internal/jsonerror"
	"github.com/frontgate/frontgate/middleware"
	"github.com/frontgate/frontgate/proxy"
	"github.com/frontgate/frontgate/ratelimit"
	"github.com/frontgate/frontgate/static"
	"github.com/frontgate/frontgate/tracing"
)

// Gateway is one config turned into running parts: the public handler, and what it started and owns
// (the built-in upstreams, upstream pools with their health checks, open static folders, the forward
// auths' connections) until Close.
type Gateway struct {
	handler http.Handler
	cfg     *config.Config

	builtins  []*endpoint // the built-in upstreams
	roots     []*os.Root  // open static folders
	pools     []*proxy.Pool
	poolNames []string          // pools[i]'s name
	redis     *ratelimit.Client // the store of store: redis rate limits; nil when none has it

	authTransports []*http.Transport // the forward auths' keep-alive transports

	routeNames []string // the names requests are counted under (routes, mounts, demo routes)
	hosts      []string // the host patterns requests are counted under

	tracer *tracerRef // the Server's tracing provider this gateway's spans go to; nil: none
}

// Deps are what a gateway reports to. Every field may be nil (zero value: no logs, no access log, no
// metrics).
type Deps struct {
	// Log receives the gateway's own log lines (proxy, upstream health, panics, rate limits).
	Log *zap.Logger
	// Access receives one line per request; nil: no access log.
	Access *zap.Logger
	// Observer receives metrics; nil: none.
	Observer Observer
	// Tracing traces every request (a server span, a client span per upstream try) when set; nil:
	// no tracing, whatever cfg.Tracing says (Server makes the provider from it and keeps it across
	// reloads that leave the section alone). Build does not shut it down.
	Tracing *tracing.Provider
}

// Observer receives what metrics need; admin.Metrics is one.
type Observer interface {
	ObserveRequest(route string, status int, total, recv, upstream time.Duration, hasUpstream bool)
	ObserveHost(host string, status int)
	InflightAdd(route string, delta int)
	RateLimited(route string)
	Rejected(route, reason string)
	SetUpstreamHealth(pool, target string, up bool)
	// RateStoreCall, RateStoreBreaker: the Redis client of store: redis rate limits (ratelimit.Observer).
	RateStoreCall(latency time.Duration, failure string)
	RateStoreBreaker(state string)
	// RateStoreFallback counts a request of route decided by on_store_error.
	RateStoreFallback(route, decision string)
}

// Build turns a validated config (from config.Load or config.Default) into a gateway. On error,
// whatever was started is closed again.
func Build(cfg *config.Config, deps Deps) (gw *Gateway, err error) {
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	gw = &Gateway{cfg: cfg}
	defer func() {
		if err != nil {
			_ = gw.Close(context.Background()) // the build error is the one to report
		}
	}()
	trusted, err := middleware.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if cfg.UsesRedis() {
		if gw.redis, err = newRedisClient(cfg.Redis, deps); err != nil {
			return nil, err
		}
	}
	b := &builder{log: deps.Log, trusted: trusted, obs: deps.Observer, tracing: deps.Tracing, redis: gw.redis}
	var entries []entry
	if cfg.Demo {
		entries = append(entries,
			routeEntry("hello", nil, "/", false, []string{http.MethodGet, http.MethodHead}, b.route("hello", cfg.Defaults, demo.Hello())),
			routeEntry("demo1", nil, "/demo1/{name}", false, []string{http.MethodPost},
				b.route("demo1", cfg.Defaults, demo.Form(func(r *http.Request) string { return mux.Vars(r)["name"] }))))
	}

	pools := map[string]*proxy.Pool{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Upstreams)) {
		p, err := gw.buildPool(name, cfg.Upstreams[name], b)
		if err != nil {
			return nil, fmt.Errorf("upstreams.%s: %w", name, err)
		}
		pools[name] = p
	}
	for _, rt := range cfg.Routes {
		path, prefix := rt.Path, rt.Path == ""
		if prefix {
			path = rt.PathPrefix
		}
		var h http.Handler
		if rt.Redirect != nil {
			h = b.redirectRoute(rt)
		} else {
			h = b.proxyRoute(rt, pools[rt.Upstream])
		}
		entries = append(entries, routeEntry(rt.Name, rt.Hosts, path, prefix, rt.Methods, h))
	}

	// Longest prefix first, so /css/ wins over /.
	mounts := append([]config.Static(nil), cfg.Static...)
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].Prefix) > len(mounts[j].Prefix) })
	for _, m := range mounts {
		fsys, err := gw.openFolder(m.Path)
		if err != nil {
			return nil, fmt.Errorf("static %s: %w", m.Prefix, err)
		}
		h := static.New(fsys, static.Options{ShowIndex: m.ShowIndex, Prefix: m.Prefix, Logger: deps.Log.With(zap.String("mount", m.Name)),
			Precompressed: precompressed(m.Compress)})
		h = http.StripPrefix(strings.TrimSuffix(m.Prefix, "/"), h)
		entries = append(entries, mountEntry(m, b.route(m.Name, m.Limits, h)))
	}

	for _, e := range entries {
		if !slices.Contains(gw.routeNames, e.name) {
			gw.routeNames = append(gw.routeNames, e.name)
		}
		for _, h := range e.hosts {
			if !slices.Contains(gw.hosts, h) {
				gw.hosts = append(gw.hosts, h)
			}
		}
	}
	gw.authTransports = slices.Collect(maps.Values(b.authTransports))
	root := newHostRouter(entries)
	if cfg.RateLimit != nil {
		root = b.rateLimit("", cfg.RateLimit, root)
	}
	root = middleware.Recover(root, deps.Log.Named("panic"))
	if len(cfg.ErrorPages) > 0 {
		html, err := config.ReadErrorPages(cfg.ErrorPages)
		if err != nil {
			return nil, err
		}
		pages, inner := jsonerror.NewPages(html), root
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(w, r.WithContext(jsonerror.WithPages(r.Context(), pages)))
		})
	}
	if deps.Tracing != nil {
		// Inside Timing, whose measures (route, request id, the body's end) the span reports.
		root = deps.Tracing.Handler(root, tracing.Options{Trusted: b.peerTrusted, Describe: b.describe, ClientIP: b.clientIP})
	}
	opts := middleware.Options{Logger: deps.Access, KeepID: b.peerTrusted}
	if obs := deps.Observer; obs != nil {
		opts.Observe = func(rec middleware.Record) {
			obs.ObserveRequest(rec.Route, rec.Status, rec.Total, rec.Recv, rec.Upstream, rec.HasUpstream)
			if rec.Host != "" {
				obs.ObserveHost(rec.Host, rec.Status)
			}
		}
	}
	gw.handler = middleware.Timing(root, opts)
	return gw, nil
}

// newRedisClient is the Redis client of a config's store: redis rate limits. Each generation has its
// own, made here and closed with the generation once its last request has ended (Close): a reload
// costs new connections to Redis, and nothing is shared between generations that could outlive one.
// It connects on the first request, not here, so that a Redis that is down delays no start or
// reload.
func newRedisClient(r *config.Redis, deps Deps) (*ratelimit.Client, error) {
	opts := ratelimit.Options{Addr: r.Addr, DB: r.DB, Timeout: r.Timeout, Logger: deps.Log.Named("ratelimit")}
	if r.PasswordFile != "" {
		pw, err := config.ReadRedisPassword(r.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis.password_file: %w", err)
		}
		opts.Password = pw
	}
	if deps.Observer != nil {
		opts.Observer = deps.Observer
	}
	return ratelimit.New(opts), nil
}

// ServeHTTP serves r through the gateway's routes.
func (gw *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { gw.handler.ServeHTTP(w, r) }

// reportHealth sets every target's health gauge from its current state.
func (gw *Gateway) reportHealth(obs Observer) {
	for i, p := range gw.pools {
		for _, t := range p.Targets() {
			obs.SetUpstreamHealth(gw.poolNames[i], t.Name, t.Available())
		}
	}
}

// Close stops the built-in upstreams (draining until ctx ends) and releases folders and connections
// (upstream pools, the Redis client).
func (gw *Gateway) Close(ctx context.Context) error {
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
	for _, t := range gw.authTransports {
		t.CloseIdleConnections()
	}
	if gw.redis != nil {
		errs = append(errs, gw.redis.Close())
	}
	return errors.Join(errs...)
}
