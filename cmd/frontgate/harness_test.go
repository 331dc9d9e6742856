package main

// The end-to-end tests run the real binary as a process against real listeners (internal/e2e).
// TestMain builds it once (with -race when the tests run with -race).

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"testing"

	"github.com/frontgate/frontgate/internal/e2e"
)

var binary string

func TestMain(m *testing.M) { e2e.Main(m, &binary) }

// logEntry is one JSON log line.
type logEntry = e2e.Entry

var parseEntry = e2e.ParseEntry

// proc is a running frontgate process.
type proc struct{ *e2e.Proc }

// start runs `frontgate args...` and waits for its "listening" log line.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBinary(t, binary, args...)
}

// startBinary is start with another build of frontgate.
func startBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	return &proc{e2e.Start(t, bin, args...)}
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

// writeFile writes content to dir/name, creating folders, and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	return e2e.WriteFile(t, dir, name, content)
}
