package h1client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// pieceReader hands out its bytes at most piece at a time, as a network might.
type pieceReader struct {
	r     *bytes.Reader
	piece int
}

func (p *pieceReader) Read(b []byte) (int, error) {
	if len(b) > p.piece {
		b = b[:p.piece]
	}
	return p.r.Read(b)
}

// leanResponse reads one response (past informational ones) and its body from data as the upstream
// client does; rest is how many bytes are left after it, keep whether the connection could serve
// another exchange.
func leanResponse(data []byte, method string, piece int) (resp *http.Response, content []byte, rest int, keep bool, err error) {
	src := &pieceReader{r: bytes.NewReader(data), piece: piece}
	br := bufio.NewReaderSize(src, maxResponseHeader)
	req, _ := http.NewRequest(method, "http://upstream/", nil)
	if resp, err = readResponse(br, req, nil); err != nil {
		return nil, nil, 0, false, err
	}
	(&Transport{}).setBody(resp, &conn{br: br}, &Try{})
	content, err = io.ReadAll(resp.Body)
	b := resp.Body.(*body)
	return resp, content, src.r.Len() + br.Buffered(), b.keep && b.eof, err
}

// FuzzReadResponse holds the upstream client's response reader to net/http's: whatever it accepts,
// head and body, http.ReadResponse accepts too, with the same status, body and end of the response;
// and a connection it would use again is one net/http would too. The client refuses more (malformed
// lengths and codings); those refusals are not compared.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n5\r\nhello\r\n0\r\nX: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200\r\nConnection: close\r\n\r\nuntil the end",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	} {
		f.Add([]byte(s), false, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool, pieceByte uint8) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		piece := 1 + int(pieceByte%64)
		if pieceByte >= 64 {
			piece = 1 << 20
		}
		resp, body, rest, keep, err := leanResponse(data, method, piece)
		if err != nil {
			return
		}
		_, body2, rest2, keep2, err2 := leanResponse(data, method, 1<<20)
		if err2 != nil || !bytes.Equal(body, body2) || rest != rest2 || keep != keep2 {
			t.Fatalf("pieces of %d: %q %d %v; whole: %q %d %v %v", piece, body, rest, keep, body2, rest2, keep2, err2)
		}

		src := bytes.NewReader(data)
		br := bufio.NewReaderSize(src, maxResponseHeader)
		req, _ := http.NewRequest(method, "http://upstream/", nil)
		var want *http.Response
		for {
			want, err = http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("the client accepts a head net/http refuses: %v\n%q", err, data)
			}
			if want.StatusCode >= 200 || want.StatusCode == http.StatusSwitchingProtocols {
				break
			}
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("the client reads a body net/http refuses: %v\n%q", err, data)
		}
		switch wantRest := src.Len() + br.Buffered(); {
		case resp.StatusCode != want.StatusCode:
			t.Fatalf("status %d, net/http %d\n%q", resp.StatusCode, want.StatusCode, data)
		case !bytes.Equal(body, wantBody):
			t.Fatalf("body %q, net/http %q\n%q", body, wantBody, data)
		case rest != wantRest:
			t.Fatalf("the response ends elsewhere: %d bytes left, net/http %d\n%q", rest, wantRest, data)
		case keep && want.Close:
			t.Fatalf("the client would use the connection again; net/http would close it\n%q", data)
		}
	})
}
