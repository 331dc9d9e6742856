package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frontgate/frontgate/loadgen"
)

// Self mode drives the routes of the config it runs: the demo routes, a file of the static mount, the
// forwarded route whose upstream answers (with the one method it allows); the route whose upstream is
// down and the redirect are named as skipped, and nothing answers 404.
func TestSelftestSelfModeConfig(t *testing.T) {
	var api atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" && r.URL.Path == "/api/" {
			api.Add(1)
		}
		io.WriteString(w, "up")
	}))
	defer up.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	writeFile(t, dir, "files/.env", "hidden")
	writeFile(t, dir, "files/b.txt", "b")
	writeFile(t, dir, "files/a/c.txt", "c")
	cfg := writeFile(t, dir, "frontgate.yaml", fmt.Sprintf(`demo: true
static:
  - {prefix: /files/, path: files}
upstreams:
  up: {targets: ["%s"]}
  down: {targets: ["http://%s"]}
routes:
  - {path_prefix: /api/, methods: [PUT], upstream: up}
  - {path: /gone, upstream: down, name: gone}
  - {path: /old, redirect: {to: /new}, name: old}
`, up.URL, down))

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"selftest", "-config", cfg, "-o", "json", "-n", "60", "-c", "3"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep loadgen.JSONReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	want := []string{"/", "/demo1/x", "/files/a/c.txt", "/api/"}
	for _, name := range want {
		if r := rep.Routes[name]; r.Status["200"] != 15 || r.Errors != 0 {
			t.Errorf("route %s: status %v, %d errors; want 15 200s", name, r.Status, r.Errors)
		}
	}
	if len(rep.Routes) != len(want) || rep.Status["200"] != 60 || len(rep.Status) != 1 {
		t.Errorf("routes %v, status %v; want %q, all 200", rep.Routes, rep.Status, want)
	}
	if api.Load() != 16 { // and the probe
		t.Errorf("the upstream got %d PUT /api/, want 15 and the probe", api.Load())
	}
	if r := rep.Skipped["gone"]; !strings.Contains(r, "502") || len(rep.Skipped) != 2 || rep.Skipped["old"] == "" {
		t.Errorf("skipped %v, want gone (502) and old", rep.Skipped)
	}

	// The text report names them too.
	out.Reset()
	if code := run(context.Background(), []string{"selftest", "-config", cfg, "-n", "8", "-c", "1"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "Skipped:      gone: upstream unreachable") || !strings.Contains(out.String(), "Skipped:      old: redirect route") {
		t.Errorf("text report (exit %d) does not name the skipped routes:\n%s", code, out.String())
	}
}

// Conflicting or unreadable arguments end the real binary with exit 2 and one line saying why.
func TestSelftestOneLineErrors(t *testing.T) {
	url, served := countingServer(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "10", "-d", "1s", url}, "-n and -d (or -stages) exclude each other"},
		{[]string{"-n", "10", "-stages", "1s:10", url}, "-n and -d (or -stages) exclude each other"},
		{[]string{"-F", "f=@/does/not/exist", url}, `selftest: -F: form field "f": open /does/not/exist: no such file or directory`},
		{[]string{"-body-file", "/does/not/exist", url}, "selftest: -body-file: open /does/not/exist: no such file or directory"},
		{[]string{"-rate", "10:20", url}, "-rate 10:20: a ramp needs -d"},
	} {
		_, stderr, code := runCmd(t, append([]string{"selftest"}, tt.args...)...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("selftest %q: exit %d, stderr %q; want 2 and one line with %q", tt.args, code, stderr, tt.want)
		}
	}
	if served.Load() != 0 {
		t.Errorf("the refused runs sent %d requests", served.Load())
	}
}

// An open-loop ramp and stages send, second by second, what the integral of their rate says, within 2% + 2
// requests after the first second (counted by arrival at the server, from the first one).
func TestSelftestRampRate(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		start float64
		st    []loadgen.Stage
	}{
		{[]string{"-rate", "200:1000", "-d", "3s"}, 200, []loadgen.Stage{{Duration: 3 * time.Second, Rate: 1000}}},
		{[]string{"-stages", "1s:300,2s:900"}, 0, []loadgen.Stage{{Duration: time.Second, Rate: 300}, {Duration: 2 * time.Second, Rate: 900}}},
	} {
		var mu sync.Mutex
		var arrivals []time.Time // guarded by mu
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrivals = append(arrivals, time.Now())
			mu.Unlock()
		}))
		code, _, stderr := runSelftestWith(t, nil, append(tt.args, "-c", "32", "-o", "json", srv.URL)...)
		srv.Close()
		if code != 0 {
			t.Fatalf("selftest %q: exit %d: %s", tt.args, code, stderr)
		}
		integral := func(at float64) float64 { // requests due in [0, at)
			var n, from, t0 = 0.0, tt.start, 0.0
			for _, s := range tt.st {
				d := min(at-t0, s.Duration.Seconds())
				if d <= 0 {
					break
				}
				n += (from + from + (s.Rate-from)*d/s.Duration.Seconds()) / 2 * d
				from, t0 = s.Rate, t0+s.Duration.Seconds()
			}
			return n
		}
		counts := make([]float64, 4)
		for _, a := range arrivals {
			counts[min(int(a.Sub(arrivals[0])/time.Second), 3)]++
		}
		if total := integral(3); len(arrivals) != int(total) {
			t.Errorf("selftest %q: %d requests, want %v", tt.args, len(arrivals), total)
		}
		for s := 1; s < 3; s++ {
			want := integral(float64(s+1)) - integral(float64(s))
			if d := counts[s] - want; d > want*0.02+2 || -d > want*0.02+2 {
				t.Errorf("selftest %q: second %d got %v requests, want %.1f (per second: %v)", tt.args, s, counts[s], want, counts)
			}
		}
	}
}

// The self-mode error path: a config without a route that can be driven.
func TestSelftestSelfModeNothingToDrive(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "frontgate.yaml", "routes:\n  - {path: /old, redirect: {to: /new}}\n")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"selftest", "-config", cfg, "-n", "4"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "no route that can be driven") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
