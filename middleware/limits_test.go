package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestMaxBody(t *testing.T) {
	const limit = 1000
	type seen struct {
		called    bool
		n         int
		err       error
		tooLarge  bool  // errors.Is(err, ErrBodyTooLarge)
		maxBytesN int64 // Limit of the *http.MaxBytesError found with errors.As; 0 if none
	}
	// handler modes: "answer" reads the body and answers 400 on error, as a careful handler would;
	// "ignore" reads and answers 200 regardless; "stream" answers 200 first, then reads.
	handler := func(mode string, s *seen) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.called = true
			if mode == "stream" {
				// HTTP/1 closes an unread body once the response starts, unless the handler asks.
				if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
					t.Error(err)
				}
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
			}
			b, err := io.ReadAll(r.Body)
			s.n, s.err = len(b), err
			s.tooLarge = errors.Is(err, ErrBodyTooLarge)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.maxBytesN = mbe.Limit
			}
			if err != nil && mode == "answer" {
				http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = fmt.Fprintf(w, "n=%d", len(b))
		})
	}
	tests := []struct {
		name       string
		size       int
		chunked    bool
		mode       string
		wantStatus int
		wantCalled bool
		wantRead   int  // bytes the handler got
		wantErr    bool // the handler's read failed with ErrBodyTooLarge
	}{
		{"no body", 0, false, "answer", 200, true, 0, false},
		{"content-length under", 999, false, "answer", 200, true, 999, false},
		{"content-length at the limit", 1000, false, "answer", 200, true, 1000, false},
		{"content-length over: refused unread", 1001, false, "answer", 413, false, 0, false},
		{"chunked under", 999, true, "answer", 200, true, 999, false},
		{"chunked at the limit", 1000, true, "answer", 200, true, 1000, false},
		{"chunked over: handler's own error answer replaced", 1001, true, "answer", 413, true, 1000, true},
		{"chunked far over", 256 << 10, true, "answer", 413, true, 1000, true},
		{"chunked over: handler ignoring the error still gets 413", 5000, true, "ignore", 413, true, 1000, true},
		{"chunked over after the response started: too late for 413", 5000, true, "stream", 200, true, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seen
			srv := newTestServer(t, MaxBody(handler(tt.mode, &s), limit, nil))
			res := post(t, srv.Client(), srv.URL, bytes.Repeat([]byte("x"), tt.size), tt.chunked, "rid-7")
			if tt.wantStatus == 413 {
				checkJSONError(t, res, 413, "request entity too large", "rid-7")
				if !res.closed {
					t.Error("no Connection: close")
				}
			} else if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", res.status, tt.wantStatus, res.body)
			}
			if s.called != tt.wantCalled {
				t.Fatalf("handler called = %v, want %v", s.called, tt.wantCalled)
			}
			if !s.called {
				return
			}
			if s.n != tt.wantRead {
				t.Errorf("handler read %d bytes, want %d", s.n, tt.wantRead)
			}
			if tt.wantErr != s.tooLarge || (tt.wantErr && s.maxBytesN != limit) {
				t.Errorf("handler's read error %v: errors.Is ErrBodyTooLarge %v, MaxBytesError limit %d", s.err, s.tooLarge, s.maxBytesN)
			}
			if !tt.wantErr && s.err != nil {
				t.Errorf("handler's read failed: %v", s.err)
			}
			if tt.wantStatus == 200 && !tt.wantErr && string(res.body) != "n="+strconv.Itoa(tt.size) {
				t.Errorf("body %q", res.body)
			}
		})
	}
}

// readSpy records whether anything read it.
type readSpy struct{ read atomic.Bool }

func (r *readSpy) Read(p []byte) (int, error) { r.read.Store(true); return 0, io.EOF }
func (r *readSpy) Close() error               { return nil }

func TestMaxBodyRefusesContentLengthWithoutReading(t *testing.T) {
	spy := &readSpy{}
	var called bool
	h := MaxBody(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }), 10, nil)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Body, r.ContentLength = spy, 11
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 413 || called || spy.read.Load() {
		t.Fatalf("status %d, handler called %v, body read %v; want 413, false, false", rec.Code, called, spy.read.Load())
	}
}

func TestMaxBodyAndMaxInflightZeroAreOff(t *testing.T) {
	next := &countingHandler{}
	if MaxBody(next, 0, nil) != http.Handler(next) || MaxBody(next, -5, nil) != http.Handler(next) {
		t.Error("MaxBody with max ≤ 0 wrapped the handler")
	}
	if MaxInflight(next, 0, nil) != http.Handler(next) {
		t.Error("MaxInflight with n ≤ 0 wrapped the handler")
	}
}

// The case MaxBody exists for: a reverse proxy streaming a chunked body to its upstream. Without the
// guard, the proxy's ErrorHandler answers 502 when the body read fails.
func TestMaxBodyInFrontOfReverseProxy(t *testing.T) {
	const limit = 4096
	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
		unreached  bool // the upstream must not even be reached
	}{
		{"chunked under the limit passes", 3000, true, 200, false},
		{"chunked over the limit: 413, not 502", 64 << 10, true, 413, false},
		{"chunked just over", limit + 1, true, 413, false},
		{"content-length over: upstream never reached", 64 << 10, false, 413, true},
	}
	for _, tt := range tests {
		for _, custom := range []bool{false, true} {
			name := tt.name
			if custom {
				name += " (custom ErrorHandler)"
			}
			t.Run(name, func(t *testing.T) {
				var upstreamHits atomic.Int64
				upstream := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					upstreamHits.Add(1)
					n, _ := io.Copy(io.Discard, r.Body)
					_, _ = fmt.Fprintf(w, "upstream got %d", n)
				}))
				target, err := url.Parse(upstream.URL)
				if err != nil {
					t.Fatal(err)
				}
				proxy := httputil.NewSingleHostReverseProxy(target)
				proxy.ErrorLog = log.New(io.Discard, "", 0)
				var proxyErr atomic.Value
				if custom {
					proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
						proxyErr.Store(err)
						http.Error(w, "upstream trouble", http.StatusBadGateway)
					}
				}
				front := newTestServer(t, MaxBody(proxy, limit, nil))

				res := post(t, front.Client(), front.URL, bytes.Repeat([]byte("y"), tt.size), tt.chunked, "rid-proxy")
				if tt.wantStatus == 413 {
					checkJSONError(t, res, 413, "request entity too large", "rid-proxy")
					if strings.Contains(string(res.body), "upstream") {
						t.Errorf("proxy's own answer leaked: %q", res.body)
					}
				} else if res.status != tt.wantStatus || string(res.body) != "upstream got "+strconv.Itoa(tt.size) {
					t.Fatalf("status %d body %q", res.status, res.body)
				}
				if tt.unreached && upstreamHits.Load() != 0 {
					t.Errorf("upstream reached %d times", upstreamHits.Load())
				}
				if custom && tt.wantStatus == 413 && tt.chunked {
					err, _ := proxyErr.Load().(error)
					if !errors.Is(err, ErrBodyTooLarge) {
						t.Errorf("proxy's ErrorHandler got %v, want one matching ErrBodyTooLarge", err)
					}
				}
			})
		}
	}
}

func TestMaxInflight(t *testing.T) {
	const n = 2
	entered := make(chan struct{})
	release := make(chan struct{})
	var handled, rejected atomic.Int64
	h := MaxInflight(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-release
		}
		handled.Add(1)
		_, _ = io.WriteString(w, "done")
	}), n, func(*http.Request) { rejected.Add(1) })
	srv := newTestServer(t, h)

	results := make(chan exchangeResult, n)
	for i := 0; i < n; i++ {
		go func() {
			resp, err := srv.Client().Get(srv.URL + "/block")
			if err != nil {
				results <- exchangeResult{status: -1, body: []byte(err.Error())}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- exchangeResult{status: resp.StatusCode, body: b}
		}()
	}
	for i := 0; i < n; i++ {
		<-entered // both are inside the handler now
	}

	// Full: refused at once, without waiting for a slot.
	for i := 0; i < 3; i++ {
		res := get(t, srv.Client(), srv.URL+"/quick", map[string]string{RequestIDHeader: "busy-" + strconv.Itoa(i)})
		checkJSONError(t, res, http.StatusServiceUnavailable, "service unavailable", "busy-"+strconv.Itoa(i))
		if ra := res.header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After = %q, want 1", ra)
		}
	}
	if handled.Load() != 0 {
		t.Fatalf("%d requests got through a full cap", handled.Load())
	}
	if rejected.Load() != 3 {
		t.Errorf("onReject called %d times, want 3", rejected.Load())
	}

	// One finishes (its response is sent only after the handler chain returned): a slot frees.
	release <- struct{}{}
	if res := <-results; res.status != 200 {
		t.Fatalf("blocked request: %d %q", res.status, res.body)
	}
	if res := get(t, srv.Client(), srv.URL+"/quick", nil); res.status != 200 {
		t.Fatalf("after a slot freed: status %d", res.status)
	}
	// Still one blocked: the cap counts it, so one more blocking request fills the cap again.
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/block")
		if err != nil {
			results <- exchangeResult{status: -1, body: []byte(err.Error())}
			return
		}
		resp.Body.Close()
		results <- exchangeResult{status: resp.StatusCode}
	}()
	<-entered
	if res := get(t, srv.Client(), srv.URL+"/quick", nil); res.status != 503 {
		t.Fatalf("cap full again: status %d, want 503", res.status)
	}
	close(release)
	for i := 0; i < n; i++ {
		if res := <-results; res.status != 200 {
			t.Fatalf("blocked request: %d %q", res.status, res.body)
		}
	}
	if res := get(t, srv.Client(), srv.URL+"/quick", nil); res.status != 200 {
		t.Fatalf("all slots free: status %d", res.status)
	}
}
