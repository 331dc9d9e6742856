package middleware

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/fakeclock"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// steppedBody returns its chunks one per Read, advancing the clock before each.
type steppedBody struct {
	chunks [][]byte
	step   time.Duration
	clock  *fakeclock.Clock
}

func (b *steppedBody) Read(p []byte) (int, error) {
	if len(b.chunks) == 0 {
		return 0, io.EOF
	}
	b.clock.Advance(b.step)
	n := copy(p, b.chunks[0])
	b.chunks = b.chunks[1:]
	return n, nil
}

func (b *steppedBody) Close() error { return nil }

func fieldsOf(e observer.LoggedEntry) map[string]any { return e.ContextMap() }

func TestTimingSplitsReceiveFromHandling(t *testing.T) {
	tests := []struct {
		name       string
		chunks     int           // body chunks, each read after `step`
		step       time.Duration // clock advance per body read
		work       time.Duration // handler work after the body
		readBody   bool
		wantRecv   float64
		wantHandle float64
		wantHeader string // Server-Timing; "" means absent
	}{
		{"no body", 0, 0, 5 * time.Millisecond, true, 0, 5, "recv;dur=0.000, handler;dur=5.000"},
		{"slow body, quick handler", 4, 500 * time.Millisecond, 2 * time.Millisecond, true, 2000, 2, "recv;dur=2000.000, handler;dur=2.000"},
		{"quick body, slow handler", 2, time.Millisecond, 300 * time.Millisecond, true, 2, 300, "recv;dur=2.000, handler;dur=300.000"},
		{"body left unread", 3, 10 * time.Millisecond, 7 * time.Millisecond, false, 0, 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newManualClock()
			core, logs := observer.New(zap.InfoLevel)
			var sawRoute bool
			h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				SetRoute(r, "demo")
				sawRoute = true
				if tt.readBody {
					if _, err := io.Copy(io.Discard, r.Body); err != nil {
						t.Error(err)
					}
				}
				clock.Advance(tt.work)
				SetUpstream(r, "http://127.0.0.1:9", 3*time.Millisecond)
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, "hello")
			}), Options{Logger: zap.New(core), Now: clock.Now})

			req := httptest.NewRequest(http.MethodPost, "/demo1/x", nil)
			size := 0
			if tt.chunks > 0 {
				var chunks [][]byte
				for i := 0; i < tt.chunks; i++ {
					chunks = append(chunks, bytes.Repeat([]byte("a"), 100))
				}
				size = 100 * tt.chunks
				req.Body = &steppedBody{chunks: chunks, step: tt.step, clock: clock}
				req.ContentLength = -1
			} else {
				req.Body = http.NoBody
				req.ContentLength = 0
			}
			req.Header.Set(RequestIDHeader, "client-chosen")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if got := rec.Header().Get("Server-Timing"); got != tt.wantHeader {
				t.Errorf("Server-Timing = %q, want %q", got, tt.wantHeader)
			}
			id := rec.Header().Get(RequestIDHeader)
			if id == "" || id == "client-chosen" {
				t.Errorf("response request id = %q, want a generated one", id)
			}
			if !sawRoute || logs.Len() != 1 {
				t.Fatalf("want one access log line, got %d", logs.Len())
			}
			f := fieldsOf(logs.All()[0])
			wantBytesIn := int64(size)
			if !tt.readBody {
				wantBytesIn = 0
			}
			want := map[string]any{
				"method": "POST", "path": "/demo1/x", "status": int64(201), "route": "demo",
				"recv_ms": tt.wantRecv, "handler_ms": tt.wantHandle, "total_ms": tt.wantRecv + tt.wantHandle,
				"bytes_in": wantBytesIn, "bytes_out": int64(5), "request_id": id,
				"upstream": "http://127.0.0.1:9", "upstream_ms": 3.0, "remote": "192.0.2.1:1234",
			}
			if !tt.readBody { // unread body: the whole time is handling
				want["total_ms"] = tt.wantHandle
			}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("log field %s = %v (%T), want %v (%T)", k, f[k], f[k], v, v)
				}
			}
		})
	}
}

func TestTimingRequestIDsAreUniqueAndReachTheHandler(t *testing.T) {
	seen := map[string]bool{}
	h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(RequestIDHeader) != w.Header().Get(RequestIDHeader) {
			t.Error("request and response ids differ")
		}
	}), Options{})
	for i := 0; i < 100; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		id := rec.Header().Get(RequestIDHeader)
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

// A handler that writes without WriteHeader, flushes, and one that writes nothing: both logged as 200.
func TestTimingImplicitStatusAndFlush(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "event %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(Timing(mux, Options{Logger: zap.New(core)}))
	defer srv.Close()
	for _, p := range []string{"/stream", "/empty"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Server-Timing"), "recv;dur=0.000, handler;dur=") {
			t.Errorf("%s: status %d, Server-Timing %q", p, resp.StatusCode, resp.Header.Get("Server-Timing"))
		}
	}
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("got %d log lines", len(entries))
	}
	if f := fieldsOf(entries[0]); f["status"] != int64(200) || f["bytes_out"] != int64(24) {
		t.Errorf("stream logged %v", f)
	}
}

// Over a real connection, a body trickled in pieces shows up as receive time, not handling time.
func TestTimingTrickledBodyOverTCP(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	srv := httptest.NewServer(Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	}), Options{Logger: zap.New(core)}))
	defer srv.Close()

	pr, pw := io.Pipe()
	const pieces, gap = 5, 60 * time.Millisecond
	go func() {
		for i := 0; i < pieces; i++ {
			_, _ = pw.Write(bytes.Repeat([]byte("x"), 1000))
			time.Sleep(gap) // the client is slow on purpose
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	req.ContentLength = pieces * 1000
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "5000" {
		t.Fatalf("body %q", body)
	}
	st := resp.Header.Get("Server-Timing")
	m := regexp.MustCompile(`^recv;dur=([0-9.]+), handler;dur=([0-9.]+)$`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("Server-Timing %q", st)
	}
	recv, _ := strconv.ParseFloat(m[1], 64)
	handler, _ := strconv.ParseFloat(m[2], 64)
	// The last piece arrives after at least (pieces-1) gaps; the handler only writes a number.
	if min := 0.9 * float64((pieces-1)*gap) / float64(time.Millisecond); recv < min || handler > recv {
		t.Errorf("recv %.1fms handler %.1fms, want recv >= %.0fms and handler < recv", recv, handler, min)
	}
	if f := fieldsOf(logs.All()[0]); f["bytes_in"] != int64(5000) || f["recv_ms"].(float64) < recv-0.001 {
		t.Errorf("log %v", f)
	}
}

func TestTimingKeepsTrustedIDsAndObserves(t *testing.T) {
	var got []Record
	h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, "r1")
		w.WriteHeader(http.StatusAccepted)
	}), Options{
		KeepID:  func(r *http.Request) bool { return r.RemoteAddr == "10.0.0.1:5" },
		Observe: func(rec Record) { got = append(got, rec) },
	})
	tests := []struct {
		remote, id string
		keep       bool
	}{
		{"10.0.0.1:5", "edge-123", true},
		{"10.0.0.2:5", "edge-123", false},
		{"10.0.0.1:5", "bad id with spaces", false},
		{"10.0.0.1:5", strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		req.Header.Set(RequestIDHeader, tt.id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if kept := rec.Header().Get(RequestIDHeader) == tt.id; kept != tt.keep {
			t.Errorf("%s with %q: kept %v, want %v", tt.remote, tt.id, kept, tt.keep)
		}
	}
	if len(got) != 4 || got[0].Route != "r1" || got[0].Status != http.StatusAccepted {
		t.Errorf("observed %+v", got)
	}
}

// Every final answer carries the request id, also after an informational one whose writer cleared
// the header map (ReverseProxy does, forwarding a 103), and on answers without a body.
func TestTimingRequestIDOnEveryFinalAnswer(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		clear(w.Header())
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
	srv := httptest.NewServer(Timing(mux, Options{}))
	defer srv.Close()
	for _, p := range []string{"/hints", "/204", "/304"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get(RequestIDHeader) == "" {
			t.Errorf("%s: %d without %s: %v", p, resp.StatusCode, RequestIDHeader, resp.Header)
		}
	}
}

// A response cut with http.ErrAbortHandler is logged, marked aborted, and the panic goes on to the
// server, which cuts the connection: the client sees the cut.
func TestTimingLogsAbortedResponses(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "12345")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}), Options{Logger: zap.New(core)})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("the client read a whole answer")
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines", len(entries))
	}
	if f := fieldsOf(entries[0]); f["aborted"] != true || f["status"] != int64(200) || f["bytes_out"] != int64(5) {
		t.Errorf("logged %v", f)
	}
	if entries[0].Level != zap.WarnLevel {
		t.Errorf("a cut response logged at %v, want warn", entries[0].Level)
	}
}

// Access lines of failed requests stand out by level: warn for a 4xx, error for a 5xx.
func TestTimingAccessLevels(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	}), Options{Logger: zap.New(core)})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for code, want := range map[int]zapcore.Level{200: zap.InfoLevel, 304: zap.InfoLevel, 404: zap.WarnLevel, 429: zap.WarnLevel,
		500: zap.ErrorLevel, 502: zap.ErrorLevel} {
		resp, err := http.Get(srv.URL + "/?code=" + strconv.Itoa(code))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		entries := logs.TakeAll()
		if len(entries) != 1 || entries[0].Level != want || fieldsOf(entries[0])["status"] != int64(code) {
			t.Errorf("status %d: logged %v, want one line at %v", code, entries, want)
		}
	}
}
