package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// An upstream that cuts its response body mid-way, on both engines (stdlib: net/http's server with
// its ErrorLog): the client's response is cut, the cut is logged once at warn with the route, the upstream and
// the bytes that came, the access line (same request id) names the route and says aborted, and no
// "suppressing panic" line appears at any level.
func TestCutBodyLogsOneWarnLine(t *testing.T) {
	const got = 256 << 10 // more than the engines buffer: the response's head reaches the client
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("x", got))
		_ = brw.Flush()
	}))
	defer up.Close()
	for _, engine := range []string{"stdlib", "lean"} {
		t.Run(engine, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "gw.yaml", fmt.Sprintf("log: {format: json, level: debug}\nserver: {engine: %s}\n"+
				"upstreams: {u: {targets: [%q]}}\nroutes: [{name: cut, path: /cut, upstream: u}]\n", engine, up.URL))
			gw := startGateway(t, "-config", cfg)
			resp, err := http.Get(gw.Base + "/cut")
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Fatalf("the client read the cut answer (%d bytes) as whole", n)
			}
			id := resp.Header.Get("X-Request-Id")
			access := gw.Logs.AccessFor(t, id)
			if access["route"] != "cut" || access["aborted"] != true || access["level"] != "warn" {
				t.Errorf("access line %v; want route cut, aborted, at warn", access)
			}
			// Logged before the access line (the handler returns last), but on stderr: the streams
			// are read apart.
			gw.Stderr.WaitFor(t, "about the cut", func(l string) bool { return strings.Contains(l, "cut short") })
			var cuts []logEntry
			for _, l := range gw.Logs.Lines() {
				if strings.Contains(l, "suppressing panic") {
					t.Errorf("logged: %s", l)
				}
				if e := parseEntry(l); e != nil && e["level"] == "warn" && strings.Contains(fmt.Sprint(e["msg"]), "cut short") {
					cuts = append(cuts, e)
				}
			}
			if len(cuts) != 1 {
				t.Fatalf("%d warn lines about the cut, want 1:\n%s", len(cuts), gw.Logs.Text())
			}
			c := cuts[0]
			if c["request_id"] != id || c["upstream"] != up.URL || c["body_bytes_received"] != float64(got) || c["route"] != "cut" {
				t.Errorf("cut line %v; want request_id %s, route cut, upstream %s, body_bytes_received %d", c, id, up.URL, got)
			}
		})
	}
}
