package middleware

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/frontgate/frontgate/guard"
	"github.com/frontgate/frontgate/internal/e2e"
	"github.com/frontgate/frontgate/leanhttp"
)

// echoUpgradeUpstream accepts one connection on a real listener, answers its `Upgrade: echo`
// request 101, echoes n bytes, holds the tunnel open for hold and closes it. It returns the
// upstream's URL; the test's cleanup waits for its goroutine.
func echoUpgradeUpstream(t *testing.T, n int, hold time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "echo") {
			t.Errorf("upstream: request %v, %v", req, err)
			return
		}
		fmt.Fprint(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if got, err := io.CopyN(c, br, int64(n)); err != nil {
			t.Errorf("upstream: echoed %d bytes: %v", got, err)
			return
		}
		time.Sleep(hold)
	}()
	return "http://" + ln.Addr().String()
}

// serveEngine serves h on a real listener with the named engine and returns its address; the
// test's cleanup stops the server and waits for it.
func serveEngine(t *testing.T, engine string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type server interface {
		Serve(net.Listener) error
		Shutdown(context.Context) error
	}
	var srv server
	switch engine {
	case "leanhttp":
		srv = &leanhttp.Server{Handler: h}
	case "guard":
		srv = &http.Server{Handler: guard.Handler(h), ConnContext: guard.ConnContext}
	default:
		srv = &http.Server{Handler: h}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// An upgraded exchange through httputil.ReverseProxy, on each server engine, with compression in
// the chain or not (the client asks for gzip): its access line counts the bytes the tunnel carried
// each way (the 101 head not included), says upgraded, and its total_ms spans the tunnel.
func TestUpgradedExchangeCountsTunnelBytes(t *testing.T) {
	const n = 200_000
	const hold = 150 * time.Millisecond
	for _, engine := range []string{"net/http", "guard", "leanhttp", "net/http+compress", "leanhttp+compress"} {
		t.Run(engine, func(t *testing.T) {
			target, err := url.Parse(echoUpgradeUpstream(t, n, hold))
			if err != nil {
				t.Fatal(err)
			}
			cfg := zap.NewProductionEncoderConfig()
			cfg.EncodeTime = zapcore.ISO8601TimeEncoder
			var logs e2e.Buffer // the server's goroutines write, the test reads
			log := zap.New(zapcore.NewCore(NewJSONEncoder(cfg), zapcore.AddSync(&logs), zap.InfoLevel))
			var h http.Handler = httputil.NewSingleHostReverseProxy(target)
			server, compressed := strings.CutSuffix(engine, "+compress")
			if compressed {
				h = Compress(h, CompressOptions{Encodings: []string{EncodingGzip}})
			}
			addr := serveEngine(t, server, Timing(h, Options{Logger: log}))

			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprint(conn, "GET /tunnel HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v, %v", resp, err)
			}
			sent := bytes.Repeat([]byte("0123456789abcdef"), n/16)
			wrote := make(chan error, 1)
			go func() { // written while the echo is read, so that no buffer fills up
				_, err := conn.Write(sent)
				wrote <- err
			}()
			echoed, err := io.ReadAll(br) // to the upstream's close, after hold
			if werr := <-wrote; werr != nil {
				t.Fatalf("write: %v", werr)
			}
			if err != nil || !bytes.Equal(echoed, sent) {
				t.Fatalf("echo: %d bytes of %d, %v", len(echoed), len(sent), err)
			}
			conn.Close()

			var entry map[string]any
			deadline := time.Now().Add(10 * time.Second)
			for entry == nil && time.Now().Before(deadline) {
				for line := range strings.Lines(logs.String()) {
					if strings.Contains(line, `"msg":"request"`) {
						if err := json.Unmarshal([]byte(line), &entry); err != nil {
							t.Fatalf("%v: %s", err, line)
						}
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			if entry == nil {
				t.Fatalf("no access line; log:\n%s", logs.String())
			}
			if entry["status"] != float64(http.StatusSwitchingProtocols) || entry["upgraded"] != true ||
				entry["bytes_in"] != float64(n) || entry["bytes_out"] != float64(n) {
				t.Errorf("access line %v; want status 101, upgraded, bytes_in and bytes_out %d", entry, n)
			}
			if total, _ := entry["total_ms"].(float64); total < float64(hold/time.Millisecond) {
				t.Errorf("total_ms %v; the tunnel lasted at least %v", entry["total_ms"], hold)
			}
		})
	}
}

// The hijacked connection stays a half-closer when it was one (ReverseProxy closes the client's
// writing half when the upstream's ends), and NetConn reaches it.
func TestHijackedConnKeepsCloseWrite(t *testing.T) {
	for _, engine := range []string{"net/http", "guard", "leanhttp"} {
		t.Run(engine, func(t *testing.T) {
			type result struct {
				wrapped, underlying bool
				raw                 net.Conn
				err                 error
			}
			got := make(chan result, 1)
			h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					got <- result{err: err}
					return
				}
				defer c.Close()
				_, wrapped := c.(closeWriter)
				raw := c.(interface{ NetConn() net.Conn }).NetConn()
				_, underlying := raw.(closeWriter)
				got <- result{wrapped: wrapped, underlying: underlying, raw: raw}
			}), Options{})
			addr := serveEngine(t, engine, h)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.wrapped != r.underlying {
				t.Errorf("CloseWrite: wrapped %v, underlying (%T) %v", r.wrapped, r.raw, r.underlying)
			}
			if engine != "guard" && !r.wrapped { // guard's watched connection has no CloseWrite
				t.Errorf("%T: no CloseWrite on a TCP connection", r.raw)
			}
		})
	}
}
