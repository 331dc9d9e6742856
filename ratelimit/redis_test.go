package ratelimit

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/redistest"
	"github.com/frontgate/frontgate/middleware"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu       sync.Mutex // guards the fields below
	calls    int
	failures map[string]int
	states   []string
}

func (r *recorder) RateStoreCall(_ time.Duration, failure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failures == nil {
		r.failures = map[string]int{}
	}
	if failure != "" {
		r.failures[failure]++
	}
}

func (r *recorder) RateStoreBreaker(state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, state)
}

func (r *recorder) snapshot() (calls int, failures map[string]int, states []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := map[string]int{}
	for k, v := range r.failures {
		f[k] = v
	}
	return r.calls, f, append([]string(nil), r.states...)
}

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c := New(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// limited serves 200 "ok" behind a rate limit of opts, over a real listener.
func limited(t *testing.T, opts middleware.RateLimitOptions) *httptest.Server {
	t.Helper()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(middleware.RateLimit(ok, opts))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status                            int
	limit, remaining, reset, retryAft string
}

func send(t *testing.T, srv *httptest.Server, forwardedFor string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h := resp.Header
	return answer{resp.StatusCode, h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), h.Get("Retry-After")}
}

// A burst, then the rate, as Redis's clock measures it: of 2×burst requests at once exactly burst
// pass, with Remaining counting down; the rest get Retry-After ≥ 1; a token comes back at the rate;
// the key expires when the bucket would be full again.
func TestRedisBurstThenRefill(t *testing.T) {
	rs := redistest.Start(t)
	const rps, burst = 2, 10
	c := newClient(t, Options{Addr: rs.Addr, Timeout: time.Second})
	b := c.Bucket("api", rps, burst)
	srv := limited(t, middleware.RateLimitOptions{RPS: rps, Burst: burst, Store: b})

	allowed := 0
	for i := 0; i < 2*burst; i++ {
		a := send(t, srv, "")
		if a.limit != strconv.Itoa(burst) {
			t.Errorf("request %d: RateLimit-Limit %q", i, a.limit)
		}
		switch a.status {
		case 200:
			allowed++
			if want := strconv.Itoa(burst - allowed); a.remaining != want {
				t.Errorf("request %d: RateLimit-Remaining %q, want %s", i, a.remaining, want)
			}
			if a.retryAft != "" {
				t.Errorf("request %d: Retry-After on a 200", i)
			}
		case 429:
			if n, err := strconv.Atoi(a.retryAft); err != nil || n < 1 {
				t.Errorf("request %d: Retry-After %q", i, a.retryAft)
			}
			if a.remaining != "0" {
				t.Errorf("request %d: RateLimit-Remaining %q on a 429", i, a.remaining)
			}
		default:
			t.Fatalf("request %d: status %d", i, a.status)
		}
	}
	if allowed != burst {
		t.Fatalf("%d of %d requests passed, want exactly the burst, %d", allowed, 2*burst, burst)
	}

	pttl, err := rs.Int("PTTL", b.Key(""))
	if err != nil {
		t.Fatal(err)
	}
	if maxTTL := int64(math.Ceil(burst / rps * 1000)); pttl <= 0 || pttl > maxTTL {
		t.Errorf("PTTL %d ms, want in (0, %d]", pttl, maxTTL)
	}

	// A token comes back at the rate (1/rps = 500 ms): wait for it, then the next is refused again.
	start := time.Now()
	for send(t, srv, "").status != 200 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("no token back after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := send(t, srv, ""); a.status != 429 {
		t.Errorf("right after a refill of one token: %d, want 429", a.status)
	}
	t.Logf("a token came back after %v (1/rps = 500ms, less what the burst took)", time.Since(start).Round(time.Millisecond))
}

// The same requests give the same statuses and headers from Redis as from the local store.
func TestRedisHeadersMatchLocal(t *testing.T) {
	rs := redistest.Start(t)
	c := newClient(t, Options{Addr: rs.Addr, Timeout: time.Second})
	tp, err := middleware.ParseTrustedProxies([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	opts := middleware.RateLimitOptions{RPS: 0.5, Burst: 3, Key: middleware.KeyClientIP(tp)}
	local := limited(t, opts)
	opts.Store = c.Bucket("same", opts.RPS, opts.Burst)
	shared := limited(t, opts)
	for i, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.2", "192.0.2.2", "192.0.2.1"} {
		l, r := send(t, local, ip), send(t, shared, ip)
		if l != r {
			t.Errorf("request %d from %s: local %+v, redis %+v", i, ip, l, r)
		}
	}
}

// Keys are one per limit and limit key; two clients (two replicas) share them; a long key is hashed.
func TestRedisKeys(t *testing.T) {
	rs := redistest.Start(t)
	one := newClient(t, Options{Addr: rs.Addr, Timeout: time.Second})
	two := newClient(t, Options{Addr: rs.Addr, Timeout: time.Second})
	ctx := context.Background()
	allow := func(b *Bucket, key string) bool {
		t.Helper()
		d, err := b.Allow(ctx, key, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	a1, a2, other := one.Bucket("a", 1, 1), two.Bucket("a", 1, 1), one.Bucket("a:b", 1, 1)
	if !allow(a1, "ip:192.0.2.1") || allow(a2, "ip:192.0.2.1") {
		t.Error("the second replica did not share the first's bucket")
	}
	if !allow(a2, "ip:192.0.2.2") || !allow(other, "ip:192.0.2.1") || !allow(a1, "") {
		t.Error("another key or another limit shared a bucket")
	}
	long := "hdr:" + strings.Repeat("x", 4000)
	if !allow(a1, long) || allow(a2, long) {
		t.Error("a long key was not one bucket")
	}
	if k := a1.Key(long); len(k) > 100 || !strings.HasPrefix(k, `frontgate:rl:"a":sha256:`) {
		t.Errorf("long key stored as %q", k)
	}
	if got, want := a1.Key("ip:192.0.2.1"), `frontgate:rl:"a":ip:192.0.2.1`; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	if n, err := rs.Int("DBSIZE"); err != nil || n != 5 {
		t.Errorf("DBSIZE %d, %v; want 5", n, err)
	}
	if n, err := rs.Int("EXISTS", a1.Key(long)); err != nil || n != 1 {
		t.Errorf("the hashed key exists: %d, %v", n, err)
	}
}

// A Redis that is gone fails calls at once, and after the set number the breaker stops calling;
// after the cool-down one probe finds it back, and the limit is shared again. The script is loaded
// again into the new server (EVALSHA's NOSCRIPT falls back to EVAL).
func TestRedisDownBreakerAndBack(t *testing.T) {
	rs := redistest.Start(t)
	clock := newFakeClock()
	obs := &recorder{}
	c := newClient(t, Options{Addr: rs.Addr, Timeout: 200 * time.Millisecond, BreakerFailures: 3, BreakerCooldown: time.Second, Now: clock.Now, Observer: obs})
	b := c.Bucket("r", 1, 2)
	ctx := context.Background()
	if d, err := b.Allow(ctx, "k", time.Time{}); err != nil || !d.Allowed || d.Tokens != 1 {
		t.Fatalf("first call: %+v, %v", d, err)
	}
	rs.Kill()
	for i := 0; i < 3; i++ {
		if _, err := b.Allow(ctx, "k", time.Time{}); err == nil || errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("call %d with Redis gone: %v", i, err)
		}
	}
	if _, err := b.Allow(ctx, "k", time.Time{}); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("after 3 failures: %v, want the breaker open", err)
	}
	calls, failures, states := obs.snapshot()
	if calls != 4 || failures["error"] != 3 || states[len(states)-1] != "open" {
		t.Errorf("observed %d calls, failures %v, states %v", calls, failures, states)
	}

	rs.Restart(t)
	if _, err := b.Allow(ctx, "k", time.Time{}); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("within the cool-down: %v, want the breaker open", err)
	}
	clock.Advance(time.Second)
	// The probe may meet a pooled connection to the old server: one retry is allowed for that.
	d, err := b.Allow(ctx, "k", time.Time{})
	if err != nil || !d.Allowed || c.Breaker().State() != Closed {
		t.Fatalf("probe after the restart: %+v, %v, breaker %s", d, err, c.Breaker().State())
	}
	if d, err := b.Allow(ctx, "k", time.Time{}); err != nil || !d.Allowed {
		t.Fatalf("second call: %+v, %v", d, err)
	}
	if d, err := b.Allow(ctx, "k", time.Time{}); err != nil || d.Allowed {
		t.Errorf("third call of a burst of 2: %+v, %v; want refused", d, err)
	}
	if _, _, states := obs.snapshot(); states[len(states)-1] != "closed" {
		t.Errorf("states %v", states)
	}
}

// A Redis that stops answering (SIGSTOP) costs a call its timeout, not more.
func TestRedisPausedTimesOut(t *testing.T) {
	rs := redistest.Start(t)
	obs := &recorder{}
	const timeout = 50 * time.Millisecond
	c := newClient(t, Options{Addr: rs.Addr, Timeout: timeout, Observer: obs})
	b := c.Bucket("p", 100, 100)
	ctx := context.Background()
	if _, err := b.Allow(ctx, "k", time.Time{}); err != nil {
		t.Fatal(err)
	}
	rs.Pause(t)
	defer rs.Resume(t)
	var slowest time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		_, err := b.Allow(ctx, "k", time.Time{})
		slowest = max(slowest, time.Since(start))
		if err == nil {
			t.Fatalf("call %d answered by a paused Redis", i)
		}
	}
	t.Logf("slowest call to the paused Redis: %v (timeout %v)", slowest, timeout)
	if slowest > timeout+450*time.Millisecond {
		t.Errorf("a call took %v with a timeout of %v", slowest, timeout)
	}
	if _, failures, _ := obs.snapshot(); failures["timeout"] != 5 || c.Breaker().State() != Open {
		t.Errorf("failures %v, breaker %s; want 5 timeouts, open", failures, c.Breaker().State())
	}
}

// Close stops every goroutine the client started, those of a pool that failed to dial included.
func TestRedisCloseStopsGoroutines(t *testing.T) {
	rs := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	runtime.GC()
	before := runtime.NumGoroutine()
	var clients []*Client
	for _, addr := range []string{rs.Addr, dead} {
		c := New(Options{Addr: addr, Timeout: 100 * time.Millisecond, BreakerFailures: 1000})
		clients = append(clients, c)
		b := c.Bucket("g", 1000, 1000)
		var wg sync.WaitGroup
		for range 20 { // enough to open several connections, and to saturate a dead pool's dial errors
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = b.Allow(context.Background(), "k", time.Time{})
			}()
		}
		wg.Wait()
	}
	during := runtime.NumGoroutine()
	for _, c := range clients {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second) // a dial-retry goroutine notices within a second
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d with the clients, %d after Close:\n%s", before, during, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, %d with the clients, %d after Close", before, during, runtime.NumGoroutine())
}
