package tlsfront

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/frontgate/frontgate/leanhttp"
)

// Each connection goes to the server of the protocol its handshake chose, with its TLS state; and
// Shutdown stops the accept loop and both servers.
func TestSplitsByProtocol(t *testing.T) {
	// httptest's certificate, taken from a server that never serves.
	cert := httptest.NewUnstartedServer(nil)
	cert.StartTLS()
	cfg := cert.TLS.Clone()
	pool := cert.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	cert.Close()

	hello := func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" tls="+map[bool]string{true: "yes", false: "no"}[r.TLS != nil])
	}
	h2 := &http.Server{Handler: http.HandlerFunc(hello)}
	s := &Server{TLSConfig: cfg, HTTP1: &leanhttp.Server{Handler: http.HandlerFunc(hello)}, HTTP2: h2}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	for _, tt := range []struct {
		h2   bool
		want string
	}{{false, "HTTP/1.1 tls=yes"}, {true, "HTTP/2.0 tls=yes"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}, ForceAttemptHTTP2: tt.h2}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(b) != tt.want {
			t.Errorf("got %q, want %q", b, tt.want)
		}
	}
	// A client that never finishes its handshake does not hold up Shutdown (the handshake deadline is
	// 10s; the context's 5s).
	stalled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
}
