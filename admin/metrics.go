package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// DurationBuckets are the upper bounds, in seconds, of frontgate's latency histograms: 0.5 ms to 30 s
// in 1-2.5-5 steps. The low end resolves the gateway's own overhead and local answers (static files,
// the demo routes, a loopback upstream) that finish well under a millisecond; the high end is the
// default response_header_timeout (30s), past which a proxied request ends in a 504 anyway. Slow
// uploads that take longer than that land in +Inf, which is itself the signal. Fifteen buckets keep a
// series per route affordable.
var DurationBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// RedisCallBuckets are the upper bounds, in seconds, of frontgate_ratelimit_redis_call_seconds: 0.1 ms
// (a Redis on the same host) to 1 s (the longest redis.timeout).
var RedisCallBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// Rejection reasons for Metrics.Rejected.
const (
	// ReasonMaxBody is a request refused with 413 because its body was too large.
	ReasonMaxBody = "max_body"
	// ReasonMaxInflight is a request refused with 503 because too many were in flight.
	ReasonMaxInflight = "max_inflight"
)

// Metrics holds frontgate's Prometheus collectors in a registry of their own (never the global one),
// together with the Go runtime and process collectors. Its methods are safe for concurrent use. The
// zero value is not usable: call NewMetrics. A nil *Metrics is, however, a valid no-op recorder, so
// callers need not check whether metrics are on.
//
// Series, all labelled with the route's name where there is one:
//
//	frontgate_requests_total{route,status}              counter   finished requests; status is the numeric code ("200")
//	frontgate_request_duration_seconds{route}           histogram total time of a request, first byte in to last byte out
//	frontgate_request_receive_seconds{route}            histogram time spent receiving the request body; observed only
//	                                                              for requests that had a body (recv > 0)
//	frontgate_upstream_header_seconds{route}            histogram time to the upstream's response headers; only for
//	                                                              proxied requests
//	frontgate_inflight_requests{route}                  gauge     requests being served right now
//	frontgate_rate_limited_total{route}                 counter   requests refused with 429 by the rate limiter
//	frontgate_rejected_total{route,reason}              counter   other refusals: reason "max_body" (413) or "max_inflight" (503)
//	frontgate_upstream_up{pool,target}                  gauge     1 while a target is healthy, 0 while it is ejected
//	frontgate_config_reloads_total{result}              counter   configuration reloads by result, "ok" or "error"
//	frontgate_config_last_reload_success_timestamp_seconds gauge  Unix time of the last successful reload; 0 before one
//	frontgate_tls_certificate_expiry_seconds{name,source} gauge     Unix time of the notAfter of the certificate served for
//	                                                              each name (a wildcard as *.example.com); source is "file"
//	                                                              (tls.cert, tls.certs) or "acme"
//	frontgate_ratelimit_redis_call_seconds              histogram latency of each call to Redis of store: redis rate limits
//	                                                              (RedisCallBuckets), failed ones included
//	frontgate_ratelimit_redis_errors_total{kind}        counter   failed calls to Redis: kind "timeout" (past redis.timeout) or "error"
//	frontgate_ratelimit_fallback_total{route,decision}  counter   requests decided by on_store_error because Redis failed or the
//	                                                              breaker was open: decision "local_allow", "local_deny", "allow"
//	                                                              or "deny"
//	frontgate_ratelimit_redis_breaker_state             gauge     the Redis circuit breaker: 0 closed, 1 half-open (one probe
//	                                                              call), 2 open (no calls)
//
// The histograms share DurationBuckets. Alongside these the registry holds the standard go_* and
// process_* series, and promhttp_metric_handler_* about the scrapes themselves.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	hostReqs    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	receive     *prometheus.HistogramVec
	upstream    *prometheus.HistogramVec
	inflight    *prometheus.GaugeVec
	rateLimited *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	upstreamUp  *prometheus.GaugeVec
	reloads     *prometheus.CounterVec
	reloadOK    prometheus.Counter
	reloadErr   prometheus.Counter
	lastReload  prometheus.Gauge
	certExpiry  *prometheus.GaugeVec
	redisCall   prometheus.Histogram
	redisErrors *prometheus.CounterVec
	redisErrs   map[string]prometheus.Counter // the children of redisErrors by kind, made at start
	fallback    *prometheus.CounterVec
	breaker     prometheus.Gauge

	routes sync.Map // route name → *routeMetrics
	hosts  sync.Map // host pattern → *statusCounters
	now    func() time.Time
}

// Status codes 100..599 get a cached counter each; anything else (which net/http does not send) goes
// through the slower labelled lookup.
const (
	minStatus = 100
	maxStatus = 599
)

// statusCounters caches the counter per status code of one label set.
type statusCounters [maxStatus - minStatus + 1]atomic.Pointer[prometheus.Counter]

// routeMetrics caches one route's label children so that the hot path does no label hashing: a map
// load by route name and then plain field or array accesses. Children that not every route needs
// are created on first use.
type routeMetrics struct {
	duration    prometheus.Observer
	receive     prometheus.Observer
	inflight    prometheus.Gauge
	rateLimited prometheus.Counter

	upstream atomic.Pointer[prometheus.Observer]
	status   statusCounters
	rejected sync.Map // reason → prometheus.Counter
	fallback sync.Map // decision → prometheus.Counter
}

// NewMetrics returns a Metrics with every collector registered in a fresh registry.
func NewMetrics() *Metrics {
	buckets := DurationBuckets
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		now: time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontgate_requests_total",
			Help: "Finished requests by route and response status code.",
		}, []string{"route", "status"}),
		hostReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontgate_host_requests_total",
			Help: "Finished requests routed by a host name (hosts: of routes and static mounts), by the matched pattern and status code.",
		}, []string{"host", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "frontgate_request_duration_seconds",
			Help:    "Total time of a request, from the start of handling to the end of the response.",
			Buckets: buckets,
		}, []string{"route"}),
		receive: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "frontgate_request_receive_seconds",
			Help:    "Time spent receiving the request body, for requests that had one.",
			Buckets: buckets,
		}, []string{"route"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "frontgate_upstream_header_seconds",
			Help:    "Time from forwarding a request to the upstream's response headers, for proxied requests.",
			Buckets: buckets,
		}, []string{"route"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "frontgate_inflight_requests",
			Help: "Requests being served right now.",
		}, []string{"route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontgate_rate_limited_total",
			Help: "Requests refused with 429 Too Many Requests by the rate limiter.",
		}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontgate_rejected_total",
			Help: "Requests refused by a protection limit: max_body (413) or max_inflight (503).",
		}, []string{"route", "reason"}),
		upstreamUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "frontgate_upstream_up",
			Help: "1 while an upstream target is considered healthy, 0 while it is not.",
		}, []string{"pool", "target"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontgate_config_reloads_total",
			Help: "Configuration reloads by result (ok or error).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frontgate_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration reload; 0 before the first.",
		}),
	}
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "frontgate_tls_certificate_expiry_seconds",
		Help: "Unix time of the notAfter of the TLS certificate served for a name, by source (file or acme).",
	}, []string{"name", "source"})
	m.redisCall = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "frontgate_ratelimit_redis_call_seconds",
		Help:    "Latency of each call to Redis of store: redis rate limits, failed ones included.",
		Buckets: RedisCallBuckets,
	})
	m.redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "frontgate_ratelimit_redis_errors_total",
		Help: "Failed calls to Redis of store: redis rate limits, by kind (timeout or error).",
	}, []string{"kind"})
	m.redisErrs = map[string]prometheus.Counter{}
	for _, kind := range []string{"timeout", "error"} {
		m.redisErrs[kind] = m.redisErrors.WithLabelValues(kind)
	}
	m.fallback = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "frontgate_ratelimit_fallback_total",
		Help: "Requests of store: redis rate limits decided by on_store_error, by decision (local_allow, local_deny, allow or deny).",
	}, []string{"route", "decision"})
	m.breaker = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "frontgate_ratelimit_redis_breaker_state",
		Help: "The Redis circuit breaker of store: redis rate limits: 0 closed, 1 half-open, 2 open.",
	})
	m.reloadOK = m.reloads.WithLabelValues("ok")
	m.reloadErr = m.reloads.WithLabelValues("error")
	m.reg.MustRegister(
		m.requests, m.hostReqs, m.duration, m.receive, m.upstream, m.inflight, m.rateLimited, m.rejected,
		m.upstreamUp, m.reloads, m.lastReload, m.certExpiry, m.redisCall, m.redisErrors, m.fallback, m.breaker,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry the collectors live in, for callers that add collectors of their own
// or gather in tests. Nil for a nil Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// route returns the cached children of route, creating them on first use.
func (m *Metrics) route(route string) *routeMetrics {
	if v, ok := m.routes.Load(route); ok {
		return v.(*routeMetrics)
	}
	rm := &routeMetrics{
		duration:    m.duration.WithLabelValues(route),
		receive:     m.receive.WithLabelValues(route),
		inflight:    m.inflight.WithLabelValues(route),
		rateLimited: m.rateLimited.WithLabelValues(route),
	}
	// Two first requests racing each build a routeMetrics; WithLabelValues hands both the same
	// children, so whichever is stored, nothing is lost.
	v, _ := m.routes.LoadOrStore(route, rm)
	return v.(*routeMetrics)
}

// ObserveRequest records one finished request: its status, its total time, the time its body took to
// arrive (recv; 0 means it had none and is not observed) and, when hasUpstream, the time to the
// upstream's response headers. It does not allocate once the route and status have been seen.
func (m *Metrics) ObserveRequest(route string, status int, total, recv, upstream time.Duration, hasUpstream bool) {
	if m == nil {
		return
	}
	rm := m.route(route)
	rm.duration.Observe(total.Seconds())
	if recv > 0 {
		rm.receive.Observe(recv.Seconds())
	}
	if hasUpstream {
		o := rm.upstream.Load()
		if o == nil {
			c := m.upstream.WithLabelValues(route)
			rm.upstream.CompareAndSwap(nil, &c)
			o = rm.upstream.Load()
		}
		(*o).Observe(upstream.Seconds())
	}
	rm.status.inc(m.requests, route, status)
}

// inc counts one request with status under the label value first (route or host) of vec.
func (sc *statusCounters) inc(vec *prometheus.CounterVec, first string, status int) {
	if status < minStatus || status > maxStatus {
		vec.WithLabelValues(first, strconv.Itoa(status)).Inc()
		return
	}
	slot := &sc[status-minStatus]
	c := slot.Load()
	if c == nil {
		cc := vec.WithLabelValues(first, strconv.Itoa(status))
		slot.CompareAndSwap(nil, &cc)
		c = slot.Load()
	}
	(*c).Inc()
}

// ObserveHost counts one finished request routed by the host pattern host (not for requests that
// matched a route without hosts). It does not allocate once the host and status have been seen.
func (m *Metrics) ObserveHost(host string, status int) {
	if m == nil {
		return
	}
	v, ok := m.hosts.Load(host)
	if !ok {
		v, _ = m.hosts.LoadOrStore(host, new(statusCounters))
	}
	v.(*statusCounters).inc(m.hostReqs, host, status)
}

// InflightAdd adds delta (+1 when a request starts, -1 when it ends) to route's in-flight gauge.
func (m *Metrics) InflightAdd(route string, delta int) {
	if m == nil {
		return
	}
	m.route(route).inflight.Add(float64(delta))
}

// RateLimited counts one request on route refused with 429.
func (m *Metrics) RateLimited(route string) {
	if m == nil {
		return
	}
	m.route(route).rateLimited.Inc()
}

// Rejected counts one request on route refused by a protection limit; reason is ReasonMaxBody or
// ReasonMaxInflight (other values are recorded as given).
func (m *Metrics) Rejected(route, reason string) {
	if m == nil {
		return
	}
	inc(&m.route(route).rejected, m.rejected, route, reason)
}

// inc counts one under the labels route and second of vec, through cache (second → its counter).
func inc(cache *sync.Map, vec *prometheus.CounterVec, route, second string) {
	if v, ok := cache.Load(second); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	v, _ := cache.LoadOrStore(second, vec.WithLabelValues(route, second))
	v.(prometheus.Counter).Inc()
}

// RateStoreCall records one call to Redis of a store: redis rate limit: its latency and its failure,
// "" when Redis answered, "timeout" or "error" (other values are recorded as given).
func (m *Metrics) RateStoreCall(latency time.Duration, failure string) {
	if m == nil {
		return
	}
	m.redisCall.Observe(latency.Seconds())
	if failure == "" {
		return
	}
	if c, ok := m.redisErrs[failure]; ok {
		c.Inc()
		return
	}
	m.redisErrors.WithLabelValues(failure).Inc()
}

// breakerStates are the gauge values of the Redis breaker's states.
var breakerStates = map[string]float64{"closed": 0, "half_open": 1, "open": 2}

// RateStoreBreaker sets the Redis breaker's gauge to state: closed, half_open or open (anything
// else is ignored).
func (m *Metrics) RateStoreBreaker(state string) {
	if m == nil {
		return
	}
	if v, ok := breakerStates[state]; ok {
		m.breaker.Set(v)
	}
}

// RateStoreFallback counts one request on route that on_store_error decided, by decision.
func (m *Metrics) RateStoreFallback(route, decision string) {
	if m == nil {
		return
	}
	inc(&m.route(route).fallback, m.fallback, route, decision)
}

// SetUpstreamHealth sets target's frontgate_upstream_up in pool to 1 when up, 0 otherwise.
func (m *Metrics) SetUpstreamHealth(pool, target string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.upstreamUp.WithLabelValues(pool, target).Set(v)
}

// ForgetUpstreams drops the frontgate_upstream_up series of pool, for a pool that a reload removed or
// whose targets changed; the pool's health checker sets the current targets again.
func (m *Metrics) ForgetUpstreams(pool string) {
	if m == nil {
		return
	}
	m.upstreamUp.DeletePartialMatch(prometheus.Labels{"pool": pool})
}

// ForgetRoutes drops every series of the named routes: a reload removed them.
func (m *Metrics) ForgetRoutes(routes ...string) {
	if m == nil {
		return
	}
	for _, route := range routes {
		m.routes.Delete(route)
		labels := prometheus.Labels{"route": route}
		m.requests.DeletePartialMatch(labels)
		m.duration.DeletePartialMatch(labels)
		m.receive.DeletePartialMatch(labels)
		m.upstream.DeletePartialMatch(labels)
		m.inflight.DeletePartialMatch(labels)
		m.rateLimited.DeletePartialMatch(labels)
		m.rejected.DeletePartialMatch(labels)
		m.fallback.DeletePartialMatch(labels)
	}
}

// ForgetHosts drops the series of the given host patterns: a reload removed them.
func (m *Metrics) ForgetHosts(hosts ...string) {
	if m == nil {
		return
	}
	for _, host := range hosts {
		m.hosts.Delete(host)
		m.hostReqs.DeletePartialMatch(prometheus.Labels{"host": host})
	}
}

// ConfigLoaded sets the last-success timestamp for the config loaded at start, which is not a reload.
func (m *Metrics) ConfigLoaded() {
	if m == nil {
		return
	}
	m.lastReload.Set(float64(m.now().UnixNano()) / 1e9)
}

// ConfigReload counts one configuration reload by result and, when ok, sets the last-success
// timestamp to now. The load at start is ConfigLoaded.
func (m *Metrics) ConfigReload(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloadErr.Inc()
		return
	}
	m.reloadOK.Inc()
	m.lastReload.Set(float64(m.now().UnixNano()) / 1e9)
}

// SetCertExpiry sets frontgate_tls_certificate_expiry_seconds of name to notAfter; source is "file"
// or "acme".
func (m *Metrics) SetCertExpiry(name, source string, notAfter time.Time) {
	if m == nil {
		return
	}
	m.certExpiry.WithLabelValues(name, source).Set(float64(notAfter.Unix()))
}

// ForgetCerts drops every frontgate_tls_certificate_expiry_seconds series, before the certificates
// served now are set again (a reload or renewal may have removed names).
func (m *Metrics) ForgetCerts() {
	if m == nil {
		return
	}
	m.certExpiry.Reset()
}

// Handler returns the /metrics handler for this registry (text or protobuf exposition as the scraper
// asks, gzip when accepted). A collector that fails is skipped rather than failing the scrape, and
// counted in promhttp_metric_handler_errors_total. A nil Metrics answers 404.
func (m *Metrics) Handler() http.Handler { return m.handler(nil) }

func (m *Metrics) handler(log *zap.Logger) http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	opts := promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}
	if log != nil {
		opts.ErrorLog = zapPrintln{log}
	}
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, opts))
}

// zapPrintln adapts a zap.Logger to promhttp.Logger.
type zapPrintln struct{ log *zap.Logger }

func (z zapPrintln) Println(v ...any) {
	z.log.Error("serving metrics", zap.String("error", strings.TrimSuffix(fmt.Sprintln(v...), "\n")))
}
