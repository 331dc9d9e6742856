package gateway

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/internal/e2e"
	"github.com/frontgate/frontgate/middleware"
)

// startLogging starts a server on the config text in dir/gw.yaml, its access log going to the file
// fetchID sends GET url and returns the response's request id.
func fetchID(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		return "", fmt.Errorf("GET %s: %s without a request id", url, resp.Status)
	}
	return id, nil
}

// Under load from concurrent clients, a 1MiB access-log file rotates several times and is compressed
// into backups; every request served has exactly one line across the current file and the backups.
func TestAccessLogRotationUnderLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, base, stop := startServer(t, dir, "listen: 127.0.0.1:0\nlog:\n  access_file: logs/access.log\n  rotate: {max_size: 1MiB, compress: true}\n", quietLog(t))
	const clients, perClient = 8, 500
	pad := strings.Repeat("x", 1000) // about 1.3 KB a line: 4000 lines are some 5 MiB, so 5 rotations
	var mu sync.Mutex                // guards served
	var served []string
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for i := range perClient {
				id, err := fetchID(client, fmt.Sprintf("%s/%s/%d/%d", base, pad, c, i))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				served = append(served, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.access.file.MaxSize != 1 || !s.access.file.Compress {
		t.Fatalf("the file rotates at %d MiB, compress %v; want 1 MiB, compressed", s.access.file.MaxSize, s.access.file.Compress)
	}
	stop() // flushes the last lines

	// Compression runs in the background after each rotation: wait until no backup is left plain.
	logs := filepath.Join(dir, "logs")
	var backups []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := filepath.Glob(filepath.Join(logs, "access-*.log*"))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := filepath.Glob(filepath.Join(logs, "access-*.log"))
		if len(plain) == 0 {
			backups = all
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backups still not compressed after 20s: %v", plain)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d requests, %d rotated files", len(served), len(backups))
	if len(backups) < 3 {
		t.Fatalf("%d rotated files (%v), want at least 3 rotations", len(backups), backups)
	}
	e2e.WantEachOnce(t, "current file and backups", e2e.AccessIDs(t, append(backups, filepath.Join(logs, "access.log"))...), served)
}

// The access log is buffered as configured (256 KiB, flushed every 100ms): a request's line reaches
// the file without a shutdown or a full buffer.
func TestAccessLogFlushedWhileServing(t *testing.T) {
	dir := t.TempDir()
	s, base, _ := startServer(t, dir, "listen: 127.0.0.1:0\nlog: {access_file: access.log}\n", quietLog(t))
	if b := s.access.buf; b.FlushInterval != 100*time.Millisecond || b.Size != 256<<10 {
		t.Errorf("access buffer: %d bytes flushed every %v, want 256 KiB every 100ms", b.Size, b.FlushInterval)
	}
	id, err := fetchID(http.DefaultClient, base+"/flushed")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "access.log"))
		if err != nil {
			t.Fatal(err) // opened at start, so there from the first
		}
		if strings.Contains(string(b), `"request_id":"`+id+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access line of request %s is not in the file after 2s; the file holds %q", id, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reload that names another access-log file takes effect: the lines of the requests before it are
// in the old file, those after it in the new one, each exactly once.
func TestAccessLogFileChangesOnReload(t *testing.T) {
	dir := t.TempDir()
	s, base, stop := startServer(t, dir, "listen: 127.0.0.1:0\nlog: {access_file: a.log}\n", quietLog(t))
	batch := func(tag string) []string {
		var ids []string
		for i := range 20 {
			id, err := fetchID(http.DefaultClient, fmt.Sprintf("%s/%s/%d", base, tag, i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	first := batch("first")
	if err := os.WriteFile(filepath.Join(dir, "gw.yaml"), []byte("listen: 127.0.0.1:0\nlog: {access_file: b.log, rotate: {max_size: 1MiB}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Reload("test")
	second := batch("second")
	stop()
	e2e.WantEachOnce(t, "a.log", e2e.AccessIDs(t, filepath.Join(dir, "a.log")), first)
	e2e.WantEachOnce(t, "b.log", e2e.AccessIDs(t, filepath.Join(dir, "b.log")), second)
}

// BenchmarkAccessLogWriters logs one access line per request through the timing middleware into a
// file, the way each writer does: "stderr" is the process log's buffered writer as it was when it
// carried the access log, "stdout" and "file" the access writer over a plain file and over the
// rotating file (100 MiB rotations).
func BenchmarkAccessLogWriters(b *testing.B) {
	for _, name := range []string{"stderr", "stdout", "file"} {
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			out, err := os.Create(filepath.Join(dir, "out.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			c := config.Log{Level: "info", Format: "json"}
			var log *zap.Logger
			var stop func() error
			switch name {
			case "stderr":
				buf := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(out), Size: 256 << 10, FlushInterval: 100 * time.Millisecond}
				log, stop = zap.New(zapcore.NewCore(newEncoder("json", false), buf, zap.InfoLevel)).Named("access"), buf.Stop
			default:
				w := newAccessWriter(out, zap.NewNop())
				if name == "file" {
					c.AccessFile, c.Rotate = filepath.Join(dir, "access.log"), &config.Rotate{MaxSize: 100 << 20}
				}
				if err := w.use(c); err != nil {
					b.Fatal(err)
				}
				if log, err = w.logger(c); err != nil {
					b.Fatal(err)
				}
				stop = w.close
			}
			h := middleware.Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				middleware.SetRoute(r, "bench")
				w.Header().Set("Content-Length", "2")
				_, _ = io.WriteString(w, "ok")
			}), middleware.Options{Logger: log})
			req, _ := http.NewRequest(http.MethodGet, "/demo2", nil)
			req.RemoteAddr = "127.0.0.1:53548"
			w := &headerOnly{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.StopTimer()
			if err := stop(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// headerOnly is a ResponseWriter that keeps headers and drops the body.
type headerOnly struct{ h http.Header }

func (w *headerOnly) Header() http.Header         { return w.h }
func (w *headerOnly) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerOnly) WriteHeader(int)             {}

// quietLog are Server options whose log shows warnings and errors only.
func quietLog(t *testing.T) Options {
	return Options{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
}
