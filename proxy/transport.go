package proxy

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/frontgate/frontgate/h1client"
)

// dialTimeoutKey carries a route's dial timeout to the pool's dialer.
type dialTimeoutKey struct{}

// sender is what a try needs of the lean HTTP/1.1 client (package h1client): whether it takes a
// request, and one try of it within limits handed over as plain values.
type sender interface {
	// Handles reports whether Send takes req.
	Handles(req *http.Request) bool
	// Send makes one try of req within try's limits; sent is when the request was written (zero:
	// it was not). The response body drops try.Inflight when closed.
	Send(req *http.Request, try h1client.Try) (resp *http.Response, sent time.Time, err error)
}

var _ sender = (*h1client.Transport)(nil)

// newTransports returns the pool's transports. std is a tuned net/http Transport. Unless the pool
// speaks h2c, lean is the lean HTTP/1.1 client for plain-http targets, with std behind it for the
// rest, and transport is lean; for h2c, lean is nil and transport is std.
func newTransports(opts PoolOptions) (transport http.RoundTripper, lean sender, std *http.Transport) {
	std = newStdTransport(opts)
	if opts.H2C {
		return std, nil, std
	}
	client := h1client.New(h1client.Options{
		Dialer:         &net.Dialer{KeepAlive: 30 * time.Second},
		DialTimeout:    dialTimeoutOf(opts),
		MaxIdlePerHost: std.MaxIdleConnsPerHost,
		IdleTimeout:    std.IdleConnTimeout,
		Fallback:       std,
		Buffers:        bufferPool,
		Logger:         opts.Logger,
	})
	return client, client, std
}

func dialTimeoutOf(opts PoolOptions) time.Duration {
	if opts.DialTimeout <= 0 {
		return DefaultDialTimeout
	}
	return opts.DialTimeout
}

// newStdTransport is http.DefaultTransport's shape tuned for a gateway: many idle connections per target
// (the default keeps 2), no compression negotiated on the client's behalf, no environment proxy, and
// a dial timeout a route may shorten through the request context.
func newStdTransport(opts PoolOptions) *http.Transport {
	dialTimeout := dialTimeoutOf(opts)
	idle := opts.MaxIdlePerTarget
	if idle <= 0 {
		idle = DefaultMaxIdlePerTarget
	}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := dialTimeout
			if rd, ok := ctx.Value(dialTimeoutKey{}).(time.Duration); ok && rd > 0 {
				d = rd
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost:   idle,
		ForceAttemptHTTP2:     true, // https targets get HTTP/2 when they offer it (a custom dialer turns it off otherwise)
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	if opts.H2C {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		t.Protocols = &p
	}
	return t
}
