package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/redistest"
	"github.com/frontgate/frontgate/middleware"
)

// discardWriter is a ResponseWriter for benchmarks.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// The cost a request pays for its rate limit, store: local against store: redis (a redis-server on
// loopback: one round trip, the script, the headers), one request at a time and from every core.
// Report µs/op from ns/op.
func BenchmarkRateLimitStore(b *testing.B) {
	rs := redistest.Start(b)
	obs := &recorder{}
	c := New(Options{Addr: rs.Addr, Timeout: time.Second, Observer: obs})
	b.Cleanup(func() {
		_ = c.Close()
		if calls, failures, _ := obs.snapshot(); len(failures) > 0 {
			b.Errorf("%d calls to Redis, failures %v: the figures are not Redis's", calls, failures)
		}
	})
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	const rps, burst = 1e6, 1 << 30 // never refuses: the benchmark measures the allowed path
	for _, bc := range []struct {
		name  string
		store middleware.RateStore
	}{{"local", nil}, {"redis", c.Bucket("bench", rps, burst)}} {
		h := middleware.RateLimit(next, middleware.RateLimitOptions{RPS: rps, Burst: burst, Store: bc.store,
			Key: middleware.KeyClientIP(middleware.TrustedProxies{})})
		run := func(more func() bool) {
			w := &discardWriter{h: make(http.Header)}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = "192.0.2.7:1234"
			for more() {
				clear(w.h)
				h.ServeHTTP(w, r)
				if w.h.Get("Retry-After") != "" {
					b.Fatal("refused")
				}
			}
		}
		b.Run(bc.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			run(b.Loop)
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) { run(pb.Next) })
		})
	}
}
