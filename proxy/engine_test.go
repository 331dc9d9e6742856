package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

// named answers with its name and counts what it served.
type named struct {
	*httptest.Server
	name   string
	served atomic.Int64
}

func newNamed(t *testing.T, name string, h http.HandlerFunc) *named {
	t.Helper()
	n := &named{name: name}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.served.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(n.Server.Close)
	return n
}

func fetch(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return fetch(t, req)
}

func TestWeightedRoundRobin(t *testing.T) {
	a, b, c := newNamed(t, "a", nil), newNamed(t, "b", nil), newNamed(t, "c", nil)
	pool := newPool(t, []TargetSpec{{URL: a.URL, Weight: 1}, {URL: b.URL, Weight: 2}, {URL: c.URL, Weight: 3}}, PoolOptions{})
	front := newFrontPool(t, pool, Options{})
	var order []string
	for i := 0; i < 60; i++ {
		_, name := getBody(t, front.URL)
		order = append(order, name)
	}
	if a.served.Load() != 10 || b.served.Load() != 20 || c.served.Load() != 30 {
		t.Errorf("served a=%d b=%d c=%d, want 10/20/30", a.served.Load(), b.served.Load(), c.served.Load())
	}
	// Smooth: the heaviest target never gets more than weight-many turns in a row.
	run := 1
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			run++
		} else {
			run = 1
		}
		if run > 2 {
			t.Fatalf("%d turns in a row for %s: %v", run, order[i], order[:12])
		}
	}
}

// least_conn and random avoid a target that is holding requests.
func TestLoadAwarePolicies(t *testing.T) {
	for _, tt := range []struct {
		name string
		sel  Selector
	}{{"least_conn", &LeastConn{}}, {"random", Random{}}} {
		t.Run(tt.name, func(t *testing.T) {
			busy, idle := newNamed(t, "busy", nil), newNamed(t, "idle", nil)
			pool := newPool(t, specs(busy.URL, idle.URL), PoolOptions{Selector: tt.sel})
			front := newFrontPool(t, pool, Options{})
			// busy is serving 4 requests already (as far as the selectors can tell).
			busyU := pool.Targets()[0]
			busyU.inflight.Add(4)
			defer busyU.inflight.Add(-4)
			for i := 0; i < 40; i++ {
				getBody(t, front.URL)
			}
			if busy.served.Load() != 0 && tt.name == "least_conn" {
				t.Errorf("least_conn sent %d requests to the busy target", busy.served.Load())
			}
			// P2C picks busy only when both draws land on it: about a quarter of the time.
			if tt.name == "random" && busy.served.Load() > 20 {
				t.Errorf("random sent %d of 40 to the busy target", busy.served.Load())
			}
			if idle.served.Load() < 20 {
				t.Errorf("idle target served only %d", idle.served.Load())
			}
		})
	}
}

func TestHashIsConsistent(t *testing.T) {
	var pool []*Upstream
	for i := 0; i < 5; i++ {
		pool = append(pool, &Upstream{Name: fmt.Sprintf("http://10.0.0.%d:80", i), Weight: 1})
	}
	h := &Hash{Key: func(r *http.Request) string { return r.Header.Get("X-User") }}
	req := func(user string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-User", user)
		return r
	}
	before := map[string]*Upstream{}
	counts := map[*Upstream]int{}
	for i := 0; i < 5000; i++ {
		u := fmt.Sprintf("user-%d", i)
		before[u] = h.Select(pool, req(u))
		counts[before[u]]++
		if again := h.Select(pool, req(u)); again != before[u] {
			t.Fatalf("key %s moved without a change", u)
		}
	}
	for _, u := range pool {
		if counts[u] < 800 || counts[u] > 1200 {
			t.Errorf("%s got %d of 5000 keys, want about 1000", u.Name, counts[u])
		}
	}
	gone := pool[2]
	rest := append(append([]*Upstream(nil), pool[:2]...), pool[3:]...)
	moved := 0
	for u, was := range before {
		now := h.Select(rest, req(u))
		if was != gone && now != was {
			t.Fatalf("key %s moved from %s to %s though its target stayed", u, was.Name, now.Name)
		}
		if was == gone {
			moved++
		}
	}
	if moved != counts[gone] {
		t.Errorf("moved %d keys, want %d", moved, counts[gone])
	}
	// Weights: a target of weight 3 beside four of weight 1 gets about 3/7 of the keys.
	pool[0].Weight = 3
	heavy := 0
	for i := 0; i < 7000; i++ {
		if h.Select(pool, req(fmt.Sprintf("k%d", i))) == pool[0] {
			heavy++
		}
	}
	if heavy < 2700 || heavy > 3300 {
		t.Errorf("weight-3 target got %d of 7000 keys, want about 3000", heavy)
	}
}

// changes collects OnChange events.
type changes struct{ c chan string }

func newChanges() *changes { return &changes{c: make(chan string, 64)} }

func (c *changes) on(u *Upstream, available bool) {
	state := "down"
	if available {
		state = "up"
	}
	c.c <- u.Name + " " + state
}

func (c *changes) want(t *testing.T, event string) {
	t.Helper()
	select {
	case got := <-c.c:
		if got != event {
			t.Fatalf("state change %q, want %q", got, event)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no state change %q", event)
	}
}

func TestActiveHealthEjectsAndReturns(t *testing.T) {
	var sick atomic.Bool
	a := newNamed(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "a")
	})
	b := newNamed(t, "b", nil)
	ch := newChanges()
	pool := newPool(t, specs(a.URL, b.URL), PoolOptions{
		Health:   HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Rise: 2, Fall: 2},
		OnChange: ch.on,
	})
	front := newFrontPool(t, pool, Options{})
	sick.Store(true)
	ch.want(t, a.URL+" down")
	before := a.served.Load()
	for i := 0; i < 10; i++ {
		if _, name := getBody(t, front.URL+"/x"); name != "b" {
			t.Fatalf("request went to %s while a is failing checks", name)
		}
	}
	sick.Store(false)
	ch.want(t, a.URL+" up")
	after := a.served.Load() - before // health checks count too; look for real requests
	got := map[string]int{}
	for i := 0; i < 10; i++ {
		_, name := getBody(t, front.URL+"/x")
		got[name]++
	}
	if got["a"] != 5 || got["b"] != 5 {
		t.Errorf("after return: %v (a also served %d checks), want 5 each", got, after)
	}
}

func TestPassiveEjectionAndNoTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	ch := newChanges()
	pool := newPool(t, specs(dead), PoolOptions{MaxFails: 2, FailWindow: time.Minute, FailTimeout: 200 * time.Millisecond, OnChange: ch.on})
	front := newFrontPool(t, pool, Options{})
	for i := 0; i < 2; i++ {
		if status, _ := getBody(t, front.URL); status != http.StatusBadGateway {
			t.Fatalf("try %d: %d, want 502", i, status)
		}
	}
	ch.want(t, dead+" down")
	status, body := getBody(t, front.URL)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"service unavailable"`) {
		t.Errorf("no target: %d %s, want 503 JSON", status, body)
	}
	ch.want(t, dead+" up") // after fail_timeout
	if len(pool.Available()) != 1 {
		t.Errorf("target not back in the wheel")
	}
}

func TestRetries(t *testing.T) {
	refused := "http://" + e2e.RefusedAddr(t)
	reset := newResetServer(t)

	tests := []struct {
		name       string
		method     string
		body       func() io.Reader
		length     int64
		first      string
		retries    int
		wantStatus int
		wantSecond int64 // requests the second (good) target served
	}{
		{"refused GET moves on", "GET", nil, 0, refused, 1, 200, 1},
		{"refused streamed POST moves on", "POST", func() io.Reader { return strings.NewReader(strings.Repeat("x", 200000)) }, -1, refused, 1, 200, 1},
		{"reset GET retried", "GET", nil, 0, reset, 1, 200, 1},
		{"reset small PUT replayed", "PUT", func() io.Reader { return strings.NewReader("small") }, 5, reset, 1, 200, 1},
		{"reset POST not retried", "POST", func() io.Reader { return strings.NewReader("once") }, 4, reset, 1, 502, 0},
		{"reset big PUT not replayed", "PUT", func() io.Reader { return strings.NewReader(strings.Repeat("y", 100000)) }, 100000, reset, 1, 502, 0},
		{"retries off", "GET", nil, 0, refused, 0, 502, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody atomic.Int64
			good := newNamed(t, "good", func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				gotBody.Store(n)
				_, _ = io.WriteString(w, "good")
			})
			// Round robin starts at the first target, so the bad one gets the first try.
			pool := newPool(t, specs(tt.first, good.URL), PoolOptions{MaxFails: -1})
			front := newFrontPool(t, pool, Options{Retries: tt.retries})
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			req, _ := http.NewRequest(tt.method, front.URL+"/r", body)
			if tt.length >= 0 && body != nil {
				req.ContentLength = tt.length
			} else if body != nil {
				req.ContentLength = -1 // chunked: streamed
			}
			status, _ := fetch(t, req)
			if status != tt.wantStatus || good.served.Load() != tt.wantSecond {
				t.Errorf("status %d, good served %d; want %d and %d", status, good.served.Load(), tt.wantStatus, tt.wantSecond)
			}
			if tt.wantSecond == 1 && tt.body != nil {
				want := int64(len(readAllString(tt.body())))
				if gotBody.Load() != want {
					t.Errorf("good target got %d body bytes, want %d", gotBody.Load(), want)
				}
			}
		})
	}
}

func readAllString(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := newNamed(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := newNamed(t, "fast", nil)
	t.Run("try timeout moves to the next target", func(t *testing.T) {
		pool := newPool(t, specs(slow.URL, fast.URL), PoolOptions{MaxFails: -1})
		front := newFrontPool(t, pool, Options{Retries: 1, TryTimeout: 100 * time.Millisecond, ResponseHeaderTimeout: 10 * time.Second})
		if status, body := getBody(t, front.URL); status != 200 || body != "fast" {
			t.Errorf("%d %q, want 200 from fast", status, body)
		}
	})
	t.Run("header timeout is 504", func(t *testing.T) {
		pool := newPool(t, specs(slow.URL), PoolOptions{MaxFails: -1})
		front := newFrontPool(t, pool, Options{ResponseHeaderTimeout: 100 * time.Millisecond})
		if status, _ := getBody(t, front.URL); status != http.StatusGatewayTimeout {
			t.Errorf("%d, want 504", status)
		}
	})
	t.Run("whole-exchange timeout cuts a slow body", func(t *testing.T) {
		dribble := newNamed(t, "dribble", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond): // the upstream's pace, not a test wait
				}
			}
		})
		pool := newPool(t, specs(dribble.URL), PoolOptions{MaxFails: -1})
		front := newFrontPool(t, pool, Options{Timeout: 300 * time.Millisecond})
		resp, err := http.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		if err == nil {
			t.Error("body ended cleanly; want it cut by the timeout")
		}
	})
}

// The response-header timeout counts from when the request was sent: an upload slower than it is
// not cut, on the lean HTTP/1.1 client and on the fallback transport (h2c) alike.
func TestSlowUploadDoesNotUseHeaderTimeout(t *testing.T) {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s got %d", r.Proto, n)
	}))
	up.Config.Protocols = &protos
	up.Start()
	defer up.Close()
	for _, h2c := range []bool{false, true} {
		t.Run(fmt.Sprint("h2c=", h2c), func(t *testing.T) {
			front := newFrontPool(t, newPool(t, specs(up.URL), PoolOptions{H2C: h2c}),
				Options{ResponseHeaderTimeout: 300 * time.Millisecond})
			pr, pw := io.Pipe()
			go func() {
				for i := 0; i < 5; i++ {
					time.Sleep(150 * time.Millisecond) // the client's pace: 750ms in all, past the timeout
					if _, err := pw.Write([]byte("chunk")); err != nil {
						return
					}
				}
				pw.Close()
			}()
			req, _ := http.NewRequest(http.MethodPost, front.URL+"/up", pr)
			want := "HTTP/1.1 got 25"
			if h2c {
				want = "HTTP/2.0 got 25"
			}
			if status, body := fetch(t, req); status != 200 || body != want {
				t.Errorf("%d %q, want 200 %q", status, body, want)
			}
		})
	}
}

func TestSSEArrivesEventByEvent(t *testing.T) {
	next := make(chan struct{})
	up := newNamed(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	front := newFrontPool(t, newPool(t, specs(up.URL), PoolOptions{}), Options{})
	resp, err := http.Get(front.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		// The upstream sends event i+1 only after this one reached the client: no buffering.
		next <- struct{}{}
	}
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	up := newNamed(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 64)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			conn.Write([]byte("echo:" + string(buf[:n])))
		}
	})
	front := newFrontPool(t, newPool(t, specs(up.URL), PoolOptions{}), Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, msg := range []string{"ping", "pong"} {
		conn.Write([]byte(msg))
		buf := make([]byte, 64)
		n, err := br.Read(buf)
		if err != nil || string(buf[:n]) != "echo:"+msg {
			t.Fatalf("got %q %v", buf[:n], err)
		}
	}
}

func TestForwardingHeadersAndHost(t *testing.T) {
	up := newNamed(t, "hdr", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "xff=%s|fwd=%s|xfh=%s|host=%s", strings.Join(r.Header.Values("X-Forwarded-For"), ","),
			strings.Join(r.Header.Values("Forwarded"), ","), r.Header.Get("X-Forwarded-Host"), r.Host)
	})
	upHost := strings.TrimPrefix(up.URL, "http://")
	trustLoopback := func(a netip.Addr) bool { return a.IsLoopback() }
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"untrusted peer: replaced", Options{}, "xff=127.0.0.1|fwd=|xfh=front.example|host=" + upHost},
		{"trusted peer: kept and extended", Options{TrustedPeer: trustLoopback},
			"xff=203.0.113.9, 127.0.0.1|fwd=for=203.0.113.9,for=127.0.0.1;host=front.example;proto=http|xfh=orig.example|host=" + upHost},
		{"host preserved", Options{PreserveHost: true}, "xff=127.0.0.1|fwd=|xfh=front.example|host=front.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front := newFrontPool(t, newPool(t, specs(up.URL), PoolOptions{}), tt.opts)
			req, _ := http.NewRequest("GET", front.URL, nil)
			req.Host = "front.example"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("Forwarded", "for=203.0.113.9")
			req.Header.Set("X-Forwarded-Host", "orig.example")
			if _, body := fetch(t, req); body != tt.want {
				t.Errorf("upstream saw\n %s\nwant\n %s", body, tt.want)
			}
		})
	}
}

func TestH2CUpstream(t *testing.T) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Proto)
	}))
	up.Config.Protocols = &protos
	up.Start()
	defer up.Close()
	front := newFrontPool(t, newPool(t, specs(up.URL), PoolOptions{H2C: true}), Options{})
	if _, body := getBody(t, front.URL); body != "proto=HTTP/2.0" {
		t.Errorf("upstream saw %q, want HTTP/2.0", body)
	}
}

func TestHTTPSUpstreamSpeaksHTTP2(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Proto)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	defer up.Close()
	pool := newPool(t, specs(up.URL), PoolOptions{})
	// Trust the test server's certificate (the fallback transport serves https targets).
	pool.std.TLSClientConfig = up.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	front := newFrontPool(t, pool, Options{})
	if _, body := getBody(t, front.URL); body != "proto=HTTP/2.0" {
		t.Errorf("https upstream saw %q, want HTTP/2.0", body)
	}
}
