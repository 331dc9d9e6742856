package main

// The end-to-end tests run the real binary as a process against real listeners. TestMain builds it
// once (with -race when the tests run with -race).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "frontgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "frontgate")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building frontgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logSink collects a process's output line by line and lets tests wait for a line.
type logSink struct {
	mu    sync.Mutex // guards lines; cond signals each new line
	cond  *sync.Cond
	lines []string
	done  bool
}

func newLogSink(r io.Reader) *logSink {
	s := &logSink{}
	s.cond = sync.NewCond(&s.mu)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.cond.Broadcast()
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.done = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	return s
}

// waitFor returns the first line (from index `from`) satisfying match, waiting until it appears or the
// output ends. A timer wakes the wait so that a process that hangs fails the test instead of hanging it.
func (s *logSink) waitFor(t *testing.T, what string, match func(string) bool) string {
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

func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// logEntry is one JSON log line.
type logEntry map[string]any

func parseEntry(line string) logEntry {
	var e logEntry
	if json.Unmarshal([]byte(line), &e) != nil {
		return nil
	}
	return e
}

// accessFor waits for the access log line of the request with the given id.
func (s *logSink) accessFor(t *testing.T, requestID string) logEntry {
	t.Helper()
	line := s.waitFor(t, "for request "+requestID, func(l string) bool {
		e := parseEntry(l)
		return e != nil && e["logger"] == "access" && e["request_id"] == requestID
	})
	return parseEntry(line)
}

// proc is a running frontgate process.
type proc struct {
	cmd     *exec.Cmd
	logs    *logSink
	addr    string        // host:port it listens on
	base    string        // http://addr
	exited  chan struct{} // closed when the process has exited
	exitErr error         // cmd.Wait's result, set before exited closes
}

// start runs `frontgate args...` and waits for its "listening" log line.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBinary(t, binary, args...)
}

// startBinary is start with another build of frontgate.
func startBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: newLogSink(pr), exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	line := p.logs.waitFor(t, `"listening"`, func(l string) bool {
		e := parseEntry(l)
		return e != nil && e["msg"] == "listening"
	})
	p.addr = parseEntry(line)["addr"].(string)
	p.base = "http://" + p.addr
	return p
}

// wait waits for the process to exit (after a signal the test sent), returning its exit error.
func (p *proc) wait(t *testing.T) error {
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("frontgate did not exit; output:\n%s", p.logs.text())
		return fmt.Errorf("killed")
	}
}

// stop sends SIGTERM and waits for the process to exit, returning its exit error.
func (p *proc) stop(t *testing.T) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails harmlessly once it has exited
	return p.wait(t)
}

// startGateway starts `frontgate serve -listen 127.0.0.1:0` with extra args.
func startGateway(t *testing.T, args ...string) *proc {
	t.Helper()
	return start(t, append([]string{"serve", "-listen", "127.0.0.1:0"}, args...)...)
}

// runCmd runs frontgate to completion and returns its output and exit code.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// do sends req and returns the response with its body read.
func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// writeFile writes content to dir/name, creating folders.
func writeFile(t *testing.T, dir, name, content string) string {
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
