// Package browser drives headless Chromium for the end-to-end tests of the demo site: it loads a page
// and returns the DOM after scripts ran, reads the status markers the demo page sets, and takes
// screenshots.
package browser

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromiumBin is where Debian's chromium package installs the browser.
const chromiumBin = "/usr/bin/chromium"

// Render loads url in headless Chromium, lets the page's scripts and fetches finish (on
// virtual time, so no real waiting), and returns the serialized DOM. It fails the test when Chromium is
// not installed, unless FRONTGATE_SKIP_BROWSER=1, which skips browser tests.
func Render(t testing.TB, url string) (dom string) {
	t.Helper()
	return render(t, url)
}

// RenderSize is Render in a window of width×height CSS pixels laid out as [Screenshot] lays out one
// of the same size, so positions read from the DOM match the screenshot's pixels.
func RenderSize(t testing.TB, url string, width, height int) (dom string) {
	t.Helper()
	return render(t, url, "--hide-scrollbars", "--force-device-scale-factor=1",
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height))
}

func render(t testing.TB, url string, args ...string) (dom string) {
	t.Helper()
	dom, stderr, err := run(t, append(args,
		"--enable-logging=stderr", // page console messages (e.g. OTS font errors) for failure reports
		"--virtual-time-budget=5000", "--dump-dom", url)...)
	if err != nil || !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium %s: %v; %d bytes of DOM\nstderr:\n%s", url, err, len(dom), stderr)
	}
	// Surface what the page logged (font decoding errors land here); harmless when the test passes.
	for line := range strings.Lines(stderr) {
		if strings.Contains(line, ":CONSOLE") {
			t.Log(strings.TrimSpace(line))
		}
	}
	return dom
}

// run runs headless Chromium with args after the flags every run shares, in a fresh profile, and
// returns what it wrote. It fails the test when Chromium is not installed, and skips it when
// FRONTGATE_SKIP_BROWSER=1.
func run(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if os.Getenv("FRONTGATE_SKIP_BROWSER") == "1" {
		t.Skip("FRONTGATE_SKIP_BROWSER=1: skipping the headless Chromium test")
	}
	if _, err := os.Stat(chromiumBin); err != nil {
		t.Fatalf("browser tests need headless Chromium at %s (%v).\n"+
			"Install it with: apt-get update && apt-get install -y chromium\n"+
			"or set FRONTGATE_SKIP_BROWSER=1 to skip them.", chromiumBin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumBin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 10 * time.Second // don't hang on helper processes holding the pipes
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// StatusAttrs returns the data-* attributes the page's script sets on #font-status, from a dumped DOM.
func StatusAttrs(t testing.TB, dom string) (css, font string) {
	t.Helper()
	tag := regexp.MustCompile(`<[a-z]+ [^>]*\bid="font-status"[^>]*>`).FindString(dom)
	if tag == "" {
		t.Fatalf("rendered DOM has no #font-status element:\n%s", dom)
	}
	attr := func(name string) string {
		if m := regexp.MustCompile(`\b` + name + `="([^"]*)"`).FindStringSubmatch(tag); m != nil {
			return m[1]
		}
		return ""
	}
	return attr("data-css"), attr("data-font")
}
