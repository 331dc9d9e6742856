package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"image"
	"image/png"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/net/html"

	"github.com/frontgate/frontgate/internal/browser"
)

// oddFile and oddFolder are names that need escaping both in a URL and in HTML.
const (
	oddFile   = `a b&<c>"d" é.txt`
	oddFolder = `q & "r" <s> ü`
)

// listingTimes are the modification times of the listing tree's entries, some given in other
// zones than UTC; listings show them in UTC, to the minute.
var listingTimes = map[string]time.Time{
	"Docs":                     time.Date(2024, 2, 29, 8, 0, 0, 0, time.UTC),
	"sub":                      time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC),
	"sub/deeper":               time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
	"sub/x.txt":                time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC),
	oddFolder:                  time.Date(2023, 7, 14, 12, 0, 0, 0, time.UTC),
	oddFolder + "/inner.txt":   time.Date(2023, 7, 14, 12, 1, 0, 0, time.UTC),
	"Zeta.txt":                 time.Date(2019, 5, 6, 7, 8, 0, 0, time.UTC),
	oddFile:                    time.Date(2022, 2, 2, 22, 22, 22, 0, time.UTC),
	"a.bin":                    time.Date(2025, 3, 9, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600)),
	"b.txt":                    time.Date(2026, 12, 1, 14, 3, 59, 0, time.UTC),
	"empty.txt":                time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	"huge.img":                 time.Date(1999, 12, 31, 23, 59, 0, 0, time.FixedZone("UTC+1", 3600)),
	"ünïcødé €.txt":            time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	"Docs/readme.txt":          time.Date(2024, 2, 29, 7, 0, 0, 0, time.UTC),
	"sub/deeper/y.txt":         time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
	".env":                     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	".git":                     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	".git/config":              time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	"sub/.hidden":              time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	oddFolder + "/.keep-quiet": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
}

// listingSizes are the sizes of the listing tree's files.
var listingSizes = map[string]int64{
	"sub/x.txt":              1,
	oddFolder + "/inner.txt": 5,
	"Zeta.txt":               999,
	oddFile:                  2048,
	"a.bin":                  1234,
	"b.txt":                  13,
	"empty.txt":              0,
	"huge.img":               5<<30 + 1<<29, // sparse
	"ünïcødé €.txt":          200 << 10,
	"Docs/readme.txt":        3,
	"sub/deeper/y.txt":       1,
}

// listingDotfiles are the listing tree's hidden files, holding dotContent.
var listingDotfiles = []string{".env", ".git/config", "sub/.hidden", oddFolder + "/.keep-quiet"}

// newListingTree writes the files of listingSizes and listingDotfiles, symlinks link-to-b
// → b.txt, link-to-sub → sub and link-out → ../outside, and sets the times of listingTimes,
// folders after their files. It returns the tree's folder, inside a folder that also holds
// outside/secret.txt.
func newListingTree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "outside", "secret.txt"), secretContent)
	dir := filepath.Join(base, "www")
	for _, name := range listingDotfiles {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), dotContent)
	}
	for name, size := range listingSizes {
		p := filepath.Join(dir, filepath.FromSlash(name))
		writeFile(t, p, "")
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
	symlink(t, "b.txt", filepath.Join(dir, "link-to-b"))
	symlink(t, "sub", filepath.Join(dir, "link-to-sub"))
	symlink(t, "../outside", filepath.Join(dir, "link-out"))
	// Longest names first: a folder's time is set after its entries changed it.
	names := slices.Collect(maps.Keys(listingTimes))
	slices.SortFunc(names, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, name := range names {
		mt := listingTimes[name]
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(name)), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// listingServer serves fsys with listings behind a real TCP server, mounted at mount (as the
// gateway mounts: http.StripPrefix of the mount without its final slash), with Options.Prefix set
// to prefix.
func listingServer(t *testing.T, fsys fs.FS, mount, prefix string) *staticFixture {
	t.Helper()
	h := New(fsys, Options{ShowIndex: true, Prefix: prefix})
	mux := http.NewServeMux()
	if bare := strings.TrimSuffix(mount, "/"); bare != "" {
		mux.Handle(bare+"/", http.StripPrefix(bare, h))
	} else {
		mux.Handle("/", h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &staticFixture{srv: srv}
}

func openRootFS(t *testing.T, dir string) fs.FS {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root.FS()
}

// listingRow is a table row of a listing as a browser reads it.
type listingRow struct {
	href, name, size, sizeTitle, modified string
}

// parsedListing is what a listing shows.
type parsedListing struct {
	title, h1, style string
	rows             []listingRow
}

// parseListing parses a listing's HTML.
func parseListing(t *testing.T, body string) parsedListing {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var p parsedListing
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "title":
			p.title = textOf(n)
		case "h1":
			p.h1 = textOf(n)
		case "style":
			p.style = textOf(n)
		case "tr":
			if n.Parent.Data != "tbody" {
				continue
			}
			var cells []*html.Node
			for c := range n.ChildNodes() {
				if c.Type == html.ElementNode && c.Data == "td" {
					cells = append(cells, c)
				}
			}
			if len(cells) != 3 {
				t.Fatalf("row with %d cells in:\n%s", len(cells), body)
			}
			row := listingRow{name: textOf(cells[0]), size: textOf(cells[1]), sizeTitle: attr(cells[1], "title"), modified: textOf(cells[2])}
			for d := range cells[0].Descendants() {
				if d.Type == html.ElementNode && d.Data == "a" {
					row.href = attr(d, "href")
				}
			}
			p.rows = append(p.rows, row)
		}
	}
	return p
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// Rows of the listing tree.
var (
	parentRow = listingRow{href: "../", name: "../"}
	rootRows  = []listingRow{
		{"./Docs/", "Docs/", "—", "", "2024-02-29 08:00"},
		{"./link-to-sub/", "link-to-sub/", "—", "", "2026-11-30 23:59"},
		{"./q%20&%20%22r%22%20%3Cs%3E%20%C3%BC/", oddFolder + "/", "—", "", "2023-07-14 12:00"},
		{"./sub/", "sub/", "—", "", "2026-11-30 23:59"},
		{"./Zeta.txt", "Zeta.txt", "999 B", "999 bytes", "2019-05-06 07:08"},
		{"./a%20b&%3Cc%3E%22d%22%20%C3%A9.txt", oddFile, "2.0 KiB", "2048 bytes", "2022-02-02 22:22"},
		{"./a.bin", "a.bin", "1.2 KiB", "1234 bytes", "2025-03-10 04:30"},
		{"./b.txt", "b.txt", "13 B", "13 bytes", "2026-12-01 14:03"},
		{"./empty.txt", "empty.txt", "0 B", "0 bytes", "2000-01-01 00:00"},
		{"./huge.img", "huge.img", "5.5 GiB", "5905580032 bytes", "1999-12-31 22:59"},
		{"./link-out", "link-out", "—", "", "—"},
		{"./link-to-b", "link-to-b", "13 B", "13 bytes", "2026-12-01 14:03"},
		{"./%C3%BCn%C3%AFc%C3%B8d%C3%A9%20%E2%82%AC.txt", "ünïcødé €.txt", "200 KiB", "204800 bytes", "2026-01-02 03:04"},
	}
	subRows = []listingRow{
		parentRow,
		{"./deeper/", "deeper/", "—", "", "2020-01-01 00:00"},
		{"./x.txt", "x.txt", "1 B", "1 byte", "2021-06-07 08:09"},
	}
)

func TestListing(t *testing.T) {
	tree := openRootFS(t, newListingTree(t))
	files := listingServer(t, tree, "/files/", "/files/")
	filesBare := listingServer(t, tree, "/files/", "/files") // the gateway's prefix without its slash
	atRoot := listingServer(t, tree, "/", "")
	noPrefix := listingServer(t, tree, "/files/", "") // Prefix unset: paths as the handler sees them
	// A file system without modification times, as embed.FS.
	embedded := listingServer(t, fstest.MapFS{
		"a.txt":   {Data: []byte("abc")},
		"d/x.txt": {Data: []byte("x")},
		"h/.keep": {Data: []byte(dotContent)},
	}, "/e/", "/e/")

	tests := []struct {
		name      string
		f         *staticFixture
		target    string
		wantTitle string
		wantRows  []listingRow
		wantRaw   []string // in the raw HTML, in this order
	}{
		{name: "mount root", f: files, target: "/files/", wantTitle: "Index of /files/", wantRows: rootRows,
			wantRaw: []string{
				`<title>Index of /files/</title>`,
				`<h1>Index of /files/</h1>`,
				`<a href="./q%20&amp;%20%22r%22%20%3Cs%3E%20%C3%BC/">q &amp; &#34;r&#34; &lt;s&gt; ü/</a>`,
				`<a href="./a%20b&amp;%3Cc%3E%22d%22%20%C3%A9.txt">a b&amp;&lt;c&gt;&#34;d&#34; é.txt</a>`,
			}},
		{name: "subfolder", f: files, target: "/files/sub/", wantTitle: "Index of /files/sub/", wantRows: subRows,
			wantRaw: []string{`<title>Index of /files/sub/</title>`, `<h1>Index of /files/sub/</h1>`, `<a href="../">../</a>`}},
		{name: "odd folder name", f: files, target: "/files/q%20&%20%22r%22%20%3Cs%3E%20%C3%BC/",
			wantTitle: "Index of /files/" + oddFolder + "/",
			wantRows:  []listingRow{parentRow, {"./inner.txt", "inner.txt", "5 B", "5 bytes", "2023-07-14 12:01"}},
			wantRaw: []string{
				`<title>Index of /files/q &amp; &#34;r&#34; &lt;s&gt; ü/</title>`,
				`<h1>Index of /files/q &amp; &#34;r&#34; &lt;s&gt; ü/</h1>`,
			}},
		{name: "symlinked folder", f: files, target: "/files/link-to-sub/", wantTitle: "Index of /files/link-to-sub/", wantRows: subRows},
		{name: "prefix without slash", f: filesBare, target: "/files/sub/", wantTitle: "Index of /files/sub/", wantRows: subRows},
		{name: "mounted at /", f: atRoot, target: "/", wantTitle: "Index of /", wantRows: rootRows},
		{name: "mounted at /, subfolder", f: atRoot, target: "/sub/", wantTitle: "Index of /sub/", wantRows: subRows},
		{name: "no prefix", f: noPrefix, target: "/files/sub/", wantTitle: "Index of /sub/", wantRows: subRows},
		{name: "no modification times", f: embedded, target: "/e/", wantTitle: "Index of /e/", wantRows: []listingRow{
			{"./d/", "d/", "—", "", "—"},
			{"./h/", "h/", "—", "", "—"},
			{"./a.txt", "a.txt", "3 B", "3 bytes", "—"},
		}},
		{name: "no modification times, subfolder", f: embedded, target: "/e/d/", wantTitle: "Index of /e/d/", wantRows: []listingRow{
			parentRow,
			{"./x.txt", "x.txt", "1 B", "1 byte", "—"},
		}},
		{name: "only dotfiles", f: embedded, target: "/e/h/", wantTitle: "Index of /e/h/", wantRows: []listingRow{parentRow},
			wantRaw: []string{`<p class="empty">Nothing to list.</p>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.f.get(t, tt.target)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %q", resp.StatusCode, resp.body)
			}
			checkListingHeaders(t, resp, len(resp.body))
			p := parseListing(t, resp.body)
			if p.title != tt.wantTitle || p.h1 != tt.wantTitle {
				t.Errorf("title %q, h1 %q, want both %q", p.title, p.h1, tt.wantTitle)
			}
			if !slices.Equal(p.rows, tt.wantRows) {
				t.Errorf("rows:\n%s\nwant:\n%s", formatRows(p.rows), formatRows(tt.wantRows))
			}
			wantInOrder(t, resp.body, tt.wantRaw)
			for _, not := range []string{"<c>", "<s>", `"d"`, `"r"`, ".env", ".git", ".hidden", ".keep"} {
				if strings.Contains(resp.body, not) {
					t.Errorf("body contains %q", not)
				}
			}
			// The page's only stylesheet is the one its Content-Security-Policy allows.
			sum := sha256.Sum256([]byte(p.style))
			wantCSP := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
				"'; img-src data:; base-uri 'none'; form-action 'none'"
			if got := resp.Header.Get("Content-Security-Policy"); got != wantCSP {
				t.Errorf("Content-Security-Policy %q, want %q", got, wantCSP)
			}
			if n := strings.Count(resp.body, "<style"); n != 1 || strings.Contains(resp.body, "<script") {
				t.Errorf("%d <style> elements or a <script> in:\n%s", n, resp.body)
			}

			head := tt.f.do(t, http.MethodHead, tt.target, nil)
			if head.StatusCode != http.StatusOK || head.body != "" {
				t.Errorf("HEAD: status %d, body %q", head.StatusCode, head.body)
			}
			checkListingHeaders(t, head, len(resp.body))
			if got, want := head.Header.Get("Content-Security-Policy"), resp.Header.Get("Content-Security-Policy"); got != want {
				t.Errorf("HEAD Content-Security-Policy %q, GET's %q", got, want)
			}
		})
	}
}

// checkListingHeaders checks the headers of a listing of length bytes: HTML, not sniffed, and,
// as listings always were, without validators.
func checkListingHeaders(t *testing.T, resp response, length int) {
	t.Helper()
	if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(length) {
		t.Errorf("Content-Length %q, want %d", got, length)
	}
	for _, k := range []string{"Etag", "Last-Modified", "Cache-Control"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("listing has %s %q", k, v)
		}
	}
}

func formatRows(rows []listingRow) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("\t" + strings.Join([]string{r.href, r.name, r.size, r.sizeTitle, r.modified}, " | ") + "\n")
	}
	return b.String()
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1234, "1.2 KiB"},
		{10188, "9.9 KiB"}, // 9.949 KiB
		{10189, "10 KiB"},  // 9.950 KiB
		{200 << 10, "200 KiB"},
		{1048063, "1023 KiB"}, // 1023.499 KiB
		{1048064, "1.0 MiB"},  // 1023.5 KiB would show as 1024 KiB
		{1 << 20, "1.0 MiB"},
		{5<<30 + 1<<29, "5.5 GiB"},
		{1 << 40, "1.0 TiB"},
		{math.MaxInt64, "8.0 EiB"},
	}
	for _, tt := range tests {
		if got := formatSize(tt.n); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// listingHarness is a page that loads a listing in a same-origin frame and copies what the
// browser made of it into #out: the table's rendered text (innerText) and computed styles.
const listingHarness = `<!doctype html>
<html>
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>harness</title></head>
<body>
<pre id="out"></pre>
<script>
function report(frame) {
  var d = frame.contentDocument, out = document.getElementById("out");
  var style = function (sel) { return d.defaultView.getComputedStyle(d.querySelector(sel)); };
  out.setAttribute("data-title", d.title);
  out.setAttribute("data-h1-background", style("h1").backgroundColor);
  out.setAttribute("data-body-background", style("body").backgroundColor);
  out.setAttribute("data-h1-text", d.querySelector("h1").innerText);
  out.textContent = d.querySelector("table").innerText;
}
</script>
<iframe src="LISTING" width="1000" height="900" onload="report(this)"></iframe>
</body>
</html>
`

// TestListingInChromium renders a listing in headless Chromium: the rendered table shows the
// entries unescaped and in order, the inline stylesheet applies under the listing's
// Content-Security-Policy, the page requests nothing else, and a screenshot shows the demo
// site's colors.
func TestListingInChromium(t *testing.T) {
	h := New(openRootFS(t, newListingTree(t)), Options{ShowIndex: true, Prefix: "/files/"})
	var mu sync.Mutex
	var requested []string
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files", h))
	mux.HandleFunc("/harness", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.Replace(listingHarness, "LISTING", r.URL.Query().Get("listing"), 1)))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requested = append(requested, r.URL.Path)
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	t.Run("rendered text", func(t *testing.T) {
		doc, err := html.Parse(strings.NewReader(browser.Render(t, srv.URL+"/harness?listing=/files/")))
		if err != nil {
			t.Fatal(err)
		}
		var out *html.Node
		for n := range doc.Descendants() {
			if n.Type == html.ElementNode && attr(n, "id") == "out" {
				out = n
			}
		}
		if out == nil || attr(out, "data-title") == "" {
			t.Fatal("the harness did not report the listing")
		}
		for k, want := range map[string]string{
			"data-title":           "Index of /files/",
			"data-h1-text":         "Index of /files/",
			"data-h1-background":   "rgb(29, 36, 48)",    // --ink
			"data-body-background": "rgb(251, 250, 247)", // --paper
		} {
			if got := attr(out, k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		// Headings are upper-cased by the stylesheet; innerText shows them so.
		lines := []string{"NAME\tSIZE\tMODIFIED (UTC)"}
		for _, r := range rootRows {
			lines = append(lines, r.name+"\t"+r.size+"\t"+r.modified)
		}
		if got, want := textOf(out), strings.Join(lines, "\n"); got != want {
			t.Errorf("table text:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		const width, height = 1000, 760
		file := filepath.Join(t.TempDir(), "listing.png")
		browser.Screenshot(t, srv.URL+"/files/", file, width, height)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s (%d bytes) is not a PNG: %v", file, len(data), err)
		}
		if got := img.Bounds(); got != image.Rect(0, 0, width, height) {
			t.Fatalf("screenshot is %v, want %dx%d", got, width, height)
		}
		t.Logf("screenshot: %s (%d bytes)", file, len(data))
		// The heading's band is --ink with an --accent rule under it, on --paper.
		counts := map[[3]uint32]int{}
		for y := range height {
			for x := range width {
				r, g, b, _ := img.At(x, y).RGBA()
				counts[[3]uint32{r >> 8, g >> 8, b >> 8}]++
			}
		}
		for _, c := range []struct {
			name string
			rgb  [3]uint32
			min  int
		}{
			{"paper", [3]uint32{0xfb, 0xfa, 0xf7}, width * height / 2},
			{"ink", [3]uint32{0x1d, 0x24, 0x30}, 800 * 40},
			{"accent", [3]uint32{0xc2, 0x41, 0x0c}, 800 * 6},
		} {
			if counts[c.rgb] < c.min {
				t.Errorf("%d pixels of %s %v, want at least %d", counts[c.rgb], c.name, c.rgb, c.min)
			}
		}
	})

	// No favicon, font or stylesheet requests: only the pages themselves.
	mu.Lock()
	defer mu.Unlock()
	for _, p := range requested {
		if p != "/harness" && p != "/files/" {
			t.Errorf("the browser requested %s", p)
		}
	}
}
