package static

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/fakeclock"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// secretContent is the content of files outside the served folder; no response may carry it.
const secretContent = "TOPSECRET-outside-the-root-4f1c"

// dotContent is the content of dotfiles inside the served folder; no response may carry it.
const dotContent = "DOTSECRET-hidden-file-9a7e"

// newFakeClock is a settable Options.Now.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// staticFixture is a served folder behind a real TCP server mounted at /static.
type staticFixture struct {
	base  string // holds secret.txt and the served folder www
	dir   string // the served folder
	srv   *httptest.Server
	clock *fakeclock.Clock
	logs  *observer.ObservedLogs
	h     *fileHandler
	big   []byte // content of big.txt, larger than the cache's entry limit
}

// bigSize is larger than defaultMaxEntry, so big.txt streams from disk.
const bigSize = 200 << 10

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// newStaticFixture builds the tree
//
//	base/secret.txt, base/outside/secret.txt   (outside the root)
//	base/www/hello.txt style.css app.js noext big.txt docs/index.html sub/… .env .git/config
//	base/www/link-in → hello.txt, link-out → ../secret.txt, link-abs → /…/secret.txt,
//	dir-out → ../outside, loop1 ⇄ loop2
//
// and serves base/www from an os.Root at /static.
func newStaticFixture(t *testing.T, showIndex bool) *staticFixture {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "www")
	writeFile(t, filepath.Join(base, "secret.txt"), secretContent)
	writeFile(t, filepath.Join(base, "outside", "secret.txt"), secretContent)
	writeFile(t, filepath.Join(dir, "hello.txt"), "hello, world\n")
	writeFile(t, filepath.Join(dir, "style.css"), "body { color: red }\n")
	writeFile(t, filepath.Join(dir, "app.js"), "console.log(1)\n")
	writeFile(t, filepath.Join(dir, "noext"), "<!DOCTYPE html><html><body>sniffed</body></html>")
	writeFile(t, filepath.Join(dir, "docs", "index.html"), "<h1>docs index</h1>")
	writeFile(t, filepath.Join(dir, "docs", "page.html"), "<p>page</p>")
	writeFile(t, filepath.Join(dir, "sub", `a b&<c>"d".txt`), "odd name")
	writeFile(t, filepath.Join(dir, "sub", "x.txt"), "x")
	writeFile(t, filepath.Join(dir, "sub", "deeper", "y.txt"), "y")
	writeFile(t, filepath.Join(dir, "sub", ".hidden"), dotContent)
	writeFile(t, filepath.Join(dir, ".env"), dotContent)
	writeFile(t, filepath.Join(dir, ".git", "config"), dotContent)
	writeFile(t, filepath.Join(dir, "empty", ".keep"), dotContent)
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = 'a' + byte(i*7%26)
	}
	writeFile(t, filepath.Join(dir, "big.txt"), string(big))
	symlink(t, "hello.txt", filepath.Join(dir, "link-in"))
	symlink(t, "sub", filepath.Join(dir, "link-dir-in"))
	symlink(t, "../secret.txt", filepath.Join(dir, "link-out"))
	symlink(t, filepath.Join(base, "secret.txt"), filepath.Join(dir, "link-abs"))
	symlink(t, "../outside", filepath.Join(dir, "dir-out"))
	symlink(t, "loop2", filepath.Join(dir, "loop1"))
	symlink(t, "loop1", filepath.Join(dir, "loop2"))

	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	core, logs := observer.New(zapcore.DebugLevel)
	clock := newFakeClock()
	h := newFileHandler(root.FS(), Options{ShowIndex: showIndex, Logger: zap.New(core), Now: clock.Now},
		limits{maxEntry: defaultMaxEntry, maxTotal: defaultMaxTotal})
	srv := httptest.NewServer(http.StripPrefix("/static", h))
	t.Cleanup(srv.Close)
	f := &staticFixture{base: base, dir: dir, srv: srv, clock: clock, logs: logs, h: h, big: big}
	t.Cleanup(func() {
		for _, e := range logs.All() {
			t.Errorf("unexpected log entry: %s %v", e.Message, e.ContextMap())
		}
	})
	return f
}

// response is a read response with its body.
type response struct {
	*http.Response
	body string
}

// checkNoSecret fails the test if a response leaks content from outside the root or a dotfile.
func checkNoSecret(t *testing.T, what string, resp response) {
	t.Helper()
	for _, leak := range []string{secretContent, dotContent, "root:x:0:0"} {
		if strings.Contains(resp.body, leak) {
			t.Errorf("%s: response body leaks %q", what, leak)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, leak) {
					t.Errorf("%s: header %s leaks %q", what, k, leak)
				}
			}
		}
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", what, resp.Header.Get("X-Content-Type-Options"))
	}
}

// do sends a request with Go's client (which does not follow redirects) and reads the response.
func (f *staticFixture) do(t *testing.T, method, target string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{Response: resp, body: string(body)}
	checkNoSecret(t, method+" "+target, r)
	return r
}

// wantInOrder fails the test unless body contains each of wants, in this order.
func wantInOrder(t *testing.T, body string, wants []string) {
	t.Helper()
	rest := body
	for _, want := range wants {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("body lacks %q (in order) in:\n%s", want, body)
		}
		rest = rest[i+len(want):]
	}
}

func (f *staticFixture) get(t *testing.T, target string) response {
	t.Helper()
	return f.do(t, http.MethodGet, target, nil)
}

// raw writes requestLine and headers verbatim over a new TCP connection, so that no client
// normalises the path, and reads the response.
func (f *staticFixture) raw(t *testing.T, method, requestLine string) response {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "%s\r\nHost: example.test\r\nConnection: close\r\n\r\n", requestLine); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %v", requestLine, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{Response: resp, body: string(body)}
	if resp.StatusCode != http.StatusBadRequest { // Go's server answers 400 itself, without our headers
		checkNoSecret(t, requestLine, r)
	}
	return r
}

func TestServeFiles(t *testing.T) {
	f := newStaticFixture(t, false)
	tests := []struct {
		name, target, wantBody, wantType string
	}{
		{"text", "/static/hello.txt", "hello, world\n", "text/plain; charset=utf-8"},
		{"css", "/static/style.css", "body { color: red }\n", "text/css; charset=utf-8"},
		{"js", "/static/app.js", "console.log(1)\n", "text/javascript; charset=utf-8"},
		{"sniffed without extension", "/static/noext", "<!DOCTYPE html><html><body>sniffed</body></html>", "text/html; charset=utf-8"},
		{"nested", "/static/sub/deeper/y.txt", "y", "text/plain; charset=utf-8"},
		{"escaped name", "/static/sub/a%20b&%3Cc%3E%22d%22.txt", "odd name", "text/plain; charset=utf-8"},
		{"folder index.html", "/static/docs/", "<h1>docs index</h1>", "text/html; charset=utf-8"},
		{"index.html directly", "/static/docs/index.html", "<h1>docs index</h1>", "text/html; charset=utf-8"},
		{"symlink inside the root", "/static/link-in", "hello, world\n", "text/plain; charset=utf-8"},
		{"through symlinked folder inside the root", "/static/link-dir-in/x.txt", "x", "text/plain; charset=utf-8"},
		{"large file streamed", "/static/big.txt", string(f.big), "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 { // the second round is served from the cache for small files
				resp := f.get(t, tt.target)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("round %d: status %d, want 200 (body %q)", round, resp.StatusCode, resp.body)
				}
				if resp.body != tt.wantBody {
					t.Errorf("round %d: body %.80q, want %.80q", round, resp.body, tt.wantBody)
				}
				if got := resp.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("round %d: Content-Type %q, want %q", round, got, tt.wantType)
				}
				if got := resp.Header.Get("Content-Length"); got != fmt.Sprint(len(tt.wantBody)) {
					t.Errorf("round %d: Content-Length %q, want %d", round, got, len(tt.wantBody))
				}
				if resp.Header.Get("Etag") == "" || resp.Header.Get("Last-Modified") == "" {
					t.Errorf("round %d: missing validators: %v", round, resp.Header)
				}
				if got := resp.Header.Get("Accept-Ranges"); got != "bytes" {
					t.Errorf("round %d: Accept-Ranges %q, want bytes", round, got)
				}
			}
		})
	}
}

func TestHead(t *testing.T) {
	f := newStaticFixture(t, true)
	tests := []struct {
		name, target string
		wantStatus   int
		wantLength   string
	}{
		{"small file", "/static/hello.txt", http.StatusOK, "13"},
		{"large file", "/static/big.txt", http.StatusOK, fmt.Sprint(bigSize)},
		{"listing", "/static/sub/", http.StatusOK, ""},
		{"missing", "/static/nope.txt", http.StatusNotFound, "as GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 {
				resp := f.do(t, http.MethodHead, tt.target, nil)
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("round %d: status %d, want %d", round, resp.StatusCode, tt.wantStatus)
				}
				if resp.body != "" {
					t.Errorf("round %d: HEAD body %q", round, resp.body)
				}
				want := tt.wantLength
				if want == "as GET" {
					want = f.get(t, tt.target).Header.Get("Content-Length")
				}
				if want != "" && resp.Header.Get("Content-Length") != want {
					t.Errorf("round %d: Content-Length %q, want %s", round, resp.Header.Get("Content-Length"), want)
				}
			}
		})
	}
	// HEAD and GET agree on the listing's length.
	get, head := f.get(t, "/static/sub/"), f.do(t, http.MethodHead, "/static/sub/", nil)
	if head.Header.Get("Content-Length") != fmt.Sprint(len(get.body)) {
		t.Errorf("HEAD listing Content-Length %q, GET body is %d bytes", head.Header.Get("Content-Length"), len(get.body))
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newStaticFixture(t, true)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		for _, target := range []string{"/static/hello.txt", "/static/", "/static/nope", "/static/../secret.txt"} {
			t.Run(method+" "+target, func(t *testing.T) {
				resp := f.do(t, method, target, nil)
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("status %d, want 405", resp.StatusCode)
				}
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow %q, want %q", got, "GET, HEAD")
				}
				if strings.Contains(resp.body, "hello") {
					t.Errorf("405 body carries the file: %q", resp.body)
				}
			})
		}
	}
}

func TestShowIndex(t *testing.T) {
	on := newStaticFixture(t, true)
	off := newStaticFixture(t, false)
	tests := []struct {
		name         string
		f            *staticFixture
		target       string
		wantStatus   int
		wantLocation string
		wantBody     []string // substrings, in this order
		notBody      []string
	}{
		{name: "on: root listing", f: on, target: "/static/", wantStatus: 200,
			wantBody: []string{ // folders (a symlink to one too) first, then files
				`<a href="./docs/">docs/</a>`,
				`<a href="./empty/">empty/</a>`,
				`<a href="./link-dir-in/">link-dir-in/</a>`,
				`<a href="./sub/">sub/</a>`,
				`<a href="./app.js">app.js</a>`,
				`<a href="./big.txt">big.txt</a>`,
				`<a href="./hello.txt">hello.txt</a>`,
				`<a href="./link-in">link-in</a>`,
			},
			notBody: []string{".env", ".git", `href="../"`}},
		{name: "on: sub listing escapes names", f: on, target: "/static/sub/", wantStatus: 200,
			wantBody: []string{
				`<a href="../">../</a>`,
				`<a href="./deeper/">deeper/</a>`,
				`<a href="./a%20b&amp;%3Cc%3E%22d%22.txt">a b&amp;&lt;c&gt;&#34;d&#34;.txt</a>`,
				`<a href="./x.txt">x.txt</a>`,
			},
			notBody: []string{".hidden", "<c>"}},
		{name: "on: folder with only dotfiles lists nothing", f: on, target: "/static/empty/", wantStatus: 200,
			notBody: []string{".keep"}},
		{name: "on: index.html wins over listing", f: on, target: "/static/docs/", wantStatus: 200,
			wantBody: []string{"<h1>docs index</h1>"}, notBody: []string{"page.html"}},
		{name: "on: folder without slash redirects", f: on, target: "/static/sub", wantStatus: 301, wantLocation: "./sub/"},
		{name: "on: nested folder without slash redirects", f: on, target: "/static/sub/deeper", wantStatus: 301, wantLocation: "./deeper/"},
		{name: "on: redirect keeps the query", f: on, target: "/static/sub?x=1", wantStatus: 301, wantLocation: "./sub/?x=1"},
		{name: "on: mount root without slash redirects", f: on, target: "/static", wantStatus: 301, wantLocation: "./static/"},
		{name: "on: symlinked folder without slash redirects", f: on, target: "/static/link-dir-in", wantStatus: 301, wantLocation: "./link-dir-in/"},
		{name: "on: file with trailing slash", f: on, target: "/static/hello.txt/", wantStatus: 404},

		{name: "off: root is 404", f: off, target: "/static/", wantStatus: 404, notBody: []string{"hello.txt"}},
		{name: "off: folder is 404", f: off, target: "/static/sub/", wantStatus: 404, notBody: []string{"x.txt"}},
		{name: "off: folder without slash is 404", f: off, target: "/static/sub", wantStatus: 404},
		{name: "off: mount root without slash is 404", f: off, target: "/static", wantStatus: 404},
		{name: "off: folder with index.html redirects", f: off, target: "/static/docs", wantStatus: 301, wantLocation: "./docs/"},
		{name: "off: folder with index.html serves it", f: off, target: "/static/docs/", wantStatus: 200,
			wantBody: []string{"<h1>docs index</h1>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.f.get(t, tt.target)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, resp.body)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
			wantInOrder(t, resp.body, tt.wantBody)
			for _, not := range tt.notBody {
				if strings.Contains(resp.body, not) {
					t.Errorf("body contains %q:\n%s", not, resp.body)
				}
			}
			if tt.wantStatus == 200 && len(tt.wantBody) > 0 && strings.HasPrefix(tt.wantBody[0], "<a") {
				if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
					t.Errorf("listing Content-Type %q", got)
				}
			}
		})
	}
}

// TestRedirectResolvesUnderMount follows the relative redirects the way a browser does and
// checks they land under the mount prefix.
func TestRedirectResolvesUnderMount(t *testing.T) {
	f := newStaticFixture(t, true)
	for _, target := range []string{"/static/sub", "/static", "/static/docs", "/static/sub?x=1"} {
		t.Run(target, func(t *testing.T) {
			resp, err := http.Get(f.srv.URL + target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d after redirect", resp.StatusCode)
			}
			got := resp.Request.URL.Path
			if !strings.HasPrefix(got, "/static/") || !strings.HasSuffix(got, "/") {
				t.Errorf("redirect landed on %q, want a folder URL under /static/", got)
			}
			if strings.Contains(target, "?") && resp.Request.URL.RawQuery != "x=1" {
				t.Errorf("query %q lost", resp.Request.URL.RawQuery)
			}
		})
	}
}

func TestConditional(t *testing.T) {
	f := newStaticFixture(t, false)
	for _, target := range []string{"/static/hello.txt", "/static/big.txt", "/static/docs/"} {
		t.Run(target, func(t *testing.T) {
			first := f.get(t, target)
			etag, lastMod := first.Header.Get("Etag"), first.Header.Get("Last-Modified")
			if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 4 {
				t.Fatalf("ETag %q is not a strong entity tag", etag)
			}
			if _, err := http.ParseTime(lastMod); err != nil {
				t.Fatalf("Last-Modified %q: %v", lastMod, err)
			}
			tests := []struct {
				name       string
				hdr        map[string]string
				wantStatus int
			}{
				{"If-None-Match matches", map[string]string{"If-None-Match": etag}, 304},
				{"If-None-Match in a list", map[string]string{"If-None-Match": `"nope", ` + etag}, 304},
				{"If-None-Match star", map[string]string{"If-None-Match": "*"}, 304},
				{"If-None-Match differs", map[string]string{"If-None-Match": `"nope"`}, 200},
				{"If-Modified-Since equal", map[string]string{"If-Modified-Since": lastMod}, 304},
				{"If-Modified-Since older", map[string]string{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, 200},
				{"If-None-Match differs wins over If-Modified-Since", map[string]string{"If-None-Match": `"nope"`, "If-Modified-Since": lastMod}, 200},
				{"If-Match fails", map[string]string{"If-Match": `"nope"`}, 412},
				{"If-Match matches", map[string]string{"If-Match": etag}, 200},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp := f.do(t, http.MethodGet, target, tt.hdr)
					if resp.StatusCode != tt.wantStatus {
						t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
					}
					switch tt.wantStatus {
					case 304:
						if resp.body != "" {
							t.Errorf("304 with body %q", resp.body)
						}
						if resp.Header.Get("Etag") != etag {
							t.Errorf("304 ETag %q, want %q", resp.Header.Get("Etag"), etag)
						}
					case 200:
						if resp.body != first.body {
							t.Errorf("body differs from the first response")
						}
					}
				})
			}
		})
	}
}

func TestRange(t *testing.T) {
	f := newStaticFixture(t, false)
	hello := "hello, world\n"
	tests := []struct {
		name, target, rng string
		wantStatus        int
		wantBody          string
		wantRange         string
	}{
		{"small middle", "/static/hello.txt", "bytes=2-5", 206, hello[2:6], "bytes 2-5/13"},
		{"small suffix", "/static/hello.txt", "bytes=-6", 206, hello[7:], "bytes 7-12/13"},
		{"small open end", "/static/hello.txt", "bytes=7-", 206, hello[7:], "bytes 7-12/13"},
		{"small past end", "/static/hello.txt", "bytes=100-200", 416, "", "bytes */13"},
		{"large middle", "/static/big.txt", "bytes=100000-100009", 206, string(f.big[100000:100010]), fmt.Sprintf("bytes 100000-100009/%d", bigSize)},
		{"large tail", "/static/big.txt", "bytes=-5", 206, string(f.big[bigSize-5:]), fmt.Sprintf("bytes %d-%d/%d", bigSize-5, bigSize-1, bigSize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 {
				resp := f.do(t, http.MethodGet, tt.target, map[string]string{"Range": tt.rng})
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("round %d: status %d, want %d", round, resp.StatusCode, tt.wantStatus)
				}
				if tt.wantStatus == 206 && resp.body != tt.wantBody {
					t.Errorf("round %d: body %q, want %q", round, resp.body, tt.wantBody)
				}
				if got := resp.Header.Get("Content-Range"); got != tt.wantRange {
					t.Errorf("round %d: Content-Range %q, want %q", round, got, tt.wantRange)
				}
			}
		})
	}
	t.Run("If-Range with stale ETag sends the whole file", func(t *testing.T) {
		resp := f.do(t, http.MethodGet, "/static/hello.txt", map[string]string{"Range": "bytes=0-1", "If-Range": `"old"`})
		if resp.StatusCode != 200 || resp.body != hello {
			t.Errorf("status %d body %q, want 200 and the whole file", resp.StatusCode, resp.body)
		}
	})
	t.Run("multiple ranges", func(t *testing.T) {
		resp := f.do(t, http.MethodGet, "/static/hello.txt", map[string]string{"Range": "bytes=0-1,7-8"})
		if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") {
			t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(resp.body, "he") || !strings.Contains(resp.body, "wo") {
			t.Errorf("multipart body lacks the parts: %q", resp.body)
		}
	})
}

// TestETagStableAcrossCache checks a file has the same validators from the cache and from disk.
func TestETagStableAcrossCache(t *testing.T) {
	f := newStaticFixture(t, false)
	cached := f.get(t, "/static/hello.txt")
	// A range request of a file the cache does not hold yet: the entry is built from disk anyway,
	// so compare with a handler whose cache cannot hold anything.
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	uncached := newFileHandler(root.FS(), Options{}, limits{maxEntry: 0, maxTotal: 0})
	rec := httptest.NewRecorder()
	uncached.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hello.txt", nil))
	if rec.Code != 200 || rec.Body.String() != cached.body {
		t.Fatalf("uncached: %d %q", rec.Code, rec.Body.String())
	}
	for _, k := range []string{"Etag", "Last-Modified", "Content-Type", "Content-Length"} {
		if a, b := cached.Header.Get(k), rec.Header().Get(k); a != b {
			t.Errorf("%s: cached %q, streamed %q", k, a, b)
		}
	}
}
