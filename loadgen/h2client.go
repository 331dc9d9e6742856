package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// h2Conn is one HTTP/2 connection (x/net/http2's ClientConn over a TCP connection we dial, so that
// Plan.Conns counts real connections), shared by the h2Streams of Plan.Streams workers. It is dialed by
// the first stream that needs it and again when the server closed it.
type h2Conn struct {
	tr      *http2.Transport
	tls     *tls.Config // nil for h2c
	dialer  net.Dialer
	timeout time.Duration

	// sent and recv count the wire bytes (TLS records for h2) not yet attributed to an exchange: each
	// exchange takes what accumulated, so the totals are exact though streams interleave.
	sent, recv atomic.Uint64

	mu    sync.Mutex // guards cc and users: taken once per request to read cc, held while dialing
	cc    *http2.ClientConn
	users int // streams not closed yet; the last one closes cc
}

func newH2Conn(p Plan, streams int) *h2Conn {
	c := &h2Conn{
		tr:      &http2.Transport{AllowHTTP: true, DisableCompression: true},
		dialer:  net.Dialer{Timeout: p.Timeout},
		timeout: p.Timeout,
		users:   streams,
	}
	if p.Proto == ProtoH2 {
		c.tls = &tls.Config{NextProtos: []string{http2.NextProtoTLS}, InsecureSkipVerify: p.Insecure} //nolint:gosec // opt-in via -k
	}
	return c
}

// get returns the connection to addr, dialing it when there is none or the server is closing it.
func (c *h2Conn) get(ctx context.Context, addr string) (*http2.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil {
		if st := c.cc.State(); !st.Closed && !st.Closing {
			return c.cc, nil
		}
		_ = c.cc.Close()
		c.cc = nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	nc, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	nc = &countingConn{Conn: nc, sent: &c.sent, recv: &c.recv}
	if c.tls != nil {
		host, _, _ := net.SplitHostPort(addr)
		conf := c.tls.Clone()
		conf.ServerName = host
		tc := tls.Client(nc, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
			_ = nc.Close()
			return nil, fmt.Errorf("%s did not negotiate h2 with ALPN (got %q)", addr, p)
		}
		nc = tc
	}
	if c.cc, err = c.tr.NewClientConn(nc); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("http2 connection to %s: %w", addr, err)
	}
	return c.cc, nil
}

// release is called once by each stream when it is done; the last one closes the connection.
func (c *h2Conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users--; c.users == 0 && c.cc != nil {
		_ = c.cc.Close()
		c.cc = nil
	}
}

// h2Stream is one worker's slot on a shared h2Conn: it sends one request at a time.
type h2Stream struct {
	conn    *h2Conn
	ctx     context.Context // cancelled on abort
	cancel  context.CancelFunc
	timeout time.Duration
	abrtd   atomic.Bool
	closed  bool // owned by the driving goroutine
}

var _ requester = (*h2Stream)(nil)

func newH2Stream(ctx context.Context, conn *h2Conn) *h2Stream {
	ctx, cancel := context.WithCancel(ctx)
	return &h2Stream{conn: conn, ctx: ctx, cancel: cancel, timeout: conn.timeout}
}

func (s *h2Stream) aborted() bool { return s.abrtd.Load() }

func (s *h2Stream) abort() {
	s.abrtd.Store(true)
	s.cancel()
}

func (s *h2Stream) close() {
	if !s.closed {
		s.closed = true
		s.cancel()
		s.conn.release()
	}
}

func (s *h2Stream) do(r *prepared, _ time.Duration, ex *exchange) error {
	if s.abrtd.Load() {
		return errCanceled
	}
	cc, err := s.conn.get(s.ctx, r.addr)
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		err = roundTrip(ctx, cc.RoundTrip, r, ex)
		cancel()
	}
	ex.wireSent, ex.wireRecv = s.conn.sent.Swap(0), s.conn.recv.Swap(0)
	return err
}
