package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/frontgate/frontgate/internal/browser"
)

// `frontgate selftest -d 2s -html out.html -o json URL`, the real binary against a local server: the
// page, opened in headless Chromium 1280 px wide, embeds the very JSON printed on stdout (timeline
// included), names its axes, does not scroll sideways, hides credentials from the command line, and
// its screenshot shows lines in every chart.
func TestSelftestHTMLReportInChromium(t *testing.T) {
	url, served := countingServer(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "out.html")
	stdout, stderr, code := runCmd(t, "selftest", "-d", "2s", "-c", "2", "-H", "Authorization: Bearer s3cret",
		"-html", page, "-o", "json", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(stdout), &want); err != nil {
		t.Fatalf("decode stdout: %v\n%s", err, stdout)
	}
	timeline, _ := want["timeline"].([]any)
	if n := len(timeline); n < 2 || n > 3 || want["requests"].(float64) != float64(served.Load()) {
		t.Errorf("a 2 s run: %d timeline entries (want 2 or 3), %v requests reported, %d served", n, want["requests"], served.Load())
	}
	raw, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "s3cret") || !strings.Contains(string(raw), "Authorization: [redacted]") {
		t.Error("the page does not hide the Authorization header's value")
	}

	const width, height = 1280, 2600
	dom := browser.RenderSize(t, "file://"+page, width, height)
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no report-data block in the DOM:\n%s", dom)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(m[1]), &got); err != nil {
		t.Fatalf("report-data: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the page's data differs from -o json:\npage: %v\njson: %v", got, want)
	}
	if v := regexp.MustCompile(`data-key="requests">(\d+)<`).FindStringSubmatch(dom); v == nil || v[1] != strconv.FormatFloat(want["requests"].(float64), 'f', -1, 64) {
		t.Errorf("the summary shows requests %v, the JSON %v", v, want["requests"])
	}
	for _, label := range []string{">time (s)<", ">per second<", ">latency (ms)<", ">responses/s<", ">percentile (log scale)<",
		">requests/s<", ">errors/s<", ">p99<", ">200<", ">99%<"} {
		if !strings.Contains(dom, label) {
			t.Errorf("the DOM lacks the label %q", label)
		}
	}
	attr := func(name string) int {
		v := regexp.MustCompile(`<html[^>]* ` + name + `="(\d+)"`).FindStringSubmatch(dom)
		if v == nil {
			t.Fatalf("<html> has no %s: the layout script did not run", name)
		}
		n, _ := strconv.Atoi(v[1])
		return n
	}
	if sw, cw := attr("data-scroll-width"), attr("data-client-width"); cw != width || sw > cw {
		t.Errorf("scroll width %d, client width %d: want no horizontal scroll at %d px", sw, cw, width)
	}

	// Each chart's rectangle, as the page measured it, has coloured (data) pixels in the screenshot:
	// grid, axes and text are grey or black.
	shot := filepath.Join(dir, "out.png")
	browser.Screenshot(t, "file://"+page, shot, width, height)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	rects := regexp.MustCompile(`data-chart="(\w+)"[^>]*data-rect="(\d+),(\d+),(\d+),(\d+)"`).FindAllStringSubmatch(dom, -1)
	if len(rects) != 4 {
		t.Fatalf("%d charts with a data-rect, want 4", len(rects))
	}
	for _, r := range rects {
		x, _ := strconv.Atoi(r[2])
		y, _ := strconv.Atoi(r[3])
		w, _ := strconv.Atoi(r[4])
		h, _ := strconv.Atoi(r[5])
		if x+w > width || y+h > height || w < width/2 {
			t.Errorf("chart %s at %d,%d size %dx%d: not within the %dx%d window, or narrow", r[1], x, y, w, h, width, height)
			continue
		}
		coloured := 0
		for py := y; py < y+h; py++ {
			for px := x; px < x+w; px++ {
				cr, cg, cb, _ := img.At(px, py).RGBA()
				if max(cr, cg, cb)-min(cr, cg, cb) > 80<<8 {
					coloured++
				}
			}
		}
		if coloured < 500 {
			t.Errorf("chart %s: %d coloured pixels in its %dx%d area, want its lines drawn", r[1], coloured, w, h)
		}
	}
}
