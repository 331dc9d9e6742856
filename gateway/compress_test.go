package gateway

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// curlFeatures are the features `curl -V` lists ("brotli", "zstd", "libz", …).
func curlFeatures(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("curl", "-V").Output()
	if err != nil {
		t.Fatalf("this test needs curl (apt-get install -y curl): %v", err)
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "Features:"); ok {
			return " " + strings.TrimSpace(rest) + " "
		}
	}
	return ""
}

// curlCompressed fetches url with `curl --compressed` asking for coding only, and returns the
// decoded body, the answer's Content-Encoding and the bytes that came over the wire.
func curlCompressed(t *testing.T, url, coding string) (body []byte, contentEncoding string, wire int) {
	t.Helper()
	dir := t.TempDir()
	bodyFile, headFile := filepath.Join(dir, "body"), filepath.Join(dir, "head")
	out, err := exec.Command("curl", "-sS", "--compressed", "-H", "Accept-Encoding: "+coding,
		"-D", headFile, "-o", bodyFile, "-w", "%{size_download}", url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v %s", url, err, out)
	}
	wire, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	head, _ := os.ReadFile(headFile)
	for line := range strings.Lines(string(head)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Encoding") {
			contentEncoding = strings.TrimSpace(value)
		}
	}
	body, err = os.ReadFile(bodyFile)
	if err != nil {
		t.Fatal(err)
	}
	return body, contentEncoding, wire
}

// curl --compressed decodes what the gateway compressed, for a forwarded answer and a static file,
// to the exact bytes sent; a precompressed .gz sibling goes out as it is; a route with compress:
// false sends the answer as it came; the access log counts the compressed bytes.
func TestCompressWithCurl(t *testing.T) {
	features := curlFeatures(t)
	var api bytes.Buffer
	for i := 0; api.Len() < 64<<10; i++ {
		fmt.Fprintf(&api, `{"id":%d,"name":"item %d","tags":["a","b","c"]}`+"\n", i, i*31)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write(api.Bytes())
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	css := strings.Repeat(".card { margin: 0 auto; padding: 1rem 2rem; color: #1d2430; }\n", 300)
	sibling := "/* served from pre.css.gz as it is */ body { color: green }\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(sibling))
	zw.Close()
	for name, content := range map[string]string{"app.css": css, "pre.css": css, "pre.css.gz": gz.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, logs := buildServed(t, fmt.Sprintf(`
defaults:
  compress: {encodings: [zstd, br, gzip], min_size: 1KiB}
upstreams: {u: {targets: [%q]}}
routes:
  - {path: /api, upstream: u, name: api}
  - {path: /raw, upstream: u, compress: false}
static:
  - {prefix: /s/, path: %q}
  - {prefix: /off/, path: %q, compress: false}
`, up.URL, dir, dir))

	for _, tt := range []struct{ coding, feature string }{{"gzip", "libz"}, {"zstd", "zstd"}, {"br", "brotli"}} {
		t.Run(tt.coding, func(t *testing.T) {
			if !strings.Contains(features, " "+tt.feature+" ") {
				t.Skipf("the installed curl cannot decode %s (curl -V lists no %q feature)", tt.coding, tt.feature)
			}
			for path, want := range map[string]string{"/api": api.String(), "/s/app.css": css} {
				body, ce, wire := curlCompressed(t, base+path, tt.coding)
				if ce != tt.coding {
					t.Errorf("%s: Content-Encoding %q, want %q", path, ce, tt.coding)
				}
				if string(body) != want {
					t.Errorf("%s: curl decoded %d bytes that differ from the %d sent", path, len(body), len(want))
				}
				if wire >= len(want)/2 {
					t.Errorf("%s: %d bytes on the wire for %d", path, wire, len(want))
				}
			}
		})
	}

	body, ce, _ := curlCompressed(t, base+"/s/pre.css", "gzip")
	if ce != "gzip" || string(body) != sibling {
		t.Errorf("/s/pre.css: %q decoded to %q, want pre.css.gz's own content %q", ce, body, sibling)
	}
	for _, path := range []string{"/off/pre.css", "/off/app.css"} { // a mount's own compress: false
		if body, ce, _ := curlCompressed(t, base+path, "gzip"); ce != "" || string(body) != css {
			t.Errorf("%s (compress: false): Content-Encoding %q, %d bytes, want the file as it is", path, ce, len(body))
		}
	}
	body, ce, _ = curlCompressed(t, base+"/raw", "gzip")
	if ce != "" || string(body) != api.String() {
		t.Errorf("/raw (compress: false): Content-Encoding %q, %d bytes", ce, len(body))
	}

	// The access log's bytes_out is what went on the wire: the compressed size.
	_, ce, wire := curlCompressed(t, base+"/api", "gzip")
	if ce != "gzip" {
		t.Fatalf("/api: Content-Encoding %q", ce)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var outs []int64
		for _, e := range logs.All() {
			if m := e.ContextMap(); m["route"] == "api" {
				if n, ok := m["bytes_out"].(int64); ok {
					outs = append(outs, n)
				}
			}
		}
		if len(outs) > 0 && outs[len(outs)-1] == int64(wire) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log bytes_out of /api: %v, want the last to be the %d bytes curl received", outs, wire)
		}
		time.Sleep(10 * time.Millisecond) // polling for the line, bounded by the deadline
	}
}
