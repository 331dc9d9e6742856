// Package tlsfront terminates TLS on a listener and hands each connection, by the protocol its
// handshake chose (ALPN), to the server for it: HTTP/2 to net/http's, HTTP/1.x to an HTTP/1 server
// of the caller's, so that HTTP/1.1 over TLS is read by the same rules as over plain TCP (leanhttp,
// or net/http held to them by package guard) while net/http keeps serving HTTP/2.
package tlsfront

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTP1Server serves HTTP/1.x on a listener: leanhttp.Server, or an http.Server.
type HTTP1Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

var (
	_ HTTP1Server = (*http.Server)(nil)
	_ HTTP1Server = (*Server)(nil)
)

// Server terminates TLS with TLSConfig and serves each connection with HTTP1 or HTTP2. Its fields
// are set before Serve and not changed after.
type Server struct {
	// TLSConfig configures the handshakes; its NextProtos are set to h2 and http/1.1. Required.
	TLSConfig *tls.Config
	// HTTP1 serves connections that chose HTTP/1.1, or no protocol. Required.
	HTTP1 HTTP1Server
	// HTTP2 serves connections that chose h2. Nil: h2 is not offered. Serve gives it a TLSConfig
	// offering h2 if it has none: net/http sets HTTP/2 up only for a server whose config offers it
	// (the handshakes are done here, with TLSConfig).
	HTTP2 *http.Server
	// HandshakeTimeout bounds a handshake; zero: 10s.
	HandshakeTimeout time.Duration

	mu       sync.Mutex // guards ln, closed and shaking's connections
	ln       net.Listener
	closed   bool
	pending  map[net.Conn]struct{} // connections whose handshake is under way
	h1, h2   *queue
	shaking  sync.WaitGroup // handshakes under way
	children sync.WaitGroup // the HTTP1 and HTTP2 Serve goroutines
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln until Shutdown, handshakes each on its own goroutine and queues
// it for the server of its protocol.
func (s *Server) Serve(ln net.Listener) error {
	cfg := s.TLSConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if s.HTTP2 != nil {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ln = ln
	s.h1, s.h2 = newQueue(ln.Addr()), newQueue(ln.Addr())
	if s.HTTP2 != nil && s.HTTP2.TLSConfig == nil {
		s.HTTP2.TLSConfig = &tls.Config{NextProtos: []string{"h2"}}
	}
	s.children.Add(1)
	go func() {
		defer s.children.Done()
		_ = s.HTTP1.Serve(s.h1)
	}()
	if s.HTTP2 != nil {
		s.children.Add(1)
		go func() {
			defer s.children.Done()
			_ = s.HTTP2.Serve(s.h2)
		}()
	}
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		if s.pending == nil {
			s.pending = map[net.Conn]struct{}{}
		}
		s.pending[c] = struct{}{}
		s.shaking.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.shaking.Done()
			s.handshake(tls.Server(c, cfg), timeout)
			s.mu.Lock()
			delete(s.pending, c)
			s.mu.Unlock()
		}()
	}
}

// handshake completes tc's handshake within timeout and queues it by protocol.
func (s *Server) handshake(tc *tls.Conn, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		return
	}
	q := s.h1
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		q = s.h2
	}
	if !q.put(tc) {
		tc.Close() // shutting down
	}
}

// Shutdown stops accepting and handshaking, then shuts both servers down within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	for c := range s.pending {
		c.Close() // a handshake under way ends now
	}
	s.mu.Unlock()
	var errs []error
	if ln != nil {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		s.shaking.Wait()
		s.h1.close()
		s.h2.close()
	}
	errs = append(errs, s.HTTP1.Shutdown(ctx))
	if s.HTTP2 != nil {
		errs = append(errs, s.HTTP2.Shutdown(ctx))
	}
	s.children.Wait()
	return errors.Join(errs...)
}

// queue is a net.Listener whose connections come from a Server's handshakes.
type queue struct {
	addr net.Addr
	c    chan net.Conn
	mu   sync.Mutex // guards done and the close of c against put
	done bool
	stop chan struct{}
}

func newQueue(addr net.Addr) *queue {
	return &queue{addr: addr, c: make(chan net.Conn), stop: make(chan struct{})}
}

// put hands c to the queue's server; false once the queue is closed.
func (q *queue) put(c net.Conn) bool {
	select {
	case q.c <- c:
		return true
	case <-q.stop:
		return false
	}
}

func (q *queue) Accept() (net.Conn, error) {
	select {
	case c := <-q.c:
		return c, nil
	case <-q.stop:
		return nil, net.ErrClosed
	}
}

// Close ends Accept; the server's Shutdown calls it, and so does the Server's.
func (q *queue) Close() error {
	q.close()
	return nil
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.done {
		q.done = true
		close(q.stop)
	}
}

func (q *queue) Addr() net.Addr { return q.addr }
