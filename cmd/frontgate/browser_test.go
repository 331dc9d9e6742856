package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/frontgate/frontgate/internal/browser"
)

// The demo page, served by the gateway binary on its embedded default, renders in headless Chromium
// with its stylesheet from /css/ and, through the stylesheet, its font from /font/.
func TestDemoPageInChromium(t *testing.T) {
	gw := startGateway(t)
	dom := browser.Render(t, gw.Base+"/index.html")
	css, font := browser.StatusAttrs(t, dom)
	if css != "applied" || font != "loaded" {
		t.Errorf("#font-status: data-css=%q data-font=%q, want applied and loaded", css, font)
	}
	for _, path := range []string{"/index.html", "/css/base.css", "/font/frontgate.ttf"} {
		e := parseEntry(gw.Logs.WaitFor(t, "for "+path, func(l string) bool {
			e := parseEntry(l)
			return e != nil && e["logger"] == "access" && e["path"] == path
		}))
		if e["status"] != 200.0 {
			t.Errorf("the browser's GET %s answered %v", path, e["status"])
		}
	}
}

// The demo page renders in headless Chromium when its stylesheet and font come compressed: the
// binary serves the demo site from disk under defaults' compress, and the access log shows fewer
// bytes on the wire than the files hold.
func TestCompressedDemoPageInChromium(t *testing.T) {
	site, err := filepath.Abs(filepath.Join("..", "..", "static", "site"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, t.TempDir(), "gw.yaml", fmt.Sprintf(`log: {format: json}
defaults:
  compress: {encodings: [zstd, br, gzip], min_size: 1KiB}
static:
  - {prefix: /css/, path: %[1]q, name: css}
  - {prefix: /font/, path: %[2]q, name: font}
  - {prefix: /, path: %[3]q, name: site}
`, filepath.Join(site, "css"), filepath.Join(site, "font"), site))
	gw := startGateway(t, "-config", cfg)
	dom := browser.Render(t, gw.Base+"/index.html")
	css, font := browser.StatusAttrs(t, dom)
	if css != "applied" || font != "loaded" {
		t.Errorf("#font-status: data-css=%q data-font=%q, want applied and loaded", css, font)
	}
	for path, file := range map[string]string{"/css/base.css": "css/base.css", "/font/frontgate.ttf": "font/frontgate.ttf"} {
		fi, err := os.Stat(filepath.Join(site, filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		e := parseEntry(gw.Logs.WaitFor(t, "for "+path, func(l string) bool {
			e := parseEntry(l)
			return e != nil && e["logger"] == "access" && e["path"] == path
		}))
		if out, _ := e["bytes_out"].(float64); e["status"] != 200.0 || out <= 0 || out >= float64(fi.Size()) {
			t.Errorf("the browser's GET %s: status %v, %v bytes out for a file of %d: want 200, compressed", path, e["status"], e["bytes_out"], fi.Size())
		}
	}
}
