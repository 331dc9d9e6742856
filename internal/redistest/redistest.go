// Package redistest runs Debian's redis-server as a child process on a free loopback port, in a
// temporary folder, without persistence, so that tests can share rate limits through a real Redis
// and break it (pause, kill, restart on the same port). It is for tests only; nothing in the
// product imports it.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running (or stopped, after Kill) redis-server.
type Server struct {
	// Addr is the server's 127.0.0.1:port; it stays the same across Restart.
	Addr string

	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start runs redis-server on a free port and waits until it answers PING; the test's cleanup kills
// it. It fails the test when redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("the Redis tests need redis-server: apt-get install -y redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: t.TempDir(), port: port}
	t.Cleanup(s.Kill)
	s.start(t)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	var out strings.Builder
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait() // killed by the test, or failed to start: the PING below says which
		close(done)
	}(s.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := s.Ping(); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("redis-server on port %d exited:\n%s", s.port, out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			t.Fatalf("redis-server on port %d does not answer PING:\n%s", s.port, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ping sends PING and expects PONG, within a second.
func (s *Server) Ping() error {
	reply, err := s.Do("PING")
	if err != nil {
		return err
	}
	if reply != "+PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// Do sends one command over a fresh connection and returns the first line of the reply as it came
// (like "+PONG", ":42" or "$-1"; for a bulk string, the string itself), within a second.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if strings.HasPrefix(line, "$") && line != "$-1" {
		line, err = r.ReadString('\n')
		line = strings.TrimSuffix(line, "\r\n")
	}
	return line, err
}

// Int runs a command whose reply is an integer (DBSIZE, PTTL) and returns it.
func (s *Server) Int(args ...string) (int64, error) {
	reply, err := s.Do(args...)
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(reply, ":") {
		return 0, fmt.Errorf("%s answered %q", args[0], reply)
	}
	return strconv.ParseInt(reply[1:], 10, 64)
}

// Pause stops the process (SIGSTOP): connections stay open, nothing is answered.
func (s *Server) Pause(t testing.TB) { s.signal(t, syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume(t testing.TB) { s.signal(t, syscall.SIGCONT) }

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Kill ends the process (SIGKILL, which also ends a paused one) and waits for it; the data is gone.
// Killing a killed server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill() // fails harmlessly once it has exited
	<-s.done
}

// Restart starts a killed server again on the same port, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t)
}
