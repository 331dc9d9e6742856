package leanhttp

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// parker holds napping connections without a goroutine each: their sockets wait in an epoll
// instance of the parker's own, which itself waits in the runtime's poller, so that one goroutine
// watches them all. A socket turning readable (a request, or the client leaving), the end of its idle
// timeout and Shutdown each hand a connection back to a goroutine of its own, which serves it as
// before (or closes it).
type parker struct {
	f    *os.File // the epoll instance, registered with the runtime's poller
	rc   syscall.RawConn
	epfd int // f's descriptor (f.Fd would make it blocking)

	mu      sync.Mutex // guards conns and stopped: written by park, by the loop and by stop
	conns   map[int32]*conn
	stopped bool

	events [128]syscall.EpollEvent // the loop's
	woken  []*conn                 // the loop's
	done   chan struct{}           // closed when the loop has returned
}

// sweepEvery is how often the parker looks for connections whose idle timeout is up.
const sweepEvery = time.Second

// newParker starts a parker; nil when the system refuses one (connections then nap on goroutines).
func newParker() *parker {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "leanhttp-parker") // non-blocking: polled by the runtime
	rc, err := f.SyscallConn()
	if err != nil || f.SetReadDeadline(time.Time{}) != nil { // no deadline support: not polled
		f.Close()
		return nil
	}
	p := &parker{f: f, rc: rc, epfd: fd, conns: map[int32]*conn{}, done: make(chan struct{})}
	go p.loop()
	return p
}

// park hands c to the parker; false: the parker is stopping or refused the socket, and c stays with
// its goroutine.
func (p *parker) park(c *conn) bool {
	fd := -1
	if err := c.rc.Control(func(s uintptr) { fd = int(s) }); err != nil || fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	// One-shot: the first event disarms the socket, so it is handed back once.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return false
	}
	p.conns[int32(fd)] = c
	return true
}

// loop waits for parked sockets' events, and every sweepEvery for idle timeouts, until stop.
func (p *parker) loop() {
	defer close(p.done)
	for {
		_ = p.f.SetReadDeadline(time.Now().Add(sweepEvery))
		err := p.rc.Read(p.collect)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.sweep(time.Now())
		case err != nil:
			return // closed by stop
		}
		for i, c := range p.woken {
			p.wake(c)
			p.woken[i] = nil
		}
		p.woken = p.woken[:0]
	}
}

// collect takes the events ready on the epoll instance fd without waiting; none: false, and the
// runtime calls again once the instance turns readable.
func (p *parker) collect(fd uintptr) bool {
	n, err := syscall.EpollWait(int(fd), p.events[:], 0)
	if err != nil || n <= 0 {
		return false // nothing yet (or EINTR: try again once readable)
	}
	p.mu.Lock()
	for _, ev := range p.events[:n] {
		if c, ok := p.conns[ev.Fd]; ok {
			delete(p.conns, ev.Fd)
			_ = syscall.EpollCtl(int(fd), syscall.EPOLL_CTL_DEL, int(ev.Fd), nil)
			p.woken = append(p.woken, c)
		}
	}
	p.mu.Unlock()
	return true
}

// sweep takes the connections whose idle timeout is up.
func (p *parker) sweep(now time.Time) {
	p.mu.Lock()
	for fd, c := range p.conns {
		if !now.Before(c.napEnd) {
			delete(p.conns, fd)
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
			p.woken = append(p.woken, c)
		}
	}
	p.mu.Unlock()
}

// wake gives c a goroutine again; its read deadline (the end of its idle timeout) is set.
func (p *parker) wake(c *conn) {
	go c.serve()
}

// stop hands every parked connection back to a goroutine (Shutdown then closes them) and ends the
// loop. Calling it again does nothing.
func (p *parker) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		<-p.done
		return
	}
	p.stopped = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for fd, c := range conns {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		p.wake(c)
	}
	p.f.Close()
	<-p.done
}
