package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/loadgen"
)

// selftest -h2c and -h2 against the real gateway, on its h2c listener and on its TLS listener (a
// self-signed certificate, so -k): the gateway logs exactly the requests selftest reports, over
// exactly -c connections.
func TestSelftestH2Gateway(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir, "gw", "gw.test")
	for _, tt := range []struct {
		name, config, scheme string
		flags                []string
	}{
		{"h2c", "log: {format: json}\ndemo: true\nh2c: true\n", "http", []string{"-h2c"}},
		{"h2 over TLS", "log: {format: json}\ndemo: true\ntls: {cert: gw.crt, key: gw.key}\n", "https", []string{"-h2", "-k"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gw := startGateway(t, "-config", writeFile(t, dir, "gw.yaml", tt.config))
			const n, conns = 300, 3
			args := append(tt.flags, "-o", "json", "-n", "300", "-c", "3", "-streams", "5", tt.scheme+"://"+gw.Addr+"/")
			code, out, stderr := runSelftestWith(t, nil, args...)
			if code != 0 {
				t.Fatalf("selftest %q: exit %d: %s", args, code, stderr)
			}
			var rep loadgen.JSONReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Requests != n || rep.Errors != 0 || rep.Status["200"] != n || !strings.HasPrefix(rep.Client, tt.flags[0][1:]+" (5 streams") {
				t.Errorf("report: client %q, %d requests %v, %d errors; want %d answered 200", rep.Client, rep.Requests,
					rep.Status, rep.Errors, n)
			}
			logged, remotes := waitAccessLines(t, gw, n)
			if logged != n || remotes != conns {
				t.Errorf("the gateway logged %d requests from %d connections, want %d from %d", logged, remotes, n, conns)
			}
		})
	}
}

// waitAccessLines waits until gw has logged at least n access lines (or 30s have passed) and returns
// how many it logged and from how many distinct remote addresses.
func waitAccessLines(t *testing.T, gw *proc, n int) (lines, remotes int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		seen := map[string]bool{}
		lines = 0
		for _, l := range gw.Stdout.Lines() {
			if e := parseEntry(l); e != nil && e["logger"] == "access" {
				lines++
				seen[e["remote"].(string)] = true
			}
		}
		if lines >= n || time.Now().After(deadline) {
			return lines, len(seen)
		}
	}
}

// -targets through the command line: every target in turn, -H added to each, one report row per target;
// a URL alongside is a usage error, and a malformed file names its line.
func TestSelftestTargets(t *testing.T) {
	var (
		mu  sync.Mutex // guards got
		got []string   // METHOD URI X-Run, in order (one connection)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Method+" "+r.RequestURI+" "+r.Header.Get("X-Run"))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	targets := writeFile(t, dir, "targets.txt", "GET "+srv.URL+"/a\n\nDELETE "+srv.URL+"/b\nX-Run: own\n")
	code, out, stderr := runSelftestWith(t, nil, "-o", "json", "-c", "1", "-n", "4", "-H", "X-Run: r1", "-targets", targets)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"GET /a r1", "DELETE /b own", "GET /a r1", "DELETE /b own"}; !slices.Equal(got, want) {
		t.Errorf("received %q, want %q", got, want)
	}
	var rep loadgen.JSONReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Routes["GET /a"].Requests != 2 || rep.Routes["DELETE /b"].Requests != 2 {
		t.Errorf("routes %+v, want 2 requests each for GET /a and DELETE /b", rep.Routes)
	}

	bad := writeFile(t, dir, "bad.txt", "GET "+srv.URL+"/a\nnot a header\n")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-targets", targets, srv.URL}, 2, "a URL and -targets exclude each other"},
		{[]string{"-targets", targets, "-m", "PUT"}, 2, "no -targets"},
		{[]string{"-targets", bad}, 1, bad + `:2: "not a header": want a header line`},
	} {
		if code, _, stderr := runSelftestWith(t, nil, tt.args...); code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("selftest %q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}
