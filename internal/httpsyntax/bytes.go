package httpsyntax

// The helpers below take a string or a []byte alike, so a client that parses a response in its read
// buffer compares header names and values where they lie, without converting or allocating.

// EqualFold reports whether s and t are equal under ASCII case folding: only A-Z and a-z fold into
// each other, every other byte must match exactly (unlike strings.EqualFold, no Unicode folding), as
// header names and tokens compare (RFC 9110 5.1).
func EqualFold[T string | []byte](s T, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		// Bytes that differ may still be one letter in two cases: then they differ in 0x20 alone.
		if a, b := s[i], t[i]; a != b && (a|0x20 != b|0x20 || a|0x20 < 'a' || a|0x20 > 'z') {
			return false
		}
	}
	return true
}

// TrimOWS is s without its leading and trailing spaces and tabs (OWS, RFC 9110 5.6.3); a slice of s.
func TrimOWS[T string | []byte](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// ListHasToken reports whether the comma-separated list (one field value, "keep-alive, Upgrade" say)
// holds token: an element equal to it under EqualFold once trimmed with TrimOWS. An empty list holds
// nothing.
func ListHasToken[T string | []byte](list T, token string) bool {
	for start := 0; start < len(list); {
		end := start
		for end < len(list) && list[end] != ',' {
			end++
		}
		if EqualFold(TrimOWS(list[start:end]), token) {
			return true
		}
		start = end + 1
	}
	return false
}
