package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
)

// plainBinary builds frontgate without the race detector, whose shadow memory would swamp an RSS
// measurement.
func plainBinary(t *testing.T) string {
	t.Helper()
	plainOnce.Do(func() {
		plainBin = filepath.Join(filepath.Dir(binary), "frontgate-plain")
		out, err := exec.Command("go", "build", "-o", plainBin, ".").CombinedOutput()
		if err != nil {
			plainErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainBin
}

// peakRSS is the process's high-water resident set, from /proc.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A 1 GiB upload and a 1 GiB download pass through the gateway with its peak RSS under 64 MiB.
func TestGigabyteTransfersKeepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB through loopback")
	}
	const size = 1 << 30
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(size))
			_, _ = io.Copy(w, io.LimitReader(zeros{}, size))
		}
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\ndefaults: {max_body: 0}\nupstreams: {up: {targets: [%q]}}\nroutes: [{path: /big, upstream: up}]\n", up.URL))
	gw := startBinary(t, plainBinary(t), "serve", "-listen", "127.0.0.1:0", "-config", cfg)

	req, _ := http.NewRequest(http.MethodPost, gw.Base+"/big", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != strconv.Itoa(size) {
		t.Fatalf("upload: %d %q", resp.StatusCode, body)
	}
	resp, err := http.Get(gw.Base + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	rss := peakRSS(t, gw.Cmd.Process.Pid)
	t.Logf("peak RSS after 1 GiB up and 1 GiB down: %.1f MiB", float64(rss)/(1<<20))
	if rss > 64<<20 {
		t.Errorf("peak RSS %.1f MiB, want under 64 MiB", float64(rss)/(1<<20))
	}
}
