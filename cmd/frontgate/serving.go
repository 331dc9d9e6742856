package main

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// serving is an http.Server running on a listener in a goroutine it owns; Stop drains and waits for it.
type serving struct {
	srv    *http.Server
	served chan error // receives Serve's result once
}

func startServing(srv *http.Server, ln net.Listener) *serving {
	s := &serving{srv: srv, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ln) }()
	return s
}

// Failed is readable when the server stopped on its own (Serve returned before Stop).
func (s *serving) Failed() <-chan error { return s.served }

// Stop stops accepting, drains in-flight requests until ctx ends, and waits for Serve to return.
func (s *serving) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
