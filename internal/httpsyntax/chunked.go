package httpsyntax

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrChunked is what every framing error of a chunked body wraps: the body cannot be trusted, nor
// anything that follows it on the connection. Recognise it with errors.Is.
var ErrChunked = errors.New("malformed chunked body")

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4096

// maxOverhead bounds the framing bytes (size lines, extensions, CRLFs) beyond a small allowance per
// chunk and twice the data, so that a sender cannot make a body mostly framing.
const maxOverhead = 16 << 10

// Dechunker follows the framing of a chunked body (RFC 9112 7.1) over bytes handed to it in pieces of
// any size, without reading anything itself: the server's request bodies, the upstream client's
// response bodies and net/http's listener guard all decode through it, so that they agree on where a
// body ends. It is strict where the RFC leaves no choice and where leniency lets two parsers disagree:
//   - a chunk size is 1 to 16 hex digits, nothing before it, and at most math.MaxInt64;
//   - a chunk extension is `;name[=value]` (token, or token or quoted string), without the spaces
//     RFC 9112 allows around `;` and `=` (net/http refuses a space before `;`); anything else after
//     the size is an error;
//   - every framing line ends in CRLF, with no CR elsewhere in it; the CRLF after chunk data is
//     exactly that;
//   - trailer fields are header lines by ParseField's rules, ending in CRLF, at most MaxTrailerBytes
//     in all; the body ends with the empty line after them.
//
// The zero value is ready to decode one body, with a 16 KiB trailer bound and trailers dropped.
type Dechunker struct {
	// MaxTrailerBytes bounds the trailer section; zero: 16 KiB.
	MaxTrailerBytes int
	// OnTrailer, when set, receives each trailer field (its canonical name and value) as it is read.
	OnTrailer func(name, value string)

	state    chunkState
	left     int64  // data bytes left in the current chunk
	line     []byte // a framing line begun in an earlier piece
	overhead int64  // framing bytes beyond the allowance (see maxOverhead)
	trailer  int    // trailer bytes so far
	err      error  // sticky
}

type chunkState uint8

const (
	chunkSize    chunkState = iota // reading a chunk-size line
	chunkData                      // left bytes of data to come
	chunkDataCR                    // the CR after chunk data
	chunkDataLF                    // the LF after chunk data
	chunkTrailer                   // reading trailer lines up to an empty one
	chunkDone                      // the body has ended
)

// Done reports whether the body has ended: its last chunk and trailer section were consumed.
func (d *Dechunker) Done() bool { return d.state == chunkDone }

// Err is the framing error that stopped the decoding, or nil.
func (d *Dechunker) Err() error { return d.err }

// Step consumes the start of b: framing, and chunk data up to max bytes in one run. It returns how
// many bytes of b it consumed and the data among them (a slice of b, empty when there was none). It
// stops after the body's end (never consuming past it), at a second run of data, once max data bytes
// were taken, or when b is used up: a line cut by the end of b is kept for the next call. Once it
// returns an error (wrapping ErrChunked), it returns the same error ever after.
func (d *Dechunker) Step(b []byte, max int) (n int, data []byte, err error) {
	if d.err != nil {
		return 0, nil, d.err
	}
	for n < len(b) {
		switch d.state {
		case chunkDone:
			return n, data, nil
		case chunkData:
			if data != nil || max <= 0 {
				return n, data, nil
			}
			k := min(int64(len(b)-n), d.left, int64(max))
			data = b[n : n+int(k)]
			n += int(k)
			if d.left -= k; d.left == 0 {
				d.state = chunkDataCR
			}
		case chunkDataCR, chunkDataLF:
			want := byte('\r')
			if d.state == chunkDataLF {
				want = '\n'
			}
			if b[n] != want {
				return n, data, d.fail("chunk data not followed by CRLF")
			}
			n++
			d.state++ // CR to LF, LF to the next size line
			if d.state > chunkDataLF {
				d.state = chunkSize
			}
		default: // a line: chunk size or trailer
			i := bytes.IndexByte(b[n:], '\n')
			if i < 0 {
				if err := d.keep(b[n:]); err != nil {
					return len(b), data, err
				}
				return len(b), data, nil
			}
			line := b[n : n+i+1]
			if len(d.line) > 0 {
				if err := d.keep(line); err != nil {
					return n, data, err
				}
				line = d.line
			}
			n += i + 1
			var err error
			if d.state == chunkSize {
				err = d.sizeLine(line)
			} else {
				err = d.trailerLine(line)
			}
			d.line = d.line[:0]
			if err != nil {
				return n, data, err
			}
		}
	}
	return n, data, nil
}

// keep adds part of a line that continues in the next piece, within the line limits.
func (d *Dechunker) keep(part []byte) error {
	if d.state == chunkSize && len(d.line)+len(part) > maxChunkLine {
		return d.fail("chunk-size line too long")
	}
	if d.state == chunkTrailer && d.trailer+len(d.line)+len(part) > d.maxTrailer() {
		return d.fail("trailer section too large")
	}
	d.line = append(d.line, part...)
	return nil
}

func (d *Dechunker) maxTrailer() int {
	if d.MaxTrailerBytes > 0 {
		return d.MaxTrailerBytes
	}
	return 16 << 10
}

func (d *Dechunker) fail(what string) error {
	d.err = fmt.Errorf("%w: %s", ErrChunked, what)
	return d.err
}

// crlfLine returns line without its CRLF, or false when it does not end in CRLF or holds another CR.
func crlfLine(line []byte) ([]byte, bool) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' || bytes.IndexByte(line[:n-2], '\r') >= 0 {
		return nil, false
	}
	return line[:n-2], true
}

// sizeLine parses `chunk-size [chunk-ext] CRLF`.
func (d *Dechunker) sizeLine(line []byte) error {
	if len(line) > maxChunkLine {
		return d.fail("chunk-size line too long")
	}
	s, ok := crlfLine(line)
	if !ok {
		return d.fail("chunk-size line not ended by CRLF")
	}
	size, ext, ok := ChunkSize(s)
	switch {
	case !ok && (len(s) == 0 || unhex(s[0]) < 0):
		return d.fail("chunk size is not a hex number")
	case !ok:
		return d.fail("chunk size too large")
	}
	if !chunkExtensions(ext) {
		return d.fail("malformed chunk extension")
	}
	d.overhead += int64(len(line)) + 2 - 16 - 2*size
	d.overhead = max(d.overhead, 0)
	if d.overhead > maxOverhead {
		return d.fail("too much framing for the data")
	}
	if size == 0 {
		d.state = chunkTrailer
		return nil
	}
	d.left, d.state = size, chunkData
	return nil
}

// trailerLine takes one line of the trailer section; the empty line ends the body.
func (d *Dechunker) trailerLine(line []byte) error {
	d.trailer += len(line)
	if d.trailer > d.maxTrailer() {
		return d.fail("trailer section too large")
	}
	s, ok := crlfLine(line)
	if !ok {
		return d.fail("trailer line not ended by CRLF")
	}
	if len(s) == 0 {
		d.state = chunkDone
		return nil
	}
	k, v, err := ParseField(string(s))
	if err != nil {
		return d.fail("malformed trailer field")
	}
	if d.OnTrailer != nil {
		d.OnTrailer(k, v)
	}
	return nil
}

// ChunkSize parses the chunk-size at the start of s: 1 to 16 hex digits, at most math.MaxInt64
// (RFC 9112 7.1). rest is what follows the digits (the extensions and whatever else); ok is false
// when s does not start with a hex digit or the size is too large.
func ChunkSize[T string | []byte](s T) (size int64, rest T, ok bool) {
	digits := 0
	for ; digits < len(s); digits++ {
		v := unhex(s[digits])
		if v < 0 {
			break
		}
		if digits == 16 || size > (1<<63-1)>>4 {
			return 0, s, false
		}
		size = size<<4 | int64(v)
	}
	return size, s[digits:], digits > 0
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// chunkExtensions reports whether s is *( ";" name [ "=" value ] ), value a token or a quoted
// string. RFC 9112 allows spaces around ";" and "=" (BWS); they are refused here, as net/http's
// reader refuses a space before ";", so that nothing is taken here that another parser refuses.
func chunkExtensions(s []byte) bool {
	token := func() bool {
		i := 0
		for i < len(s) && s[i] < 0x80 && tokenChar[s[i]] {
			i++
		}
		s = s[i:]
		return i > 0
	}
	for len(s) > 0 {
		if s[0] != ';' {
			return false
		}
		s = s[1:]
		if !token() {
			return false
		}
		if len(s) == 0 || s[0] != '=' {
			continue
		}
		s = s[1:]
		if len(s) > 0 && s[0] == '"' {
			if !quotedString(&s) {
				return false
			}
		} else if !token() {
			return false
		}
	}
	return true
}

// quotedString consumes a quoted-string (RFC 9110 5.6.4) from the start of *s.
func quotedString(s *[]byte) bool {
	b := (*s)[1:]
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			*s = b[i+1:]
			return true
		case c == '\\':
			i++
			if i == len(b) || b[i] < ' ' && b[i] != '\t' || b[i] == 0x7f {
				return false
			}
		case c < ' ' && c != '\t', c == 0x7f:
			return false
		}
	}
	return false
}

// ChunkedReader reads a chunked body's data from a bufio.Reader through a Dechunker. A Read returns
// the data it has without waiting for more once it has some, but it consumes whatever framing is
// already buffered after it: a body whose end has arrived returns io.EOF with its last data, and
// leaves the reader just past the body (the next message, if any, is untouched). A connection that
// ends early gives io.ErrUnexpectedEOF; a framing error wraps ErrChunked.
type ChunkedReader struct {
	br *bufio.Reader
	d  Dechunker
}

// NewChunkedReader returns a ChunkedReader reading from br; onTrailer, when not nil, receives the
// trailer fields, and maxTrailer bounds them (zero: 16 KiB).
func NewChunkedReader(br *bufio.Reader, maxTrailer int, onTrailer func(name, value string)) *ChunkedReader {
	r := &ChunkedReader{}
	r.Reset(br, maxTrailer, onTrailer)
	return r
}

// Reset readies r for another body, as NewChunkedReader would.
func (r *ChunkedReader) Reset(br *bufio.Reader, maxTrailer int, onTrailer func(name, value string)) {
	line := r.d.line[:0]
	*r = ChunkedReader{br: br, d: Dechunker{MaxTrailerBytes: maxTrailer, OnTrailer: onTrailer, line: line}}
}

// Done reports whether the body has ended.
func (r *ChunkedReader) Done() bool { return r.d.Done() }

func (r *ChunkedReader) Read(p []byte) (int, error) {
	got := 0
	for {
		if r.d.Done() {
			return got, io.EOF
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if len(buf) == 0 {
			if got > 0 {
				return got, nil // what is here now, without waiting
			}
			if _, err := r.br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
			continue
		}
		n, data, err := r.d.Step(buf, len(p)-got)
		got += copy(p[got:], data)
		_, _ = r.br.Discard(n)
		if err != nil {
			return got, err
		}
		if n == 0 {
			return got, nil // p is full and data comes next
		}
	}
}
