package static

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingFS counts the file system calls that reach the disk.
type countingFS struct {
	fs.FS
	calls atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.calls.Add(1)
	return c.FS.Open(name)
}

func (c *countingFS) Stat(name string) (fs.FileInfo, error) {
	c.calls.Add(1)
	return fs.Stat(c.FS, name)
}

// precompressedFixture serves a folder with precompressed siblings, mounted at /static. The
// siblings hold bytes of their own (not the compressed plain file), so that an answer shows which
// file it came from.
type precompressedFixture struct {
	*staticFixture
	files map[string]string // name → content
	fsys  *countingFS
}

func newPrecompressedFixture(t *testing.T) *precompressedFixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "www")
	bigPlain, bigGz := strings.Repeat("let x = 1;\n", 10_000), strings.Repeat("big.js.gz bytes ", 6_000)
	files := map[string]string{
		"app.css":            strings.Repeat("body { color: red }\n", 100),
		"app.css.zst":        "app.css.zst bytes",
		"app.css.br":         "app.css.br bytes",
		"app.css.gz":         "app.css.gz bytes",
		"plain.css":          "p { margin: 0 }\n",
		"noext":              "no extension",
		"noext.gz":           "noext.gz bytes",
		"big.js":             bigPlain, // both larger than the cache's entries: streamed
		"big.js.gz":          bigGz,
		"docs/index.html":    "<h1>docs</h1>",
		"docs/index.html.br": "docs/index.html.br bytes",
		"list/a.txt":         "a",
		"list/a.txt.gz":      "a.txt.gz bytes",
		"list/orphan.gz":     "a gzip file of its own",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), content)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	fsys := &countingFS{FS: root.FS()}
	clock := newFakeClock()
	h := newFileHandler(fsys, Options{ShowIndex: true, Now: clock.Now, Precompressed: []string{"zstd", "br", "gzip", "lz4"}},
		limits{maxEntry: defaultMaxEntry, maxTotal: defaultMaxTotal})
	srv := httptest.NewServer(http.StripPrefix("/static", h))
	t.Cleanup(srv.Close)
	return &precompressedFixture{staticFixture: &staticFixture{dir: dir, srv: srv, clock: clock, h: h}, files: files, fsys: fsys}
}

func TestPrecompressedSiblings(t *testing.T) {
	f := newPrecompressedFixture(t)
	tests := []struct {
		name, path string
		hdr        map[string]string
		status     int
		from       string // the file whose bytes answer
		coding     string
		vary       bool
		ct         string
	}{
		{"gzip", "/app.css", map[string]string{"Accept-Encoding": "gzip"}, 200, "app.css.gz", "gzip", true, "text/css; charset=utf-8"},
		{"server order", "/app.css", map[string]string{"Accept-Encoding": "gzip, br"}, 200, "app.css.br", "br", true, "text/css; charset=utf-8"},
		{"all", "/app.css", map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"}, 200, "app.css.zst", "zstd", true, "text/css; charset=utf-8"},
		{"client weights", "/app.css", map[string]string{"Accept-Encoding": "zstd;q=0.5, br;q=0, gzip"}, 200, "app.css.gz", "gzip", true, "text/css; charset=utf-8"},
		{"identity only", "/app.css", map[string]string{"Accept-Encoding": "identity"}, 200, "app.css", "", true, "text/css; charset=utf-8"},
		{"no coding taken", "/app.css", map[string]string{"Accept-Encoding": "deflate"}, 200, "app.css", "", true, "text/css; charset=utf-8"},
		{"Range: the plain bytes", "/app.css", map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9"}, 206, "app.css", "", true, "text/css; charset=utf-8"},
		{"no sibling", "/plain.css", map[string]string{"Accept-Encoding": "gzip"}, 200, "plain.css", "", false, "text/css; charset=utf-8"},
		{"type unknown: no sibling", "/noext", map[string]string{"Accept-Encoding": "gzip"}, 200, "noext", "", false, "text/plain; charset=utf-8"},
		{"large", "/big.js", map[string]string{"Accept-Encoding": "gzip"}, 200, "big.js.gz", "gzip", true, "text/javascript; charset=utf-8"},
		{"large, plain", "/big.js", map[string]string{"Accept-Encoding": "br"}, 200, "big.js", "", true, "text/javascript; charset=utf-8"},
		{"folder index", "/docs/", map[string]string{"Accept-Encoding": "br"}, 200, "docs/index.html.br", "br", true, "text/html; charset=utf-8"},
		{"a sibling by its own name", "/app.css.gz", map[string]string{"Accept-Encoding": "gzip"}, 200, "app.css.gz", "", false, "application/gzip"},
	}
	etags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 { // loaded, then from the cache
				resp := f.do(t, http.MethodGet, "/static"+tt.path, tt.hdr)
				want := f.files[tt.from]
				if tt.status == 206 {
					want = want[:10]
				}
				if resp.StatusCode != tt.status || resp.body != want {
					t.Fatalf("round %d: %d %q, want %d and the bytes of %s", round, resp.StatusCode, resp.body, tt.status, tt.from)
				}
				if got := resp.Header.Get("Content-Encoding"); got != tt.coding {
					t.Errorf("Content-Encoding %q, want %q", got, tt.coding)
				}
				if got := resp.Header.Get("Vary") == "Accept-Encoding"; got != tt.vary {
					t.Errorf("Vary %q, want Accept-Encoding: %v", resp.Header.Get("Vary"), tt.vary)
				}
				if got := resp.Header.Get("Content-Type"); got != tt.ct {
					t.Errorf("Content-Type %q, want %q", got, tt.ct)
				}
				if tt.coding != "" && resp.Header.Get("Accept-Ranges") != "" {
					t.Errorf("a precompressed answer offers ranges: Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
				}
				if tt.coding != "" && tt.from != "big.js.gz" && resp.ContentLength != int64(len(want)) {
					t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(want))
				}
				if tt.path == "/app.css" && tt.status == 200 {
					etags[tt.from] = resp.Header.Get("Etag")
				}
			}
		})
	}
	// One ETag per encoding; a conditional request matches only its own.
	seen := map[string]string{}
	for from, etag := range etags {
		if other, dup := seen[etag]; dup || etag == "" {
			t.Errorf("%s and %s share the ETag %q", from, other, etag)
		}
		seen[etag] = from
	}
	if resp := f.do(t, http.MethodGet, "/static/app.css", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etags["app.css.gz"]}); resp.StatusCode != 304 {
		t.Errorf("If-None-Match of the gzip ETag, gzip accepted: %d, want 304", resp.StatusCode)
	}
	resp := f.do(t, http.MethodGet, "/static/app.css", map[string]string{"Accept-Encoding": "br", "If-None-Match": etags["app.css.gz"]})
	if resp.StatusCode != 200 || resp.body != f.files["app.css.br"] || resp.Header.Get("Accept-Ranges") != "" {
		t.Errorf("If-None-Match of the gzip ETag, br accepted: %d %q %v, want 200 with the br bytes, no Accept-Ranges", resp.StatusCode, resp.body, resp.Header)
	}
	head := f.do(t, http.MethodHead, "/static/app.css", map[string]string{"Accept-Encoding": "gzip"})
	if head.Header.Get("Content-Encoding") != "gzip" || head.Header.Get("Content-Length") != strconv.Itoa(len(f.files["app.css.gz"])) || head.body != "" {
		t.Errorf("HEAD: %v %q", head.Header, head.body)
	}
}

// A file without siblings costs no stat per request once its (missing) siblings are remembered; a
// sibling added later is found at the next revalidation.
func TestPrecompressedNegativeCache(t *testing.T) {
	f := newPrecompressedFixture(t)
	gzipped := map[string]string{"Accept-Encoding": "gzip"}
	f.do(t, http.MethodGet, "/static/plain.css", gzipped) // loads the file, looks for siblings
	before := f.fsys.calls.Load()
	for range 5 {
		if resp := f.do(t, http.MethodGet, "/static/plain.css", gzipped); resp.body != f.files["plain.css"] {
			t.Fatalf("plain.css: %q", resp.body)
		}
	}
	if n := f.fsys.calls.Load() - before; n != 0 {
		t.Errorf("5 requests within a second made %d file system calls, want 0", n)
	}
	writeFile(t, filepath.Join(f.dir, "plain.css.gz"), "plain.css.gz bytes")
	f.clock.Advance(2 * time.Second)
	if resp := f.do(t, http.MethodGet, "/static/plain.css", gzipped); resp.body != "plain.css.gz bytes" || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("after a sibling was added and a revalidation: %q %v", resp.body, resp.Header)
	}
	if err := os.Remove(filepath.Join(f.dir, "plain.css.gz")); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Second)
	if resp := f.do(t, http.MethodGet, "/static/plain.css", gzipped); resp.body != f.files["plain.css"] || resp.Header.Get("Vary") != "" {
		t.Errorf("after the sibling was removed: %q %v", resp.body, resp.Header)
	}
}

// A listing shows a precompressed sibling only when its plain file is not beside it.
func TestPrecompressedListing(t *testing.T) {
	f := newPrecompressedFixture(t)
	resp := f.get(t, "/static/list/")
	rows := parseListing(t, resp.body).rows
	var names []string
	for _, r := range rows {
		names = append(names, r.name)
	}
	if got := strings.Join(names, " "); got != "../ a.txt orphan.gz" {
		t.Errorf("listing shows %q, want ../ a.txt orphan.gz", got)
	}
	// Without Precompressed, siblings are files like any other.
	h := New(f.fsys, Options{ShowIndex: true})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/list/", nil))
	if !bytes.Contains(rec.Body.Bytes(), []byte("a.txt.gz")) {
		t.Errorf("a listing without precompressed siblings hides a.txt.gz")
	}
}
