package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// stdConn sends through net/http's client, for https targets (or when asked to). Each stdConn has its own
// Transport limited to one connection, so -c keeps meaning the number of connections. Wire bytes are
// counted on the TCP connection, so for https they are TLS record bytes.
type stdConn struct {
	ctx     context.Context // cancelled on abort
	cancel  context.CancelFunc
	client  *http.Client
	tr      *http.Transport
	timeout time.Duration

	sent, recv         atomic.Uint64 // wire bytes counted by countingConn
	seenSent, seenRecv uint64        // part of sent/recv already attributed to an exchange
	abrtd              atomic.Bool
	closeOnce          sync.Once
}

func newStdConn(ctx context.Context, timeout time.Duration, insecure bool) *stdConn {
	ctx, cancel := context.WithCancel(ctx)
	c := &stdConn{ctx: ctx, cancel: cancel, timeout: timeout}
	d := &net.Dialer{Timeout: timeout}
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: nc, sent: &c.sent, recv: &c.recv}, nil
		},
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // opt-in via -k
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		TLSHandshakeTimeout: timeout,
	}
	c.client = &http.Client{
		Transport: c.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

func (c *stdConn) aborted() bool { return c.abrtd.Load() }

func (c *stdConn) abort() {
	c.abrtd.Store(true)
	c.cancel()
}

func (c *stdConn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.tr.CloseIdleConnections()
	})
}

func (c *stdConn) do(r *prepared, _ time.Duration, ex *exchange) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	err := roundTrip(ctx, c.client.Do, r, ex)
	s, rv := c.sent.Load(), c.recv.Load()
	ex.wireSent, ex.wireRecv = s-c.seenSent, rv-c.seenRecv
	c.seenSent, c.seenRecv = s, rv
	return err
}

// roundTrip sends r through send (a net/http or HTTP/2 client) and reads the whole response, filling the
// status and body counts of ex; the caller counts wire bytes. ctx bounds the exchange.
func roundTrip(ctx context.Context, send func(*http.Request) (*http.Response, error), r *prepared, ex *exchange) error {
	req := r.std.WithContext(ctx)
	if len(r.body) > 0 { // an empty body stays nil: net/http sends Content-Length: 0 where it must
		body := r.body
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Body, _ = req.GetBody()
	}
	resp, err := send(req)
	if err == nil {
		ex.status = resp.StatusCode
		ex.bodySent = uint64(r.bodyLen)
		var n int64
		n, err = io.Copy(io.Discard, resp.Body)
		ex.bodyRecv = uint64(n)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.url, err)
	}
	return nil
}

// countingConn counts the bytes that cross a connection.
type countingConn struct {
	net.Conn
	sent, recv *atomic.Uint64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.recv.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(uint64(n))
	return n, err
}
