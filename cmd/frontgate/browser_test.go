package main

import (
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
