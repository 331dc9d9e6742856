package leanhttp

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// bufferLimit is how much of a body is held back so that a handler's whole response goes out in one
// write with a Content-Length; beyond it the response streams.
const bufferLimit = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// response is the http.ResponseWriter of one request.
type response struct {
	c             *conn
	req           *http.Request
	body          *body // the request's body as the server made it; nil: none
	header        http.Header
	status        int
	wroteHeader   bool
	sent          bool // status line and headers are on the wire
	chunked       bool
	head          bool // HEAD: no body goes out
	noBody        bool // 1xx, 204, 304: no body allowed
	contentLength int64
	written       int64
	buf           *[]byte // pending body
	closeAfter    bool
	err           error // a write to the connection failed
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// newResponse readies the connection's response for req. One response, header map included, serves
// every request of a connection in turn: a handler may not use its ResponseWriter after returning.
func newResponse(c *conn, req *http.Request) *response {
	w := &c.resp
	h := w.header
	if h == nil {
		h = make(http.Header, 8)
	} else {
		clear(h)
	}
	*w = response{c: c, req: req, header: h, contentLength: -1,
		head: req.Method == http.MethodHead, closeAfter: req.Close || c.s.shutdown.Load()}
	return w
}

func (w *response) Header() http.Header { return w.header }

// reset forgets what the handler did, for the panic response.
func (w *response) reset() {
	w.header = make(http.Header)
	w.wroteHeader, w.status, w.contentLength, w.written = false, 0, -1, 0
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
	}
}

func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.c.hijack {
		return
	}
	if code < 100 || code > 999 {
		panic("leanhttp: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	w.noBody = code == http.StatusNoContent || code == http.StatusNotModified || code < 200
	if v := headerValue(w.header, "Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// informational sends a 1xx response (103 Early Hints) at once.
func (w *response) informational(code int) {
	if code == http.StatusContinue && w.body != nil && !w.body.continued.CompareAndSwap(false, true) {
		return // the client has its 100 Continue: it went out when the body was first read
	}
	b := appendStatus(nil, code)
	b = appendHeaders(b, w.header)
	b = append(b, "\r\n"...)
	if _, err := w.c.nc.Write(b); err != nil {
		w.err = err
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.c.hijack {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		if headerValue(w.header, "Content-Type") == "" && headerValue(w.header, "Transfer-Encoding") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	w.written += int64(len(p))
	if w.head {
		return len(p), nil
	}
	if !w.sent {
		if w.buf == nil {
			w.buf = bufPool.Get().(*[]byte)
		}
		if len(*w.buf)+len(p) <= bufferLimit {
			*w.buf = append(*w.buf, p...)
			return len(p), nil
		}
		if err := w.sendHeaders(); err != nil {
			return 0, err
		}
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends the headers and whatever body is pending now (streaming responses).
func (w *response) Flush() {
	if w.c.hijack {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		_ = w.sendHeaders()
	}
}

// Hijack hands the connection to the handler (protocol upgrades). Bytes already read stay readable.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.c.hijack {
		return nil, nil, http.ErrHijacked
	}
	if w.sent {
		return nil, nil, errors.New("leanhttp: hijack after the response started")
	}
	w.c.watch.stop()
	w.c.hijack = true
	_ = w.c.nc.SetDeadline(time.Time{})
	return w.c.nc, bufio.NewReadWriter(w.c.br, bufio.NewWriter(w.c.nc)), nil
}

// sendHeaders puts the status line, headers and pending body on the wire, choosing the framing:
// Content-Length when known, chunked otherwise (close-delimited for HTTP/1.0).
func (w *response) sendHeaders() error {
	if w.contentLength < 0 && !w.noBody && !w.head {
		if w.req.ProtoMinor >= 1 {
			w.chunked = true
		} else {
			w.closeAfter = true
		}
	}
	hdr := w.headerBytes()
	w.sent = true
	var pending []byte
	if w.buf != nil {
		pending = *w.buf
	}
	if w.chunked && len(pending) > 0 {
		hdr = append(hdr, strconv.FormatInt(int64(len(pending)), 16)...)
		hdr = append(hdr, "\r\n"...)
		err := w.writev(hdr, pending, []byte("\r\n"))
		w.releaseBuf()
		return err
	}
	err := w.writev(hdr, pending)
	w.releaseBuf()
	return err
}

func (w *response) releaseBuf() {
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
		bufPool.Put(w.buf)
		w.buf = nil
	}
}

func (w *response) writeBody(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if w.chunked {
		return w.writev([]byte(strconv.FormatInt(int64(len(p)), 16)+"\r\n"), p, []byte("\r\n"))
	}
	return w.writev(p)
}

// writev writes the pieces in one system call where the connection allows, in one TLS record over TLS.
func (w *response) writev(pieces ...[]byte) error {
	if w.err != nil {
		return w.err
	}
	c := w.c
	var err error
	if c.tls != nil && len(pieces) > 1 {
		// Over TLS each write is a record of its own: the pieces go out as one.
		buf := bufPool.Get().(*[]byte)
		for _, p := range pieces {
			*buf = append(*buf, p...)
		}
		_, err = c.nc.Write(*buf)
		*buf = (*buf)[:0]
		bufPool.Put(buf)
	} else {
		c.bufs = append(c.vec[:0], pieces...) // the connection's own vector: nothing allocated per write
		_, err = c.bufs.WriteTo(c.nc)
		clear(c.vec[:])
	}
	if err != nil {
		w.err = err
		return err
	}
	return nil
}

// abort sends what a response cut by the handler (http.ErrAbortHandler) holds back, where the
// client can still tell that it was cut: the status and the part of the body, short of its
// Content-Length, or chunked without the last chunk. The connection closes after. A body of
// unknown length to an HTTP/1.0 client would end with the close and look whole: then nothing goes.
func (w *response) abort() {
	switch {
	case w.sent || !w.wroteHeader || w.c.hijack || w.head || w.noBody:
	case w.contentLength < 0 && w.req.ProtoMinor == 0:
	case w.contentLength >= 0 && w.written >= w.contentLength:
	default:
		// The connection closes after, but the head does not say so: Node's fetch (undici) takes a
		// chunked answer that says Connection: close and ends without its last chunk for whole.
		_ = w.sendHeaders()
	}
	w.releaseBuf()
}

// finish completes the response after the handler returned.
func (w *response) finish() error {
	if w.c.hijack {
		return nil
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		if w.contentLength < 0 && !w.noBody && !w.head {
			w.contentLength = w.written // the whole body is here: say how long it is
		}
		if err := w.sendHeaders(); err != nil {
			return err
		}
	} else if w.chunked {
		b := []byte("0\r\n")
		b = appendTrailers(b, w.header, w.trailerKeys())
		b = append(b, "\r\n"...)
		if err := w.writev(b); err != nil {
			return err
		}
	}
	if w.contentLength >= 0 && !w.head && !w.noBody && w.written != w.contentLength {
		w.closeAfter = true // the handler sent less than it announced: the framing is broken
	}
	return w.err
}

// trailerKeys lists the trailers to send: names announced in Trailer, and http.TrailerPrefix ones.
func (w *response) trailerKeys() []string {
	var keys []string
	for _, v := range w.header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && len(w.header[k]) > 0 {
				keys = append(keys, k)
			}
		}
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// headerBytes renders the status line and headers.
func (w *response) headerBytes() []byte {
	b := w.c.head[:0] // the connection's buffer: the bytes are written before the next request
	defer func() { w.c.head = b[:0] }()
	b = appendStatus(b, w.status)
	if w.c.s.shutdown.Load() {
		w.closeAfter = true
	}
	if !w.closeAfter && httpsyntax.HasToken(w.header["Connection"], "close") {
		w.closeAfter = true // the handler asked for it, alone or in a list ("close, foo")
	}
	b = appendHeaders(b, w.header)
	if _, ok := w.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	switch {
	case w.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case w.contentLength >= 0 && !w.noBody:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, w.contentLength, 10)
		b = append(b, "\r\n"...)
	}
	if w.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	} else if w.req.ProtoMinor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, "\r\n"...)
}

// headerValue is h.Get(key) for a key already in canonical form, without canonicalizing it again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func appendStatus(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	b = append(b, text...)
	return append(b, "\r\n"...)
}

// appendHeaders renders h, leaving out the framing headers this server writes itself and the values
// of trailers (keys with http.TrailerPrefix). CR and LF in values become spaces.
func appendHeaders(b []byte, h http.Header) []byte {
	for k, vs := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive":
			continue
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		b = appendField(b, k, vs)
	}
	return b
}

// appendTrailers renders the trailer fields named by keys (see trailerKeys), and nothing else.
func appendTrailers(b []byte, h http.Header, keys []string) []byte {
	for _, k := range keys {
		b = appendField(b, strings.TrimPrefix(k, http.TrailerPrefix), h[k])
	}
	return b
}

// appendField renders one field line per value. CR and LF in values become spaces.
func appendField(b []byte, name string, vs []string) []byte {
	for _, v := range vs {
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, httpsyntax.SafeValue(v)...)
		b = append(b, "\r\n"...)
	}
	return b
}

// dateCache holds the Date header's value, rendered at most once a second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec  int64
	text string
}

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &cachedDate{sec: now.Unix(), text: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}
