package httpsyntax

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodeAll runs a Dechunker over in, cut into pieces of size piece, and returns the data, the
// trailers, how many bytes the body took, and the error.
func decodeAll(in string, piece int) (data, trailers string, used int, err error) {
	var d Dechunker
	d.OnTrailer = func(k, v string) { trailers += k + "=" + v + ";" }
	var out strings.Builder
	b := []byte(in)
	for used < len(b) && !d.Done() {
		end := min(used+piece, len(b))
		n, chunk, err := d.Step(b[used:end], 7)
		out.Write(chunk)
		used += n
		if err != nil {
			return out.String(), trailers, used, err
		}
	}
	if !d.Done() {
		return out.String(), trailers, used, io.ErrUnexpectedEOF
	}
	return out.String(), trailers, used, nil
}

func TestDechunker(t *testing.T) {
	for _, tt := range []struct {
		name, in, data, trailers string
		bad                      bool
	}{
		{name: "plain", in: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", data: "hello world"},
		{name: "empty body", in: "0\r\n\r\n"},
		{name: "leading zeros, upper-case hex", in: "000A\r\n0123456789\r\n00\r\n\r\n", data: "0123456789"},
		{name: "trailers", in: "3\r\nabc\r\n0\r\nX-Sum: 12\r\nx-other:  v \r\n\r\n", data: "abc", trailers: "X-Sum=12;X-Other=v;"},
		{name: "extensions", in: "3;a=b;c=\"q\\\"s\";d\r\nabc\r\n0;last\r\n\r\n", data: "abc"},
		{name: "space before extension", in: "3 ;a\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "space around =", in: "3;a = b\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "the next message is left alone", in: "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", data: "x"},

		{name: "bare LF after size", in: "3\nabc\r\n0\r\n\r\n", bad: true},
		{name: "bare LF after data", in: "3\r\nabc\n0\r\n\r\n", bad: true},
		{name: "bare CR in size line", in: "3\rx\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "data longer than size", in: "3\r\nabcd\r\n0\r\n\r\n", bad: true},
		{name: "0x prefix", in: "0x3\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "sign", in: "+3\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "space before size", in: " 3\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "space after size without extension", in: "3 \r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "empty size", in: "\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "seventeen digits", in: "00000000000000003\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "overflow", in: "8000000000000000\r\n", bad: true},
		{name: "extension without name", in: "3;=x\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "extension value with space", in: "3;a=b c\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "unterminated quoted extension", in: "3;a=\"b\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "NUL in extension", in: "3;a\x00\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "malformed trailer", in: "0\r\nno colon\r\n\r\n", bad: true},
		{name: "folded trailer", in: "0\r\nA: b\r\n c\r\n\r\n", bad: true},
		{name: "trailer name with space", in: "0\r\nA b: c\r\n\r\n", bad: true},
		{name: "trailer ended by bare LF", in: "0\r\nA: b\n\r\n", bad: true},
		{name: "last line bare LF", in: "0\r\n\n", bad: true},
		{name: "too much framing", in: strings.Repeat("1;"+strings.Repeat("x", 100)+"\r\nx\r\n", 200) + "0\r\n\r\n", bad: true},
		{name: "size line too long", in: "1;" + strings.Repeat("a", 5000) + "\r\nx\r\n0\r\n\r\n", bad: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, piece := range []int{1, 2, 3, 1 << 20} {
				data, trailers, used, err := decodeAll(tt.in, piece)
				if tt.bad {
					if !errors.Is(err, ErrChunked) {
						t.Fatalf("piece %d: err %v, want ErrChunked (data %q)", piece, err, data)
					}
					continue
				}
				if err != nil || data != tt.data || trailers != tt.trailers {
					t.Fatalf("piece %d: %q %q %v, want %q %q", piece, data, trailers, err, tt.data, tt.trailers)
				}
				if rest := tt.in[used:]; strings.Contains(tt.name, "next message") && rest != "GET / HTTP/1.1\r\n" {
					t.Fatalf("piece %d: left %q", piece, rest)
				}
			}
		})
	}
}

func TestChunkedReader(t *testing.T) {
	body := "4\r\nwiki\r\n5\r\npedia\r\n0\r\nX-A: 1\r\n\r\n"
	for _, step := range []int{1, 5, 1000} {
		br := bufio.NewReaderSize(&pieces{r: bytes.NewReader([]byte(body + "NEXT")), n: step}, 16)
		var trailer string
		r := NewChunkedReader(br, 0, func(k, v string) { trailer = k + "=" + v })
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "wikipedia" || trailer != "X-A=1" {
			t.Fatalf("step %d: %q %v trailer %q", step, got, err, trailer)
		}
		rest, _ := io.ReadAll(br)
		if string(rest) != "NEXT" {
			t.Fatalf("step %d: reader left %q", step, rest)
		}
	}
	// The whole body buffered: the data comes with io.EOF in one Read.
	br := bufio.NewReader(strings.NewReader(body))
	r := NewChunkedReader(br, 0, nil)
	p := make([]byte, 64)
	if n, err := r.Read(p); n != 9 || err != io.EOF {
		t.Fatalf("one read: %d %v", n, err)
	}
	// Cut short: ErrUnexpectedEOF, never io.EOF.
	for _, cut := range []string{"4\r\nwi", "4\r\nwiki\r\n", "4\r\nwiki\r\n0\r\n", "4\r\nwiki\r\n0\r\nX-A: 1\r\n"} {
		r := NewChunkedReader(bufio.NewReader(strings.NewReader(cut)), 0, nil)
		if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v, want ErrUnexpectedEOF", cut, err)
		}
	}
}
