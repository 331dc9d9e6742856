package static

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// TestTraversalRaw sends hostile request lines verbatim over TCP, since Go's client would
// normalise most of them. Every one must answer 404 (400 where Go's server rejects the request
// line itself) and none may carry the secret (checked by raw).
func TestTraversalRaw(t *testing.T) {
	for _, showIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("show_index=%v", showIndex), func(t *testing.T) { testTraversalRaw(t, showIndex) })
	}
}

func testTraversalRaw(t *testing.T, showIndex bool) {
	{
		f := newStaticFixture(t, showIndex)
		secretAbs := filepath.Join(f.base, "secret.txt")
		tests := []struct {
			name, target string
			want         int
		}{
			{"dot-dot", "/static/../secret.txt", 404},
			{"dot-dot deep", "/static/sub/../../secret.txt", 404},
			{"dot-dot at mount", "/static/..", 404},
			{"dot-dot slash at mount", "/static/../", 404},
			{"dot segment", "/static/./hello.txt", 404},
			{"lone dot", "/static/.", 404},
			{"encoded dot-dot", "/static/%2e%2e/secret.txt", 404},
			{"encoded dot-dot upper", "/static/%2E%2E/secret.txt", 404},
			{"half encoded dot-dot", "/static/.%2e/secret.txt", 404},
			{"encoded slashes", "/static/..%2f..%2fsecret.txt", 404},
			{"encoded slashes upper", "/static/..%2F..%2Fsecret.txt", 404},
			{"all encoded", "/static/%2e%2e%2f%2e%2e%2fsecret.txt", 404},
			{"encoded slash inside a name", "/static/sub%2fx.txt", 404},
			{"double encoded", "/static/%252e%252e/secret.txt", 404},
			{"backslashes", `/static/a\..\..\secret.txt`, 404},
			{"backslash dot-dot", `/static/..\secret.txt`, 404},
			{"encoded backslash", "/static/..%5csecret.txt", 404},
			{"encoded backslash upper", "/static/..%5Csecret.txt", 404},
			{"NUL", "/static/%00", 404},
			{"NUL after name", "/static/hello.txt%00.css", 404},
			{"NUL in folder", "/static/sub%00/x.txt", 404},
			{"absolute path", "/static//etc/passwd", 404},
			{"absolute path encoded", "/static/%2fetc/passwd", 404},
			{"absolute path of the secret", "/static/" + secretAbs, 404},
			{"absolute path of the secret, encoded slashes", "/static/" + url.PathEscape(secretAbs), 404},
			{"etc passwd relative", "/static/etc/passwd", 404},
			{"absolute-form URL", "http://example.test/static/../secret.txt", 404},
			{"absolute-form URL encoded", "http://example.test/static/%2e%2e%2fsecret.txt", 404},
			{"symlink to a file outside", "/static/link-out", 404},
			{"absolute symlink outside", "/static/link-abs", 404},
			{"through a symlinked folder outside", "/static/dir-out/secret.txt", 404},
			{"symlinked folder outside", "/static/dir-out/", 404},
			{"symlink loop", "/static/loop1", 404},
			{"dotfile", "/static/.env", 404},
			{"encoded dotfile", "/static/%2eenv", 404},
			{"dot folder", "/static/.git/config", 404},
			{"dot folder itself", "/static/.git/", 404},
			{"nested dotfile", "/static/sub/.hidden", 404},
			{"dotfile via dot-dot", "/static/sub/../.env", 404},
			{"empty segment", "/static/sub//x.txt", 404},
			{"missing", "/static/nope.txt", 404},
			{"below a file", "/static/hello.txt/x", 404},
			{"long name", "/static/" + longName(), 404},
			{"request line without slash", "secret.txt", 400},
			{"raw NUL byte", "/static/\x00", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp := f.raw(t, method, method+" "+tt.target+" HTTP/1.1")
					if resp.StatusCode != tt.want {
						t.Errorf("%s %s: status %d, want %d (body %q)", method, tt.target, resp.StatusCode, tt.want, resp.body)
					}
				}
			})
		}
	}
}

func longName() string {
	b := make([]byte, 5000)
	for i := range b {
		b[i] = 'n'
	}
	return string(b)
}

// TestRootRefusesEscapes checks the property the handler relies on: an os.Root does not follow
// symlinks or ".." out of its folder, so even a name the handler's own checks would let through
// cannot reach the secret.
func TestRootRefusesEscapes(t *testing.T) {
	f := newStaticFixture(t, false)
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fsys := root.FS()
	for _, name := range []string{"link-out", "link-abs", "dir-out/secret.txt", "../secret.txt", "sub/../../secret.txt"} {
		t.Run(name, func(t *testing.T) {
			if _, err := root.Open(name); err == nil {
				t.Errorf("os.Root opened %q", name)
			}
			if _, err := fsys.Open(name); err == nil {
				t.Errorf("os.Root FS opened %q", name)
			} else if !isNotFound(err) {
				t.Errorf("error %v is not classified as not found", err)
			}
		})
	}
	// Inside the root, symlinks are followed.
	if _, err := fsys.Open("link-in"); err != nil {
		t.Errorf("link-in: %v", err)
	}
}

// TestRequestKey checks path validation without a server, including paths that only arrive
// through handlers that rewrite the request.
func TestRequestKey(t *testing.T) {
	tests := []struct {
		path, rawPath string
		wantKey       string
		wantOK        bool
	}{
		{"/a/b.css", "", "a/b.css", true},
		{"a/b.css", "", "a/b.css", true},
		{"/", "", "", true},
		{"", "", "", true},
		{"/sub/", "", "sub/", true},
		{"//", "", "", false},
		{"/sub//", "", "", false},
		{"/a//b", "", "", false},
		{"/../a", "", "", false},
		{"/a/..", "", "", false},
		{"/a/../", "", "", false},
		{"/./a", "", "", false},
		{"/.a", "", "", false},
		{"/a/.b/c", "", "", false},
		{`/a\b`, "", "", false},
		{"/a\x00b", "", "", false},
		{"/a/b", "/a%2Fb", "", false},
		{"/a/b", "/a%2fb", "", false},
		{"/a b", "/a%20b", "a b", true},
		{"/a..b", "", "a..b", true},
		{"/a./b", "", "a./b", true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.URL.Path, r.URL.RawPath = tt.path, tt.rawPath
			key, ok := requestKey(r)
			if key != tt.wantKey || ok != tt.wantOK {
				t.Errorf("requestKey(%q, %q) = %q, %v; want %q, %v", tt.path, tt.rawPath, key, ok, tt.wantKey, tt.wantOK)
			}
		})
	}
}
