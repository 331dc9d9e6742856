package static

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// replaceFile writes content to name atomically (through a dotfile, which is never served) and
// sets its modification time, so that readers see either the old or the new file, whole.
func replaceFile(t *testing.T, name, content string, mtime time.Time) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func TestCacheRevalidation(t *testing.T) {
	f := newStaticFixture(t, false)
	name := filepath.Join(f.dir, "hello.txt")
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	mtime := fi.ModTime()
	expect := func(t *testing.T, target string, wantStatus int, wantBody string) response {
		t.Helper()
		resp := f.get(t, target)
		if resp.StatusCode != wantStatus || (wantStatus == 200 && resp.body != wantBody) {
			t.Fatalf("GET %s: %d %q, want %d %q", target, resp.StatusCode, resp.body, wantStatus, wantBody)
		}
		return resp
	}
	first := expect(t, "/static/hello.txt", 200, "hello, world\n")

	t.Run("served from memory until revalidation is due", func(t *testing.T) {
		replaceFile(t, name, "second version, longer\n", mtime.Add(time.Hour))
		expect(t, "/static/hello.txt", 200, "hello, world\n")
		f.clock.Advance(revalidateEvery - time.Millisecond)
		expect(t, "/static/hello.txt", 200, "hello, world\n")
	})
	t.Run("size and modtime change seen after a second", func(t *testing.T) {
		f.clock.Advance(2 * time.Millisecond)
		second := expect(t, "/static/hello.txt", 200, "second version, longer\n")
		if second.Header.Get("Etag") == first.Header.Get("Etag") {
			t.Errorf("ETag unchanged after the file changed: %s", second.Header.Get("Etag"))
		}
		if second.Header.Get("Last-Modified") == first.Header.Get("Last-Modified") {
			t.Errorf("Last-Modified unchanged after the file changed")
		}
		// A client holding the old ETag gets the new file, not 304.
		resp := f.do(t, http.MethodGet, "/static/hello.txt", map[string]string{"If-None-Match": first.Header.Get("Etag")})
		if resp.StatusCode != 200 || resp.body != "second version, longer\n" {
			t.Errorf("old ETag: %d %q", resp.StatusCode, resp.body)
		}
	})
	t.Run("same size, new modtime", func(t *testing.T) {
		replaceFile(t, name, "SECOND VERSION, LONGER\n", mtime.Add(2*time.Hour))
		f.clock.Advance(revalidateEvery)
		expect(t, "/static/hello.txt", 200, "SECOND VERSION, LONGER\n")
	})
	t.Run("removed file answers 404", func(t *testing.T) {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
		expect(t, "/static/hello.txt", 200, "SECOND VERSION, LONGER\n") // still fresh in memory
		f.clock.Advance(revalidateEvery)
		expect(t, "/static/hello.txt", 404, "")
		if f.h.cache.get("hello.txt") != nil {
			t.Errorf("entry of a removed file still cached")
		}
	})
	t.Run("recreated file is served", func(t *testing.T) {
		replaceFile(t, name, "third\n", mtime.Add(3*time.Hour))
		expect(t, "/static/hello.txt", 200, "third\n")
	})
	t.Run("file replaced by a folder", func(t *testing.T) {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(name, 0o755); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(revalidateEvery)
		expect(t, "/static/hello.txt", 404, "")
	})
	t.Run("folder index.html change", func(t *testing.T) {
		expect(t, "/static/docs/", 200, "<h1>docs index</h1>")
		replaceFile(t, filepath.Join(f.dir, "docs", "index.html"), "<h1>new docs</h1>", mtime.Add(time.Hour))
		expect(t, "/static/docs/", 200, "<h1>docs index</h1>")
		f.clock.Advance(revalidateEvery)
		expect(t, "/static/docs/", 200, "<h1>new docs</h1>")
	})
	t.Run("clock going backwards revalidates", func(t *testing.T) {
		replaceFile(t, filepath.Join(f.dir, "docs", "index.html"), "<h1>docs again</h1>", mtime.Add(2*time.Hour))
		f.clock.Advance(-time.Hour)
		expect(t, "/static/docs/", 200, "<h1>docs again</h1>")
	})
}

// TestCacheConcurrentChanges serves one file from many goroutines over TCP while it changes and
// the clock advances: every response is one whole version, with the ETag of that version, and
// once the requests in flight during a change are done, the next request sees the change.
func TestCacheConcurrentChanges(t *testing.T) {
	f := newStaticFixture(t, false)
	name := filepath.Join(f.dir, "hello.txt")
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	version := func(i int) string { return fmt.Sprintf("version %d %s\n", i, strings.Repeat("x", i%7)) }
	replaceFile(t, name, version(0), base)
	const versions, readers, requestsPerStep = 20, 4, 5
	var (
		mu     sync.Mutex // guards etagOf
		etagOf = map[string]string{}
	)
	client := f.srv.Client()
	read := func() error {
		resp, err := client.Get(f.srv.URL + "/static/hello.txt")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(body), "version ") || !strings.HasSuffix(string(body), "\n") ||
			resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
			return fmt.Errorf("torn response %q (Content-Length %s)", body, resp.Header.Get("Content-Length"))
		}
		mu.Lock()
		defer mu.Unlock()
		prev, seen := etagOf[string(body)]
		if !seen {
			etagOf[string(body)] = resp.Header.Get("Etag")
		} else if prev != resp.Header.Get("Etag") {
			return fmt.Errorf("body %q came with ETags %s and %s", body, prev, resp.Header.Get("Etag"))
		}
		return nil
	}
	for i := 1; i <= versions; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, readers*requestsPerStep)
		for range readers {
			wg.Go(func() {
				for range requestsPerStep {
					if err := read(); err != nil {
						errs <- err
					}
				}
			})
		}
		replaceFile(t, name, version(i), base.Add(time.Duration(i)*time.Minute))
		f.clock.Advance(revalidateEvery)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("step %d: %v", i, err)
		}
		if resp := f.get(t, "/static/hello.txt"); resp.body != version(i) {
			t.Fatalf("after step %d: %q", i, resp.body)
		}
	}
}

func TestCacheEviction(t *testing.T) {
	dir := t.TempDir()
	content := func(i int) string { return fmt.Sprintf("%03d%s", i, strings.Repeat("c", 497)) }
	for i := range 12 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%02d.txt", i)), content(i))
	}
	writeFile(t, filepath.Join(dir, "large.txt"), strings.Repeat("L", 2000))
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	clock := newFakeClock()
	// Each entry costs 500 + 2×7 + 256 = 770: five fit in 4096.
	h := newFileHandler(root.FS(), Options{Now: clock.Now}, limits{maxEntry: 1024, maxTotal: 4096})
	get := func(name string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+name, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", name, rec.Code)
		}
		return rec.Body.String()
	}
	checkTotal := func() {
		t.Helper()
		var sum int64
		h.cache.entries.Range(func(_, v any) bool {
			sum += v.(*cachedFile).cost
			return true
		})
		h.cache.mu.Lock()
		total := h.cache.total
		h.cache.mu.Unlock()
		if total != sum || total > 4096 {
			t.Fatalf("total %d, sum of entries %d, bound 4096", total, sum)
		}
	}
	for i := range 5 {
		if got := get(fmt.Sprintf("f%02d.txt", i)); got != content(i) {
			t.Fatalf("f%02d: %q", i, got)
		}
		checkTotal()
		clock.Advance(time.Millisecond) // load order is recency order
	}
	// f00 is requested after a while, so it is the most recently revalidated entry.
	clock.Advance(2 * revalidateEvery)
	get("f00.txt")
	get("f05.txt")
	checkTotal()
	// Eviction frees down to three quarters of the bound: f01, f02, f03 go, f04 stays.
	for i, wantCached := range []bool{true, false, false, false, true, true} {
		if got := h.cache.get(fmt.Sprintf("f%02d.txt", i)) != nil; got != wantCached {
			t.Errorf("f%02d.txt cached %v, want %v", i, got, wantCached)
		}
	}
	for i := range 12 {
		if got := get(fmt.Sprintf("f%02d.txt", i)); got != content(i) {
			t.Fatalf("f%02d: %q", i, got)
		}
		checkTotal()
	}
	if got := get("large.txt"); got != strings.Repeat("L", 2000) {
		t.Errorf("large.txt: %d bytes", len(got))
	}
	if h.cache.get("large.txt") != nil {
		t.Errorf("a file above the entry limit was cached")
	}
}

// TestEmbeddedLikeFS serves a file system without modification times, as embed.FS is: ETags
// come from the content, there is no Last-Modified, and both cached and streamed files answer
// conditional and range requests.
func TestEmbeddedLikeFS(t *testing.T) {
	big := []byte(strings.Repeat("0123456789abcdef", 8<<10)) // 128 KiB
	fsys := fstest.MapFS{
		"index.html":     {Data: []byte("<h1>demo</h1>")},
		"css/site.css":   {Data: []byte("h1{}")},
		"font/demo.woff": {Data: big},
		".hidden":        {Data: []byte(dotContent)},
	}
	srv := httptest.NewServer(http.StripPrefix("/demo", New(fsys, Options{})))
	defer srv.Close()
	f := &staticFixture{srv: srv}
	bigSum := sha256.Sum256(big)
	tests := []struct {
		target, wantBody, wantType, wantETag string
	}{
		{"/demo/", "<h1>demo</h1>", "text/html; charset=utf-8", ""},
		{"/demo/css/site.css", "h1{}", "text/css; charset=utf-8", ""},
		{"/demo/font/demo.woff", string(big), "font/woff", hashETag(bigSum[:])},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			var etag string
			for round := range 2 {
				resp := f.get(t, tt.target)
				if resp.StatusCode != 200 || resp.body != tt.wantBody {
					t.Fatalf("round %d: %d %.40q", round, resp.StatusCode, resp.body)
				}
				if got := resp.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type %q, want %q", got, tt.wantType)
				}
				if resp.Header.Get("Last-Modified") != "" {
					t.Errorf("Last-Modified %q for a file without modification time", resp.Header.Get("Last-Modified"))
				}
				got := resp.Header.Get("Etag")
				if got == "" || (round == 1 && got != etag) || (tt.wantETag != "" && got != tt.wantETag) {
					t.Errorf("round %d: ETag %q (before %q, want %q)", round, got, etag, tt.wantETag)
				}
				etag = got
			}
			resp := f.do(t, http.MethodGet, tt.target, map[string]string{"If-None-Match": etag})
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: %d", resp.StatusCode)
			}
			resp = f.do(t, http.MethodGet, tt.target, map[string]string{"Range": "bytes=1-2"})
			if resp.StatusCode != http.StatusPartialContent || resp.body != tt.wantBody[1:3] {
				t.Errorf("Range: %d %q", resp.StatusCode, resp.body)
			}
		})
	}
	// The root's index.html is now cached under the empty key; the mount without its slash must
	// still redirect, or the page's relative links would resolve outside the mount.
	if resp := f.get(t, "/demo"); resp.StatusCode != 301 || resp.Header.Get("Location") != "./demo/" {
		t.Errorf("/demo: %d Location %q, want 301 ./demo/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := f.get(t, "/demo/.hidden"); resp.StatusCode != 404 {
		t.Errorf(".hidden: %d", resp.StatusCode)
	}
}

// failingFS wraps a file system so that opening or reading one name fails with err.
type failingFS struct {
	fs.FS
	name     string
	err      error
	readOnly bool // fail reads and folder reads only, not opens
}

func (f failingFS) Open(name string) (fs.File, error) {
	if name != f.name {
		return f.FS.Open(name)
	}
	if !f.readOnly {
		return nil, &fs.PathError{Op: "open", Path: name, Err: f.err}
	}
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return failingFile{File: file, err: f.err}, nil
}

type failingFile struct {
	fs.File
	err error
}

func (f failingFile) Read([]byte) (int, error)           { return 0, f.err }
func (f failingFile) ReadDir(int) ([]fs.DirEntry, error) { return nil, f.err }

func TestErrors(t *testing.T) {
	base := fstest.MapFS{
		"a.txt":     {Data: []byte("a"), ModTime: time.Unix(1e9, 0)},
		"big.txt":   {Data: []byte(strings.Repeat("b", 100<<10)), ModTime: time.Unix(1e9, 0)},
		"d/x.txt":   {Data: []byte("x")},
		"d2/x.txt":  {Data: []byte("x")},
		"d3/y.txt":  {Data: []byte("y")},
		"e/é.txt":   {Data: []byte("e")},
		"perm.html": {Data: []byte("p")},
	}
	tests := []struct {
		name, target string
		fsys         fs.FS
		showIndex    bool
		wantStatus   int
		wantLog      bool
	}{
		{"I/O error opening", "/a.txt", failingFS{FS: base, name: "a.txt", err: syscall.EIO}, false, 500, true},
		{"I/O error reading a small file", "/a.txt", failingFS{FS: base, name: "a.txt", err: syscall.EIO, readOnly: true}, false, 500, true},
		{"I/O error reading a folder's index", "/d/", failingFS{FS: base, name: "d/index.html", err: syscall.EIO}, false, 500, true},
		{"I/O error stating a folder", "/d2/", failingFS{FS: base, name: "d2", err: syscall.EIO}, true, 500, true},
		{"I/O error listing", "/d2/", failingFS{FS: base, name: "d2", err: syscall.EIO, readOnly: true}, true, 500, true},
		{"other error", "/a.txt", failingFS{FS: base, name: "a.txt", err: errors.New("disk on fire at /secret/path")}, false, 500, true},
		{"permission", "/a.txt", failingFS{FS: base, name: "a.txt", err: fs.ErrPermission}, false, 403, false},
		{"EACCES", "/perm.html", failingFS{FS: base, name: "perm.html", err: syscall.EACCES}, false, 403, false},
		{"not exist", "/a.txt", failingFS{FS: base, name: "a.txt", err: fs.ErrNotExist}, false, 404, false},
		{"not a folder", "/a.txt", failingFS{FS: base, name: "a.txt", err: syscall.ENOTDIR}, false, 404, false},
		{"loop", "/a.txt", failingFS{FS: base, name: "a.txt", err: syscall.ELOOP}, false, 404, false},
		{"listing unavailable without ShowIndex", "/d3/", failingFS{FS: base, name: "d3", err: syscall.EIO, readOnly: true}, false, 404, false},
		{"non-ASCII name", "/e/%C3%A9.txt", base, false, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			h := New(tt.fsys, Options{ShowIndex: tt.showIndex, Logger: zap.New(core)})
			srv := httptest.NewServer(h)
			defer srv.Close()
			f := &staticFixture{srv: srv}
			resp := f.get(t, tt.target)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, resp.body)
			}
			if tt.wantStatus >= 400 {
				for _, internal := range []string{"input/output", "fire", "secret", "permission", "a.txt", "open"} {
					if strings.Contains(resp.body, internal) {
						t.Errorf("body %q reveals %q", resp.body, internal)
					}
				}
				var shape struct{ Status int }
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" || json.Unmarshal([]byte(resp.body), &shape) != nil || shape.Status != tt.wantStatus {
					t.Errorf("error %s %q is not the JSON error shape", ct, resp.body)
				}
			}
			entries := logs.All()
			if !tt.wantLog {
				if len(entries) != 0 {
					t.Errorf("unexpected logs: %v", entries)
				}
				return
			}
			if len(entries) != 1 || entries[0].Level != zapcore.ErrorLevel || entries[0].LoggerName != "static" {
				t.Fatalf("logs: %v", entries)
			}
			ctx := entries[0].ContextMap()
			if ctx["path"] == nil || ctx["error"] == nil {
				t.Errorf("log context %v lacks path or error", ctx)
			}
		})
	}
}
