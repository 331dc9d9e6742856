package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h2Server serves "ok" over proto ("h2" or "h2c") after running before, counting requests, requests
// that were not HTTP/2, and connections (both accepted and seen in requests' remote addresses).
type h2Server struct {
	url                    string
	served, notH2, accepts atomic.Int64

	mu      sync.Mutex // guards remotes
	remotes map[string]bool
}

func newH2Server(t *testing.T, proto string, before func(*http.Request)) *h2Server {
	t.Helper()
	s := &h2Server{remotes: map[string]bool{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.served.Add(1)
		if r.ProtoMajor != 2 {
			s.notH2.Add(1)
		}
		s.mu.Lock()
		s.remotes[r.RemoteAddr] = true
		s.mu.Unlock()
		if before != nil {
			before(r)
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.accepts.Add(1)
		}
	}
	startProto(t, srv, proto)
	s.url = srv.URL
	return s
}

func (s *h2Server) conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.remotes)
}

// HTTP/2 runs, over TLS and in cleartext, closed and open loop, send exactly the requests asked for over
// exactly -c connections, every one of them HTTP/2.
func TestRunH2ExactCount(t *testing.T) {
	for _, tt := range []struct {
		name  string
		proto Proto
		plan  Plan
	}{
		{"h2", ProtoH2, Plan{Conns: 3, Streams: 4, Requests: 537}},
		{"h2c", ProtoH2C, Plan{Conns: 3, Streams: 4, Requests: 537}},
		{"h2c one stream", ProtoH2C, Plan{Conns: 5, Requests: 100}},
		{"h2c open loop", ProtoH2C, Plan{Conns: 2, Streams: 3, Requests: 200, Rate: 2000}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newH2Server(t, string(tt.proto), nil)
			p := tt.plan
			p.Targets, p.Proto, p.Insecure = []Target{{URL: srv.url}}, tt.proto, true
			rep := mustRun(t, context.Background(), p)
			n := int64(p.Requests)
			if int64(rep.Requests) != n || rep.Errors != 0 || srv.served.Load() != n || rep.Status[200] != uint64(n) {
				t.Errorf("report %d requests (%v), %d errors %v; server served %d; want %d", rep.Requests, rep.Status,
					rep.Errors, rep.ErrorKinds, srv.served.Load(), n)
			}
			if srv.notH2.Load() != 0 {
				t.Errorf("%d requests were not HTTP/2", srv.notH2.Load())
			}
			if c := srv.conns(); c != p.Conns || srv.accepts.Load() != int64(p.Conns) {
				t.Errorf("%d connections in requests, %d accepted; want %d", c, srv.accepts.Load(), p.Conns)
			}
			if rep.BodyBytesReceived != uint64(2*n) || rep.BytesReceived <= rep.BodyBytesReceived || rep.BytesSent == 0 {
				t.Errorf("bytes sent %d, received %d wire / %d body", rep.BytesSent, rep.BytesReceived, rep.BodyBytesReceived)
			}
			if rep.hist.TotalCount() != n {
				t.Errorf("%d latencies recorded, want %d", rep.hist.TotalCount(), n)
			}
		})
	}
}

// With -c 1 -streams N every request waits until N are in flight on the server: the run completes only if
// the one connection carries N concurrent streams.
func TestRunH2Streams(t *testing.T) {
	const streams = 8
	var (
		inFlight atomic.Int64
		all      = make(chan struct{}) // closed when streams requests are in flight at once
		once     sync.Once
	)
	srv := newH2Server(t, "h2c", func(r *http.Request) {
		if inFlight.Add(1) == streams {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-r.Context().Done():
		}
	})
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: srv.url}}, Proto: ProtoH2C,
		Conns: 1, Streams: streams, Requests: streams, Timeout: 10 * time.Second})
	if rep.Requests != streams || rep.Errors != 0 || srv.conns() != 1 {
		t.Errorf("%d requests, %d errors %v over %d connections; want %d over 1", rep.Requests, rep.Errors,
			rep.ErrorKinds, srv.conns(), streams)
	}
	if rep.Client != "h2c (8 streams/conn)" {
		t.Errorf("client %q", rep.Client)
	}
}

// Certificates are verified unless Insecure; h2 refuses a server that does not offer h2 with ALPN, and
// h2c fails against one that speaks only HTTP/1.1 (which answers the preface, or closes). Each failure is
// counted as an error of its kind.
func TestRunH2Errors(t *testing.T) {
	h2 := newH2Server(t, "h2", nil)
	h1tls := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(h1tls.Close)
	h1 := newH2Server(t, "h1", nil)
	for _, tt := range []struct {
		name string
		plan Plan
		kind string // "": any
	}{
		{"untrusted certificate", Plan{Targets: []Target{{URL: h2.url}}, Proto: ProtoH2}, "tls"},
		{"no ALPN h2", Plan{Targets: []Target{{URL: h1tls.URL}}, Proto: ProtoH2, Insecure: true}, "other"},
		{"h2c to HTTP/1.1", Plan{Targets: []Target{{URL: h1.url}}, Proto: ProtoH2C}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.plan
			p.Conns, p.Requests, p.Timeout = 2, 4, 5*time.Second
			rep := mustRun(t, context.Background(), p)
			if rep.Errors != 4 || rep.Requests != 0 || (tt.kind != "" && rep.ErrorKinds[tt.kind] != 4) {
				t.Errorf("%d requests, %d errors %v; want 4 errors of kind %q", rep.Requests, rep.Errors, rep.ErrorKinds, tt.kind)
			}
		})
	}
	if h2.served.Load() != 0 {
		t.Errorf("the untrusted server answered %d requests", h2.served.Load())
	}
}

func TestPlanValidateH2(t *testing.T) {
	for _, p := range []Plan{
		{Targets: []Target{{URL: "http://a/"}}, Proto: ProtoH2},
		{Targets: []Target{{URL: "https://a/"}}, Proto: ProtoH2C},
		{Targets: []Target{{URL: "http://a/"}}, Proto: "h3"},
		{Targets: []Target{{URL: "http://a/"}}, Proto: ProtoH2C, ForceStdClient: true},
		{Targets: []Target{{URL: "http://a/"}}, Streams: 2},
		{Targets: []Target{{URL: "http://a/"}}, Proto: ProtoH2C, Streams: -1},
	} {
		if _, err := Run(context.Background(), p); err == nil {
			t.Errorf("Run(%+v): no error", p)
		}
	}
}
