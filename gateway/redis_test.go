package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/internal/redistest"
)

// Two gateways built from one config share a store: redis limit through one Redis; with Redis gone
// each limits alone at its share (replicas: 2) and counts the fallback; Close ends the client.
func TestRedisRateLimitSharedByTwoGateways(t *testing.T) {
	rs := redistest.Start(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`redis: {addr: %q, timeout: 500ms}
routes:
  - {path: /r, redirect: {to: /elsewhere}, rate_limit: {rps: 0.01, burst: 3, key: global, store: redis, replicas: 2}}
  - {path: /local, redirect: {to: /elsewhere}, rate_limit: {rps: 0.01, burst: 1, key: global}}
`, rs.Addr)), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type replica struct {
		gw      *Gateway
		srv     *httptest.Server
		metrics *admin.Metrics
	}
	var replicas []replica
	for range 2 {
		m := admin.NewMetrics()
		gw, err := Build(cfg, Deps{Log: zaptest.NewLogger(t), Observer: m})
		if err != nil {
			t.Fatal(err)
		}
		if gw.redis == nil {
			t.Fatal("no redis client for a store: redis limit")
		}
		replicas = append(replicas, replica{gw, httptest.NewServer(gw), m})
	}
	status := func(i int, path string) int {
		t.Helper()
		resp, err := client.Get(replicas[i].srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A burst of 3 between the two: 2 on the first, 1 on the second, then both refused.
	for i, want := range []struct{ replica, status int }{{0, 302}, {0, 302}, {1, 302}, {1, 429}, {0, 429}} {
		if got := status(want.replica, "/r"); got != want.status {
			t.Fatalf("shared request %d on replica %d: %d, want %d", i, want.replica, got, want.status)
		}
	}
	// The local limit stays each gateway's own.
	if status(0, "/local") != 302 || status(1, "/local") != 302 || status(0, "/local") != 429 {
		t.Error("store: local is not per gateway")
	}

	rs.Kill()
	// Each replica alone: a burst of 2 (3 over 2 replicas, rounded up), whatever the other does.
	for i := range replicas {
		for j, want := range []int{302, 302, 429} {
			if got := status(i, "/r"); got != want {
				t.Errorf("replica %d with Redis gone, request %d: %d, want %d", i, j, got, want)
			}
		}
		fams, err := replicas[i].metrics.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range fams {
			if f.GetName() == "frontgate_ratelimit_fallback_total" {
				for _, m := range f.GetMetric() {
					got[m.GetLabel()[0].GetValue()+" "+m.GetLabel()[1].GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
		if got["local_allow /r"] != 2 || got["local_deny /r"] != 1 {
			t.Errorf("replica %d fallback counters %v", i, got)
		}
	}

	// Closing a retired generation closes its client (ratelimit's tests check its goroutines end).
	for i, r := range replicas {
		r.srv.Close()
		if err := r.gw.Close(context.Background()); err != nil {
			t.Error(err)
		}
		_, err := r.gw.redis.Bucket("after", 1, 1).Allow(context.Background(), "k", time.Time{})
		if !errors.Is(err, redis.ErrClosed) {
			t.Errorf("replica %d: a call after Close: %v, want the client closed", i, err)
		}
	}
}

// Without store: redis there is no Redis client, redis block or not.
func TestNoRedisClientWithoutRedisStore(t *testing.T) {
	cfg, err := config.Parse([]byte("redis: {addr: \"127.0.0.1:1\"}\nrate_limit: {rps: 5}\n"), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw, err := Build(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close(context.Background())
	if gw.redis != nil {
		t.Error("a Redis client without a store: redis limit")
	}
}
