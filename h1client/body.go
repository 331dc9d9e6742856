package h1client

import (
	"io"
	"net/http"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// body is a response body read from its pooled connection. Once read to its end and closed, the
// connection goes back to the pool; closing it early closes the connection. Close also ends the try:
// the try's in-flight count drops and the context watch is removed.
type body struct {
	t        *Transport
	c        *conn
	resp     *http.Response           // for trailers
	inflight *atomic.Int64            // the count to drop on Close; nil: none
	n        int64                    // bytes left of a Content-Length body; -1: r reads it
	r        io.Reader                // chunked or close-delimited body
	chunked  httpsyntax.ChunkedReader // r, for a chunked body
	cut      CutLogger
	keep     bool // the response allows reuse
	eof      bool
	closed   bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.read(p)
	b.cut.Note(n, err)
	return n, err
}

func (b *body) read(p []byte) (int, error) {
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
func (b *body) addTrailer(k, v string) {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Keep-Alive", "Host", "Upgrade", "Te":
		return
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = make(http.Header)
	}
	b.resp.Trailer.Add(k, v)
}

func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.inflight != nil {
		b.inflight.Add(-1)
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

// setBody gives resp a body reading from c, which ends try when closed.
func (t *Transport) setBody(resp *http.Response, c *conn, try *Try) {
	b := &body{t: t, c: c, resp: resp, inflight: try.Inflight, keep: !resp.Close, n: bodyLength(resp)}
	name := try.Name
	if name == "" {
		name = c.key
	}
	log := try.Log
	if log == nil {
		log = t.log
	}
	b.cut = CutLogger{Log: log, Target: name, Req: resp.Request}
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

// CutLogger notes how much of a response body came and logs, once, a body the target cut short: a
// gateway then cuts its client's response too (ReverseProxy aborts it) without saying why. The
// Transport's bodies keep one; a caller can give the bodies of another transport one too, so that
// their cuts are logged alike. The zero value logs nothing.
type CutLogger struct {
	// Log receives the line: at warn, or at debug when the request's context ended first (the
	// client went away); nil: none.
	Log *zap.Logger
	// Target names the target in the line (as "upstream").
	Target string
	// Req is the request sent to the target, whose context is the client's: its X-Request-Id goes
	// in the line. Needed when Log is set.
	Req *http.Request

	got    int64
	logged bool
}

// Note counts a body read that gave n bytes and err, logging a cut (an error other than io.EOF)
// the first time.
func (c *CutLogger) Note(n int, err error) {
	c.got += int64(n)
	if err == nil || err == io.EOF || c.logged || c.Log == nil {
		return
	}
	c.logged = true
	fields := []zap.Field{zap.String("request_id", c.Req.Header.Get("X-Request-Id")), zap.String("upstream", c.Target),
		zap.Int64("body_bytes_received", c.got), zap.Error(err)}
	if c.Req.Context().Err() != nil {
		c.Log.Debug("client went away during the response body", fields...)
		return
	}
	c.Log.Warn("upstream response body cut short; the client's response is cut too", fields...)
}
