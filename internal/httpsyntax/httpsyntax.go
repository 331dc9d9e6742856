// Package httpsyntax checks the pieces of HTTP/1.1 messages (RFC 9110 5.1 and 5.5) for the server and
// the upstream client, which parse requests and responses themselves.
package httpsyntax

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

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

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
