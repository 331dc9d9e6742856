package loadgen

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

// countingServer serves "ok" after running before, counting the requests it served.
func countingServer(t *testing.T, before func(*http.Request)) (string, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if before != nil {
			before(r)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &served
}

func mustRun(t *testing.T, ctx context.Context, p Plan) *Report {
	t.Helper()
	rep, err := Run(ctx, p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunExactCountN(t *testing.T) {
	for _, std := range []bool{false, true} {
		url, served := countingServer(t, nil)
		rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 7, Requests: 537, ForceStdClient: std})
		if rep.Requests != 537 || rep.Errors != 0 || served.Load() != 537 {
			t.Errorf("std=%v: report %d requests, %d errors; server served %d; want 537, 0, 537", std, rep.Requests, rep.Errors, served.Load())
		}
		if rep.hist.TotalCount() != 537 {
			t.Errorf("std=%v: %d latencies recorded, want 537", std, rep.hist.TotalCount())
		}
		if rep.Status[200] != 537 {
			t.Errorf("std=%v: status counts %v", std, rep.Status)
		}
		if rep.BodyBytesReceived != 537*2 || rep.BytesReceived <= rep.BodyBytesReceived || rep.BytesSent == 0 {
			t.Errorf("std=%v: bytes sent %d, received %d wire / %d body", std, rep.BytesSent, rep.BytesReceived, rep.BodyBytesReceived)
		}
	}
}

func TestRunExactCountDuration(t *testing.T) {
	url, served := countingServer(t, nil)
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 4, Duration: 300 * time.Millisecond})
	if rep.Requests == 0 || rep.Errors != 0 || int64(rep.Requests) != served.Load() {
		t.Errorf("report %d requests, %d errors; server served %d", rep.Requests, rep.Errors, served.Load())
	}
	if rep.Duration < 300*time.Millisecond {
		t.Errorf("duration %v shorter than -d", rep.Duration)
	}
}

func TestRunRounds(t *testing.T) {
	url, served := countingServer(t, nil)
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 3, Requests: 10, Rounds: 3, Pause: time.Millisecond})
	if len(rep.Rounds) != 3 {
		t.Fatalf("%d rounds, want 3", len(rep.Rounds))
	}
	var sum time.Duration
	for i, r := range rep.Rounds {
		if r.Requests != 10 {
			t.Errorf("round %d: %d requests, want 10", i, r.Requests)
		}
		sum += r.Duration
	}
	if rep.Requests != 30 || served.Load() != 30 || rep.Duration != sum {
		t.Errorf("total %d requests in %v (rounds sum %v), served %d", rep.Requests, rep.Duration, sum, served.Load())
	}
}

func TestRunPercentiles(t *testing.T) {
	const sleep = 20 * time.Millisecond
	url, _ := countingServer(t, func(*http.Request) { time.Sleep(sleep) })
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 4, Requests: 24})
	l := rep.Latency
	if l.Min < sleep || l.P50 < sleep {
		t.Errorf("min %v, p50 %v: below the server's %v sleep", l.Min, l.P50, sleep)
	}
	if l.P50 > sleep+2*time.Second {
		t.Errorf("p50 %v: far above the server's %v sleep", l.P50, sleep)
	}
	if !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("percentiles out of order: %+v", l)
	}
	if l.Mean < l.Min || l.Mean > l.Max {
		t.Errorf("mean %v outside [%v, %v]", l.Mean, l.Min, l.Max)
	}
	if rep.LatencyUncorrected != nil {
		t.Error("closed loop reports an uncorrected latency")
	}
}

// TestRunOpenLoopCorrected drives a target that serves one request per 10 ms at 400 requests/s over one
// connection: requests queue behind each other, so latency from the due time grows with each request
// (request i cannot start before i*10ms while it was due at i*2.5ms), while the latency from the actual
// send stays near the service time.
func TestRunOpenLoopCorrected(t *testing.T) {
	url, served := countingServer(t, func(*http.Request) { time.Sleep(10 * time.Millisecond) })
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 1, Requests: 60, Rate: 400})
	if rep.Requests != 60 || served.Load() != 60 {
		t.Fatalf("%d requests reported, %d served; want 60", rep.Requests, served.Load())
	}
	if rep.LatencyUncorrected == nil {
		t.Fatal("open loop report has no uncorrected latency")
	}
	corr, raw := rep.Latency, *rep.LatencyUncorrected
	// Request 30 is due at 75ms but cannot finish before 310ms.
	if corr.P50 < 200*time.Millisecond || corr.Max < 400*time.Millisecond {
		t.Errorf("corrected p50 %v, max %v: want them to grow with the queue (>= 200ms, 400ms)", corr.P50, corr.Max)
	}
	if raw.P50 < 10*time.Millisecond || raw.P50 > corr.P50/2 {
		t.Errorf("uncorrected p50 %v: want about the 10ms service time, well below corrected p50 %v", raw.P50, corr.P50)
	}
}

func TestRunOpenLoopRate(t *testing.T) {
	url, served := countingServer(t, nil)
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 4, Rate: 200, Duration: 250 * time.Millisecond})
	// Requests are due at 0, 5ms, ..., 245ms: 50 of them, unless a late one missed the deadline.
	if rep.Requests > 50 || rep.Requests < 40 || int64(rep.Requests) != served.Load() {
		t.Errorf("%d requests reported, %d served; want the (up to) 50 due before the deadline", rep.Requests, served.Load())
	}
}

func TestRunErrorKinds(t *testing.T) {
	// serve accepts connections and hands each to handle, until the test ends.
	serve := func(t *testing.T, handle func(*net.TCPConn, <-chan struct{})) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Go(func() { handle(c.(*net.TCPConn), done) })
			}
		})
		return ln.Addr().String()
	}
	reset := func(t *testing.T) string {
		return serve(t, func(c *net.TCPConn, _ <-chan struct{}) {
			c.SetLinger(0)
			c.Close()
		})
	}
	silent := func(t *testing.T) string {
		return serve(t, func(c *net.TCPConn, done <-chan struct{}) {
			<-done
			c.Close()
		})
	}
	for _, tt := range []struct {
		kind string
		addr func(*testing.T) string
	}{{"refused", func(t *testing.T) string { return e2e.RefusedAddr(t) }}, {"reset", reset}, {"timeout", silent}} {
		t.Run(tt.kind, func(t *testing.T) {
			rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: "http://" + tt.addr(t) + "/"}},
				Conns: 3, Requests: 6, Timeout: 200 * time.Millisecond})
			if rep.Requests != 0 || rep.Errors != 6 || rep.ErrorKinds[tt.kind] != 6 {
				t.Errorf("%d requests, %d errors, kinds %v; want 6 %s errors", rep.Requests, rep.Errors, rep.ErrorKinds, tt.kind)
			}
		})
	}
}

// TestRunCancel cancels the run from the server side once 30 requests were served: the run stops issuing,
// lets the requests in flight finish and reports exactly what the server served.
func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	url, served := countingServer(t, func(*http.Request) {
		if n.Add(1) == 30 {
			cancel()
		}
	})
	rep := mustRun(t, ctx, Plan{Targets: []Target{{URL: url}}, Conns: 4, Duration: time.Hour})
	if !rep.Interrupted {
		t.Error("report not marked interrupted")
	}
	if rep.Requests < 30 || int64(rep.Requests) != served.Load() || rep.Errors != 0 {
		t.Errorf("report %d requests, %d errors; served %d", rep.Requests, rep.Errors, served.Load())
	}
}

// TestRunCancelAbortsStuckRequests: requests that do not finish within the grace after cancellation are
// cut and counted as canceled.
func TestRunCancelAbortsStuckRequests(t *testing.T) {
	for _, std := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		release := make(chan struct{})
		var n atomic.Int64
		url, _ := countingServer(t, func(r *http.Request) {
			if n.Add(1) == 2 {
				cancel()
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		rep := mustRun(t, ctx, Plan{Targets: []Target{{URL: url}}, Conns: 2, Requests: 100, ForceStdClient: std})
		close(release)
		if rep.Requests != 0 || rep.ErrorKinds["canceled"] != 2 {
			t.Errorf("std=%v: %d requests, error kinds %v; want 2 canceled", std, rep.Requests, rep.ErrorKinds)
		}
	}
}

// TestRunMemoryFlat checks that the whole request path allocates nothing per request: many more requests
// cost no more allocations.
func TestRunMemoryFlat(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	addr := cannedServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwelcome\n", false)
	allocs := func(n uint64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: "http://" + addr + "/"}}, Conns: 2, Requests: n})
		runtime.ReadMemStats(&after)
		if rep.Requests != n {
			t.Fatalf("%d requests, want %d", rep.Requests, n)
		}
		return after.Mallocs - before.Mallocs
	}
	small, large := allocs(1000), allocs(21000)
	if large > small+2000 {
		t.Errorf("%d allocations for 1000 requests, %d for 21000: the request path allocates", small, large)
	}
}

func TestPlanValidate(t *testing.T) {
	for _, p := range []Plan{
		{},
		{Targets: []Target{{URL: "ftp://x/"}}},
		{Targets: []Target{{URL: "http:///nohost"}}},
		{Targets: []Target{{URL: "http://a/", Header: []Header{{"Content-Length", "3"}}}}},
		{Targets: []Target{{URL: "http://a/", Header: []Header{{"Bad Key", "v"}}}}},
		{Targets: []Target{{URL: "http://a/"}, {URL: "http://b/"}}},
		{Targets: []Target{{URL: "http://a/"}}, Rate: -1},
	} {
		if _, err := Run(context.Background(), p); err == nil {
			t.Errorf("Run(%+v): no error", p)
		}
	}
}

func TestRunHTTPSFallback(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "secure")
	}))
	defer srv.Close()
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: srv.URL}}, Conns: 2, Requests: 10, Insecure: true})
	if rep.Client != ClientStd || rep.Requests != 10 || served.Load() != 10 || rep.BodyBytesReceived != 60 {
		t.Errorf("client %s: %d requests, %d served, %d body bytes", rep.Client, rep.Requests, served.Load(), rep.BodyBytesReceived)
	}
	// Without -k the test server's certificate is not trusted.
	rep = mustRun(t, context.Background(), Plan{Targets: []Target{{URL: srv.URL}}, Conns: 2, Requests: 4})
	if rep.Errors != 4 || rep.ErrorKinds["tls"] != 4 {
		t.Errorf("untrusted certificate: %d errors, kinds %v; want 4 tls", rep.Errors, rep.ErrorKinds)
	}
}

func TestRecorder(t *testing.T) {
	r := newRecorder()
	for i := 1; i <= 1000; i++ { // several batches and a partial one
		r.record(time.Duration(i) * time.Millisecond)
	}
	r.record(-time.Second)  // clamped to 0
	r.record(2 * time.Hour) // clamped to the highest trackable value
	r.flush()
	h := r.h
	if h.TotalCount() != 1002 || h.Min() != 0 || !h.ValuesAreEquivalent(h.Max(), histHighest) {
		t.Errorf("count %d, min %d, max %d", h.TotalCount(), h.Min(), h.Max())
	}
	if p50 := h.ValueAtQuantile(50); !h.ValuesAreEquivalent(p50, 500_000) {
		t.Errorf("p50 = %dus, want 500ms", p50)
	}
}

// With StartAt, Run waits until then, counting down on the progress line; cancelled while waiting, it
// sends nothing; a start time long past is refused.
func TestRunStartAt(t *testing.T) {
	url, served := countingServer(t, nil)
	at := time.Now().Add(300 * time.Millisecond)
	var progress bytes.Buffer
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 2, Requests: 10, StartAt: at, Progress: &progress})
	if rep.Start.Before(at) || rep.Requests != 10 {
		t.Errorf("started at %v, before %v (%d requests)", rep.Start, at, rep.Requests)
	}
	if want := "starting at " + at.Format("15:04:05.000"); !strings.Contains(progress.String(), want) {
		t.Errorf("progress %q lacks %q", progress.String(), want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep = mustRun(t, ctx, Plan{Targets: []Target{{URL: url}}, Requests: 10, StartAt: time.Now().Add(time.Hour)})
	if !rep.Interrupted || len(rep.Rounds) != 0 || served.Load() != 10 {
		t.Errorf("cancelled while waiting: interrupted %v, %d rounds, %d served in all", rep.Interrupted, len(rep.Rounds), served.Load())
	}

	if _, err := Run(context.Background(), Plan{Targets: []Target{{URL: url}}, StartAt: time.Now().Add(-time.Minute)}); err == nil ||
		!strings.Contains(err.Error(), "in the past") {
		t.Errorf("a start a minute ago: %v", err)
	}
}
