package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selftestReport is the part of selftest's JSON these tests read.
type selftestReport struct {
	Requests   uint64            `json:"requests"`
	Errors     uint64            `json:"errors"`
	Status     map[string]uint64 `json:"status"`
	ErrorKinds map[string]uint64 `json:"error_kinds"`
}

// loadWith runs `frontgate selftest args... -o json` to completion in the background.
func loadWith(t *testing.T, args ...string) <-chan selftestReport {
	t.Helper()
	out := make(chan selftestReport, 1)
	cmd := exec.Command(binary, append([]string{"selftest", "-o", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait() // exit 1 when errors happened; the report says what
		var r selftestReport
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			r.Errors = ^uint64(0)
			fmt.Fprintf(os.Stderr, "selftest output unreadable: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		out <- r
	}()
	return out
}

// writeAtomically replaces path's content the way config management does: write aside, rename.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Reloading every 200 ms under 64 connections of load (alternating two valid configs, and an invalid
// one now and then) fails no request.
func TestReloadUnderLoadFailsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s of load")
	}
	one, two := textServer(t, "one"), textServer(t, "two")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gw.yaml")
	valid := func(target string) string {
		return fmt.Sprintf("log: {format: json, access: false}\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /v, upstream: u}]\n", target)
	}
	writeAtomically(t, cfgPath, valid(one.URL))
	gw := startGateway(t, "-config", cfgPath)

	load := loadWith(t, "-c", "64", "-d", "20s", gw.Base+"/v")
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var report selftestReport
	reloads := 0
	for done := false; !done; {
		select {
		case report = <-load:
			done = true
		case <-tick.C:
			reloads++
			switch {
			case reloads%7 == 0:
				writeAtomically(t, cfgPath, "upstreams: {u: {targets: [\"http://\"]}}\nroutes: [{path: /v, upstream: missing}]\n")
			case reloads%2 == 0:
				writeAtomically(t, cfgPath, valid(two.URL))
			default:
				writeAtomically(t, cfgPath, valid(one.URL))
			}
			if err := gw.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
	}
	ok, rejected := gw.countMsgs("config reloaded"), gw.countMsgs("config reload rejected; the running config stays")
	t.Logf("%d requests under %d reloads (%d applied, %d rejected): status %v, errors %v",
		report.Requests, reloads, ok, rejected, report.Status, report.ErrorKinds)
	if report.Errors != 0 || report.Status["200"] != report.Requests || report.Requests == 0 {
		t.Errorf("requests %d, errors %d, status %v, error kinds %v: want every request answered 200",
			report.Requests, report.Errors, report.Status, report.ErrorKinds)
	}
	if ok < 20 || rejected < 3 {
		t.Errorf("%d reloads applied and %d rejected; the test meant to exercise both", ok, rejected)
	}
}

// SIGTERM under load: every request the gateway accepted before the signal completes (each one it
// handled reached selftest as a 200), new connections are refused, and the process exits 0.
func TestSIGTERMUnderLoadCompletesAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // the upstream's service time: keeps requests in flight
		io.WriteString(w, "done")
	}))
	defer slow.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gw.yaml", fmt.Sprintf("log: {format: json}\nupstreams: {u: {targets: [%q]}}\nroutes: [{path: /w, upstream: u}]\n", slow.URL))
	gw := startGateway(t, "-config", cfg)
	load := loadWith(t, "-c", "64", "-d", "5s", "-timeout", "10s", gw.Base+"/w")
	// Signal once the load is flowing: the access log shows a few hundred requests served.
	n := 0
	gw.Logs.WaitFor(t, "200 requests served", func(l string) bool {
		if e := parseEntry(l); e != nil && e["logger"] == "access" {
			n++
		}
		return n >= 200
	})
	if err := gw.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := gw.Wait(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	report := <-load
	served, non200 := 0, 0
	for _, l := range strings.Split(gw.Logs.Text(), "\n") {
		if e := parseEntry(l); e != nil && e["logger"] == "access" {
			served++
			if e["status"] != 200.0 {
				non200++
			}
		}
	}
	t.Logf("gateway served %d, selftest got %v, errors %v", served, report.Status, report.ErrorKinds)
	if non200 != 0 || uint64(served) != report.Status["200"] || report.Requests != report.Status["200"] {
		t.Errorf("gateway logged %d requests (%d not 200); selftest received %v: every accepted request must complete with 200",
			served, non200, report.Status)
	}
	if report.ErrorKinds["refused"] == 0 {
		t.Errorf("no connection was refused after the signal: %v", report.ErrorKinds)
	}
	for _, kind := range []string{"timeout", "tls"} {
		if report.ErrorKinds[kind] != 0 {
			t.Errorf("%d %s errors", report.ErrorKinds[kind], kind)
		}
	}
}
