package httpsyntax

import (
	"fmt"
	"net/textproto"
	"net/url"
	"testing"
)

func TestTokenAndValue(t *testing.T) {
	tests := []struct {
		s            string
		token, value bool
	}{
		{"Content-Type", true, true},
		{"x_y!#$%&'*+.^`|~9", true, true},
		{"", false, true},
		{"two words", false, true},
		{"colon:", false, true},
		{"caf\xc3\xa9", false, true}, // obs-text: no token, but a value
		{"tab\there", false, true},
		{"nul\x00", false, false},
		{"cr\r", false, false},
		{"lf\n", false, false},
		{"del\x7f", false, false},
	}
	for _, tt := range tests {
		if Token(tt.s) != tt.token || Token([]byte(tt.s)) != tt.token {
			t.Errorf("Token(%q) = %v, want %v", tt.s, !tt.token, tt.token)
		}
		if Value(tt.s) != tt.value || Value([]byte(tt.s)) != tt.value {
			t.Errorf("Value(%q) = %v, want %v", tt.s, !tt.value, tt.value)
		}
	}
}

func TestHasToken(t *testing.T) {
	tests := []struct {
		values []string
		token  string
		want   bool
	}{
		{[]string{"close"}, "close", true},
		{[]string{"Keep-Alive, Upgrade"}, "upgrade", true},
		{[]string{"keep-alive", " \tCLOSE\t "}, "close", true},
		{[]string{"closed", "enclose", "clo se"}, "close", false},
		{[]string{",,", ""}, "close", false},
		{nil, "close", false},
		{[]string{"a,close"}, "close", true},
	}
	for _, tt := range tests {
		if got := HasToken(tt.values, tt.token); got != tt.want {
			t.Errorf("HasToken(%q, %q) = %v", tt.values, tt.token, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { HasToken([]string{"keep-alive, Upgrade"}, "upgrade") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestHeadLengthAndCutLine(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27},
		{"GET / HTTP/1.1\nHost: a\n\nbody", 24},
		{"HTTP/1.1 204 No Content\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"", -1},
	}
	for _, tt := range tests {
		if got := HeadLength([]byte(tt.in)); got != tt.want {
			t.Errorf("HeadLength(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	var lines []string
	for line, rest := CutLine("a\r\nb\nc\r\n\r\n"); ; line, rest = CutLine(rest) {
		lines = append(lines, line)
		if rest == "" {
			break
		}
	}
	if fmt.Sprint(lines) != "[a b c ]" {
		t.Errorf("lines %q", lines)
	}
}

// CanonicalKey gives what textproto gives, and allocates nothing for canonical or common lower-case names.
func TestCanonicalKey(t *testing.T) {
	for _, k := range []string{"Content-Type", "content-type", "CONTENT-TYPE", "x-request-id", "X-Custom-Thing", "x-custom-thing",
		"Www-Authenticate", "a", "X_Y", "x1-2b", "Te", "te", "Etag", "ETag"} {
		if got, want := CanonicalKey(k), textproto.CanonicalMIMEHeaderKey(k); got != want {
			t.Errorf("CanonicalKey(%q) = %q, want %q", k, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = CanonicalKey("X-Forwarded-Proto"); _ = CanonicalKey("user-agent") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestParseField(t *testing.T) {
	tests := []struct{ line, name, value string }{
		{"Content-Type: text/plain", "Content-Type", "text/plain"},
		{"x-id:\t  42 \t", "X-Id", "42"},
		{"Empty:", "Empty", ""},
		{"Caf: caf\xc3\xa9", "Caf", "caf\xc3\xa9"},
		{" folded: x", "", ""},
		{"\tfolded: x", "", ""},
		{"no colon", "", ""},
		{"bad name: x", "", ""},
		{": no name", "", ""},
		{"X: a\x00b", "", ""},
		{"X: a\rb", "", ""},
	}
	for _, tt := range tests {
		name, value, err := ParseField(tt.line)
		if tt.name == "" {
			if err == nil {
				t.Errorf("ParseField(%q) = %q, %q; want an error", tt.line, name, value)
			}
			continue
		}
		if err != nil || name != tt.name || value != tt.value {
			t.Errorf("ParseField(%q) = %q, %q, %v; want %q, %q", tt.line, name, value, err, tt.name, tt.value)
		}
	}
}

func TestSafeValue(t *testing.T) {
	for v, want := range map[string]string{"plain": "plain", "": "", "a\r\nSet-Cookie: x": "a  Set-Cookie: x", "\n": " ", "tab\tok": "tab\tok"} {
		if got := SafeValue(v); got != want {
			t.Errorf("SafeValue(%q) = %q, want %q", v, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = SafeValue("text/plain; charset=utf-8") }); n != 0 {
		t.Errorf("%v allocations for a clean value", n)
	}
}

func TestContentLength(t *testing.T) {
	for v, want := range map[string]int64{"0": 0, "5": 5, "007": 7, "9223372036854775807": 1<<63 - 1} {
		if n, ok := ContentLength(v); !ok || n != want {
			t.Errorf("%q: %d %v, want %d", v, n, ok, want)
		}
	}
	for _, v := range []string{"", "-0", "-1", "+1", "0x1", " 1", "1 ", "1 1", "1,1", "1.0", "9223372036854775808", "99999999999999999999", "１"} {
		if n, ok := ContentLength(v); ok {
			t.Errorf("%q: accepted as %d", v, n)
		}
	}
}

// The []byte form reads the same as the string form (loadgen parses in its read buffer).
func TestContentLengthBytes(t *testing.T) {
	for _, v := range []string{"0", "5", "9223372036854775807", "", "-1", "1 ", "9223372036854775808"} {
		n1, ok1 := ContentLength(v)
		n2, ok2 := ContentLength([]byte(v))
		if n1 != n2 || ok1 != ok2 {
			t.Errorf("%q: string %d %v, bytes %d %v", v, n1, ok1, n2, ok2)
		}
	}
}

func TestChunkSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		size int64
		rest string
		ok   bool
	}{
		{"0", 0, "", true},
		{"1a", 26, "", true},
		{"FF;ext=1", 255, ";ext=1", true},
		{"7fffffffffffffff", 1<<63 - 1, "", true},
		{"0000000000000001", 1, "", true},
		{"8000000000000000", 0, "8000000000000000", false},   // over math.MaxInt64
		{"00000000000000001", 0, "00000000000000001", false}, // 17 digits
		{"", 0, "", false},
		{";x", 0, ";x", false},
		{" 1", 0, " 1", false},
		{"-1", 0, "-1", false},
		{"0x10", 0, "x10", true}, // the size is 0; what follows is the caller's to refuse
	} {
		size, rest, ok := ChunkSize(tt.in)
		if size != tt.size || rest != tt.rest || ok != tt.ok {
			t.Errorf("ChunkSize(%q) = %d %q %v, want %d %q %v", tt.in, size, rest, ok, tt.size, tt.rest, tt.ok)
		}
		if bs, br, bok := ChunkSize([]byte(tt.in)); bs != size || string(br) != rest || bok != ok {
			t.Errorf("ChunkSize([]byte(%q)) differs from the string form", tt.in)
		}
	}
}

func TestTransferCoding(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   Coding
	}{
		{[]string{"chunked"}, Chunked},
		{[]string{"Chunked"}, Chunked},
		{[]string{" chunked\t"}, Chunked},
		{[]string{"chunked", ""}, NotChunked},
		{[]string{"chunked,"}, NotChunked},
		{[]string{",chunked"}, NotChunked},
		{[]string{"gzip,,chunked"}, NotChunked},
		{[]string{"gzip, chunked"}, ChunkedOverOther},
		{[]string{"gzip", "chunked"}, ChunkedOverOther},
		{[]string{"chunked, chunked"}, ChunkedOverOther},
		{[]string{"chunked, gzip"}, NotChunked},
		{[]string{"identity"}, NotChunked},
		{[]string{""}, NotChunked},
		{[]string{"\u00a0chunked"}, NotChunked},
		{[]string{"chunked\x00"}, NotChunked},
		{[]string{"xchunked"}, NotChunked},
		{[]string{"chunk"}, NotChunked},
		{[]string{`"chunked"`}, NotChunked},
		{[]string{"chunked;q=1"}, NotChunked},
		{[]string{"chun ked"}, NotChunked},
		{[]string{"\vchunked"}, NotChunked},
	} {
		if got := TransferCoding(tt.values); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestValidHost(t *testing.T) {
	for _, v := range []string{"", "example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:443",
		"[fe80::1%25eth0]", "xn--bcher-kva.example", "a-b_c~d", "a%20b", "localhost:", "a,b", "[v1.x]"} {
		if !ValidHost(v) {
			t.Errorf("%q refused", v)
		}
	}
	for _, v := range []string{"a b", "{", "\xff", "a, b", "a@b", "a/b", "a?b", "a#b", "[::1", "[::1]x", "[::g]", "a:b:c",
		"a:8o", "%zz", "a%2", "a\tb", "a\x00", "[]", "a\"b", "a\\b"} {
		if ValidHost(v) {
			t.Errorf("%q accepted", v)
		}
	}
}

// The fast path for plain targets gives the URL that url.ParseRequestURI gives.
func TestSimpleTargetMatchesParseRequestURI(t *testing.T) {
	for _, target := range []string{"/", "/demo2", "/a/b.c~d_e-f", "/a?x=1&y=2", "/a?", "/a??b", "/a?q=%20", "/it's(ok)*+,;=:@/",
		"/caf%C3%A9", "/a b", "/a#frag", "/a?b#c", "/a\x01", "/a?\x7f", "//two/slashes", "/semi;colon?q=a/b?c"} {
		want, err := url.ParseRequestURI(target)
		got := simpleTarget(target)
		if got == nil {
			continue // left to ParseRequestURI
		}
		if err != nil {
			t.Errorf("%q: fast path accepted what ParseRequestURI refuses (%v)", target, err)
			continue
		}
		if *got != *want {
			t.Errorf("%q: fast path %#v, ParseRequestURI %#v", target, got, want)
		}
	}
	for _, target := range []string{"/demo2", "/a?x=1", "/a?"} {
		if simpleTarget(target) == nil {
			t.Errorf("%q: not taken by the fast path", target)
		}
	}
}
