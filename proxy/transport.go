package proxy

import (
	"context"
	"net"
	"net/http"
	"time"
)

// dialTimeoutKey carries a route's dial timeout to the pool's dialer.
type dialTimeoutKey struct{}

// newTransport returns the pool's transport: the lean HTTP/1.1 client for plain-http targets with a
// tuned net/http Transport behind it for the rest, or that Transport alone for h2c.
func newTransport(opts PoolOptions) http.RoundTripper {
	std := newStdTransport(opts)
	if opts.H2C {
		return std
	}
	return &h1Transport{
		dialer:      &net.Dialer{KeepAlive: 30 * time.Second},
		dialTimeout: dialTimeoutOf(opts),
		maxIdle:     std.MaxIdleConnsPerHost,
		idleTimeout: std.IdleConnTimeout,
		fallback:    std,
		log:         opts.Logger,
		idle:        map[string][]*h1Conn{},
	}
}

func dialTimeoutOf(opts PoolOptions) time.Duration {
	if opts.DialTimeout <= 0 {
		return 5 * time.Second
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
		idle = 256
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
