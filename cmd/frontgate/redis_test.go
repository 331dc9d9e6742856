package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/redistest"
)

// sample is one request of a load run.
type sample struct {
	start   time.Time
	latency time.Duration
	status  int // 0: the request failed (err says how)
	err     error
}

// loadRun sends GET requests to every base URL from perTarget clients each, every pace, until stop is
// closed, and returns every request. Each client has its own keep-alive connection.
type loadRun struct {
	mu      sync.Mutex // guards samples
	samples []sample
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startLoad(bases []string, perTarget int, pace time.Duration) *loadRun {
	l := &loadRun{stop: make(chan struct{})}
	for _, base := range bases {
		for range perTarget {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				defer client.CloseIdleConnections()
				tick := time.NewTicker(pace)
				defer tick.Stop()
				for {
					select {
					case <-l.stop:
						return
					case <-tick.C:
					}
					s := sample{start: time.Now()}
					resp, err := client.Get(base + "/limited")
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						s.status = resp.StatusCode
					}
					s.latency, s.err = time.Since(s.start), err
					l.mu.Lock()
					l.samples = append(l.samples, s)
					l.mu.Unlock()
				}
			}()
		}
	}
	return l
}

// finish stops the load and returns its requests in the order they started.
func (l *loadRun) finish() []sample {
	close(l.stop)
	l.wg.Wait()
	slices.SortFunc(l.samples, func(a, b sample) int { return a.start.Compare(b.start) })
	return l.samples
}

// between counts the requests that started in [from, to) by status, and their slowest latency.
func between(samples []sample, from, to time.Time) (byStatus map[int]int, slowest time.Duration) {
	byStatus = map[int]int{}
	for _, s := range samples {
		if !s.start.Before(from) && s.start.Before(to) {
			byStatus[s.status]++
			slowest = max(slowest, s.latency)
		}
	}
	return byStatus, slowest
}

// redisGatewayConfig is a gateway config with one route to target, /limited, under limit (a
// rate_limit value), and the given redis.timeout.
func redisGatewayConfig(t *testing.T, redisAddr string, timeout time.Duration, target, limit string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "gw.yaml", fmt.Sprintf(`log: {format: json, access: false}
admin: {listen: "127.0.0.1:0"}
redis: {addr: %q, timeout: %v}
upstreams: {u: {targets: [%q]}}
routes:
  - {path: /limited, upstream: u, rate_limit: %s}
`, redisAddr, timeout, target, limit))
}

// scrapeSum adds up the values of the metric lines that start with prefix on p's admin listener.
func scrapeSum(t *testing.T, adminAddr, prefix string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		sum += v
	}
	return sum
}

// Three gateway processes share one limit through one Redis: under load spread over the three,
// the 200s add up to burst + rps×T within 5%. With store: local each process grants that alone.
func TestRedisLimitSharedByThreeProcesses(t *testing.T) {
	rs := redistest.Start(t)
	upstream := textServer(t, "ok")
	const rps, burst = 50, 50
	const loadFor = 3 * time.Second
	run := func(store string) (ok int, T time.Duration, other map[int]int) {
		// A generous timeout: this test is about accuracy, not faults (no request may fall back).
		cfg := redisGatewayConfig(t, rs.Addr, 250*time.Millisecond, upstream.URL,
			fmt.Sprintf("{rps: %d, burst: %d, key: global, store: %s, replicas: 3}", rps, burst, store))
		var gws []*proc
		var bases []string
		for range 3 {
			gw := startGateway(t, "-config", cfg)
			gws = append(gws, gw)
			bases = append(bases, gw.Base)
		}
		load := startLoad(bases, 2, 4*time.Millisecond)
		time.Sleep(loadFor)
		samples := load.finish()
		for _, gw := range gws {
			_ = gw.Stop(t)
		}
		other = map[int]int{}
		for _, s := range samples {
			if s.status == 200 {
				ok++
			} else {
				other[s.status]++
			}
		}
		first, last := samples[0], samples[len(samples)-1]
		return ok, last.start.Add(last.latency).Sub(first.start), other
	}

	ok, T, other := run("redis")
	want := burst + rps*T.Seconds()
	t.Logf("store: redis, 3 processes: %d × 200 in T = %v; burst + rps×T = %.1f (%+.1f%%); others %v",
		ok, T.Round(time.Millisecond), want, 100*(float64(ok)-want)/want, other)
	if math.Abs(float64(ok)-want) > 0.05*want {
		t.Errorf("store: redis: %d requests passed, want %.1f ± 5%%", ok, want)
	}
	if len(other) != 1 || other[429] == 0 {
		t.Errorf("statuses besides 200: %v, want only 429s", other)
	}

	okLocal, TLocal, _ := run("local")
	wantLocal := burst + rps*TLocal.Seconds()
	t.Logf("store: local, 3 processes: %d × 200 in T = %v; one process's budget %.1f (×%.2f)",
		okLocal, TLocal.Round(time.Millisecond), wantLocal, float64(okLocal)/wantLocal)
	if float64(okLocal) <= 2*wantLocal {
		t.Errorf("store: local: %d requests passed, want more than twice one process's %.1f", okLocal, wantLocal)
	}
}

// Under load, Redis is paused (SIGSTOP) for 2 s, then killed, then started again on its port: no
// request fails or waits much past redis.timeout, the gateways decide locally meanwhile (and count
// it), /readyz stays ready, and once Redis is back the limit is shared again.
func TestRedisFaultsUnderLoad(t *testing.T) {
	rs := redistest.Start(t)
	upstream := textServer(t, "ok")
	const rps, burst, timeout, margin = 40, 40, 20 * time.Millisecond, 250 * time.Millisecond
	cfg := redisGatewayConfig(t, rs.Addr, timeout, upstream.URL,
		fmt.Sprintf("{rps: %d, burst: %d, key: global, store: redis, on_store_error: local, replicas: 2}", rps, burst))
	var gws []*proc
	var bases, admins []string
	for range 2 {
		gw := startGateway(t, "-config", cfg)
		gws = append(gws, gw)
		bases = append(bases, gw.Base)
		admins = append(admins, gw.listenerAddr(t, "admin"))
	}
	fallbacks := func() float64 {
		n := 0.0
		for _, a := range admins {
			n += scrapeSum(t, a, "frontgate_ratelimit_fallback_total{")
		}
		return n
	}
	breakers := func() float64 {
		n := 0.0
		for _, a := range admins {
			n += scrapeSum(t, a, "frontgate_ratelimit_redis_breaker_state ")
		}
		return n
	}

	load := startLoad(bases, 2, 5*time.Millisecond)
	t0 := time.Now()
	time.Sleep(time.Second)
	fallbackBefore := fallbacks()
	tPause := time.Now()
	rs.Pause(t)
	time.Sleep(2 * time.Second)
	tKill := time.Now()
	rs.Kill()
	time.Sleep(time.Second)
	for _, a := range admins {
		if resp, body := get(t, "http://"+a+"/readyz"); resp.StatusCode != 200 || strings.TrimSpace(body) != "ready" {
			t.Errorf("readyz with Redis down: %d %q", resp.StatusCode, body)
		}
	}
	fallbackDown := fallbacks()
	tRestart := time.Now()
	rs.Restart(t)
	// Shared again once both breakers have closed and no request falls back any more.
	deadline := time.Now().Add(10 * time.Second)
	prev := fallbacks()
	for {
		time.Sleep(300 * time.Millisecond)
		n := fallbacks()
		if n == prev && breakers() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still falling back 10 s after the restart (%v fallbacks, breakers %v)", n, breakers())
		}
		prev = n
	}
	tShared := time.Now()
	time.Sleep(3 * time.Second)
	tEnd := time.Now()
	samples := load.finish()
	fallbackEnd := fallbacks()

	all, slowest := between(samples, t0, tEnd)
	for status, n := range all {
		if status != 200 && status != 429 {
			t.Errorf("%d requests got %d", n, status)
		}
	}
	for _, s := range samples {
		if s.err != nil {
			t.Errorf("a request failed: %v", s.err)
			break
		}
	}
	t.Logf("%d requests; slowest %v (bound: timeout %v + %v)", len(samples), slowest.Round(time.Millisecond), timeout, margin)
	if slowest > timeout+margin {
		t.Errorf("slowest request took %v, more than timeout %v + %v", slowest, timeout, margin)
	}
	for _, phase := range []struct {
		name     string
		from, to time.Time
	}{
		{"healthy", t0, tPause}, {"paused", tPause, tKill}, {"killed", tKill, tRestart},
		{"restarted", tRestart, tShared}, {"shared again", tShared, tEnd},
	} {
		n, slow := between(samples, phase.from, phase.to)
		secs := phase.to.Sub(phase.from).Seconds()
		t.Logf("%-13s %5.2fs: %4d × 200 (%.1f/s), %4d × 429, slowest %v", phase.name, secs, n[200], float64(n[200])/secs, n[429], slow.Round(time.Millisecond))
	}
	t.Logf("fallback decisions: %v before the pause, %v by the restart, %v at the end", fallbackBefore, fallbackDown, fallbackEnd)
	if fallbackDown <= fallbackBefore {
		t.Errorf("fallback decisions did not rise while Redis was down: %v, then %v", fallbackBefore, fallbackDown)
	}
	// Shared again: the bucket was emptied by the load before tShared, so the two processes pass
	// rps a second between them (each alone would pass only its share, and never counts here). A
	// call may still miss the 20ms deadline on a loaded machine (under -race) and fall back: a few,
	// never a share of the phase's requests.
	n, _ := between(samples, tShared, tEnd)
	if late, total := fallbackEnd-prev, float64(n[200]+n[429]); late > 0.01*total {
		t.Errorf("%v of %v requests fell back after the limit was shared again", late, total)
	}
	want := rps * tEnd.Sub(tShared).Seconds()
	t.Logf("shared again: %d × 200 against rps×W = %.1f (%+.1f%%)", n[200], want, 100*(float64(n[200])-want)/want)
	if math.Abs(float64(n[200])-want) > 0.1*want+1 {
		t.Errorf("after the restart %d requests passed in %v, want %.1f ± 10%%", n[200], tEnd.Sub(tShared), want)
	}
	if keys, err := rs.Int("DBSIZE"); err != nil || keys != 1 {
		t.Errorf("the restarted Redis holds %d keys (%v), want the limit's one", keys, err)
	}
}

// check validates the redis block without connecting, serve starts while Redis is unreachable, and
// /config shows neither the password nor its file.
func TestRedisCheckAndConfigWithoutRedis(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "redis.pw", "hunter2-secret\n")
	cfg := writeFile(t, dir, "gw.yaml", `log: {format: json}
admin: {listen: "127.0.0.1:0"}
redis: {addr: "127.0.0.1:1", password_file: redis.pw, db: 3, timeout: 30ms}
routes:
  - {path: /r, redirect: {to: /x}, rate_limit: {rps: 1, store: redis, on_store_error: deny}}
`)
	stdout, stderr, code := runCmd(t, "check", "-config", cfg)
	if code != 0 || strings.Contains(stdout, "warning") {
		t.Fatalf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	gw := startGateway(t, "-config", cfg)
	adminBase := "http://" + gw.listenerAddr(t, "admin")
	_, body := get(t, adminBase+"/config")
	for _, want := range []string{`"addr": "127.0.0.1:1"`, `"password_file": "[redacted]"`, `"store": "redis"`, `"on_store_error": "deny"`, `"timeout": "30ms"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/config lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "hunter2") || strings.Contains(body, "redis.pw") {
		t.Errorf("/config shows the password or its file:\n%s", body)
	}
	// Redis unreachable and on_store_error: deny: 429 with Retry-After: 1, counted as a fallback.
	resp, _ := get(t, gw.Base+"/r")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("RateLimit-Limit") != "1" {
		t.Errorf("with Redis unreachable: %d, Retry-After %q, RateLimit-Limit %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Limit"))
	}
	if n := scrapeSum(t, gw.listenerAddr(t, "admin"), `frontgate_ratelimit_fallback_total{decision="deny"`); n != 1 {
		t.Errorf("fallback deny counted %v times, want 1", n)
	}
}
