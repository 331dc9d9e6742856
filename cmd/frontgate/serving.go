package main

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/frontgate/frontgate/guard"
)

// server is what serving runs: net/http's Server or leanhttp's.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// guardedServer is net/http's server on listeners whose connections package guard watches.
type guardedServer struct {
	*http.Server
	maxHeaderBytes int
}

func (g guardedServer) Serve(ln net.Listener) error {
	return g.Server.Serve(guard.Listener(ln, g.maxHeaderBytes))
}

// serving is a server running on a listener in a goroutine it owns; Stop drains and waits for it.
type serving struct {
	srv  server
	done chan struct{} // closed when Serve has returned
	err  error         // Serve's result, readable once done is closed
}

// startServer serves srv on ln (plain TCP).
func startServer(srv server, ln net.Listener) *serving {
	s := &serving{srv: srv, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = srv.Serve(ln)
	}()
	return s
}

// Done is closed when the server has stopped, on its own or by Stop.
func (s *serving) Done() <-chan struct{} { return s.done }

// Failed reports, once Done is closed, why the server stopped on its own (nil after Stop).
func (s *serving) Failed() error {
	if errors.Is(s.err, http.ErrServerClosed) {
		return nil
	}
	return s.err
}

// Stop stops accepting, drains in-flight requests until ctx ends, and waits for Serve to return.
func (s *serving) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return errors.Join(err, s.Failed())
}
