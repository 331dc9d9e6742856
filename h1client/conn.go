package h1client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// conn is one pooled connection to a target, with the running exchange's state.
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	headers headerSpace     // the header map of this connection's responses, reused
	rc      syscall.RawConn // for system calls tried without waiting; nil: always the usual way
	io      *rawIO          // rc's callbacks and their outcome
	key     string
	used    time.Time // when the running (or last) exchange began: a pooled connection's idle time counts from it

	// The running exchange (see exchange and connIO); zero between exchanges.
	ctx      context.Context // the request's; nil: no exchange runs
	stop     func() bool     // removes the context watch; nil: not registered
	deadline time.Time       // the header deadline to set when a read must wait; zero: none
	blocked  bool            // a call had to wait: the exchange is armed, calls go the usual way
	armed    bool            // the read deadline is set on the socket (never past the response head)
}

// newConn readies nc, a new connection to key (host:port), for exchanges.
func newConn(nc net.Conn, key string) *conn {
	c := &conn{nc: nc, key: key}
	if sc, ok := nc.(syscall.Conn); ok {
		if c.rc, _ = sc.SyscallConn(); c.rc != nil {
			c.io = newRawIO()
		}
	}
	c.br, c.bw = bufio.NewReaderSize(connIO{c}, maxResponseHeader), bufio.NewWriterSize(connIO{c}, 16<<10)
	return c
}

// block readies c for a read or write that may wait: the context's cancellation closes it at once,
// and a read past the header deadline fails. Calling it again adds only what is missing.
func (c *conn) block(read bool) {
	c.blocked = true
	if c.stop == nil && c.ctx != nil {
		c.stop = context.AfterFunc(c.ctx, func() { _ = c.nc.SetDeadline(httpsyntax.ALongTimeAgo) })
	}
	if read && !c.armed && !c.deadline.IsZero() {
		_ = c.nc.SetReadDeadline(c.deadline)
		c.armed = true
		// The watch may have fired since it was registered (during a write that had to wait):
		// the deadline just set would undo its cut, so look again.
		if c.ctx != nil && c.ctx.Err() != nil {
			_ = c.nc.SetDeadline(httpsyntax.ALongTimeAgo)
		}
	}
}

// release ends the exchange's hold on c: the context watch is removed and the context forgotten (a
// pooled connection must not keep a finished request alive). It reports whether the watch had not
// fired, that is whether the connection was not cut by a cancellation.
func (c *conn) release() bool {
	ok := true
	if c.stop != nil {
		ok = c.stop()
		c.stop = nil
	}
	c.ctx, c.deadline, c.blocked = nil, time.Time{}, false
	return ok
}

// connIO is what a connection's bufio reader and writer use. While an exchange runs, each system call
// is first tried without waiting; only when the socket would block is the exchange armed (see block)
// and the call made the usual way, parking in the netpoller.
type connIO struct{ c *conn }

func (x connIO) Read(p []byte) (int, error) {
	c := x.c
	if c.ctx != nil && !c.blocked && len(p) > 0 {
		c.io.buf = p
		err := c.rc.Read(c.io.read)
		n, serr := c.io.n, c.io.err
		c.io.buf, c.io.err = nil, nil
		switch {
		case err != nil:
			return 0, err // closed, or a deadline passed
		case serr == nil && n > 0:
			return n, nil
		case serr == nil:
			return 0, io.EOF
		case serr != syscall.EAGAIN && serr != syscall.EINTR:
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("read", serr)}
		}
	}
	if c.ctx != nil {
		c.block(true)
	}
	return c.nc.Read(p)
}

func (x connIO) Write(p []byte) (int, error) {
	c := x.c
	written := 0
	if c.ctx != nil && !c.blocked {
		c.io.buf = p
		err := c.rc.Write(c.io.write)
		written = c.io.n
		serr := c.io.err
		c.io.buf, c.io.err = nil, nil
		if err != nil {
			return written, err
		}
		if serr == nil {
			return written, nil
		}
		// Would block, or failed: the usual write waits, or reports the error as net.Conn does.
		p = p[written:]
	}
	if c.ctx != nil {
		c.block(false)
	}
	n, err := c.nc.Write(p)
	return written + n, err
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "read" || op.Op == "write")
}

// rawIO holds one optimistic system call's buffer and outcome, with the callbacks RawConn runs,
// made once per connection so that a call allocates nothing.
type rawIO struct {
	buf         []byte
	n           int
	err         error
	read, write func(fd uintptr) bool
}

func newRawIO() *rawIO {
	r := &rawIO{}
	r.read = func(fd uintptr) bool {
		r.n, r.err = syscall.Read(int(fd), r.buf)
		return true
	}
	r.write = func(fd uintptr) bool {
		r.n, r.err = 0, nil
		for r.n < len(r.buf) {
			n, err := syscall.Write(int(fd), r.buf[r.n:])
			if err != nil {
				r.err = err
				break
			}
			r.n += n
		}
		return true
	}
	return r
}

// alive peeks at an idle connection without blocking: a target that closed it, or wrote anything
// unasked on it (a 408 before closing, a stray second answer, a body after a HEAD's or a 204's
// head), makes it unusable.
func alive(c *conn) bool {
	if c.rc == nil {
		return true
	}
	ok := false
	var b [1]byte
	err := c.rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == syscall.EAGAIN
		return true
	})
	return err == nil && ok
}
