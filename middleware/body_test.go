package middleware

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Under net/http's server, a request whose chunked body ends in a malformed trailer closes the
// connection after its answer, so that what follows is never read as a request: net/http decides
// that from the body of its own request, which the wrappers that replace a body must leave alone.
func TestWrappedBodiesKeepNetHTTPsCloseAfterABadTrailer(t *testing.T) {
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // fails at the trailer; the handler answers anyway
		_, _ = io.WriteString(w, "answered "+r.URL.Path)
	})
	for name, h := range map[string]http.Handler{
		"Timing":  Timing(read, Options{}),
		"MaxBody": MaxBody(read, 1<<20, nil),
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"2\r\nhi\r\n0\r\nno colon here\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp, err := http.ReadResponse(br, nil); err == nil {
				t.Errorf("the connection served another request after a bad trailer: %s", resp.Status)
			}
		})
	}
}
