package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/frontgate/frontgate/internal/e2e"
)

// Without log.access_file the access log is on stdout and the process log on stderr, each alone.
func TestAccessLogOnStdout(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "gw.yaml", "log: {format: json}\ndemo: true\n")
	gw := startGateway(t, "-config", cfg)
	ids := requestBatch(t, gw, 3)
	for _, id := range ids {
		gw.Stdout.AccessFor(t, id)
	}
	if err := gw.Stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	for _, l := range gw.Stdout.Lines() {
		if e := parseEntry(l); e == nil || e["logger"] != "access" {
			t.Errorf("stdout holds a line that is not an access line: %s", l)
		}
	}
	listening := 0
	for _, l := range gw.Stderr.Lines() {
		e := parseEntry(l)
		if e != nil && e["logger"] == "access" {
			t.Errorf("stderr holds an access line: %s", l)
		}
		if e != nil && e["msg"] == "listening" {
			listening++
		}
	}
	if listening == 0 {
		t.Errorf("no \"listening\" line on stderr:\n%s", gw.Stderr.Text())
	}
}

// SIGUSR1 reopens the access-log file for an external mover: after the file is moved away and the
// signal handled, new lines go to a new file at the configured path. The moved file has exactly the
// requests before (including those still in the buffer when it moved), the new one exactly those after.
func TestAccessLogReopenOnUSR1(t *testing.T) {
	for _, tt := range []struct {
		name string
		move func(t *testing.T, dir, file string, pid int) // moves file to file.1 and signals pid
	}{
		{"rename", func(t *testing.T, dir, file string, pid int) {
			if err := os.Rename(file, file+".1"); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
		}},
		{"logrotate", func(t *testing.T, dir, file string, pid int) {
			bin, err := exec.LookPath("logrotate")
			if err != nil {
				t.Fatal("this test needs logrotate: apt-get install -y logrotate")
			}
			conf := writeFile(t, dir, "logrotate.conf", fmt.Sprintf("%s {\n  rotate 3\n  create 0640\n  postrotate\n    kill -USR1 %d\n  endscript\n}\n", file, pid))
			if err := os.Chmod(conf, 0o600); err != nil { // logrotate ignores a config others may write
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-f", "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput(); err != nil {
				t.Fatalf("logrotate: %v\n%s", err, out)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "access.log")
			cfg := writeFile(t, dir, "gw.yaml", "log: {format: json, access_file: access.log}\ndemo: true\n")
			gw := startGateway(t, "-config", cfg)
			before := requestBatch(t, gw, 30)
			tt.move(t, dir, file, gw.Cmd.Process.Pid)
			gw.Stderr.WaitFor(t, "access log reopened", func(l string) bool {
				e := parseEntry(l)
				return e != nil && e["msg"] == "access log reopened" && e["file"] == file
			})
			after := requestBatch(t, gw, 30)
			if err := gw.Stop(t); err != nil { // flushes the last lines
				t.Fatalf("exit: %v", err)
			}
			e2e.WantEachOnce(t, file+".1", e2e.AccessIDs(t, file+".1"), before)
			e2e.WantEachOnce(t, file, e2e.AccessIDs(t, file), after)
		})
	}
}

// requestBatch sends n requests to gw and returns their request ids.
func requestBatch(t *testing.T, gw *proc, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		resp, _ := get(t, gw.Base+"/?n="+strconv.Itoa(i))
		if ids[i] = resp.Header.Get("X-Request-Id"); ids[i] == "" || resp.StatusCode != 200 {
			t.Fatalf("GET /: %s, request id %q", resp.Status, ids[i])
		}
	}
	return ids
}
