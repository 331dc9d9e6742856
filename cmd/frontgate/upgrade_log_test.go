package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An upgraded connection through the binary, on both engines: its access line counts the bytes the
// tunnel carried each way, says upgraded and status 101, and total_ms spans the tunnel.
func TestUpgradedConnectionIsCountedInTheAccessLog(t *testing.T) {
	const n = 100_000
	const hold = 100 * time.Millisecond
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "echo") {
			http.Error(w, "upgrade: echo expected", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if brw.Flush() != nil {
			return
		}
		if _, err := io.CopyN(conn, brw, n); err == nil {
			time.Sleep(hold) // the tunnel stays open a while after the echo
		}
	}))
	defer up.Close()
	for _, engine := range []string{"lean", "stdlib"} {
		t.Run(engine, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "gw.yaml", fmt.Sprintf("log: {format: json}\nserver: {engine: %s}\n"+
				"upstreams: {u: {targets: [%q]}}\nroutes: [{name: tunnel, path: /tunnel, upstream: u}]\n", engine, up.URL))
			gw := startGateway(t, "-config", cfg)
			conn, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprint(conn, "GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v, %v", resp, err)
			}
			sent := bytes.Repeat([]byte("frontgate"), n/9+1)[:n]
			wrote := make(chan error, 1)
			go func() { // written while the echo is read, so that no buffer fills up
				_, err := conn.Write(sent)
				wrote <- err
			}()
			echoed, err := io.ReadAll(br) // to the upstream's close
			if werr := <-wrote; werr != nil {
				t.Fatalf("write: %v", werr)
			}
			if err != nil || !bytes.Equal(echoed, sent) {
				t.Fatalf("echo: %d bytes of %d, %v", len(echoed), n, err)
			}
			conn.Close()

			e := gw.Logs.AccessFor(t, resp.Header.Get("X-Request-Id"))
			in, _ := e["bytes_in"].(float64)
			out, _ := e["bytes_out"].(float64)
			if e["status"] != float64(http.StatusSwitchingProtocols) || e["upgraded"] != true || e["route"] != "tunnel" ||
				in < n || out < n {
				t.Errorf("access line %v; want status 101, upgraded, route tunnel, bytes_in and bytes_out ≥ %d", e, n)
			}
			if total, _ := e["total_ms"].(float64); total < float64(hold/time.Millisecond) {
				t.Errorf("total_ms %v; the tunnel lasted at least %v", e["total_ms"], hold)
			}
		})
	}
}
