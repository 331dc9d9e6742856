// Package leanhttp is a lean HTTP/1.1 server: the same http.Handler contract as net/http's server,
// with less work per request. A response written by a handler that returns is sent with its headers
// in one write; the check that the client went away (a background read) starts only for a handler
// that runs longer than a moment; parsing allocates only what the http.Request needs; a connection
// idle for a while holds no buffer and no goroutine (see nap in conn.go). It serves TCP
// connections, and TLS ones whose handshake is done (package tlsfront hands them over, HTTP/2 going
// to net/http).
package leanhttp

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Server serves HTTP/1.x on listeners. Zero durations and sizes take the defaults noted.
type Server struct {
	// Handler answers requests. Required.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's headers; zero: 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive connection idle this long; zero: 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; zero: 64 KiB.
	MaxHeaderBytes int
	// Logger receives connection-level errors; nil: none.
	Logger *zap.Logger

	base      context.Context // the root of every request's context (see defaults)
	mu        sync.Mutex      // guards listeners, conns and closing: changed on accept, close and shutdown
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup // connection goroutines
	shutdown  atomic.Bool
	napAfter  time.Duration // see the constant napAfter; zero: that
	naps      atomic.Int64  // connections that napped, for tests
	parker    *parker       // holds napping connections; made at the first nap (guarded by mu)
	parkTried bool          // newParker was called (guarded by mu)
}

// What the zero values of Server's limits mean. package config fills its defaults from these.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) defaults() {
	// Zero or less: the default (cmp.Or takes the first non-zero).
	s.ReadHeaderTimeout = cmp.Or(max(s.ReadHeaderTimeout, 0), DefaultReadHeaderTimeout)
	s.IdleTimeout = cmp.Or(max(s.IdleTimeout, 0), DefaultIdleTimeout)
	s.MaxHeaderBytes = cmp.Or(max(s.MaxHeaderBytes, 0), DefaultMaxHeaderBytes)
	s.napAfter = cmp.Or(max(s.napAfter, 0), napAfter)
	if s.base == nil {
		// Handlers find a server under http.ServerContextKey, as under net/http. ReverseProxy relies
		// on it: only then does it abort a response whose upstream body failed (a panic with
		// http.ErrAbortHandler, which cuts the connection) instead of ending it as if complete. The
		// stand-in carries this server's settings and serves nothing.
		s.base = context.WithValue(context.Background(), http.ServerContextKey, &http.Server{
			Handler: s.Handler, ReadHeaderTimeout: s.ReadHeaderTimeout, IdleTimeout: s.IdleTimeout, MaxHeaderBytes: s.MaxHeaderBytes,
		})
	}
}

// Serve accepts connections on ln until Shutdown, serving each on its own goroutine.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.defaults()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]struct{}{}, map[*conn]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of descriptors or a passing error: back off rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in flight finish (their
// connections close after the response) and waits for them until ctx ends, then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.mu.Lock()
	s.closing = true
	var errs []error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for c := range s.conns {
		c.wakeIfIdle()
	}
	p := s.parker
	s.mu.Unlock()
	if p != nil {
		p.stop() // napping connections get goroutines again, which close them
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// park hands a napping plain connection to the server's parker, made at the first call, so that a
// server whose connections never nap (or are all TLS) has none; false: no parker (shutting down, or
// the system refused one) or it refused the socket.
func (s *Server) park(c *conn) bool {
	s.mu.Lock()
	if !s.parkTried && !s.closing {
		s.parkTried, s.parker = true, newParker()
	}
	p := s.parker
	s.mu.Unlock()
	return p != nil && p.park(c)
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
