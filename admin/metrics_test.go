package admin

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics from srv and parses the text exposition.
func scrape(t *testing.T, srv *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// series finds the metric of family name whose labels are exactly labels ("k=v" pairs); nil if none.
func series(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for i, l := range m.GetLabel() {
			if l.GetName()+"="+l.GetValue() != labels[i] { // the exposition sorts labels by name
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := series(fams, name, labels...)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, labels)
	return 0
}

// histogram returns the sample count and the cumulative count per upper bound of a histogram series.
func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) (uint64, map[float64]uint64) {
	t.Helper()
	m := series(fams, name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	buckets := map[float64]uint64{}
	for _, b := range m.Histogram.GetBucket() {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return m.Histogram.GetSampleCount(), buckets
}

func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(Handler(Options{Metrics: m}))
	defer srv.Close()

	ms := time.Millisecond
	// route api: 3 × 200, 1 × 502, all proxied; two with a body.
	m.ObserveRequest("api", 200, 300*time.Microsecond, 0, 200*time.Microsecond, true)
	m.ObserveRequest("api", 200, 20*ms, 15*ms, 3*ms, true)
	m.ObserveRequest("api", 200, 2*time.Second, 1800*ms, 100*ms, true)
	m.ObserveRequest("api", 502, 40*time.Second, 0, 30*time.Second, true)
	// route static: never proxied, never a body.
	m.ObserveRequest("static", 200, 100*time.Microsecond, 0, 0, false)
	m.ObserveRequest("static", 404, 100*time.Microsecond, 0, 0, false)
	m.ObserveRequest("static", 0, time.Microsecond, 0, 0, false) // outside 100..599: slow path
	m.ObserveHost("api.example.com", 200)
	m.ObserveHost("api.example.com", 200)
	m.ObserveHost("*.example.com", 404)
	m.InflightAdd("api", 1)
	m.InflightAdd("api", 1)
	m.InflightAdd("api", -1)
	m.RateLimited("api")
	m.RateLimited("api")
	m.Rejected("api", ReasonMaxBody)
	m.Rejected("api", ReasonMaxInflight)
	m.Rejected("api", ReasonMaxInflight)
	m.SetUpstreamHealth("api", "http://10.0.0.1:9000", true)
	m.SetUpstreamHealth("api", "http://10.0.0.2:9000", true)
	m.SetUpstreamHealth("api", "http://10.0.0.2:9000", false)
	before := float64(time.Now().UnixNano()) / 1e9
	m.ConfigReload(true)
	after := float64(time.Now().UnixNano()) / 1e9
	m.ConfigReload(false)

	fams := scrape(t, srv)
	counts := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"frontgate_requests_total", []string{"route=api", "status=200"}, 3},
		{"frontgate_requests_total", []string{"route=api", "status=502"}, 1},
		{"frontgate_requests_total", []string{"route=static", "status=200"}, 1},
		{"frontgate_requests_total", []string{"route=static", "status=404"}, 1},
		{"frontgate_requests_total", []string{"route=static", "status=0"}, 1},
		{"frontgate_host_requests_total", []string{"host=api.example.com", "status=200"}, 2},
		{"frontgate_host_requests_total", []string{"host=*.example.com", "status=404"}, 1},
		{"frontgate_inflight_requests", []string{"route=api"}, 1},
		{"frontgate_inflight_requests", []string{"route=static"}, 0},
		{"frontgate_rate_limited_total", []string{"route=api"}, 2},
		{"frontgate_rejected_total", []string{"reason=max_body", "route=api"}, 1},
		{"frontgate_rejected_total", []string{"reason=max_inflight", "route=api"}, 2},
		{"frontgate_upstream_up", []string{"pool=api", "target=http://10.0.0.1:9000"}, 1},
		{"frontgate_upstream_up", []string{"pool=api", "target=http://10.0.0.2:9000"}, 0},
		{"frontgate_config_reloads_total", []string{"result=ok"}, 1},
		{"frontgate_config_reloads_total", []string{"result=error"}, 1},
	}
	for _, c := range counts {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["frontgate_requests_total"].GetMetric()); n != 5 {
		t.Errorf("frontgate_requests_total has %d series, want 5", n)
	}
	if ts := value(t, fams, "frontgate_config_last_reload_success_timestamp_seconds"); ts < before || ts > after {
		t.Errorf("last reload timestamp %f not within [%f, %f]", ts, before, after)
	}

	// Total durations: api 0.3ms, 20ms, 2s, 40s.
	n, b := histogram(t, fams, "frontgate_request_duration_seconds", "route=api")
	wantBuckets := map[float64]uint64{0.0005: 1, 0.01: 1, 0.025: 2, 1: 2, 2.5: 3, 30: 3, math.Inf(1): 4}
	if n != 4 {
		t.Errorf("duration{api} count = %d, want 4", n)
	}
	for le, want := range wantBuckets {
		if b[le] != want {
			t.Errorf("duration{api} bucket le=%g = %d, want %d", le, b[le], want)
		}
	}
	for _, le := range DurationBuckets {
		if _, ok := b[le]; !ok {
			t.Errorf("duration{api} has no bucket le=%g", le)
		}
	}
	// Receive: only the two requests with a body (15ms, 1.8s).
	n, b = histogram(t, fams, "frontgate_request_receive_seconds", "route=api")
	if n != 2 || b[0.01] != 0 || b[0.025] != 1 || b[1] != 1 || b[2.5] != 2 {
		t.Errorf("receive{api}: count %d buckets %v, want 2 samples, one ≤25ms and one ≤2.5s", n, b)
	}
	if n, _ := histogram(t, fams, "frontgate_request_receive_seconds", "route=static"); n != 0 {
		t.Errorf("receive{static} count = %d, want 0 (no bodies)", n)
	}
	// Upstream: all four api requests; the static route has no series at all.
	n, b = histogram(t, fams, "frontgate_upstream_header_seconds", "route=api")
	if n != 4 || b[0.0005] != 1 || b[0.005] != 2 || b[0.1] != 3 || b[30] != 4 {
		t.Errorf("upstream{api}: count %d buckets %v, want 4 samples at 0.2ms, 3ms, 100ms, 30s", n, b)
	}
	if series(fams, "frontgate_upstream_header_seconds", "route=static") != nil {
		t.Error("upstream{static} exists, want no series for a route never proxied")
	}

	// The standard collectors share the registry.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total"} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
}

func TestMetricsOwnRegistry(t *testing.T) {
	// Two Metrics must not collide (a global registry would panic on the second).
	a, b := NewMetrics(), NewMetrics()
	a.RateLimited("r")
	sa, sb := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer sa.Close()
	defer sb.Close()
	if got := value(t, scrape(t, sa), "frontgate_rate_limited_total", "route=r"); got != 1 {
		t.Errorf("a: rate_limited = %v, want 1", got)
	}
	if series(scrape(t, sb), "frontgate_rate_limited_total", "route=r") != nil {
		t.Error("b sees a's series")
	}
}

func TestForgetUpstreams(t *testing.T) {
	m := NewMetrics()
	m.SetUpstreamHealth("a", "t1", true)
	m.SetUpstreamHealth("b", "t2", true)
	m.ForgetUpstreams("a")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv)
	if series(fams, "frontgate_upstream_up", "pool=a", "target=t1") != nil {
		t.Error("pool a still has a series")
	}
	if series(fams, "frontgate_upstream_up", "pool=b", "target=t2") == nil {
		t.Error("pool b lost its series")
	}
}

func TestMetricsConcurrentFirstUse(t *testing.T) {
	// Many goroutines hitting fresh routes and statuses at once: the lazily built children must not
	// lose a count.
	m := NewMetrics()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				route := fmt.Sprintf("r%d", i%5)
				m.ObserveRequest(route, 200+i%3, time.Millisecond, time.Duration(i%2), time.Millisecond, i%4 == 0)
				m.Rejected(route, ReasonMaxBody)
				m.InflightAdd(route, 1)
				m.InflightAdd(route, -1)
			}
		})
	}
	wg.Wait()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv)
	var reqs, rejected float64
	var upstream, receive uint64
	for r := range 5 {
		route := fmt.Sprintf("route=r%d", r)
		for s := 200; s < 203; s++ {
			if ser := series(fams, "frontgate_requests_total", route, fmt.Sprintf("status=%d", s)); ser != nil {
				reqs += ser.Counter.GetValue()
			}
		}
		rejected += value(t, fams, "frontgate_rejected_total", "reason=max_body", route)
		if v := value(t, fams, "frontgate_inflight_requests", route); v != 0 {
			t.Errorf("inflight{%s} = %v, want 0", route, v)
		}
		n, _ := histogram(t, fams, "frontgate_upstream_header_seconds", route)
		upstream += n
		n, _ = histogram(t, fams, "frontgate_request_receive_seconds", route)
		receive += n
	}
	if reqs != workers*each || rejected != workers*each {
		t.Errorf("requests %v, rejected %v, want %d each", reqs, rejected, workers*each)
	}
	if upstream != workers*each/4 || receive != workers*each/2 {
		t.Errorf("upstream samples %d, receive samples %d, want %d and %d", upstream, receive, workers*each/4, workers*each/2)
	}
}

func TestObserveRequestDoesNotAllocate(t *testing.T) {
	m := NewMetrics()
	m.ObserveRequest("api", 200, time.Millisecond, time.Millisecond, time.Millisecond, true) // warm the caches
	m.ObserveHost("api.example.com", 200)
	allocs := testing.AllocsPerRun(1000, func() {
		m.ObserveRequest("api", 200, time.Millisecond, time.Millisecond, time.Millisecond, true)
		m.ObserveHost("api.example.com", 200)
		m.InflightAdd("api", 1)
		m.InflightAdd("api", -1)
	})
	if allocs != 0 {
		t.Fatalf("ObserveRequest+InflightAdd allocate %v times per call, want 0", allocs)
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("r", 200, time.Second, 0, 0, true)
	m.ObserveHost("h", 200)
	m.InflightAdd("r", 1)
	m.RateLimited("r")
	m.Rejected("r", ReasonMaxBody)
	m.SetUpstreamHealth("p", "t", true)
	m.RateStoreCall(time.Millisecond, "timeout")
	m.RateStoreBreaker("open")
	m.RateStoreFallback("r", "deny")
	m.ForgetUpstreams("p")
	m.ConfigReload(true)
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Metrics handler = %d, want 404", rec.Code)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := NewMetrics()
	routes := []string{"api", "static", "login", "upload"}
	statuses := []int{200, 200, 200, 404, 502}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveRequest(routes[i%len(routes)], statuses[i%len(statuses)], 3*time.Millisecond, time.Millisecond, 2*time.Millisecond, i%2 == 0)
			i++
		}
	})
}

func TestForgetRoutesAndHosts(t *testing.T) {
	m := NewMetrics()
	for _, route := range []string{"gone", "kept"} {
		m.ObserveRequest(route, 200, time.Millisecond, time.Millisecond, time.Millisecond, true)
		m.InflightAdd(route, 1)
		m.RateLimited(route)
		m.Rejected(route, ReasonMaxBody)
		m.RateStoreFallback(route, "local_allow")
	}
	m.ObserveHost("gone.example", 200)
	m.ObserveHost("kept.example", 200)
	m.ForgetRoutes("gone")
	m.ForgetHosts("gone.example")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv)
	for name, fam := range fams {
		for _, metric := range fam.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetValue() == "gone" || l.GetValue() == "gone.example" {
					t.Errorf("%s still has a series for %s", name, l.GetValue())
				}
			}
		}
	}
	if value(t, fams, "frontgate_requests_total", "route=kept", "status=200") != 1 || value(t, fams, "frontgate_host_requests_total", "host=kept.example", "status=200") != 1 {
		t.Error("the kept route or host lost its series")
	}
	// A forgotten route that comes back counts from zero.
	m.ObserveRequest("gone", 200, time.Millisecond, 0, 0, false)
	if got := value(t, scrape(t, srv), "frontgate_requests_total", "route=gone", "status=200"); got != 1 {
		t.Errorf("a route counted again after ForgetRoutes: %v, want 1", got)
	}
}

func TestRateStoreMetrics(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv)
	if got := value(t, fams, "frontgate_ratelimit_redis_breaker_state"); got != 0 {
		t.Errorf("breaker gauge before any report: %v, want 0 (closed)", got)
	}
	m.RateStoreCall(200*time.Microsecond, "")
	m.RateStoreCall(20*time.Millisecond, "timeout")
	m.RateStoreCall(300*time.Microsecond, "error")
	m.RateStoreCall(400*time.Microsecond, "error")
	m.RateStoreBreaker("open")
	for _, d := range []string{"local_allow", "local_allow", "local_deny", "allow", "deny"} {
		m.RateStoreFallback("api", d)
	}
	fams = scrape(t, srv)
	n, buckets := histogram(t, fams, "frontgate_ratelimit_redis_call_seconds")
	if n != 4 || buckets[0.00025] != 1 || buckets[0.0005] != 3 || buckets[0.025] != 4 {
		t.Errorf("call histogram: %d samples, buckets %v", n, buckets)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"frontgate_ratelimit_redis_errors_total", []string{"kind=timeout"}, 1},
		{"frontgate_ratelimit_redis_errors_total", []string{"kind=error"}, 2},
		{"frontgate_ratelimit_redis_breaker_state", nil, 2},
		{"frontgate_ratelimit_fallback_total", []string{"decision=local_allow", "route=api"}, 2},
		{"frontgate_ratelimit_fallback_total", []string{"decision=local_deny", "route=api"}, 1},
		{"frontgate_ratelimit_fallback_total", []string{"decision=allow", "route=api"}, 1},
		{"frontgate_ratelimit_fallback_total", []string{"decision=deny", "route=api"}, 1},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	m.RateStoreBreaker("half_open")
	if got := value(t, scrape(t, srv), "frontgate_ratelimit_redis_breaker_state"); got != 1 {
		t.Errorf("breaker gauge half-open: %v, want 1", got)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		m.RateStoreCall(time.Millisecond, "")
		m.RateStoreCall(time.Millisecond, "timeout")
		m.RateStoreFallback("api", "local_allow")
	})
	if allocs != 0 {
		t.Errorf("the per-request calls allocate %v times, want 0", allocs)
	}
}
