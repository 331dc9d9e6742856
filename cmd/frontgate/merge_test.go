package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/loadgen"
)

// hdrJar is HdrHistogram's own Java library with its log tools (Debian's libhdrhistogram-java).
const hdrJar = "/usr/share/java/hdrhistogram.jar"

var totalCountRe = regexp.MustCompile(`Total count\s*=\s*(\d+)`)

// javaLogTotal runs HdrHistogram's HistogramLogProcessor on the interval log at path and returns the
// total count it finds in the lines of tag ("" for the untagged ones).
func javaLogTotal(t *testing.T, path, tag string) int64 {
	t.Helper()
	if _, err := os.Stat(hdrJar); err != nil {
		t.Fatal("HdrHistogram's own log reader is needed: apt-get install -y libhdrhistogram-java default-jre-headless")
	}
	args := []string{"-cp", hdrJar, "org.HdrHistogram.HistogramLogProcessor", "-i", path, "-outputValueUnitRatio", "1000"}
	if tag != "" {
		args = append(args, "-tag", tag)
	}
	out, err := exec.Command("java", args...).CombinedOutput()
	m := totalCountRe.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("HistogramLogProcessor %s (tag %q): %v\n%s", path, tag, err, out)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

func readJSONReport(t *testing.T, path string) loadgen.JSONReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j loadgen.JSONReport
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return j
}

// One load from two machines, as the README tells it: two selftest processes against one running
// gateway, started together with -start-at, each writing -json and -hdr-log; merge adds them up, from the
// JSON reports and from the logs, and HdrHistogram's own Java tool reads the logs.
func TestSelftestMergeAcrossProcesses(t *testing.T) {
	gw := startGateway(t)
	dir := t.TempDir()
	at := time.Now().Add(2 * time.Second)
	var cmds []*exec.Cmd
	var stderrs []*bytes.Buffer
	for _, name := range []string{"a", "b"} {
		cmd := exec.Command(binary, "selftest", "-n", "300", "-c", "2", "-start-at", at.Format(time.RFC3339Nano),
			"-json", filepath.Join(dir, name+".json"), "-hdr-log", filepath.Join(dir, name+".hlog"), "http://"+gw.Addr+"/")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, stderrs = append(cmds, cmd), append(stderrs, &stderr)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, stderrs[i])
		}
	}
	a, b := readJSONReport(t, filepath.Join(dir, "a.json")), readJSONReport(t, filepath.Join(dir, "b.json"))
	for i, j := range []loadgen.JSONReport{a, b} {
		if j.Requests != 300 || j.Start.Before(at) || j.Hist == "" || len(j.RunIDs) != 1 {
			t.Errorf("worker %d: %d requests from %v (start time %v), hist %.20q, run ids %v", i, j.Requests, j.Start, at, j.Hist, j.RunIDs)
		}
	}
	t.Logf("the workers started %v apart", a.Start.Sub(b.Start).Abs())

	for _, files := range [][]string{{"a.json", "b.json"}, {"a.hlog", "b.hlog"}} {
		args := []string{"selftest", "merge"}
		for _, f := range files {
			args = append(args, filepath.Join(dir, f))
		}
		out, stderr, code := runCmd(t, args...)
		if code != 0 || !strings.Contains(out, "600 completed, 0 failed") || !strings.Contains(out, "merged from 2 results") {
			t.Errorf("merge %v: exit %d\n%s%s", files, code, out, stderr)
		}
	}
	out, stderr, code := runCmd(t, "selftest", "merge", "-o", "json", filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json"))
	var m loadgen.JSONReport
	if err := json.Unmarshal([]byte(out), &m); code != 0 || err != nil {
		t.Fatalf("merge -o json: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if m.Requests != a.Requests+b.Requests || m.Status["200"] != 600 || m.BytesReceived != a.BytesReceived+b.BytesReceived ||
		m.Conns != 4 || len(m.MergedFrom) != 2 {
		t.Errorf("merged %d requests, status %v, %d bytes received, %d conns, from %v", m.Requests, m.Status, m.BytesReceived, m.Conns, m.MergedFrom)
	}
	if m.LatencyMS.Max != max(a.LatencyMS.Max, b.LatencyMS.Max) || m.LatencyMS.Min != min(a.LatencyMS.Min, b.LatencyMS.Min) {
		t.Errorf("merged latency %+v from %+v and %+v", m.LatencyMS, a.LatencyMS, b.LatencyMS)
	}
	for _, name := range []string{"a.hlog", "b.hlog"} {
		if n := javaLogTotal(t, filepath.Join(dir, name), ""); n != 300 {
			t.Errorf("%s: HistogramLogProcessor counts %d latencies, want 300", name, n)
		}
	}

	// The same run twice, and a start time already past, are refused.
	if _, stderr, code := runCmd(t, "selftest", "merge", filepath.Join(dir, "a.json"), filepath.Join(dir, "a.hlog")); code != 1 ||
		!strings.Contains(stderr, "a.hlog: the same run as") {
		t.Errorf("merge a.json a.hlog: exit %d, stderr %q", code, stderr)
	}
	past := time.Now().Add(-time.Minute).Format(time.RFC3339)
	if _, stderr, code := runCmd(t, "selftest", "-n", "5", "-start-at", past, "http://"+gw.Addr+"/"); code != 2 ||
		!strings.Contains(stderr, "start time "+past+" is 1m") || !strings.Contains(stderr, "in the past") {
		t.Errorf("-start-at a minute ago: exit %d, stderr %q", code, stderr)
	}
}

// In self mode the log has a tagged line per route: HdrHistogram's own tool counts each route's requests.
func TestSelftestHdrLogPerRoute(t *testing.T) {
	dir := t.TempDir()
	log, rep := filepath.Join(dir, "self.hlog"), filepath.Join(dir, "self.json")
	if out, stderr, code := runCmd(t, "selftest", "-n", "200", "-c", "2", "-hdr-log", log, "-json", rep); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	j := readJSONReport(t, rep)
	if len(j.Routes) != len(selfRoutes) {
		t.Fatalf("routes %v, want the %d of the embedded config", j.Routes, len(selfRoutes))
	}
	if n := javaLogTotal(t, log, ""); n != int64(j.Requests) {
		t.Errorf("untagged lines: %d latencies, want %d", n, j.Requests)
	}
	for name, r := range j.Routes {
		if n := javaLogTotal(t, log, name); n != int64(r.Requests) || n == 0 {
			t.Errorf("tag %s: %d latencies, want %d", name, n, r.Requests)
		}
	}
}
