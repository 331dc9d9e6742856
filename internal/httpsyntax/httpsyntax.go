// Package httpsyntax is the one toolbox of every hand-written HTTP/1.1 parser in frontgate: the
// server (leanhttp, and guard's watch over net/http), the upstream client (h1client) and the load
// generator (loadgen). It reads message heads (ReadHead, HeadLength), checks field lines, tokens and
// values (RFC 9110 5.1 and 5.5), decides framing (ContentLength, TransferCoding, ParseRequestHead),
// decodes chunked bodies (Dechunker, ChunkedReader), compares names and tokens without allocating
// (EqualFold, TrimOWS, ListHasToken), negotiates content codings (PreferredCoding) and reads media
// types (MediaType) for compression, reads the Retry-After a client waits by (RetryAfter, for the
// tracing exporter), and holds the deadline used to cut blocked calls short.
package httpsyntax

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
)

// Token reports whether s is a non-empty token: a method or a header name.
func Token[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = alnumAnd("!#$%&'*+-.^_`|~")

// alnumAnd is the ASCII table of the letters, the digits and the characters in extra.
func alnumAnd(extra string) (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

// Value reports whether s may be a header field value: visible characters, spaces, tabs and
// obs-text; never CR, LF, NUL or another control character.
func Value[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// HasToken reports whether any of the comma-separated lists in values (a Connection header, say)
// holds token, compared case-insensitively, without allocating.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		if ListHasToken(v, token) {
			return true
		}
	}
	return false
}

// HeadLength is the length of the message head at the start of b, through the empty line that ends
// it (CRLF or a bare LF), or -1 when b does not hold a whole head.
func HeadLength(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// EmptyLines is the length of the empty lines (CRLF or LF), at most max of them, that b starts
// with: a server skips a few before a request line (RFC 9112 2.2).
func EmptyLines(b []byte, max int) int {
	n := 0
	for i := 0; i < max; i++ {
		switch {
		case n < len(b) && b[n] == '\n':
			n++
		case n+1 < len(b) && b[n] == '\r' && b[n+1] == '\n':
			n += 2
		default:
			return n
		}
	}
	return n
}

// CutLine splits s after its first line, dropping the line's CRLF (or LF).
func CutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// CanonicalKey is textproto.CanonicalMIMEHeaderKey for a header name already checked by Token,
// without allocating for a name already in canonical form (it comes back as it is, so a key that
// slices a parsed head stays a slice of it) or for a common name sent in lower case.
func CanonicalKey(k string) string {
	if isCanonical(k) {
		return k
	}
	if s, ok := lowerKeys[k]; ok {
		return s
	}
	return textproto.CanonicalMIMEHeaderKey(k)
}

// isCanonical reports whether k is in textproto's canonical form (Content-Type): a letter is upper
// case at the start and after a hyphen, lower case elsewhere.
func isCanonical(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		}
		upper = c == '-'
	}
	return true
}

// lowerKeys maps common header names in lower case to their canonical form.
var lowerKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Connection",
		"Content-Length", "Content-Type", "Cookie", "Referer", "Cache-Control", "Transfer-Encoding", "Expect",
		"Upgrade", "Authorization", "Origin", "If-None-Match", "If-Modified-Since", "Range", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id", "Forwarded", "Pragma", "Te", "Keep-Alive"} {
		m[strings.ToLower(k)] = k
	}
	return m
}()

// ParseField splits one header (or trailer) line into its canonical name and its value without the
// surrounding spaces. It refuses obsolete line folding (a line that starts with a space or tab), a
// line without a colon or whose name is not a token, and a value with a control character.
func ParseField(line string) (name, value string, err error) {
	if line != "" && (line[0] == ' ' || line[0] == '\t') {
		return "", "", errors.New("obsolete line folding")
	}
	k, v, ok := strings.Cut(line, ":")
	if !ok || !Token(k) {
		return "", "", fmt.Errorf("malformed header line %q", line)
	}
	v = strings.Trim(v, " \t")
	if !Value(v) {
		return "", "", fmt.Errorf("invalid value in header %q", k)
	}
	return CanonicalKey(k), v, nil
}

// SafeValue is v with CR and LF replaced by spaces, so that it cannot split a header line when it is
// written; v itself, copied nowhere, when it holds neither (always, but for a hostile value).
func SafeValue(v string) string {
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// ContentLength parses a Content-Length value: 1*DIGIT (RFC 9110 8.6), no sign, no spaces, no list,
// at most math.MaxInt64. ok is false for anything else.
func ContentLength[T string | []byte](v T) (n int64, ok bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// Coding is what a message's Transfer-Encoding says of its body's framing.
type Coding int

const (
	// NotChunked: no usable chunked framing; for a request, refuse it (400).
	NotChunked Coding = iota
	// Chunked: exactly the chunked coding.
	Chunked
	// ChunkedOverOther: chunked is final but other codings come before it (gzip, chunked): the
	// framing is clear but the content coding is one this hop does not undo (a server answers 501).
	ChunkedOverOther
)

// TransferCoding reads the Transfer-Encoding field values (all of its lines): whether the final
// coding is chunked, and whether anything comes before it. Names are compared case-insensitively
// and separated by commas with optional spaces and tabs only: any other byte around or inside a
// name (a Unicode space, a NUL, quotes, a parameter) makes it another coding, never chunked. Empty
// list elements (RFC 9110 5.6.1 asks a recipient to skip them) make it NotChunked too: other
// parsers refuse them, and a request whose framing two parsers read differently is refused.
func TransferCoding(values []string) Coding {
	var last string
	n := 0
	for _, v := range values {
		for {
			var c string
			var more bool
			c, v, more = strings.Cut(v, ",")
			if c = strings.Trim(c, " \t"); c == "" {
				return NotChunked
			}
			last = c
			n++
			if !more {
				break
			}
		}
	}
	switch {
	case n == 0 || !EqualFold(TrimOWS(last), "chunked"):
		return NotChunked
	case n == 1:
		return Chunked
	}
	return ChunkedOverOther
}

// ValidHost reports whether v may be a Host header's value: uri-host [ ":" port ] (RFC 9110 7.2,
// RFC 3986 3.2.2): a reg-name of unreserved characters, percent-escapes and sub-delims, an IPv4
// address (a reg-name already), or an IP literal in brackets; the port all digits. An empty value is
// valid (a target URI without authority).
func ValidHost(v string) bool {
	host, port := v, ""
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return false
		}
		host, port = v[:end+1], v[end+1:]
		if !ipLiteral(host[1 : len(host)-1]) {
			return false
		}
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else {
		if i := strings.LastIndexByte(v, ':'); i >= 0 {
			host, port = v[:i], v[i+1:]
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			switch {
			case c == '%':
				if i+2 >= len(host) || unhex(host[i+1]) < 0 || unhex(host[i+2]) < 0 {
					return false
				}
				i += 2
			case c >= 0x80 || !regNameChar[c]:
				return false
			}
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// ipLiteral checks the inside of brackets loosely but safely: hex digits, colons and dots (an IPv6
// address, perhaps ending in IPv4, perhaps with a zone), or an IPvFuture.
func ipLiteral(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == 'v' || s[0] == 'V' {
		for i := 1; i < len(s); i++ {
			if c := s[i]; c >= 0x80 || !regNameChar[c] && c != ':' {
				return false
			}
		}
		return true
	}
	addr, zone, hasZone := strings.Cut(s, "%25") // RFC 6874: [fe80::1%25eth0]
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c != ':' && c != '.' && unhex(c) < 0 {
			return false
		}
	}
	if hasZone {
		for i := 0; i < len(zone); i++ {
			if c := zone[i]; c >= 0x80 || !regNameChar[c] && c != '%' {
				return false
			}
		}
		return zone != ""
	}
	return addr != ""
}

// regNameChar: unreserved and sub-delims (RFC 3986 2.2, 2.3), the characters a reg-name may hold
// besides percent-escapes.
var regNameChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "-._~!$&'()*+,;=" {
		t[c] = true
	}
	return t
}()
