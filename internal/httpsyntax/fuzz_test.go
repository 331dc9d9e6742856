package httpsyntax

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"testing"
)

// pieces hands out its bytes at most n at a time, as a network might.
type pieces struct {
	r *bytes.Reader
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(b) > p.n {
		b = b[:p.n]
	}
	return p.r.Read(b)
}

// dechunk decodes a chunked body from data with a ChunkedReader; rest is how many bytes are left.
func dechunk(data []byte, piece int) (body []byte, trailers []string, rest int, err error) {
	src := &pieces{r: bytes.NewReader(data), n: piece}
	br := bufio.NewReaderSize(src, 16)
	r := NewChunkedReader(br, 0, func(k, v string) { trailers = append(trailers, k+": "+v) })
	body, err = io.ReadAll(r)
	return body, trailers, src.r.Len() + br.Buffered(), err
}

// FuzzChunked holds the chunked decoder to itself and to net/http's: the same verdict whatever pieces
// the bytes come in, and for an accepted body the same data, trailers and end; and whatever it accepts, httputil's chunked reader followed by
// a trailer section read as net/http reads one accepts too, with the same body, trailers and end.
// The decoder refuses more (framing lines that are not exactly CRLF-ended, malformed extensions,
// sizes net/http would take); those refusals are not compared.
func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"3;a=b;c=\"d\\\"e\"\r\nabc\r\n0\r\nX-A: 1\r\nY:2\r\n\r\nNEXT",
		"00000000000000A\r\n0123456789\r\n000\r\n\r\n",
		"1\r\nx\r\n0\r\n\r\n",
		"0\r\n\r\n",
		"4\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, pieceByte uint8) {
		piece := 1 + int(pieceByte%32)
		body, trailers, rest, err := dechunk(data, piece)
		whole, wholeTrailers, wholeRest, wholeErr := dechunk(data, 1<<20)
		// On an error, the connection is dropped: how far each got before it does not matter.
		if (err == nil) != (wholeErr == nil) || err == nil && (!bytes.Equal(body, whole) || rest != wholeRest || !slices.Equal(trailers, wholeTrailers)) {
			t.Fatalf("pieces of %d: %q %q %d %v; whole: %q %q %d %v", piece, body, trailers, rest, err, whole, wholeTrailers, wholeRest, wholeErr)
		}
		if err != nil {
			return
		}
		src := bytes.NewReader(data)
		br := bufio.NewReader(src)
		want, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			t.Fatalf("accepted a body net/http refuses: %v\n%q", err, data)
		}
		hdr, err := textproto.NewReader(br).ReadMIMEHeader()
		if err != nil && !(err == io.EOF && len(hdr) == 0) {
			t.Fatalf("accepted trailers net/http refuses: %v\n%q", err, data)
		}
		var wantTrailers []string
		for k, vs := range hdr {
			for _, v := range vs {
				wantTrailers = append(wantTrailers, k+": "+v)
			}
		}
		slices.Sort(wantTrailers)
		slices.Sort(trailers)
		switch wantRest := src.Len() + br.Buffered(); {
		case !bytes.Equal(body, want):
			t.Fatalf("body %q, net/http %q\n%q", body, want, data)
		case rest != wantRest:
			t.Fatalf("the body ends elsewhere: %d bytes left, net/http %d\n%q", rest, wantRest, data)
		case !slices.Equal(trailers, wantTrailers):
			t.Fatalf("trailers %q, net/http %q\n%q", trailers, wantTrailers, data)
		}
	})
}
