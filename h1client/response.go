package h1client

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
// from br through a body. net/http's ReadResponse makes a string per value, a textproto reader, a
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

// readResponseHead reads one response's head and frames its body.
func readResponseHead(br *bufio.Reader, req *http.Request, reuse *headerSpace) (*http.Response, error) {
	blk, err := httpsyntax.ReadHead(br, maxResponseHeader, nil)
	if err != nil {
		switch {
		case errors.Is(err, httpsyntax.ErrHeadTooLarge):
			err = errHeaderTooLarge
		case errors.Is(err, io.EOF) && len(blk) > 0:
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	text := string(blk) // the one allocation that keys, values, Proto and Status share
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
				switch name = httpsyntax.TrimOWS(name); {
				case name == "":
				case httpsyntax.EqualFold(name, "close"):
					closeConn = true
				case httpsyntax.EqualFold(name, "keep-alive"):
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
