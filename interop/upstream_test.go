package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

// upstream is one real HTTP/1.1 server answering the interop paths.
type upstream struct {
	name   string
	url    string            // http://127.0.0.1:port
	skips  map[string]string // answer → why this upstream cannot produce it
	closes map[string]bool   // answers besides the cuts and /close after which it ends the connection
	output func() string     // what the process printed, for failure messages
}

// startUpstreams starts every upstream once for the whole run; each stops when the test ends.
func startUpstreams(t *testing.T, fx *fixture) []*upstream {
	t.Helper()
	type started struct {
		up  *upstream
		err error
	}
	starters := []func() (*upstream, error){
		func() (*upstream, error) { return startGoUpstream(t, fx) },
		func() (*upstream, error) {
			up, err := startScript(t, "aiohttp", "/usr/bin/python3", filepath.Join("testdata", "upstream_aiohttp.py"), fx.planPath)
			if up != nil {
				up.skips = map[string]string{
					"chunked-trailers": "aiohttp.web's StreamResponse has no way to send trailer fields",
					"close":            "aiohttp.web frames every HTTP/1.1 body of unknown length as chunked: it never sends a close-delimited one",
					"cut-close":        "aiohttp.web never sends a close-delimited body, so it cannot cut one",
					"early-hints":      "aiohttp.web has no API for 1xx informational responses",
				}
			}
			return up, err
		},
		func() (*upstream, error) {
			up, err := startScript(t, "httpserver", "/usr/bin/python3", filepath.Join("testdata", "upstream_httpserver.py"), fx.planPath)
			if up != nil {
				up.closes = map[string]bool{"sse": true} // its event stream is close-delimited
			}
			return up, err
		},
		func() (*upstream, error) {
			return startScript(t, "node", "node", filepath.Join("testdata", "upstream_node.js"), fx.planPath)
		},
		func() (*upstream, error) { return startNginx(t, fx) },
	}
	out := make([]started, len(starters))
	var wg sync.WaitGroup
	for i, start := range starters {
		wg.Go(func() {
			up, err := start()
			out[i] = started{up, err}
		})
	}
	wg.Wait()
	var ups []*upstream
	for _, s := range out {
		if s.err != nil {
			t.Fatal(s.err)
		}
		ups = append(ups, s.up)
	}
	return ups
}

// startGoUpstream serves goUpstream with net/http's server on a free loopback port.
func startGoUpstream(t *testing.T, fx *fixture) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: goUpstream(fx), ErrorLog: quietLog()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &upstream{name: "go", url: "http://" + ln.Addr().String(), output: func() string { return "" }}, nil
}

// startScript runs an upstream script that prints its port on its first stdout line, and kills it
// (by its own pid) when the test ends.
func startScript(t *testing.T, name, program string, args ...string) (*upstream, error) {
	cmd := exec.Command(program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // if this test process dies first
	logs := &e2e.Buffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", name, err)
	}
	exited := make(chan struct{})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			port <- strings.TrimSpace(sc.Text())
		}
		close(port)
		io.Copy(logs, stdout) // later output, if any, for failure messages
	}()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case p, ok := <-port:
		if _, err := strconv.Atoi(p); !ok || err != nil {
			<-exited
			return nil, fmt.Errorf("upstream %s printed no port (%q); output:\n%s", name, p, logs.String())
		}
		return &upstream{name: name, url: "http://127.0.0.1:" + p, output: logs.String}, nil
	case <-timer.C:
		return nil, fmt.Errorf("upstream %s printed no port within 30s; output:\n%s", name, logs.String())
	}
}

// startNginx writes a document root and a configuration and runs nginx in the foreground on a
// listening socket it inherits (NGINX=fd;), so that no port is guessed: connections wait in the
// socket's backlog until nginx accepts them.
func startNginx(t *testing.T, fx *fixture) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close() // nginx holds its own copy
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	addr := ln.Addr().String()
	dir := filepath.Join(fx.dir, "nginx")
	conf, err := writeNginx(dir, addr, fx)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/usr/sbin/nginx", "-c", conf, "-e", "stderr", "-p", dir)
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Env = append(os.Environ(), "NGINX=3;")
	logs := &e2e.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	up := &upstream{name: "nginx", url: "http://" + addr, output: logs.String, skips: map[string]string{
		"continue":    "nginx cannot compute a checksum of a request body (that needs a scripting module)",
		"early-hints": "nginx 1.22 (Debian 12) cannot send 103 Early Hints (the early_hints directive came in 1.29)",
		"sse":         "nginx serves files: it cannot pause between events",
		"cut-cl":      "nginx never ends a response short of its own framing",
		"cut-chunked": "nginx never ends a response short of its own framing",
		"cut-close":   "nginx never ends a response short of its own framing",
	}}
	// The socket listens already; one request shows that nginx took the configuration and serves.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", up.url+"/cl", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 200 {
			err = errors.New(resp.Status)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("nginx does not serve GET /cl: %v; output:\n%s", err, logs.String())
	}
	return up, nil
}

// writeNginx lays out nginx's document root and a configuration listening on addr, and returns the
// configuration's path.
//
// Content-Length: static files. Chunked: SSI, which cannot know the length; a file of SSI includes
// gives one chunk per included piece. Trailers: add_trailer. Close-delimited: SSI with
// chunked_transfer_encoding off. 304: the static file's ETag. Echo: the mirror module reads the
// request body before the content phase, the static module refuses the POST with 405, and an
// error_page sends that to a location that returns $request_body, as application/octet-stream
// like every upstream's echo (a type that is not compressed).
func writeNginx(dir, addr string, fx *fixture) (string, error) {
	www := filepath.Join(dir, "www")
	files := map[string][]byte{
		"cl":            fx.bodies["cl"],
		"close":         fx.bodies["close"],
		"chunked-1m":    fx.bodies["chunked-1m"],
		"chunked-empty": []byte(`<!--# set var="nothing" value="" -->`), // SSI that outputs nothing
		"304":           []byte("0123456789abcdef"),
		"echo":          []byte("the static module refuses a POST here with 405\n"),
	}
	for _, name := range []string{"chunked", "chunked-trailers"} {
		var ssi bytes.Buffer
		for i, p := range pieces(fx.bodies[name], fx.upPlan.Chunks[name]) {
			part := fmt.Sprintf("parts/%s.%d", name, i)
			files[part] = p
			fmt.Fprintf(&ssi, `<!--# include virtual="/%s" -->`, part)
		}
		files[name] = ssi.Bytes()
	}
	for name, b := range files {
		path := filepath.Join(www, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Chtimes(filepath.Join(www, "304"), time.Unix(etagTime, 0), time.Unix(etagTime, 0)); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	// A master process: an inherited socket (see startNginx) is served only with one. Run as root, it
	// would start its worker as nobody, who may not enter the test's private temporary folder.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
%[7]s
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  default_type text/plain;
  keepalive_timeout 120s;
  server {
    listen %[6]s;
    root %[3]s;
    add_header X-Upstream-Conn $remote_port always;
    location = /chunked { ssi on; ssi_types *; }
    location = /chunked-1m { ssi on; ssi_types *; }
    location = /chunked-empty { ssi on; ssi_types *; }
    location = /chunked-trailers {
      ssi on; ssi_types *;
      add_header X-Upstream-Conn $remote_port always;
      add_header Trailer %[4]s;
      add_trailer %[4]s %[5]s;
    }
    location = /close { ssi on; ssi_types *; chunked_transfer_encoding off; }
    location = /204 { return 204; }
    location = /echo {
      mirror /mirror-sink;
      client_body_buffer_size 1m;
      client_max_body_size 1m;
      client_body_in_single_buffer on;
      error_page 405 = @echo;
    }
    location @echo { default_type application/octet-stream; return 200 $request_body; }
    location = /mirror-sink { internal; return 204; }
  }
}
`, dir, tmp, www, fx.upPlan.TrailerName, fx.upPlan.TrailerValue, addr, user)
	path := filepath.Join(dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}
