package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// discardWriter is a reusable http.ResponseWriter that keeps only the status and byte count.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// benchHandler serves a folder with a 4 KiB style.css and a 1 MiB big.bin from an os.Root.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "style.css"), []byte(strings.Repeat("a{color:red}\n", 315)), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), []byte(strings.Repeat("0123456789abcdef", 1<<16)), 0o644); err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { root.Close() })
	return New(root.FS(), Options{})
}

// serveLoop serves req repeatedly into one reused writer and checks the last status.
func serveLoop(b *testing.B, h http.Handler, req *http.Request, wantCode int) {
	b.Helper()
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code, w.n = 0, 0
		h.ServeHTTP(w, req)
	}
	if w.code != wantCode {
		b.Fatalf("status %d, want %d", w.code, wantCode)
	}
}

// BenchmarkServeSmallFile measures a hot 4 KiB file served from the cache: through the handler
// alone (what this package costs), as a 304, in parallel, and over real TCP with keep-alive
// (what a client sees, including net/http's own work).
func BenchmarkServeSmallFile(b *testing.B) {
	h := benchHandler(b)
	b.Run("handler", func(b *testing.B) {
		b.SetBytes(4095)
		serveLoop(b, h, httptest.NewRequest(http.MethodGet, "/style.css", nil), http.StatusOK)
	})
	b.Run("not_modified", func(b *testing.B) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/style.css", nil))
		req := httptest.NewRequest(http.MethodGet, "/style.css", nil)
		req.Header.Set("If-None-Match", w.Header().Get("Etag"))
		serveLoop(b, h, req, http.StatusNotModified)
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(4095)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/style.css", nil)
			w := &discardWriter{h: make(http.Header)}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	})
	b.Run("tcp", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := srv.Client()
		b.SetBytes(4095)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Get(srv.URL + "/style.css")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkServeLargeFile measures a 1 MiB file streamed from disk through http.ServeContent.
func BenchmarkServeLargeFile(b *testing.B) {
	h := benchHandler(b)
	b.SetBytes(1 << 20)
	serveLoop(b, h, httptest.NewRequest(http.MethodGet, "/big.bin", nil), http.StatusOK)
}

// BenchmarkServeMissing measures a 404, the answer to most scanners.
func BenchmarkServeMissing(b *testing.B) {
	h := benchHandler(b)
	serveLoop(b, h, httptest.NewRequest(http.MethodGet, "/wp-login.php", nil), http.StatusNotFound)
}
