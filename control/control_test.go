// Package control runs frontgate beside a control, net/http's own httputil.ReverseProxy over
// http.Transport, against upstreams that misbehave the ways real servers do: answers followed by
// bytes nobody asked for, malformed heads, chunked answers with and without trailers, bodies cut
// mid-way. For every case, every client of frontgate (on both engines) must see what the control's
// client sees: its own answer, a cut where the body was cut, an end where the body ended.
package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

var bin string

func TestMain(m *testing.M) { e2e.Main(m, &bin) }

// step is one request of a case, sent by its own client unless the case runs kept-alive.
type step struct {
	method, path string
	raw          string // sent as it is over a fresh connection instead (a request Go's client cannot make)
	// For raw: the statuses frontgate may answer, 0 for none (the client half-closes after its
	// request, which net/http takes for a client gone). The control, not knowing whose fault a
	// failed upload is, answers 502: raw steps are not compared with it.
	want  []int
	await string // after the request, wait for this upstream event before the next step
}

// outcome is what a client saw of one request.
type outcome struct {
	Status  int    // 0: no response
	Body    string // complete bodies only
	Cut     bool   // no response, or a body that ended in an error
	Trailer string // "X-Sum=42" and the like
}

func (o outcome) String() string {
	if o.Cut {
		return fmt.Sprintf("cut (status %d)", o.Status)
	}
	return fmt.Sprintf("%d %q trailer %q", o.Status, o.Body, o.Trailer)
}

// same reports whether a and b are the same outcome for a client. Error answers (5xx) are compared
// by status: their bodies are each proxy's own.
func same(a, b outcome) bool {
	if a.Cut || b.Cut {
		return a.Cut == b.Cut
	}
	if a.Status >= 500 || b.Status >= 500 {
		return a.Status == b.Status
	}
	return a == b
}

type hostileCase struct {
	name  string
	steps []step
}

// well is a well-behaved request from another client: after a misbehaving answer, it must get its
// own answer (not the stray bytes, not another client's).
func well(n int) step { return step{method: http.MethodGet, path: fmt.Sprintf("/ok?client=%d", n)} }

func get(path string) step { return step{method: http.MethodGet, path: path} }

var cases = []hostileCase{
	{"stray answer after the body", []step{{method: "GET", path: "/stray", await: "stray"}, well(2), well(3), well(4)}},
	{"stray answer in the same write", []step{get("/stray-same-write"), well(2), well(3)}},
	{"body longer than its Content-Length", []step{get("/cl-then-more"), well(2), well(3)}},
	{"HEAD answered with a body", []step{{method: "HEAD", path: "/head-with-body", await: "body"}, well(2), well(3)}},
	{"204 followed by bytes", []step{{method: "GET", path: "/204-with-body", await: "body"}, well(2), well(3)}},
	{"304 followed by bytes", []step{{method: "GET", path: "/304-with-body", await: "body"}, well(2), well(3)}},
	{"unsolicited 408 before close", []step{{method: "GET", path: "/408-after", await: "408"}, well(2), well(3)}},
	{"Content-Length -0", []step{get("/cl-minus-zero"), well(2), well(3)}},
	{"Content-Length +5", []step{get("/cl-plus"), well(2)}},
	{"conflicting Content-Lengths", []step{get("/cl-conflict"), well(2)}},
	{"Transfer-Encoding gzip", []step{get("/te-gzip"), well(2)}},
	{"chunked without trailers", []step{get("/chunked"), get("/chunked"), well(3)}},
	{"chunked in separate writes", []step{get("/chunked-slow"), well(2)}},
	{"chunked with trailers", []step{get("/chunked-trailers"), get("/chunked-trailers"), well(3)}},
	{"empty chunked", []step{get("/chunked-empty"), get("/chunked-empty"), well(3)}},
	{"chunk extensions", []step{get("/chunked-extensions"), well(2)}},
	{"Transfer-Encoding and Content-Length", []step{get("/te-and-cl"), well(2)}},
	{"cut Content-Length body", []step{{method: "GET", path: "/cut-cl", await: "cut"}, well(2)}},
	{"cut chunked body", []step{{method: "GET", path: "/cut-chunked", await: "cut"}, well(2)}},
	{"close-delimited body reset", []step{{method: "GET", path: "/cut-reset", await: "cut"}, well(2)}},
	{"malformed chunk size", []step{get("/chunked-bad-size"), well(2)}},
	{"chunk line with a bare LF", []step{get("/chunked-bare-lf"), well(2)}},
	{"close-delimited body", []step{get("/close-delimited"), well(2), get("/close-delimited")}},
	{"HTTP/1.0 close-delimited", []step{get("/http10"), well(2)}},
	{"HTTP/1.0 kept alive", []step{get("/http10-keep-alive"), get("/http10-keep-alive"), well(3)}},
	{"status line without a reason", []step{get("/no-reason"), well(2)}},
	{"unasked 100 Continue", []step{get("/unasked-100"), well(2)}},
	{"103 Early Hints", []step{get("/early-hints"), well(2)}},
	// A client's faults are not the target's: three malformed or abandoned uploads leave it in.
	{"malformed chunked uploads", []step{
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", want: []int{400, 0}},
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", want: []int{400, 0}},
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", want: []int{400, 0}},
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", want: []int{400, 0}},
		well(5), well(6)}},
	{"abandoned uploads", []step{
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly the start", want: []int{400, 0}},
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly the start", want: []int{400, 0}},
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly the start", want: []int{400, 0}},
		{raw: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", want: []int{400, 0}},
		well(5), well(6)}},
}

// front is a proxy under test: the control or frontgate on one engine, each with its own upstreams.
type front struct {
	name     string
	base     func(c hostileCase) string // the URL a case's requests go to
	upstream map[string]*hostile        // by case name
	logs     *e2e.LogSink               // frontgate's output; nil for the control
}

// controlFront is net/http's ReverseProxy over a default-like Transport, served by net/http.
func controlFront(t *testing.T) *front {
	f := &front{name: "control", upstream: map[string]*hostile{}}
	mux := http.NewServeMux()
	for i, c := range cases {
		up := newHostile(t)
		f.upstream[c.name] = up
		target, _ := url.Parse(up.url())
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
			Transport: &http.Transport{MaxIdleConnsPerHost: 16},
			ErrorLog:  nilLogger(),
		}
		mux.Handle(fmt.Sprintf("/case%d/", i), http.StripPrefix(fmt.Sprintf("/case%d", i), rp))
	}
	srv := httptest.NewServer(mux)
	srv.Config.ErrorLog = nilLogger()
	t.Cleanup(srv.Close)
	f.base = func(c hostileCase) string { return fmt.Sprintf("%s/case%d", srv.URL, caseIndex(c)) }
	return f
}

// frontgateFront runs the binary on engine with one route and one upstream pool per case, each pool
// with frontgate's defaults (passive health on, one retry).
func frontgateFront(t *testing.T, engine string) *front {
	f := &front{name: engine, upstream: map[string]*hostile{}}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "log: {format: json, level: debug}\nserver: {engine: %s}\nupstreams:\n", engine)
	for i, c := range cases {
		up := newHostile(t)
		f.upstream[c.name] = up
		fmt.Fprintf(&cfg, "  case%d: {targets: [%q]}\n", i, up.url())
	}
	cfg.WriteString("routes:\n")
	for i := range cases {
		fmt.Fprintf(&cfg, "  - {path_prefix: /case%d/, strip_prefix: true, upstream: case%d}\n", i, i)
	}
	path := e2e.WriteFile(t, t.TempDir(), "gw.yaml", cfg.String())
	p := e2e.Serve(t, bin, path)
	f.logs = p.Logs
	f.base = func(c hostileCase) string { return fmt.Sprintf("%s/case%d", p.Base, caseIndex(c)) }
	return f
}

func caseIndex(c hostileCase) int {
	for i := range cases {
		if cases[i].name == c.name {
			return i
		}
	}
	panic("unknown case " + c.name)
}

// nilLogger drops the control's own log lines (a cut body, a malformed answer): the test judges by
// what the clients saw.
func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// TestAgainstTheControl runs every case through the control and frontgate's two engines, each step
// from a new client (fresh) and then all steps from one kept-alive client (kept), and compares what
// the clients saw.
func TestAgainstTheControl(t *testing.T) {
	fronts := []*front{controlFront(t), frontgateFront(t, "lean"), frontgateFront(t, "stdlib")}
	for _, mode := range []string{"fresh", "kept"} {
		t.Run(mode, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					results := make([][]outcome, len(fronts))
					var wg sync.WaitGroup
					for i, f := range fronts {
						wg.Add(1)
						go func() {
							defer wg.Done()
							results[i] = run(t, f, c, mode == "kept")
						}()
					}
					wg.Wait()
					if t.Failed() {
						return
					}
					control := checkControl(t, c, results[0])
					for i, f := range fronts[1:] {
						for j, got := range results[i+1] {
							if s := c.steps[j]; s.raw != "" {
								if !slices.Contains(s.want, got.Status) {
									t.Errorf("%s: step %d (%s): got %v, want status %d", f.name, j+1, describe(s), got, s.want)
								}
								continue
							}
							if !same(got, control[j]) {
								t.Errorf("%s: step %d (%s): got %v, the control got %v", f.name, j+1, describe(c.steps[j]), got, control[j])
							}
						}
					}
				})
			}
		})
	}
	// No client fault counted against a target: nothing was ejected.
	for _, f := range fronts[1:] {
		for _, line := range f.logs.Lines() {
			if strings.Contains(line, "ejected") {
				t.Errorf("%s ejected a target: %s", f.name, line)
			}
		}
	}
}

// checkControl holds the control to what every client must see, so that a control gone wrong
// (or a case that proves nothing) fails too.
//
// One slip of the control is known and not the harness's: on a kept connection net/http's
// Transport can hand a stray answer that came in the same write as the previous one to the next
// request, when that request takes the connection before the Transport's reader has peeked at the
// stray bytes (a race inside net/http, seen in CI in "stray answer in the same write"). That is
// logged, and the frontgates are held to the answer the control should have given: their own.
func checkControl(t *testing.T, c hostileCase, control []outcome) []outcome {
	t.Helper()
	control = slices.Clone(control)
	for j, s := range c.steps {
		o := control[j]
		switch {
		case strings.HasPrefix(s.path, "/ok"):
			switch {
			case o.Status == 200 && o.Body == answer(s.path):
			case o.Body == strayBody:
				t.Logf("control: step %d (%s): %v, net/http's stray-answer race: comparing with its own answer instead", j+1, describe(s), o)
				control[j] = outcome{Status: 200, Body: answer(s.path)}
			default:
				t.Errorf("control: step %d (%s): %v, want its own answer", j+1, describe(s), o)
			}
		case strings.HasPrefix(s.path, "/cut"), strings.Contains(s.path, "chunked-b"):
			if !o.Cut {
				t.Errorf("control: step %d (%s): %v, want a cut", j+1, describe(s), o)
			}
		}
	}
	return control
}

func describe(s step) string {
	if s.raw != "" {
		line, _, _ := strings.Cut(s.raw, "\r\n")
		return "raw " + line
	}
	return s.method + " " + s.path
}

// run sends a case's steps to f and returns what the clients saw.
func run(t *testing.T, f *front, c hostileCase, kept bool) []outcome {
	up := f.upstream[c.name]
	base := f.base(c)
	var shared *http.Client
	if kept {
		shared = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
		defer shared.CloseIdleConnections()
	}
	var out []outcome
	for _, s := range c.steps {
		var o outcome
		switch {
		case s.raw != "":
			o = rawStep(t, base, s.raw)
		case kept:
			o = clientStep(shared, s.method, base+s.path)
		default:
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			o = clientStep(client, s.method, base+s.path)
		}
		out = append(out, o)
		if s.await != "" {
			up.event(t, s.await)
		}
	}
	return out
}

// clientStep makes one request with Go's client; a hang is a cut after the client's timeout.
func clientStep(c *http.Client, method, u string) outcome {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return outcome{Cut: true}
	}
	resp, err := c.Do(req)
	if err != nil {
		return outcome{Cut: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	o := outcome{Status: resp.StatusCode, Body: string(b), Cut: err != nil}
	for k, vs := range resp.Trailer {
		o.Trailer += k + "=" + strings.Join(vs, ",")
	}
	return o
}

// rawStep sends raw over a new connection, half-closes it, and reads the status of the answer, if
// any, until the proxy closes the connection.
func rawStep(t *testing.T, base, raw string) outcome {
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Errorf("dial: %v", err)
		return outcome{Cut: true}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, rest, _ := strings.Cut(raw, " ")
	target, rest, _ := strings.Cut(rest, " ")
	_, _ = io.WriteString(c, line+" "+u.Path+target+" "+rest)
	_ = c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("no answer and no close within 5s to %q", raw)
		}
		return outcome{Cut: true}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return outcome{Status: resp.StatusCode}
}

// TestH2CUpgradeNeverReachesTheUpstream: an h2c upgrade would hand the target a raw HTTP/2
// connection past routing, methods and limits. The control forwards it; frontgate must not.
func TestH2CUpgradeNeverReachesTheUpstream(t *testing.T) {
	var mu sync.Mutex // guards got
	var got []http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		_, _ = io.WriteString(w, "plain "+r.Proto)
	}))
	t.Cleanup(up.Close)
	for _, engine := range []string{"lean", "stdlib"} {
		t.Run(engine, func(t *testing.T) {
			cfg := fmt.Sprintf("log: {format: json}\nserver: {engine: %s}\nupstreams:\n  up: {targets: [%q]}\nroutes:\n  - {path_prefix: /, upstream: up}\n", engine, up.URL)
			p := e2e.Serve(t, bin, e2e.WriteFile(t, t.TempDir(), "gw.yaml", cfg))
			mu.Lock()
			got = nil
			mu.Unlock()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, p.Base+"/x", nil)
			req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
			req.Header.Set("Upgrade", "h2c")
			req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "plain HTTP/1.1" {
				t.Errorf("answer %d %q, want the plain HTTP/1.1 answer", resp.StatusCode, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("upstream saw %d requests", len(got))
			}
			for _, k := range []string{"Upgrade", "Http2-Settings", "Connection"} {
				if v := got[0].Get(k); v != "" {
					t.Errorf("upstream saw %s: %q", k, v)
				}
			}
		})
	}
}
