// Package e2e runs the real frontgate binary for end-to-end tests in any package: Build compiles it
// once, Start runs it as a process and waits for its "listening" line, and a LogSink keeps its JSON
// log lines for tests to wait on. It is for tests only; nothing in the product imports it.
package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the frontgate command into dir and returns the binary's path. It builds with -race
// when the calling tests run with -race, so that the process is checked as the tests are.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "frontgate")
	args := []string{"build", "-o", bin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/frontgate/frontgate/cmd/frontgate")...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building frontgate: %w\n%s", err, out.String())
	}
	return bin, nil
}

// Main is a TestMain body for a package whose tests need the binary: it builds it into a temporary
// folder, stores its path in *bin, runs the tests and removes the folder.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "frontgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// LogSink collects a process's output line by line and lets tests wait for a line.
type LogSink struct {
	mu    sync.Mutex // guards lines, open and done; cond signals each new line
	cond  *sync.Cond
	lines []string
	open  int  // streams still being read
	done  bool // every stream has ended, or a wait gave up
}

// NewLogSink collects r's lines until r ends (a process's pipe: its exit ends the reading).
func NewLogSink(r io.Reader) *LogSink {
	s := newLogSink(1)
	go readLines(r, s)
	return s
}

// newLogSink is a sink for lines from the given number of streams (readLines).
func newLogSink(streams int) *LogSink {
	s := &LogSink{open: streams}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// readLines reads r until it ends, adding every line to each sink, and then ends one stream of each.
func readLines(r io.Reader, sinks ...*LogSink) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for _, s := range sinks {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.cond.Broadcast()
			s.mu.Unlock()
		}
	}
	for _, s := range sinks {
		s.mu.Lock()
		if s.open--; s.open == 0 {
			s.done = true
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// WaitFor returns the first line satisfying match, waiting until it appears or the output ends. A
// timer ends the wait after 30 s, so that a process that hangs fails the test instead of hanging it.
func (s *LogSink) WaitFor(t testing.TB, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.AfterFunc(30*time.Second, func() {
		s.mu.Lock()
		s.done = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer deadline.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; ; i++ {
		for ; i < len(s.lines); i++ {
			if match(s.lines[i]) {
				return s.lines[i]
			}
		}
		if s.done {
			t.Fatalf("no log line %s; output:\n%s", what, strings.Join(s.lines, "\n"))
		}
		s.cond.Wait()
		i--
	}
}

// Lines returns a copy of the lines so far.
func (s *LogSink) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Text is the output so far, one line after another.
func (s *LogSink) Text() string { return strings.Join(s.Lines(), "\n") }

// Entry is one JSON log line.
type Entry map[string]any

// ParseEntry decodes a JSON log line; nil for a line that is not JSON.
func ParseEntry(line string) Entry {
	var e Entry
	if json.Unmarshal([]byte(line), &e) != nil {
		return nil
	}
	return e
}

// AccessFor waits for the access-log line of the request with the given id.
func (s *LogSink) AccessFor(t testing.TB, requestID string) Entry {
	t.Helper()
	line := s.WaitFor(t, "for request "+requestID, func(l string) bool {
		e := ParseEntry(l)
		return e != nil && e["logger"] == "access" && e["request_id"] == requestID
	})
	return ParseEntry(line)
}

// Proc is a running frontgate process.
type Proc struct {
	Cmd *exec.Cmd
	// Logs has the lines of both stdout (the access log, without log.access_file) and stderr (the
	// rest), each stream's in its order; Stdout and Stderr have each stream's alone.
	Logs, Stdout, Stderr *LogSink
	Addr                 string        // host:port of the public listener
	Base                 string        // http://Addr
	Exited               chan struct{} // closed when the process has exited and its every line is in Logs
	ExitErr              error         // cmd.Wait's result, set before Exited closes
}

// Start runs `bin args...`, waits for its public "listening" log line and stops the process (SIGTERM)
// when the test ends.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, exec.Command(bin, args...))
}

// StartCmd is Start for a command the caller prepared (another user, say); its output is taken over.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	// A pipe each: one shared pipe could interleave a long write of one stream with a line of the other.
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Logs: newLogSink(2), Stdout: newLogSink(1), Stderr: newLogSink(1), Exited: make(chan struct{})}
	var reading sync.WaitGroup
	reading.Go(func() { readLines(outR, p.Logs, p.Stdout) })
	reading.Go(func() { readLines(errR, p.Logs, p.Stderr) })
	go func() {
		p.ExitErr = cmd.Wait()
		outW.Close()
		errW.Close()
		reading.Wait() // every line is in the sinks once Exited closes
		close(p.Exited)
	}()
	t.Cleanup(func() { p.Stop(t) })
	line := p.Logs.WaitFor(t, `"listening"`, func(l string) bool {
		e := ParseEntry(l)
		return e != nil && e["msg"] == "listening"
	})
	p.Addr = ParseEntry(line)["addr"].(string)
	p.Base = "http://" + p.Addr
	return p
}

// Serve starts `bin serve -listen 127.0.0.1:0 -config config`.
func Serve(t testing.TB, bin, config string) *Proc {
	t.Helper()
	return Start(t, bin, "serve", "-listen", "127.0.0.1:0", "-config", config)
}

// Wait waits for the process to exit (after a signal the test sent), returning its exit error.
func (p *Proc) Wait(t testing.TB) error {
	select {
	case <-p.Exited:
		return p.ExitErr
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		t.Errorf("frontgate did not exit; output:\n%s", p.Logs.Text())
		return fmt.Errorf("killed")
	}
}

// Stop sends SIGTERM and waits for the process to exit, returning its exit error.
func (p *Proc) Stop(t testing.TB) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM) // fails harmlessly once it has exited
	return p.Wait(t)
}

// WriteFile writes content to dir/name, creating folders, and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// AccessIDs counts the request ids of the access lines in log files, gzip-compressed ones (".gz")
// decoded. A line that is not an access line fails the test.
func AccessIDs(t testing.TB, files ...string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		for line := range strings.Lines(string(b)) {
			e := ParseEntry(line)
			id, _ := e["request_id"].(string)
			if e["logger"] != "access" || id == "" {
				t.Fatalf("%s: not an access line: %q", name, line)
			}
			ids[id]++
		}
	}
	return ids
}

// WantEachOnce fails the test unless ids (from AccessIDs) has every id in want once and nothing else.
func WantEachOnce(t testing.TB, what string, ids map[string]int, want []string) {
	t.Helper()
	lines := 0
	for _, n := range ids {
		lines += n
	}
	if lines != len(want) || len(ids) != len(want) {
		t.Errorf("%s: %d access lines of %d request ids, want %d requests each once", what, lines, len(ids), len(want))
	}
	for _, id := range want {
		if ids[id] != 1 {
			t.Errorf("%s: request %s logged %d times, want once", what, id, ids[id])
		}
	}
}

// FreeAddr is a loopback address with a port free a moment ago, for a config that must name its
// listener's address before it runs (a port another process takes meanwhile fails the test loudly;
// ListenFree makes that unlikely).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := ListenFree()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// RefusedAddr is a loopback address that refuses connections for as long as the test runs. A socket
// bound to its port, never listening, holds it, so that no listener can take the port meanwhile: an
// address noted from a listener and closed can be handed to the next one that binds 127.0.0.1:0
// (seen in CI: a "refused" target that answered, as another test's server).
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("a socket for a refusing address: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding a refusing address: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("a refusing address: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// ListenFree listens on a free loopback TCP port below the system's ephemeral range, for a port a
// test names in a config and releases before the program under test binds it. A port from
// 127.0.0.1:0 comes from the ephemeral range, where every outgoing connection on the machine picks
// its source port: one of the many the other tests open may take it in between (seen in CI as
// "bind: address already in use"). Below that range only explicit binds compete. It falls back to
// 127.0.0.1:0 when no port there is free.
func ListenFree() (net.Listener, error) {
	low := 32768 // Linux's default start of net.ipv4.ip_local_port_range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 20000 // above the fixed ports of bench/ and the shared scripts
	for tries := 0; low-from > 1000 && tries < 50; tries++ {
		port := from + rand.IntN(low-from)
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}
