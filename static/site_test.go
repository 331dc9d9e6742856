package static_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/frontgate/frontgate/internal/browser"
	"github.com/frontgate/frontgate/static"
)

const siteFont = "font/frontgate.ttf"

// fontURL finds the font the stylesheet's @font-face loads, an absolute /font/ URL.
var fontURL = regexp.MustCompile(`src:\s*url\("(/font/[^"]+)"\)\s*format\("truetype"\)`)

func readSite(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(static.Site, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSiteFiles(t *testing.T) {
	if err := fstest.TestFS(static.Site, "index.html", "css/base.css", siteFont); err != nil {
		t.Fatal(err)
	}
	if html := readSite(t, "index.html"); !strings.Contains(html, `<link rel="stylesheet" href="/css/base.css">`) {
		t.Error("index.html does not link the stylesheet by its absolute URL /css/base.css")
	}
	css := readSite(t, "css/base.css")
	if !strings.Contains(css, `font-family: "Frontgate Demo";`) {
		t.Error(`base.css declares no "Frontgate Demo" @font-face`)
	}
	m := fontURL.FindStringSubmatch(css)
	if m == nil {
		t.Fatalf("base.css has no src: url(\"/font/...\") format(\"truetype\") for the web font")
	}
	if path := strings.TrimPrefix(m[1], "/"); path != siteFont {
		t.Errorf("base.css loads %s; the site embeds %s", m[1], siteFont)
	}
	if font := readSite(t, siteFont); !strings.HasPrefix(font, "\x00\x01\x00\x00") {
		t.Errorf("%s does not start with the TrueType sfnt version", siteFont)
	}
}

// TestSiteFontMatchesGenerator keeps the committed font and its generator from drifting apart: after
// changing static/internal/fontgen, run `go generate ./static` and commit the new font.
func TestSiteFontMatchesGenerator(t *testing.T) {
	goTool, err := exec.LookPath("go") // `go test` puts its own go first on PATH
	if err != nil {
		t.Fatalf("the go command is needed to run the font generator: %v", err)
	}
	out := filepath.Join(t.TempDir(), "frontgate.ttf")
	cmd := exec.CommandContext(t.Context(), goTool, "run", "./internal/fontgen", "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/fontgen: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := readSite(t, siteFont); got != string(want) {
		t.Fatalf("site/%s (%d bytes) differs from what fontgen generates (%d bytes): run `go generate ./static`", siteFont, len(got), len(want))
	}
}

// countingServer serves h over a real TCP listener and counts the requests per URL path.
func countingServer(t *testing.T, h http.Handler) (url string, hits func(path string) int) {
	var mu sync.Mutex
	counts := make(map[string]int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		counts[r.URL.Path]++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return counts[path]
	}
}

// TestSiteInChromium loads the page in a real browser and checks that the stylesheet applied and that
// Chromium's font sanitizer (OTS) accepted the generated font.
func TestSiteInChromium(t *testing.T) {
	fontPath := "/" + siteFont

	t.Run("renders", func(t *testing.T) {
		url, hits := countingServer(t, http.FileServer(http.FS(static.Site)))
		dom := browser.Render(t, url+"/")
		css, font := browser.StatusAttrs(t, dom)
		if css != "applied" || font != "loaded" {
			t.Errorf("#font-status: data-css=%q data-font=%q, want applied and loaded", css, font)
		}
		for _, path := range []string{"/", "/css/base.css", fontPath} {
			if hits(path) == 0 {
				t.Errorf("the browser never requested %s", path)
			}
		}
	})

	// The same page with a truncated font: proves the status markers can report a failure.
	t.Run("reports a broken font", func(t *testing.T) {
		good, err := fs.ReadFile(static.Site, siteFont)
		if err != nil {
			t.Fatal(err)
		}
		broken := fstest.MapFS{}
		for _, name := range []string{"index.html", "css/base.css"} {
			broken[name] = &fstest.MapFile{Data: []byte(readSite(t, name))}
		}
		broken[siteFont] = &fstest.MapFile{Data: good[:len(good)/2]}
		url, hits := countingServer(t, http.FileServer(http.FS(broken)))
		css, font := browser.StatusAttrs(t, browser.Render(t, url+"/"))
		if css != "applied" || font != "error" {
			t.Errorf("#font-status: data-css=%q data-font=%q, want applied and error", css, font)
		}
		if hits(fontPath) == 0 {
			t.Errorf("the browser never requested %s", fontPath)
		}
	})
}
