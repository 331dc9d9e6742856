package browser

import (
	"os"
	"strconv"
	"testing"
)

// Screenshot loads url in headless Chromium in a window of width×height CSS pixels (at one device
// pixel each, without scroll bars), lets it settle as [Render] does, and writes what the window
// shows as a PNG of width×height pixels to file. It fails the test when Chromium fails or writes
// nothing, and skips it as Render does.
func Screenshot(t testing.TB, url, file string, width, height int) {
	t.Helper()
	_, stderr, err := run(t,
		"--hide-scrollbars", "--force-device-scale-factor=1",
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"--virtual-time-budget=5000", "--screenshot="+file, url)
	if err != nil {
		t.Fatalf("chromium screenshot of %s: %v\nstderr:\n%s", url, err, stderr)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Fatalf("chromium screenshot of %s: no image in %s (%v)\nstderr:\n%s", url, file, err, stderr)
	}
}
