package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"
)

func okHandler(calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, "ok")
	})
}

func TestRateLimitBurstRefillAndHeaders(t *testing.T) {
	clock := newManualClock()
	var calls atomic.Int64
	srv := newTestServer(t, RateLimit(okHandler(&calls), RateLimitOptions{RPS: 1, Burst: 3, Now: clock.Now}))

	steps := []struct {
		name      string
		advance   time.Duration
		status    int
		remaining string
		reset     string
		retry     string // "" for absent
	}{
		{"1st of burst", 0, 200, "2", "1", ""},
		{"2nd of burst", 0, 200, "1", "2", ""},
		{"3rd of burst", 0, 200, "0", "3", ""},
		{"over the burst", 0, 429, "0", "3", "1"},
		{"half a token back", 500 * time.Millisecond, 429, "0", "3", "1"},
		{"a whole token back", 500 * time.Millisecond, 200, "0", "3", ""},
		{"two tokens back", 2 * time.Second, 200, "1", "2", ""},
		{"refilled to the burst, not past it", time.Hour, 200, "2", "1", ""},
	}
	wantCalls := int64(0)
	for i, s := range steps {
		clock.Advance(s.advance)
		id := "req-" + strconv.Itoa(i)
		res := get(t, srv.Client(), srv.URL, map[string]string{RequestIDHeader: id})
		if res.status != s.status {
			t.Fatalf("%s: status %d, want %d", s.name, res.status, s.status)
		}
		if s.status == 200 {
			wantCalls++
		} else {
			checkJSONError(t, res, http.StatusTooManyRequests, "too many requests", id)
		}
		for h, want := range map[string]string{
			"RateLimit-Limit": "3", "RateLimit-Remaining": s.remaining, "RateLimit-Reset": s.reset, "Retry-After": s.retry,
		} {
			if got := res.header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", s.name, h, got, want)
			}
		}
	}
	if calls.Load() != wantCalls {
		t.Errorf("handler ran %d times, want %d", calls.Load(), wantCalls)
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	tests := []struct {
		name      string
		rps       float64
		burst     int
		advance   time.Duration // after draining the bucket
		wantRetry string
		wantReset string
	}{
		{"one per ten seconds", 0.1, 1, 0, "10", "10"},
		{"one per ten seconds, 4s later", 0.1, 1, 4 * time.Second, "6", "6"},
		{"fractional seconds round up", 0.3, 1, 0, "4", "4"},
		{"fast refill still says at least 1", 100, 5, 0, "1", "1"},
		{"reset counts the whole bucket", 0.5, 2, 0, "2", "4"},
		{"default burst is ceil(rps)", 2.5, 0, 0, "1", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newManualClock()
			var calls atomic.Int64
			srv := newTestServer(t, RateLimit(okHandler(&calls), RateLimitOptions{RPS: tt.rps, Burst: tt.burst, Now: clock.Now}))
			burst := tt.burst
			if burst == 0 {
				burst = 3
			}
			for i := 0; i < burst; i++ {
				if res := get(t, srv.Client(), srv.URL, nil); res.status != 200 {
					t.Fatalf("request %d of the burst: %d", i, res.status)
				}
			}
			clock.Advance(tt.advance)
			res := get(t, srv.Client(), srv.URL, nil)
			if res.status != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", res.status)
			}
			if got := res.header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if got := res.header.Get("RateLimit-Reset"); got != tt.wantReset {
				t.Errorf("RateLimit-Reset = %q, want %q", got, tt.wantReset)
			}
			if got := res.header.Get("RateLimit-Limit"); got != strconv.Itoa(burst) {
				t.Errorf("RateLimit-Limit = %q, want %d", got, burst)
			}
		})
	}
}

func TestRateLimitKeys(t *testing.T) {
	tp := loopbackTrusted(t)
	const ipA, ipB = "203.0.113.1", "203.0.113.2"
	type req struct {
		ip, apiKey string // apiKey "" sends no header
		want       int
	}
	tests := []struct {
		name string
		key  func(*http.Request) (string, bool)
		reqs []req
	}{
		{"client ip: two addresses are independent", KeyClientIP(tp), []req{
			{ipA, "", 200}, {ipA, "", 429}, {ipB, "", 200}, {ipB, "", 429}, {ipA, "", 429},
		}},
		{"client ip: api key header does not matter", KeyClientIP(tp), []req{
			{ipA, "k1", 200}, {ipA, "k2", 429},
		}},
		{"header: two values are independent, across addresses", KeyHeader("x-api-key", tp), []req{
			{ipA, "k1", 200}, {ipB, "k1", 429}, {ipA, "k2", 200}, {ipA, "k2", 429},
		}},
		{"header: missing header falls back to client ip", KeyHeader("X-Api-Key", tp), []req{
			{ipA, "k1", 200}, {ipA, "", 200}, {ipA, "", 429}, {ipB, "", 200},
		}},
		{"header: a value equal to an address is not that address's bucket", KeyHeader("X-Api-Key", tp), []req{
			{ipA, "", 200}, {ipB, ipA, 200}, {ipB, "ip:" + ipA, 200},
		}},
		{"global: everyone shares one bucket", nil, []req{
			{ipA, "k1", 200}, {ipB, "k2", 429},
		}},
		{"unkeyable requests share one bucket", func(*http.Request) (string, bool) { return "", false }, []req{
			{ipA, "", 200}, {ipB, "", 429},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newManualClock()
			var calls atomic.Int64
			srv := newTestServer(t, RateLimit(okHandler(&calls), RateLimitOptions{RPS: 1, Burst: 1, Key: tt.key, Now: clock.Now}))
			for i, rq := range tt.reqs {
				h := map[string]string{"X-Forwarded-For": rq.ip}
				if rq.apiKey != "" {
					h["X-Api-Key"] = rq.apiKey
				}
				if res := get(t, srv.Client(), srv.URL, h); res.status != rq.want {
					t.Fatalf("request %d (%s, key %q): status %d, want %d", i, rq.ip, rq.apiKey, res.status, rq.want)
				}
			}
		})
	}
}

func TestKeyClientIPGroupsIPv6By64(t *testing.T) {
	key := KeyClientIP(TrustedProxies{})
	keyOf := func(remote string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		k, ok := key(r)
		if !ok {
			t.Fatalf("%s: no key", remote)
		}
		return k
	}
	tests := []struct {
		a, b string
		same bool
	}{
		{"[2001:db8:1:2::5]:1", "[2001:db8:1:2:ffff::6]:2", true},
		{"[2001:db8:1:2::5]:1", "[2001:db8:1:3::5]:1", false},
		{"192.0.2.1:1", "192.0.2.2:1", false},
		{"192.0.2.1:1", "[::ffff:192.0.2.1]:9", true},
	}
	for _, tt := range tests {
		if got := keyOf(tt.a) == keyOf(tt.b); got != tt.same {
			t.Errorf("%s and %s: same key %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "not an address"
	if k, ok := key(r); ok {
		t.Errorf("unparseable peer gave key %q", k)
	}
}

func TestRateLimitRejectHookAndLog(t *testing.T) {
	clock := newManualClock()
	core, logs := observer.New(zapcore.DebugLevel)
	var rejected atomic.Int64
	var calls atomic.Int64
	srv := newTestServer(t, RateLimit(okHandler(&calls), RateLimitOptions{
		RPS: 1, Burst: 2, Key: KeyClientIP(loopbackTrusted(t)), Now: clock.Now, Logger: zap.New(core),
		OnReject: func(r *http.Request) { rejected.Add(1) },
	}))
	for i := 0; i < 5; i++ {
		get(t, srv.Client(), srv.URL+"/p", map[string]string{"X-Forwarded-For": "198.51.100.4", RequestIDHeader: "id-" + strconv.Itoa(i)})
	}
	if rejected.Load() != 3 || calls.Load() != 2 {
		t.Fatalf("rejected %d, handled %d; want 3 and 2", rejected.Load(), calls.Load())
	}
	entries := logs.FilterMessage("rate limited").All()
	if len(entries) != 3 {
		t.Fatalf("%d log lines, want 3", len(entries))
	}
	f := entries[2].ContextMap()
	if f["key"] != "ip:198.51.100.4" || f["request_id"] != "id-4" || f["path"] != "/p" {
		t.Errorf("log fields %v", f)
	}
}

type countingHandler struct{ n int }

func (h *countingHandler) ServeHTTP(http.ResponseWriter, *http.Request) { h.n++ }

func TestRateLimitZeroValueIsOff(t *testing.T) {
	next := &countingHandler{}
	if h := RateLimit(next, RateLimitOptions{}); h != http.Handler(next) {
		t.Fatalf("zero options wrapped the handler: %T", h)
	}
	if h := RateLimit(next, RateLimitOptions{RPS: -1, Burst: 5}); h != http.Handler(next) {
		t.Fatalf("negative RPS wrapped the handler: %T", h)
	}
}

func TestRateLimitIdleTTLDefaultsAndFloor(t *testing.T) {
	next := &countingHandler{}
	tests := []struct {
		name string
		opts RateLimitOptions
		want time.Duration
		keys int
	}{
		{"defaults", RateLimitOptions{RPS: 10, Key: KeyClientIP(TrustedProxies{})}, DefaultRateLimitIdleTTL, DefaultRateLimitMaxKeys},
		{"tiny rps does not overflow", RateLimitOptions{RPS: 1e-300, Key: KeyClientIP(TrustedProxies{})}, 365 * 24 * time.Hour, DefaultRateLimitMaxKeys},
		{"raised to the refill time", RateLimitOptions{RPS: 0.01, Burst: 10, IdleTTL: time.Minute, MaxKeys: 7, Key: KeyClientIP(TrustedProxies{})}, 1000 * time.Second, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := RateLimit(next, tt.opts).(*rateLimiter)
			if !ok {
				t.Fatal("not a *rateLimiter")
			}
			keys := l.local.keys
			if keys.ttl != tt.want {
				t.Errorf("ttl = %v, want %v", keys.ttl, tt.want)
			}
			total := 0
			for i := range keys.shards {
				total += keys.shards[i].max
			}
			if total != tt.keys {
				t.Errorf("capacity = %d, want %d", total, tt.keys)
			}
		})
	}
}

func newTestLimiter() *rate.Limiter { return rate.NewLimiter(1, 1) }

// The store must stay within MaxKeys however many keys come, and its memory must stay flat.
func TestLimiterStoreBoundUnderAMillionKeys(t *testing.T) {
	const maxKeys, distinct = 100_000, 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	s := newLimiterStore(maxKeys, limiterShards, 10*time.Minute, newTestLimiter)
	now := time.Unix(1_700_000_000, 0)
	key := make([]byte, 0, 32)
	for i := 0; i < distinct; i++ {
		key = append(append(key[:0], "ip:10."...), strconv.Itoa(i)...)
		s.get(string(key), now)
		if n := s.len(); n > maxKeys {
			t.Fatalf("after %d keys the store holds %d > %d", i+1, n, maxKeys)
		}
	}
	held := 0
	for i := range s.shards {
		sh := &s.shards[i]
		if len(sh.m) > sh.max {
			t.Errorf("shard %d holds %d > %d", i, len(sh.m), sh.max)
		}
		held += len(sh.m)
	}
	if held != s.len() || held != maxKeys {
		t.Errorf("maps hold %d, counter says %d, want %d (all shards full)", held, s.len(), maxKeys)
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %.1f MiB for %d keys held", float64(grown)/(1<<20), held)
	if grown > 64<<20 {
		t.Errorf("heap in use grew by %d MiB, want < 64", grown>>20)
	}
	runtime.KeepAlive(s)
	runtime.GC() // collect the store now, not in the middle of the next, timing-sensitive, tests
}

func TestLimiterStoreExpiryAndLRU(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	const ttl = 10 * time.Minute
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	t.Run("idle keys are dropped after the ttl", func(t *testing.T) {
		s := newLimiterStore(100, 1, ttl, newTestLimiter)
		a := s.get("a", at(0))
		b := s.get("b", at(0))
		if s.get("a", at(5*time.Minute)) != a {
			t.Fatal("a was replaced within the ttl")
		}
		s.get("c", at(11*time.Minute)) // b idle 11m: dropped; a idle 6m: kept
		if s.len() != 2 {
			t.Fatalf("store holds %d keys, want 2 (a, c)", s.len())
		}
		if s.get("a", at(11*time.Minute)) != a {
			t.Error("a was dropped though used 6 minutes ago")
		}
		if s.get("b", at(11*time.Minute)) == b {
			t.Error("b survived 11 minutes idle")
		}
		s.get("d", at(40*time.Minute)) // everything else idle ≥ 29m
		if s.len() != 1 {
			t.Fatalf("store holds %d keys, want 1 (d)", s.len())
		}
	})
	t.Run("an idle key found by lookup starts over", func(t *testing.T) {
		s := newLimiterStore(100, 1, ttl, newTestLimiter)
		a := s.get("a", at(0))
		if !a.AllowN(at(0), 1) || a.AllowN(at(0), 1) {
			t.Fatal("bucket of one did not drain")
		}
		if s.get("a", at(ttl-time.Second)) != a {
			t.Fatal("replaced before the ttl")
		}
		if s.get("a", at(2*ttl)) == a {
			t.Fatal("kept after the ttl")
		}
	})
	t.Run("a full shard drops its least recently used key", func(t *testing.T) {
		s := newLimiterStore(2, 1, ttl, newTestLimiter)
		a := s.get("a", at(0))
		b := s.get("b", at(time.Second))
		s.get("a", at(2*time.Second)) // a is now the most recent
		s.get("c", at(3*time.Second))
		if s.len() != 2 {
			t.Fatalf("store holds %d, want 2", s.len())
		}
		if s.get("a", at(4*time.Second)) != a {
			t.Error("a was evicted though recently used")
		}
		if s.get("b", at(5*time.Second)) == b {
			t.Error("b survived though least recently used")
		}
	})
	t.Run("capacity is split exactly over the shards", func(t *testing.T) {
		for _, tc := range []struct{ maxKeys, shards, wantShards int }{
			{1, 64, 1}, {3, 64, 2}, {100, 64, 64}, {100_001, 64, 64}, {5, 1, 1},
		} {
			s := newLimiterStore(tc.maxKeys, tc.shards, ttl, newTestLimiter)
			total := 0
			for i := range s.shards {
				if s.shards[i].max < 1 {
					t.Errorf("maxKeys %d: shard %d holds %d", tc.maxKeys, i, s.shards[i].max)
				}
				total += s.shards[i].max
			}
			if len(s.shards) != tc.wantShards || total != tc.maxKeys {
				t.Errorf("maxKeys %d: %d shards of total %d, want %d shards of total %d", tc.maxKeys, len(s.shards), total, tc.wantShards, tc.maxKeys)
			}
		}
	})
}

// Many goroutines on a small store: the race detector checks the locking, the bound must hold.
func TestLimiterStoreConcurrent(t *testing.T) {
	const maxKeys = 50
	s := newLimiterStore(maxKeys, limiterShards, time.Minute, newTestLimiter)
	clock := newManualClock()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				lim := s.get(fmt.Sprintf("k%d", (g*7919+i)%300), clock.Now())
				lim.AllowN(clock.Now(), 1)
				if n := s.len(); n > maxKeys {
					t.Errorf("store holds %d > %d", n, maxKeys)
					return
				}
				if i%500 == 0 {
					clock.Advance(20 * time.Second)
				}
			}
		}(g)
	}
	wg.Wait()
}

// discardWriter is a ResponseWriter for benchmarks.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkRateLimitAllowed(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, bc := range []struct {
		name string
		key  func(*http.Request) (string, bool)
		ips  int
	}{
		{"global", nil, 1},
		{"client_ip_1k_keys", KeyClientIP(TrustedProxies{}), 1024},
		{"client_ip_200k_keys_evicting", KeyClientIP(TrustedProxies{}), 200_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := RateLimit(next, RateLimitOptions{RPS: 1e9, Burst: 1 << 30, Key: bc.key})
			addrs := make([]string, bc.ips)
			for i := range addrs {
				addrs[i] = fmt.Sprintf("10.%d.%d.%d:1234", i>>16&255, i>>8&255, i&255)
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: make(http.Header)}
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				n := int(seq.Add(1)) * 7919
				for pb.Next() {
					n++
					r.RemoteAddr = addrs[n%bc.ips]
					clear(w.h)
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// failingStore fails every decision, as a store whose server is down does.
type failingStore struct{ calls atomic.Int64 }

func (s *failingStore) Allow(context.Context, string, time.Time) (RateDecision, error) {
	s.calls.Add(1)
	return RateDecision{}, errors.New("store down")
}

// fixedStore answers every request with d, and records the keys it was asked for.
type fixedStore struct {
	d    RateDecision
	mu   sync.Mutex // guards keys
	keys []string
}

func (s *fixedStore) Allow(_ context.Context, key string, _ time.Time) (RateDecision, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.d, nil
}

// A store's decision is written into the same headers as the local store's, from its token count.
func TestRateLimitStoreDecisionHeaders(t *testing.T) {
	tests := []struct {
		name                      string
		d                         RateDecision
		status                    int
		remaining, reset, retryAt string
	}{
		{"allowed, fractional tokens left", RateDecision{Allowed: true, Tokens: 6.5}, 200, "6", "2", ""},
		{"allowed, float error counts as whole", RateDecision{Allowed: true, Tokens: 2.9999999999}, 200, "3", "4", ""},
		{"refused with most of a token", RateDecision{Tokens: 0.75}, 429, "0", "5", "1"},
		{"refused with nothing", RateDecision{Tokens: 0}, 429, "0", "5", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fixedStore{d: tt.d}
			var calls atomic.Int64
			srv := newTestServer(t, RateLimit(okHandler(&calls), RateLimitOptions{
				RPS: 2, Burst: 10, Key: KeyClientIP(loopbackTrusted(t)), Store: store,
			}))
			res := get(t, srv.Client(), srv.URL, map[string]string{"X-Forwarded-For": "192.0.2.9"})
			if res.status != tt.status {
				t.Fatalf("status %d, want %d", res.status, tt.status)
			}
			for h, want := range map[string]string{
				"RateLimit-Limit": "10", "RateLimit-Remaining": tt.remaining, "RateLimit-Reset": tt.reset, "Retry-After": tt.retryAt,
			} {
				if got := res.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if len(store.keys) != 1 || store.keys[0] != "ip:192.0.2.9" {
				t.Errorf("store asked for %q", store.keys)
			}
		})
	}
}

// While the store fails, on_store_error decides: a local bucket of the replicas' share, everyone
// through, or nobody; each decision is reported, refusals as refusals too.
func TestRateLimitStoreErrorPolicies(t *testing.T) {
	type want struct {
		status                           int
		limit, remaining, reset, retryAt string
		decision                         string
	}
	tests := []struct {
		name     string
		policy   StoreErrorPolicy
		replicas int
		want     []want
	}{
		// rps 8, burst 10 over 4 replicas: 2 a second, a burst of 3 (10/4 rounded up).
		{"local share", StoreErrorLocal, 4, []want{
			{200, "3", "2", "1", "", FallbackLocalAllow},
			{200, "3", "1", "1", "", FallbackLocalAllow},
			{200, "3", "0", "2", "", FallbackLocalAllow},
			{429, "3", "0", "2", "1", FallbackLocalDeny},
		}},
		{"local, replicas 0 means 1", StoreErrorLocal, 0, []want{
			{200, "10", "9", "1", "", FallbackLocalAllow},
		}},
		{"allow", StoreErrorAllow, 4, []want{
			{200, "10", "", "", "", FallbackAllow},
			{200, "10", "", "", "", FallbackAllow},
		}},
		{"deny", StoreErrorDeny, 4, []want{
			{429, "10", "", "", "1", FallbackDeny},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newManualClock()
			store := &failingStore{}
			var calls, rejected atomic.Int64
			var mu sync.Mutex
			var decisions []string
			srv := newTestServer(t, RateLimit(okHandler(&calls), RateLimitOptions{
				RPS: 8, Burst: 10, Key: KeyClientIP(loopbackTrusted(t)), Store: store, OnStoreError: tt.policy,
				Replicas: tt.replicas, Now: clock.Now,
				OnReject: func(*http.Request) { rejected.Add(1) },
				OnFallback: func(_ *http.Request, d string) {
					mu.Lock()
					decisions = append(decisions, d)
					mu.Unlock()
				},
			}))
			wantRejected := 0
			for i, w := range tt.want {
				res := get(t, srv.Client(), srv.URL, map[string]string{"X-Forwarded-For": "192.0.2.9"})
				if res.status != w.status {
					t.Fatalf("request %d: status %d, want %d", i, res.status, w.status)
				}
				if w.status == 429 {
					wantRejected++
				}
				for h, want := range map[string]string{
					"RateLimit-Limit": w.limit, "RateLimit-Remaining": w.remaining, "RateLimit-Reset": w.reset, "Retry-After": w.retryAt,
				} {
					if got := res.header.Get(h); got != want {
						t.Errorf("request %d: %s = %q, want %q", i, h, got, want)
					}
				}
				mu.Lock()
				got := decisions[len(decisions)-1]
				mu.Unlock()
				if got != w.decision {
					t.Errorf("request %d: decision %q, want %q", i, got, w.decision)
				}
			}
			if int(store.calls.Load()) != len(tt.want) || int(rejected.Load()) != wantRejected {
				t.Errorf("store asked %d times, %d rejected; want %d and %d", store.calls.Load(), rejected.Load(), len(tt.want), wantRejected)
			}
		})
	}
}
