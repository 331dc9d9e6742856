package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
	"github.com/frontgate/frontgate/loadgen"
)

// replica is the config of one replica: the demo routes on listen, the admin listener on admin, and
// shutdown_delay.
func replica(t *testing.T, dir, listen, admin string, delay time.Duration) string {
	t.Helper()
	return writeFile(t, dir, "gw.yaml", fmt.Sprintf(`listen: %q
log: {format: json}
demo: true
admin: {listen: %q}
server: {shutdown_delay: %q, shutdown_timeout: 10s}
`, listen, admin, delay.String()))
}

// After SIGTERM with shutdown_delay, /readyz answers 503 at once while the public listener keeps
// answering; the process then drains and exits 0.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	listen, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	gw := start(t, "serve", "-config", replica(t, t.TempDir(), listen, admin, 2*time.Second))
	gw.listenerAddr(t, "admin")
	if resp, _ := get(t, "http://"+admin+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("/readyz before SIGTERM: %d", resp.StatusCode)
	}
	signaled := time.Now()
	if err := gw.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	gw.Logs.WaitFor(t, "the shutdown delay's log line", func(l string) bool {
		return strings.Contains(l, "serving on for the delay")
	})
	resp, _ := get(t, "http://"+admin+"/readyz")
	_, body := get(t, "http://"+listen+"/")
	if resp.StatusCode != 503 || body != "Hello, world" || time.Since(signaled) > 2*time.Second {
		// (checked within the delay: the answers above came before the drain could have begun)
		t.Errorf("during the delay: /readyz %d, public %q; want 503 and the demo answer", resp.StatusCode, body)
	}
	if err := gw.Wait(t); err != nil {
		t.Errorf("exit: %v", err)
	}
	if waited := time.Since(signaled); waited < 2*time.Second {
		t.Errorf("exited %v after SIGTERM, before the 2s delay ended", waited)
	}
}

// Two replicas behind HAProxy, which health-checks each one's /readyz on its admin listener and, like
// an L4 balancer, never retries a request elsewhere (retries 0), are restarted one after the other
// under a steady load: with shutdown_delay, HAProxy takes each replica out before it stops
// accepting, and not one request fails. (Without the delay, requests fail: see the closing note.)
func TestRollingRestartBehindHAProxyLosesNoRequest(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatalf("this test needs Debian's haproxy (apt-get install haproxy): %v", err)
	}
	// The delay must outlast HAProxy's noticing /readyz: two failed checks 100 ms apart, each
	// allowed 2 s (a check timed out at HAProxy's default, the 100 ms interval, on a loaded CI
	// machine, and took the other replica out too).
	const delay = 3 * time.Second
	type rep struct {
		dir, listen, admin string
		proc               *proc
	}
	reps := make([]*rep, 2)
	for i := range reps {
		r := &rep{dir: t.TempDir(), listen: e2e.FreeAddr(t), admin: e2e.FreeAddr(t)}
		r.proc = start(t, "serve", "-config", replica(t, r.dir, r.listen, r.admin, delay))
		r.proc.listenerAddr(t, "admin")
		reps[i] = r
	}
	front := e2e.FreeAddr(t)
	dir := t.TempDir()
	var servers strings.Builder
	for i, r := range reps {
		adminPort := r.admin[strings.LastIndexByte(r.admin, ':')+1:]
		fmt.Fprintf(&servers, "  server r%d %s check port %s inter 100ms fall 2 rise 2\n", i, r.listen, adminPort)
	}
	cfg := e2e.WriteFile(t, dir, "haproxy.cfg", fmt.Sprintf(`global
  maxconn 1000
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  timeout check 2s
  option http-keep-alive
  retries 0
frontend fe
  bind %s
  default_backend replicas
backend replicas
  option httpchk GET /readyz
  http-check expect status 200
%s`, front, servers.String()))
	ha := exec.Command("haproxy", "-f", cfg, "-db")
	ha.Stdout, ha.Stderr = os.Stderr, os.Stderr
	if err := ha.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ha.Process.Kill(); _ = ha.Wait() })
	// waitServed sends requests through HAProxy (beside any load) until each of reps logged one: HAProxy
	// has found them ready.
	waitServed := func(reps ...*rep) {
		t.Helper()
		served := func(r *rep) bool { return strings.Contains(r.proc.Logs.Text(), `"logger":"access"`) }
		for deadline := time.Now().Add(30 * time.Second); slices.ContainsFunc(reps, func(r *rep) bool { return !served(r) }); {
			if time.Now().After(deadline) {
				t.Fatal("HAProxy did not send requests to every replica within 30s")
			}
			if resp, err := http.Get("http://" + front + "/"); err == nil {
				resp.Body.Close()
			}
		}
	}
	waitServed(reps...)

	out := filepath.Join(dir, "load.json")
	load := exec.Command(binary, "selftest", "-c", "8", "-rate", "400", "-d", "16s", "-o", "json", "http://"+front+"/")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	load.Stdout, load.Stderr = f, os.Stderr
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	for _, r := range reps { // stop, restart on the same ports, wait until HAProxy uses it again
		if err := r.proc.Stop(t); err != nil {
			t.Errorf("replica %s exit: %v", r.listen, err)
		}
		r.proc = start(t, "serve", "-config", filepath.Join(r.dir, "gw.yaml"))
		r.proc.listenerAddr(t, "admin")
		waitServed(r)
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("selftest: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var report loadgen.JSONReport
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatalf("selftest output %q: %v", data, err)
	}
	ok := report.Status["200"]
	t.Logf("%d requests, %d errors, status %v", report.Requests, report.Errors, report.Status)
	if report.Errors != 0 || ok != report.Requests || ok < 3000 {
		t.Errorf("rolling restart under load: %d requests, %d errors, status %v; want every one 200",
			report.Requests, report.Errors, report.Status)
	}
}
