package leanhttp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// bytesConn is a net.Conn reading from a byte slice, at most piece bytes at a time, and writing
// nowhere: enough for the server's request reader.
type bytesConn struct {
	r     *bytes.Reader
	piece int
}

func (c *bytesConn) Read(p []byte) (int, error) {
	if len(p) > c.piece {
		p = p[:c.piece]
	}
	return c.r.Read(p)
}
func (c *bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// leanRead reads one request and its body from data the way a connection does; rest is how many
// bytes of data are left after it.
func leanRead(data []byte, piece int) (req *http.Request, body []byte, rest int, err error) {
	s := &Server{MaxHeaderBytes: 8 << 10}
	s.defaults()
	src := &bytesConn{r: bytes.NewReader(data), piece: piece}
	c := newConn(s, src)
	req, _, err = c.readRequest()
	if err != nil {
		return nil, nil, 0, err
	}
	body, err = io.ReadAll(req.Body)
	return req, body, src.r.Len() + c.br.Buffered(), err
}

// FuzzReadRequest holds the lean request reader to net/http's: whatever it accepts, head and body,
// http.ReadRequest accepts too and reads the same way: the same method, target, host, version, fields
// and body, and above all the same end of the request, so that no byte is one request for one and
// part of another for the other. The lean reader refuses more (see httpsyntax.ParseRequestHead);
// those refusals are not compared. Empty lines before the request line, which net/http does not skip,
// are taken off before it reads.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a:80\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\nGET",
		"GET http://b/c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST / HTTP/1.1\nHost: a\nContent-Length: 3\n\nabc",
		"PUT /%41 HTTP/1.1\r\nHost: [::1]\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, pieceByte uint8) {
		piece := 1 + int(pieceByte%64)
		if pieceByte >= 64 {
			piece = 1 << 20
		}
		req, body, rest, err := leanRead(data, piece)
		if err != nil {
			return // refused: the lean reader may refuse more than net/http
		}
		// The same answer whatever the pieces the bytes arrive in.
		req2, body2, rest2, err2 := leanRead(data, 1<<20)
		if err2 != nil || rest2 != rest || !bytes.Equal(body, body2) || req2.RequestURI != req.RequestURI {
			t.Fatalf("pieces of %d: %q %d; whole: %q %d %v", piece, body, rest, body2, rest2, err2)
		}

		skip := httpsyntax.EmptyLines(data, 4)
		src := bytes.NewReader(data[skip:])
		br := bufio.NewReader(src)
		want, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("lean accepts what net/http refuses: %v\n%q", err, data)
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("lean reads a body net/http refuses: %v\n%q", err, data)
		}
		if wantRest := src.Len() + br.Buffered(); wantRest != rest {
			t.Fatalf("the request ends elsewhere: %d bytes left, net/http %d\n%q", rest, wantRest, data)
		}
		switch {
		case req.Method != want.Method, req.RequestURI != want.RequestURI, req.Host != want.Host,
			req.ProtoMinor != want.ProtoMinor, req.ContentLength != want.ContentLength, req.Close != want.Close:
			t.Fatalf("read differently:\nlean     %s %q host %q 1.%d length %d close %v\nnet/http %s %q host %q 1.%d length %d close %v\n%q",
				req.Method, req.RequestURI, req.Host, req.ProtoMinor, req.ContentLength, req.Close,
				want.Method, want.RequestURI, want.Host, want.ProtoMinor, want.ContentLength, want.Close, data)
		case !bytes.Equal(body, wantBody):
			t.Fatalf("body %q, net/http %q\n%q", body, wantBody, data)
		case req.URL.String() != want.URL.String():
			t.Fatalf("URL %q, net/http %q\n%q", req.URL, want.URL, data)
		}
		for k, vs := range req.Header {
			if k == "Trailer" {
				continue // net/http moves the declaration to Request.Trailer
			}
			if !slices.Equal(vs, want.Header[k]) {
				t.Fatalf("%s: %q, net/http %q\n%q", k, vs, want.Header[k], data)
			}
		}
	})
}
