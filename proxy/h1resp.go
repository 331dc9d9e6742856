package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// maxResponseHeader bounds a response's status line and headers: the connection's read buffer.
const maxResponseHeader = 16 << 10

var errHeaderTooLarge = errors.New("response headers larger than 16 KiB")

// readResponse parses a response's status line and headers from br and frames its body, which reads
// from br through an h1Body. net/http's ReadResponse makes a string per value, a textproto reader, a
// transfer reader and a locked body per response; here the header block becomes one string that keys
// and values slice, and the values share one backing array.
//
// Informational responses (1xx but 101) are handed to the request's client trace (ReverseProxy sets
// Got1xxResponse to forward 103 Early Hints) and skipped.
func readResponse(br *bufio.Reader, req *http.Request, reuse *headerSpace) (*http.Response, error) {
	for {
		resp, err := readResponseHead(br, req, reuse)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// headerBlock returns the buffered bytes up to and including the empty line that ends the headers,
// reading more as needed. The slice is valid until br is read again.
func headerBlock(br *bufio.Reader) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered()) // what is buffered, without reading
		if i := httpsyntax.HeadLength(buf); i >= 0 {
			return buf[:i], nil
		}
		if len(buf) >= maxResponseHeader {
			return nil, errHeaderTooLarge
		}
		// One more byte than is there: Peek reads once, taking whatever the socket has.
		if buf, err := br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errHeaderTooLarge
			}
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// readResponseHead reads one response's head and frames its body.
func readResponseHead(br *bufio.Reader, req *http.Request, reuse *headerSpace) (*http.Response, error) {
	blk, err := headerBlock(br)
	if err != nil {
		return nil, err
	}
	text := string(blk) // the one allocation that keys, values, Proto and Status share
	if _, err := br.Discard(len(blk)); err != nil {
		return nil, err
	}
	line, rest := httpsyntax.CutLine(text)
	resp := &http.Response{Request: req}
	if err := parseStatusLine(resp, line); err != nil {
		return nil, err
	}
	// The fields are collected first, so that framing reads them without map lookups and the map is
	// written once per field, leaving out what ends at this hop.
	var arr [24]field
	fields := arr[:0]
	for {
		line, rest = httpsyntax.CutLine(rest)
		if line == "" {
			break
		}
		k, v, err := httpsyntax.ParseField(line)
		if err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		fields = append(fields, field{k: k, v: v})
	}
	if err := frame(resp, req, fields); err != nil {
		return nil, err
	}
	h, vals := reuse.take(len(fields))
	for i := range fields {
		f := &fields[i]
		if f.skip {
			continue
		}
		if seen(fields[:i], f.k) {
			h[f.k] = append(h[f.k], f.v)
			continue
		}
		vals = append(vals, f.v)
		h[f.k] = vals[len(vals)-1 : len(vals) : len(vals)] // capped: an Add elsewhere copies, never overwrites
	}
	resp.Header = h
	if reuse != nil {
		reuse.vals = vals
	}
	return resp, nil
}

// field is one header line of a response head; skip marks one that ends at this hop.
type field struct {
	k, v string
	skip bool
}

// seen reports whether a field before these, not skipped, has key k.
func seen(before []field, k string) bool {
	for i := range before {
		if !before[i].skip && before[i].k == k {
			return true
		}
	}
	return false
}

// skipAll marks every field with key k as ending here.
func skipAll(fields []field, k string) {
	for i := range fields {
		if fields[i].k == k {
			fields[i].skip = true
		}
	}
}

// headerSpace is a connection's response header map and the backing array of its values, used again
// for the connection's next response. That is safe because a connection serves its next exchange only
// after the previous response's body was closed, and ReverseProxy is done with the header map by
// then: it copies the headers out before it reads the body (the values it copies are strings, which
// the array's reuse does not touch). A nil *headerSpace makes fresh ones every time.
type headerSpace struct {
	header http.Header
	vals   []string
}

// take returns an empty header map and values array for n header lines.
func (s *headerSpace) take(n int) (http.Header, []string) {
	if s == nil {
		return make(http.Header, n), make([]string, 0, n)
	}
	if s.header == nil {
		s.header = make(http.Header, n)
	} else {
		clear(s.header)
	}
	if cap(s.vals) < n {
		s.vals = make([]string, 0, n)
	}
	clear(s.vals[:cap(s.vals)]) // drop the last response's strings
	return s.header, s.vals[:0]
}

// parseStatusLine reads "HTTP/1.1 200 OK" into resp.
func parseStatusLine(resp *http.Response, line string) error {
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return fmt.Errorf("malformed response status line %q", line)
	}
	switch proto {
	case "HTTP/1.1":
		resp.ProtoMajor, resp.ProtoMinor = 1, 1
	case "HTTP/1.0":
		resp.ProtoMajor, resp.ProtoMinor = 1, 0
	default:
		return fmt.Errorf("malformed response: protocol %q", proto)
	}
	resp.Proto = proto
	code, _, _ := strings.Cut(status, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 100 {
		return fmt.Errorf("malformed response status code %q", code)
	}
	resp.StatusCode, resp.Status = n, status
	if len(status) == 3 {
		resp.Status = status + " " + http.StatusText(n)
	}
	return nil
}

// frame decides how the body is delimited (RFC 9112 6.3) and sets ContentLength, Close,
// TransferEncoding and Trailer the way net/http's ReadResponse would, marking the fields that do not
// go on: Connection and the fields it names (never the framing ones: they are needed here, and the
// listener writes its own), and for a chunked body Transfer-Encoding, Content-Length and Trailer.
// ReverseProxy would remove the Connection-named ones too, but by splitting the list and
// canonicalizing each name, which allocates on every response saying keep-alive.
func frame(resp *http.Response, req *http.Request, fields []field) error {
	closeConn, keepAlive := false, false
	var length, trailers string
	var tes []string // Transfer-Encoding's values: rare, so a slice allocated when there are some
	lengths := 0
	for i := range fields {
		f := &fields[i]
		switch f.k {
		case "Connection":
			f.skip = true
			for v := f.v; v != ""; {
				var name string
				name, v, _ = strings.Cut(v, ",")
				switch name = strings.TrimSpace(name); {
				case name == "":
				case strings.EqualFold(name, "close"):
					closeConn = true
				case strings.EqualFold(name, "keep-alive"):
					keepAlive = true
				default:
					if k := textproto.CanonicalMIMEHeaderKey(name); k != "Content-Length" && k != "Transfer-Encoding" {
						skipAll(fields, k)
					}
				}
			}
		case "Content-Length":
			if lengths++; lengths > 1 && f.v != length {
				return errors.New("malformed response: conflicting Content-Length headers")
			}
			length = f.v
		case "Transfer-Encoding":
			tes = append(tes, f.v)
		case "Trailer":
			if trailers == "" {
				trailers = f.v
			} else {
				trailers += "," + f.v
			}
		}
	}
	resp.Close = closeConn || resp.ProtoMinor == 0 && !keepAlive
	n := int64(-1)
	if lengths > 0 {
		v, ok := httpsyntax.ContentLength(length)
		if !ok {
			return fmt.Errorf("malformed response: Content-Length %q", length)
		}
		n = v
	}
	noBody := req.Method == http.MethodHead || resp.StatusCode < 200 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	if len(tes) > 0 {
		if resp.ProtoMinor == 0 {
			// Faulty framing (RFC 9112 6.1): read one way here, another by net/http (which ignores
			// the field); refused like any malformed answer.
			return errors.New("malformed response: Transfer-Encoding in HTTP/1.0")
		}
		if httpsyntax.TransferCoding(tes) != httpsyntax.Chunked {
			// Another coding: the body would last until the close (RFC 9112 6.3), and the coding
			// could not be passed on. Refused, as net/http's Transport does, even where no body
			// follows: a target that says this is confused.
			return fmt.Errorf("malformed response: unsupported Transfer-Encoding %q", tes)
		}
	}
	if len(tes) > 0 && !noBody {
		skipAll(fields, "Content-Length") // a Transfer-Encoding overrides it
		skipAll(fields, "Transfer-Encoding")
		resp.ContentLength = -1
		if lengths > 0 {
			resp.Close = true // both: a sign of a confused target, whose next answer is not to be trusted
		}
		resp.TransferEncoding = []string{"chunked"}
		for _, k := range strings.Split(trailers, ",") {
			if k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)); k != "" {
				if resp.Trailer == nil {
					resp.Trailer = make(http.Header)
				}
				resp.Trailer[k] = nil
			}
		}
		skipAll(fields, "Trailer")
		return nil
	}
	switch {
	case noBody && req.Method == http.MethodHead && n >= 0:
		resp.ContentLength = n // what a GET would bring; no body follows
	case noBody:
		resp.ContentLength = 0
	case n < 0:
		resp.ContentLength = -1
		resp.Close = true // delimited by the close
	default:
		resp.ContentLength = n
	}
	return nil
}

// bodyLength is how many body bytes follow the head: -1 for chunked or until close.
func bodyLength(resp *http.Response) int64 {
	if resp.StatusCode < 200 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified ||
		resp.Request.Method == http.MethodHead {
		return 0
	}
	return resp.ContentLength
}

// h1Body is a response body read from its pooled connection. Once read to its end and closed, the
// connection goes back to the pool; closing it early closes the connection. Close also ends the try:
// the target's in-flight count drops and the context watch is removed.
type h1Body struct {
	t       *h1Transport
	c       *h1Conn
	resp    *http.Response           // for trailers
	target  *Upstream                // in-flight count to drop on Close; nil: none
	n       int64                    // bytes left of a Content-Length body; -1: r reads it
	r       io.Reader                // chunked or close-delimited body
	chunked httpsyntax.ChunkedReader // r, for a chunked body
	cut     cutLogger
	keep    bool // the response allows reuse
	eof     bool
	closed  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.read(p)
	b.cut.read(n, err)
	return n, err
}

func (b *h1Body) read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.n >= 0 {
		if b.n == 0 {
			b.eof = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err := b.c.br.Read(p)
		b.n -= int64(n)
		switch {
		case b.n == 0:
			b.eof = true
			return n, io.EOF // the end, with the last bytes: saves the copy loop a call
		case err == io.EOF:
			err = io.ErrUnexpectedEOF // the target sent less than it announced
		}
		if err != nil {
			b.keep = false
		}
		return n, err
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.keep = false
	}
	return n, err
}

// addTrailer keeps a trailer field of the response, but the ones that would frame or route a message.
func (b *h1Body) addTrailer(k, v string) {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Keep-Alive", "Host", "Upgrade", "Te":
		return
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = make(http.Header)
	}
	b.resp.Trailer.Add(k, v)
}

func (b *h1Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.target != nil {
		b.target.inflight.Add(-1)
	}
	// Reuse needs the body read to its end (an unread rest would be taken for the next response),
	// the watch not fired, and nothing unasked buffered after the response.
	if b.c.release() && b.keep && b.eof && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
	} else {
		b.c.nc.Close()
	}
	return nil
}

// setBody gives resp a body reading from c.
func (t *h1Transport) setBody(resp *http.Response, c *h1Conn, target *Upstream) {
	b := &h1Body{t: t, c: c, resp: resp, target: target, keep: !resp.Close, n: bodyLength(resp)}
	name := c.key
	if target != nil {
		name = target.Name
	}
	b.cut = cutLogger{log: t.log, target: name, req: resp.Request}
	switch {
	case b.n >= 0:
	case resp.TransferEncoding != nil:
		b.chunked.Reset(c.br, maxResponseHeader, b.addTrailer) // the trailer section read too
		b.r = &b.chunked
	default:
		b.r = c.br // until the target closes
	}
	resp.Body = b
}
