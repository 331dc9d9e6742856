package leanhttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

var errTooManyFiles = syscall.EMFILE

// watchAfter is how long a handler runs before the connection is watched for the client leaving.
const watchAfter = 2 * time.Millisecond

// napAfter is how long a connection waits for its next request on the goroutine that served the last
// one; after that it naps (see nap). Server.napAfter overrides it in tests.
const napAfter = 2 * time.Second

// conn is one client connection, served by one goroutine at a time.
type conn struct {
	s  *Server
	nc net.Conn
	// br reads the connection: held from a request's first byte to the end of the wait for the next;
	// nil while a plain connection waits with nothing buffered (see await).
	br *bufio.Reader
	// rc reads the socket directly for await; nil: a connection that is not a plain socket (TLS),
	// which keeps br while it waits.
	rc        syscall.RawConn
	cr        connReader         // what br reads from
	tryReadFn func(uintptr) bool // c.tryRead, bound once
	readErr   error              // the outcome of tryRead
	idleSince time.Time          // when the wait for the next request began
	napping   bool               // handed on by nap; its read deadline is set
	napEnd    time.Time          // when a napping connection's idle timeout is up
	lastBody  *body              // the latest request's body; nil: none
	remote    string
	idle      atomic.Bool // waiting for the next request (Shutdown may wake it)
	hijack    bool        // the handler took the connection (set on the handler's goroutine)
	watch     watcher     // the running request's client watch, reset for each request
	timer     *time.Timer // starts the watch watchAfter into a request; made once, then Reset
	cancel    func()      // cancels the running request's context

	base         context.Context        // every request's context derives from it: the server and local address
	tls          *tls.ConnectionState   // the connection's TLS, its handshake done before Serve got it; nil: plain
	reqHead      httpsyntax.RequestHead // the running request's head, its fields' array reused
	readDeadline time.Time              // the read deadline set on nc (zero: none), as far as this goroutine knows
	resp         response               // the running request's ResponseWriter, reused for the next
	head         []byte                 // status line and headers being written, reused
	vec          [4][]byte              // pieces of one writev
	bufs         net.Buffers            // vec as consumed by WriteTo
}

func newConn(s *Server, nc net.Conn) *conn {
	base := context.WithValue(s.base, http.LocalAddrContextKey, nc.LocalAddr())
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String(), base: base}
	c.cr = connReader{nc: nc, fd: -1}
	if tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := tc.ConnectionState()
		c.tls = &st
	} else if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc, c.tryReadFn = rc, c.tryRead
		}
	}
	if c.rc == nil {
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&c.cr)
	}
	return c
}

// connReader is what a connection's bufio.Reader reads: the connection, but for the one read that
// ends a wait for the next request, which tryRead makes on the socket itself.
type connReader struct {
	nc net.Conn
	fd int // the socket, for the next read only; -1: read nc
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.fd < 0 {
		return r.nc.Read(p)
	}
	fd := r.fd
	r.fd = -1
	for {
		n, err := syscall.Read(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err // syscall.EAGAIN: nothing to read yet
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// await waits for the next request's first byte. A plain connection with nothing buffered waits
// without a read buffer: its bufio.Reader goes back to the pool, and the runtime's poller wakes the
// connection when the socket turns readable; only then does tryRead take a reader again and fill it.
// That is as many system calls as a read through net.Conn makes, and an idle connection holds no
// buffer.
func (c *conn) await() error {
	if c.br != nil && (c.rc == nil || c.br.Buffered() > 0) {
		_, err := c.br.Peek(1)
		return err
	}
	c.releaseReader()
	c.readErr = nil
	if err := c.rc.Read(c.tryReadFn); err != nil {
		return err
	}
	return c.readErr
}

// tryRead is await's read of the socket fd. It fills a reader from the pool with one non-blocking
// read; when the socket has nothing yet (EAGAIN) the reader goes back and false has the runtime wait
// until the socket is readable and call again.
func (c *conn) tryRead(fd uintptr) bool {
	br := readerPool.Get().(*bufio.Reader)
	c.cr.fd = int(fd)
	br.Reset(&c.cr)
	if _, err := br.Peek(1); err != nil {
		if err == syscall.EAGAIN {
			br.Reset(nil)
			readerPool.Put(br)
			return false
		}
		c.readErr = err
	}
	c.br = br
	return true
}

// releaseReader returns the connection's reader to the pool. A body not read to its end is cut from
// it first: whoever still holds the body must not read a reader that serves another connection.
func (c *conn) releaseReader() {
	if b := c.lastBody; b != nil {
		b.detach()
		c.lastBody = nil
	}
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
}

// nap is how a connection idle for napAfter sheds what only a request needs: the header map,
// buffers and timer of its last request are dropped (a plain connection holds no read buffer
// already), and then the goroutine that served it, whose stack grew with the handler's work, ends:
// a plain connection waits in the server's parker, with no goroutine at all, and a TLS one on a fresh
// goroutine with a small stack. Its read deadline is the end of the idle timeout (the parker closes
// a connection within a second after it). False: the idle timeout is up (or about to be), and the
// connection closes instead.
func (c *conn) nap() bool {
	end := c.idleSince.Add(c.s.IdleTimeout)
	if c.s.shutdown.Load() || time.Until(end) <= idleSlack(c.s.IdleTimeout) {
		return false
	}
	c.setReadDeadline(end)
	c.napEnd = end
	if c.timer != nil {
		c.timer.Stop() // a start already under way finds its watch stopped
		c.timer = nil
	}
	c.resp, c.head, c.reqHead, c.cancel = response{}, nil, httpsyntax.RequestHead{}, nil
	c.napping = true
	c.s.naps.Add(1)
	naps.Add(1)
	return true
}

// naps counts the naps of every Server's connections (see Naps).
var naps atomic.Int64

// Naps is how many times connections of any Server in this process went to sleep idle (see nap):
// each time, what the connection's last request needed became garbage. A caller may hand memory
// back to the system after many (package gateway does).
func Naps() int64 { return naps.Load() }

// idleSlack is how much sooner than the idle timeout a connection may close (see idleDeadline).
func idleSlack(idle time.Duration) time.Duration { return min(idle/8, time.Second) }

// wakeIfIdle closes a connection that sits between requests (for Shutdown). s.mu is held.
func (c *conn) wakeIfIdle() {
	if c.idle.Load() {
		_ = c.nc.SetReadDeadline(httpsyntax.ALongTimeAgo)
	}
}

func (c *conn) serve() {
	for !c.s.shutdown.Load() {
		// Wait for the next request's first byte within the idle timeout, then read it all within
		// the header timeout. The deadline is set before the connection counts as idle, so that
		// Shutdown's wake (a deadline in the past) is never overwritten.
		napped := c.napping
		if napped {
			c.napping = false // nap set the deadline
		} else {
			c.idleDeadline()
		}
		c.idle.Store(true)
		if c.s.shutdown.Load() {
			break
		}
		err := c.await()
		c.idle.Store(false)
		if err != nil {
			if !napped && errors.Is(err, os.ErrDeadlineExceeded) && c.nap() {
				if c.rc == nil || !c.s.park(c) {
					go c.serve() // a fresh goroutine waits, with a small stack
				}
				return
			}
			break
		}
		req, status, err := c.readRequest()
		if err != nil {
			if c.cancel != nil {
				c.cancel()
			}
			if status != 0 {
				c.fail(status, err)
			}
			break
		}
		if req.Body != http.NoBody {
			// The body is read at the handler's pace. Without one, nothing reads the connection
			// while the handler runs but the client watch, which lifts the deadline itself: one
			// deadline update per request instead of three.
			c.setReadDeadline(time.Time{})
		}
		if !c.handle(req) {
			break
		}
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if !c.hijack {
		c.nc.Close()
		c.releaseReader()
	}
	c.s.forget(c)
}

// idleDeadline arms the read deadline for the wait for the next request: napAfter from now, or
// IdleTimeout if that is sooner (see nap for what follows). A deadline set by an earlier wait that
// ends at most idleSlack sooner is kept: a busy connection updates its timer about once a second
// instead of on every request, and an idle one is closed that little early at worst.
func (c *conn) idleDeadline() {
	now := time.Now()
	c.idleSince = now
	want := now.Add(min(c.s.IdleTimeout, c.s.napAfter))
	if c.readDeadline.IsZero() || c.readDeadline.After(want) || c.readDeadline.Before(want.Add(-idleSlack(c.s.IdleTimeout))) {
		c.setReadDeadline(want) // (later than want: the end of the idle timeout that nap set)
	}
}

// setReadDeadline sets the connection's read deadline and remembers it (zero: none).
func (c *conn) setReadDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	c.readDeadline = t
}

// fail answers a request that could not be read and closes the connection.
func (c *conn) fail(status int, err error) {
	if c.s.Logger != nil {
		c.s.Logger.Debug("bad request", zap.String("remote", c.remote), zap.Int("status", status), zap.Error(err))
	}
	body := http.StatusText(status)
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.nc, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, body, len(body), body)
}

var errTooLarge = errors.New("request headers too large")

// readLine reads one CRLF- (or LF-) terminated line, counting against budget.
func (c *conn) readLine(budget *int) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, errTooLarge
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readHead returns the request's head (request line through the empty line) as one string, which
// the method, target and header values then slice: one allocation for all of them. Up to four empty
// lines before the request line are skipped (RFC 9112 2.2). A head over MaxHeaderBytes is refused
// with 414 when its request line alone is too long, else 431. A head not already whole in the buffer
// must arrive within ReadHeaderTimeout.
func (c *conn) readHead() (string, int, error) {
	budget := c.s.MaxHeaderBytes
	lineMax := budget        // how far into the head its first line must end, or 414
	wait := c.headerDeadline // for a head not whole in the buffer
	buf, _ := c.br.Peek(c.br.Buffered())
	if skip := httpsyntax.EmptyLines(buf, 4); skip > 0 || len(buf) == 0 || buf[0] == '\r' {
		// Rarely, the buffer starts with empty lines, or with what may be one.
		if httpsyntax.HeadLength(buf[skip:]) >= 0 {
			// They came with the head, which is whole in the buffer.
			_, _ = c.br.Discard(skip)
			budget -= skip
		} else {
			// Else the rest must arrive within the header timeout, and the empty lines are read
			// one at a time.
			c.headerDeadline()
			wait = nil
			for skipped := 0; skipped < 4; skipped++ {
				b, err := c.br.Peek(1)
				if err != nil {
					return "", 0, err
				}
				if b[0] != '\r' && b[0] != '\n' {
					break
				}
				line, err := c.readLine(&budget)
				if err != nil {
					return "", 0, err
				}
				if len(line) > 0 {
					return "", http.StatusBadRequest, fmt.Errorf("malformed request line %q", line)
				}
			}
			lineMax = budget
		}
	}
	head, err := httpsyntax.ReadHead(c.br, budget, wait)
	switch {
	case err == nil:
		return string(head), 0, nil
	case errors.Is(err, httpsyntax.ErrHeadTooLarge):
		if bytes.IndexByte(head[:min(len(head), lineMax)], '\n') < 0 {
			return "", http.StatusRequestURITooLong, errTooLarge
		}
		return "", http.StatusRequestHeaderFieldsTooLarge, errTooLarge
	case len(head) == 0:
		return "", 0, err // the connection ended between requests
	}
	return "", http.StatusBadRequest, fmt.Errorf("reading headers: %w", err)
}

// headerDeadline gives the rest of the request's head ReadHeaderTimeout to arrive.
func (c *conn) headerDeadline() {
	c.setReadDeadline(time.Now().Add(c.s.ReadHeaderTimeout))
}

// readRequest parses the request line and headers. A non-zero status is the answer to a request that
// is malformed; zero with an error means the connection simply ended.
func (c *conn) readRequest() (*http.Request, int, error) {
	head, status, err := c.readHead()
	if err != nil {
		return nil, status, err
	}
	h := &c.reqHead
	if status, err := httpsyntax.ParseRequestHead(head, h); err != nil {
		return nil, status, err
	}
	// The request is made with its context in one allocation (WithContext on a value that does not
	// escape), instead of built and then copied by WithContext.
	ctx, cancel := context.WithCancel(c.base)
	req := (&http.Request{}).WithContext(ctx)
	c.cancel = cancel
	req.Method, req.RequestURI, req.RemoteAddr, req.URL, req.Host = h.Method, h.Target, c.remote, h.URL, h.Host
	req.TLS = c.tls
	req.Proto, req.ProtoMajor, req.ProtoMinor, req.Close = "HTTP/1.1", 1, 1, h.Close
	if h.Minor == 0 {
		req.Proto, req.ProtoMinor = "HTTP/1.0", 0
	}
	// The map and the values' shared backing array are sized from the number of fields.
	hdr := make(http.Header, max(len(h.Fields), 1))
	vals := make([]string, 0, len(h.Fields))
	for _, f := range h.Fields {
		if old, ok := hdr[f.Name]; ok {
			if f.Name != "Content-Length" { // equal copies (the parser checked): one is kept, as net/http does
				hdr[f.Name] = append(old, f.Value)
			}
			continue
		}
		vals = append(vals, f.Value)
		hdr[f.Name] = vals[len(vals)-1 : len(vals) : len(vals)] // capped: an Add copies, never overwrites
	}
	req.Header = hdr
	switch {
	case h.Length < 0:
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
		b := &body{c: c, expect: h.Continue}
		b.chunked.Reset(c.br, c.s.MaxHeaderBytes, nil)
		b.r = &b.chunked
		req.Body = b
		c.lastBody = b
	case h.Length > 0:
		req.ContentLength = h.Length
		b := &body{c: c, r: &io.LimitedReader{R: c.br, N: h.Length}, expect: h.Continue}
		req.Body = b
		c.lastBody = b
	default:
		req.Body = http.NoBody
	}
	return req, 0, nil
}

// body is a request body read from the connection. Reads and Close come from the handler's goroutine
// (or a proxy transport's); done is read by the connection loop after the handler returned.
type body struct {
	c       *conn
	r       io.Reader                // the body's framing: a LimitedReader or chunked
	chunked httpsyntax.ChunkedReader // r, for a chunked body: trailers are read and dropped
	expect  bool                     // send 100 Continue before the first read
	// continued: a 100 Continue went to the client, from Read or from the handler (ReverseProxy
	// passes on the target's): there is one at most.
	continued atomic.Bool
	mu        sync.Mutex
	done      bool // read to its end
	closed    bool
	err       error
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect {
		b.expect = false
		if b.continued.CompareAndSwap(false, true) { // else the handler passed one on already
			if _, err := io.WriteString(b.c.nc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	n, err := b.r.Read(p)
	if lr, ok := b.r.(*io.LimitedReader); ok {
		if lr.N == 0 {
			b.done, err = true, io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF // the client sent less than it announced
		}
	} else if err == io.EOF {
		b.done = true // the chunked reader has read the trailer section too
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// errDetached is what a body not read to its end returns once its connection is done with it.
var errDetached = errors.New("leanhttp: request body read after its connection moved on")

// detach cuts a body that was not read to its end from the connection's reader.
func (b *body) detach() {
	b.mu.Lock()
	if !b.done && b.err == nil {
		b.err = errDetached
	}
	b.mu.Unlock()
}

// finished reports whether the body was read to its end (so the connection can serve another request).
func (b *body) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// drain reads what is left of the body, up to a bound, so that the connection can be reused.
func (b *body) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return true
	}
	if b.err != nil || b.expect { // the client waits for 100 Continue that never came: close
		return false
	}
	_ = b.c.nc.SetReadDeadline(time.Now().Add(time.Second))
	n, err := io.Copy(io.Discard, io.LimitReader(b.r, 256<<10))
	_ = b.c.nc.SetReadDeadline(time.Time{})
	if lr, ok := b.r.(*io.LimitedReader); ok {
		b.done = err == nil && lr.N == 0
	} else {
		// Chunked: ended within the bound, trailer section included.
		b.done = err == nil && n < 256<<10 && b.chunked.Done()
	}
	return b.done
}

// handle runs the handler for req and sends its response; false means the connection must close.
func (c *conn) handle(req *http.Request) bool {
	cancel := c.cancel
	defer cancel()
	b, _ := req.Body.(*body) // kept here: handlers may replace req.Body (http.MaxBytesReader)
	w := newResponse(c, req)
	w.body = b
	watch := &c.watch
	watch.reset(c, cancel, b)
	if c.timer == nil {
		c.timer = time.AfterFunc(watchAfter, c.watch.start)
	} else {
		c.timer.Reset(watchAfter)
	}
	ok := c.run(w, req)
	c.timer.Stop()
	if watch.stop() {
		c.readDeadline = time.Time{} // the watch lifted the deadline
	}
	if c.hijack {
		return false
	}
	if !ok {
		return false
	}
	if err := w.finish(); err != nil {
		return false
	}
	if b != nil && !b.drain() {
		return false
	}
	return !w.closeAfter && !watch.gone.Load()
}

// run calls the handler, turning a panic into a 500 (or a cut connection once the response started).
func (c *conn) run(w *response, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p == http.ErrAbortHandler {
				w.abort()
				return
			}
			if c.s.Logger != nil {
				c.s.Logger.Error("panic serving request", zap.Any("panic", p), zap.Stack("stack"))
			}
			if !w.sent && !c.hijack {
				w.reset()
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, "Internal Server Error")
				w.closeAfter = true
				_ = w.finish()
			}
		}
	}()
	if req.Method == http.MethodOptions && req.RequestURI == "*" {
		// OPTIONS * asks about the server itself; net/http's server answers it the same way.
		w.Header().Set("Content-Length", "0")
		return true
	}
	c.s.Handler.ServeHTTP(w, req)
	return true
}

// watcher reads from the connection in the background while a slow handler runs, to notice a client
// that went away (its context is cancelled). A byte that arrives (a pipelined request) stays buffered.
//
// One watcher serves a connection's requests in turn. The timer that starts it is stopped when the
// handler returns, but a start already under way may still run, even into the next request; that
// only starts the next request's watch early, which is harmless: the watch never reads while the
// handler may still read the body.
type watcher struct {
	mu      sync.Mutex // guards everything below but gone (set by the watch, read after stop)
	c       *conn
	cancel  context.CancelFunc
	body    *body // the request's body; nil: none
	started bool
	stopped bool
	done    chan struct{}
	gone    atomic.Bool
}

// reset readies the watcher for the next request.
func (w *watcher) reset(c *conn, cancel context.CancelFunc, b *body) {
	w.mu.Lock()
	w.c, w.cancel, w.body, w.started, w.stopped, w.done = c, cancel, b, false, false, nil
	w.gone.Store(false)
	w.mu.Unlock()
}

func (w *watcher) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.started || w.c == nil {
		return
	}
	if b := w.body; b != nil && !b.finished() {
		return // the handler is still reading the body: the reader must stay its own
	}
	w.started, w.done = true, make(chan struct{})
	// The idle deadline may still be set (a request without a body keeps it): lift it, or a handler
	// running past it would end the watch. stop sets its own deadline only after stopped is set.
	_ = w.c.nc.SetReadDeadline(time.Time{})
	c, cancel, done := w.c, w.cancel, w.done
	go func() {
		defer close(done)
		if _, err := c.br.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			w.gone.Store(true)
			cancel()
		}
	}()
}

// stop ends the watch and waits for its read; calling it again does nothing. It reports whether the
// watch had started (and so left the connection without a read deadline).
func (w *watcher) stop() bool {
	w.mu.Lock()
	if w.stopped {
		started := w.started
		w.mu.Unlock()
		return started
	}
	w.stopped = true
	started, c, done := w.started, w.c, w.done
	w.mu.Unlock()
	if started {
		_ = c.nc.SetReadDeadline(httpsyntax.ALongTimeAgo)
		<-done
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	return started
}
