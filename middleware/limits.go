package middleware

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// ErrBodyTooLarge is what the request body's Read returns, wrapped, once MaxBody's limit is crossed;
// recognise it with errors.Is. The same error also matches *http.MaxBytesError with errors.As, as
// http.MaxBytesReader's does.
var ErrBodyTooLarge = errors.New("request body too large")

type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return "request body too large: over " + strconv.FormatInt(e.limit, 10) + " bytes"
}

func (e *bodyTooLargeError) Unwrap() []error {
	return []error{ErrBodyTooLarge, &http.MaxBytesError{Limit: e.limit}}
}

// MaxBody wraps next so that request bodies larger than max bytes are answered 413 with a JSON body
// and Connection: close. A Content-Length over max is refused at once, without reading the body or
// calling next. A body of unknown length (chunked) is counted as next reads it: the Read that crosses
// max returns an error wrapping ErrBodyTooLarge, and if next has not started its response by then,
// the response is a 413 whatever next does afterwards: next's own late answer to the error (such as
// httputil.ReverseProxy's 502) is dropped, and its writes fail. If next had already sent its status,
// that response goes on and next sees the error. max ≤ 0 means no limit: MaxBody returns next.
// onReject, if not nil, is called for each request answered 413 (metrics).
func MaxBody(next http.Handler, max int64, onReject func(*http.Request)) http.Handler {
	if max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			if onReject != nil {
				onReject(r)
			}
			w.Header().Set("Connection", "close")
			jsonerror.Write(w, r, http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		// A Content-Length within max is already enforced by net/http; the body is still counted, as
		// an inner layer of an in-process chain may have set it.
		// The body is replaced on a copy of the request, never on the server's own: net/http looks
		// at that one's body after the handler (a body cut by an error closes the connection).
		r = r.WithContext(r.Context())
		g := &bodyGuard{w: w, r: r, limit: max, remaining: max}
		g.body = limitedBody{rc: r.Body, g: g}
		r.Body = &g.body
		next.ServeHTTP(g, r)
		if g.hit.Load() {
			if !g.started && !g.replaced {
				g.replace()
			}
			if g.replaced && onReject != nil {
				onReject(r)
			}
			// The rest is not wanted; closing now also spares a full-duplex handler's connection
			// net/http's panic on an unread body (golang.org/issue/68560).
			_ = g.body.rc.Close()
		}
	})
}

// bodyGuard is the ResponseWriter MaxBody gives next. Its methods run on the handler's goroutine; only
// hit is shared with the goroutine reading the body (a proxy's transport reads it on its own).
type bodyGuard struct {
	w     http.ResponseWriter
	r     *http.Request
	limit int64
	body  limitedBody

	remaining int64       // bytes the body may still yield; touched only by the body's reader
	hit       atomic.Bool // the body crossed limit

	started  bool // next's status line went out: too late for a 413
	replaced bool // the 413 went out instead of next's response
}

type limitedBody struct {
	rc io.ReadCloser
	g  *bodyGuard
}

func (b *limitedBody) Read(p []byte) (int, error) {
	g := b.g
	if g.hit.Load() {
		return 0, &bodyTooLargeError{limit: g.limit}
	}
	if int64(len(p))-1 > g.remaining {
		p = p[:g.remaining+1] // one byte past the limit tells "over" from "exactly at"
	}
	n, err := b.rc.Read(p)
	if int64(n) <= g.remaining {
		g.remaining -= int64(n)
		return n, err
	}
	n = int(g.remaining)
	g.remaining = 0
	g.hit.Store(true)
	return n, &bodyTooLargeError{limit: g.limit}
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// replace answers 413 in place of next's response.
func (g *bodyGuard) replace() {
	g.replaced = true
	g.w.Header().Set("Connection", "close") // the rest of the body is not worth reading
	jsonerror.Write(g.w, g.r, http.StatusRequestEntityTooLarge)
}

func (g *bodyGuard) Header() http.Header { return g.w.Header() }

func (g *bodyGuard) WriteHeader(code int) {
	switch {
	case g.replaced:
	case g.started:
		g.w.WriteHeader(code) // superfluous; net/http says so
	case g.hit.Load():
		g.replace()
	case code >= 100 && code < 200 && code != http.StatusSwitchingProtocols:
		g.w.WriteHeader(code) // informational: the real status is still to come
	default:
		g.started = true
		g.w.WriteHeader(code)
	}
}

func (g *bodyGuard) Write(p []byte) (int, error) {
	if !g.started && !g.replaced {
		g.WriteHeader(http.StatusOK)
	}
	if g.replaced {
		return 0, &bodyTooLargeError{limit: g.limit}
	}
	return g.w.Write(p)
}

// Flush sends buffered data to the client, for streaming handlers that assert http.Flusher.
func (g *bodyGuard) Flush() {
	if !g.started && !g.replaced {
		g.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(g.w).Flush()
}

// Hijack hands the connection to next (upgrades); no 413 can follow.
func (g *bodyGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if g.replaced {
		return nil, nil, &bodyTooLargeError{limit: g.limit}
	}
	conn, brw, err := http.NewResponseController(g.w).Hijack()
	if err == nil {
		g.started = true
	}
	return conn, brw, err
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (g *bodyGuard) Unwrap() http.ResponseWriter { return g.w }

// MaxInflight wraps next so that at most n requests are inside it at once; one more is answered at
// once 503 with Retry-After: 1 and a JSON body, without waiting. The count is per MaxInflight call
// (wrap each route separately for a cap per route) and covers the whole of next, including a proxied
// upgrade for as long as it lasts. n ≤ 0 means no cap: MaxInflight returns next.
// onReject, if not nil, is called for each request refused (metrics).
func MaxInflight(next http.Handler, n int, onReject func(*http.Request)) http.Handler {
	if n <= 0 {
		return next
	}
	limit := int64(n)
	var inflight atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inflight.Add(1) > limit {
			inflight.Add(-1)
			if onReject != nil {
				onReject(r)
			}
			w.Header().Set("Retry-After", "1")
			jsonerror.Write(w, r, http.StatusServiceUnavailable)
			return
		}
		defer inflight.Add(-1)
		next.ServeHTTP(w, r)
	})
}
