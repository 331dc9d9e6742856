package gateway

import (
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/middleware"
	"github.com/frontgate/frontgate/proxy"
	"github.com/frontgate/frontgate/ratelimit"
	"github.com/frontgate/frontgate/tracing"
)

// builder holds what every route's middleware chain needs.
type builder struct {
	log     *zap.Logger
	trusted middleware.TrustedProxies
	obs     Observer          // nil: no metrics
	tracing *tracing.Provider // nil: no tracing
	redis   *ratelimit.Client // the store of store: redis rate limits; nil when none has it
	// authTransports are the forward auth transports by the config they serve, shared by the routes
	// that take the defaults' auth; the Gateway closes their idle connections when it is closed.
	authTransports map[*config.ForwardAuth]*http.Transport
}

// route wraps h in the route's chain, outermost first: response header rules, IP rules, CORS, rate
// limit, auth, concurrency cap, body cap, request header rules. The router names it for
// the log (see named), per host pattern it is registered under.
func (b *builder) route(name string, l config.Limits, h http.Handler) http.Handler {
	if l.Compress != nil {
		// Innermost, inside the header rules: they see the answer's final fields (Content-Encoding,
		// Vary), and Timing, outermost, counts the bytes that go on the wire (compressed).
		h = middleware.Compress(h, compressOptions(l.Compress))
	}
	if l.Headers != nil {
		// Request rules innermost: auth and the rate limit see what the client sent.
		h = middleware.Headers(h, headerRules(l.Headers.Request), middleware.HeaderRules{}, b.trusted)
	}
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
	if l.Auth != nil {
		// Inside the rate limit: failed attempts count against it like any request.
		var failed func(*http.Request)
		if b.obs != nil {
			failed = func(*http.Request) { b.obs.Rejected(name, "auth") }
		}
		switch a := l.Auth; {
		case a.Basic != nil:
			h = middleware.BasicAuth(h, a.Basic.Realm, basicUsers(a.Basic), failed)
		case a.Forward != nil:
			h = b.forwardAuth(name, a.Forward, failed, h)
		}
	}
	if l.RateLimit != nil {
		h = b.rateLimit(name, l.RateLimit, h)
	}
	if l.CORS != nil {
		// Outside auth: a preflight carries no credentials.
		h = middleware.CORS(h, middleware.CORSPolicy{Origins: l.CORS.Origins, Methods: l.CORS.Methods,
			Headers: l.CORS.Headers, Credentials: l.CORS.Credentials, MaxAge: l.CORS.MaxAge})
	}
	// Outermost: a client the networks refuse gets 403 before any other work.
	var denied func(*http.Request)
	if b.obs != nil {
		denied = func(*http.Request) { b.obs.Rejected(name, "ip") }
	}
	h = middleware.IPFilter(h, b.ipRule(l.Allow, l.Deny), b.trusted, denied)
	if l.Headers != nil {
		// Response rules outermost: a 401, 403 or 429 carries them too (HSTS, say).
		h = middleware.Headers(h, middleware.HeaderRules{}, headerRules(l.Headers.Response), b.trusted)
	}
	return h
}

// ipRule is the rule of allow and deny.
func (b *builder) ipRule(allow, deny []config.Network) middleware.IPRule {
	var rule middleware.IPRule
	for _, n := range allow {
		rule.Allow = append(rule.Allow, n.Prefix)
	}
	for _, n := range deny {
		rule.Deny = append(rule.Deny, n.Prefix)
	}
	return rule
}

// proxyRoute is a forwarding route's handler with its chain.
func (b *builder) proxyRoute(rt config.Route, pool *proxy.Pool) http.Handler {
	var trustedPeer func(netip.Addr) bool // nil when nobody is trusted: the proxy skips parsing the peer
	if !b.trusted.Empty() {
		trustedPeer = b.trusted.Contains
	}
	strip := ""
	if rt.StripPrefix {
		strip = rt.PathPrefix
	}
	limits := rt.Limits
	var editRequest func(http.Header, *http.Request)
	if hd := rt.Headers; hd != nil && !headerRulesEmpty(hd.Request) {
		// Request rules go last into the forwarded request, after the proxy's own fields.
		rules, trusted := headerRules(hd.Request), b.trusted
		editRequest = func(out http.Header, in *http.Request) { rules.Apply(out, in, trusted) }
		limits.Headers = &config.Headers{Response: hd.Response}
	}
	var rewrite func(string) string
	if rw := rt.Rewrite; rw != nil && rw.Regex.Regexp != nil {
		re, to := rw.Regex.Regexp, rw.To
		rewrite = func(path string) string { return re.ReplaceAllString(path, to) }
	}
	var traceTry func(*http.Request, *url.URL) func(*http.Response, error)
	if b.tracing != nil {
		traceTry = b.tracing.Try
	}
	h := proxy.New(pool, proxy.Options{
		StripPrefix:           strip,
		PreserveHost:          rt.Host == config.PreserveHost,
		DialTimeout:           rt.DialTimeout,
		ResponseHeaderTimeout: rt.ResponseHeaderTimeout,
		TryTimeout:            rt.TryTimeout,
		Timeout:               rt.Timeout,
		Retries:               rt.Retries,
		RetryBodyMax:          int64(rt.RetryBodyMax),
		TrustedPeer:           trustedPeer,
		Logger:                b.log.Named("proxy").With(zap.String("route", rt.Name)),
		Observe:               middleware.SetUpstream,
		EditRequest:           editRequest,
		RewritePath:           rewrite,
		TraceTry:              traceTry,
	})
	return b.route(rt.Name, limits, h)
}

func headerRulesEmpty(c config.HeaderRules) bool {
	return len(c.Set) == 0 && len(c.Add) == 0 && len(c.Remove) == 0
}

// forwardAuth wraps h in the forward auth of f, with the transport of f (made at its first route).
func (b *builder) forwardAuth(route string, f *config.ForwardAuth, failed func(*http.Request), h http.Handler) http.Handler {
	u, _ := url.Parse(f.URL) // config checked it
	t := b.authTransports[f]
	if t == nil {
		t = forwardAuthTransport(f.Timeout)
		if b.authTransports == nil {
			b.authTransports = map[*config.ForwardAuth]*http.Transport{}
		}
		b.authTransports[f] = t
	}
	return middleware.ForwardAuth(h, middleware.ForwardAuthOptions{
		URL:         u,
		Transport:   t,
		CopyHeaders: f.CopyHeaders,
		Timeout:     f.Timeout,
		Trusted:     b.trusted,
		OnFail:      failed,
		Logger:      b.log.Named("forward_auth").With(zap.String("route", route)),
	})
}

// forwardAuthIdlePerHost bounds the idle keep-alive connections to an auth service.
const forwardAuthIdlePerHost = 32

// forwardAuthTransport is a forward auth's own keep-alive transport: no environment proxy, no
// transparent decompression (a refusal's body goes to the client as it came), connecting within
// timeout.
func forwardAuthTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConns:        forwardAuthIdlePerHost,
		MaxIdleConnsPerHost: forwardAuthIdlePerHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
	}
}

// basicUsers are the users of users and users_file (config checked both; a file that went bad
// since leaves its users out, and the route refuses them).
func basicUsers(b *config.BasicAuth) map[string][]byte {
	users := map[string][]byte{}
	if b.UsersFile != "" {
		fromFile, _ := config.ReadHtpasswd(b.UsersFile)
		for name, hash := range fromFile {
			users[name] = []byte(hash)
		}
	}
	for name, hash := range b.Users {
		users[name] = []byte(hash)
	}
	return users
}

// compressOptions are a compress setting as middleware takes it (config's encodings are named as
// HTTP names them).
func compressOptions(c *config.Compress) middleware.CompressOptions {
	opts := middleware.CompressOptions{MinSize: int(c.MinSize)}
	for _, e := range c.Encodings {
		opts.Encodings = append(opts.Encodings, e.String())
	}
	return opts
}

// precompressed are the codings whose precompressed siblings a static mount serves under compress
// c: its encodings in their order, then the others (a sibling costs no CPU to serve); nil without
// compress.
func precompressed(c *config.Compress) []string {
	if c == nil {
		return nil
	}
	codings := compressOptions(c).Encodings
	for _, e := range []config.Encoding{config.Brotli, config.Zstd, config.Gzip} {
		if !slices.Contains(codings, e.String()) {
			codings = append(codings, e.String())
		}
	}
	return codings
}

// redirectRoute is a redirect route's handler with its chain.
func (b *builder) redirectRoute(rt config.Route) http.Handler {
	to, _ := middleware.ParseTemplate(rt.Redirect.To) // config checked it
	return b.route(rt.Name, rt.Limits, middleware.Redirect(to, rt.Redirect.Status, b.trusted))
}

// headerRules are config's header rules as middleware applies them, fields in name order.
func headerRules(c config.HeaderRules) middleware.HeaderRules {
	var rules middleware.HeaderRules
	for _, op := range []struct {
		from map[string]string
		to   *[]middleware.HeaderValue
	}{{c.Set, &rules.Set}, {c.Add, &rules.Add}} {
		for _, k := range slices.Sorted(maps.Keys(op.from)) {
			v, _ := middleware.ParseTemplate(op.from[k]) // config checked it
			*op.to = append(*op.to, middleware.HeaderValue{Name: k, Value: v})
		}
	}
	rules.Remove = c.Remove
	return rules
}

func (b *builder) rateLimit(route string, rl *config.RateLimit, h http.Handler) http.Handler {
	opts := middleware.RateLimitOptions{RPS: rl.RPS, Burst: rl.Burst, Logger: b.log.Named("ratelimit")}
	switch rl.Key.Source {
	case config.Global:
	case config.Header:
		opts.Key = middleware.KeyHeader(rl.Key.Name, b.trusted)
	default:
		opts.Key = middleware.KeyClientIP(b.trusted)
	}
	if b.obs != nil {
		opts.OnReject = func(*http.Request) { b.obs.RateLimited(route) }
	}
	if rl.Store == config.RedisStore && b.redis != nil {
		opts.Store = b.redis.Bucket(route, rl.RPS, rl.Burst)
		opts.Replicas = rl.Replicas
		switch rl.OnStoreError {
		case config.FallbackAllow:
			opts.OnStoreError = middleware.StoreErrorAllow
		case config.FallbackDeny:
			opts.OnStoreError = middleware.StoreErrorDeny
		default:
			opts.OnStoreError = middleware.StoreErrorLocal
		}
		if b.obs != nil {
			opts.OnFallback = func(_ *http.Request, decision string) { b.obs.RateStoreFallback(route, decision) }
		}
	}
	return middleware.RateLimit(h, opts)
}

// hashKey turns a hash_key setting into a key function.
func (b *builder) hashKey(k config.HashKey) func(*http.Request) string {
	name := k.Name
	switch k.Source {
	case config.Header:
		return func(r *http.Request) string { return r.Header.Get(name) }
	case config.Cookie:
		return func(r *http.Request) string {
			if c, err := r.Cookie(name); err == nil {
				return c.Value
			}
			return ""
		}
	}
	trusted := b.trusted
	return func(r *http.Request) string { return trusted.ClientIP(r).String() }
}

// peerTrusted reports whether r's direct peer is a trusted proxy.
func (b *builder) peerTrusted(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && b.trusted.Contains(ap.Addr().Unmap())
}

// describe tells a request's span what Timing measured of it.
func (b *builder) describe(r *http.Request) tracing.Facts {
	m, _ := middleware.Measure(r)
	return tracing.Facts{Start: m.Start, Route: m.Route, RequestID: m.RequestID, Status: m.Status, BodyDone: m.BodyDone}
}

// clientIP is r's client address as the trusted proxies vouch for it.
func (b *builder) clientIP(r *http.Request) string {
	if a := b.trusted.ClientIP(r); a.IsValid() {
		return a.String()
	}
	return ""
}

// countInflight keeps the in-flight gauge for metrics.
func countInflight(route string, obs Observer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.InflightAdd(route, 1)
		defer obs.InflightAdd(route, -1)
		h.ServeHTTP(w, r)
	})
}
