package httpsyntax

import "testing"

func TestEqualFold(t *testing.T) {
	tests := []struct {
		s, t string
		want bool
	}{
		{"Content-Length", "content-length", true},
		{"CONNECTION", "Connection", true},
		{"keep-alive", "keep-alive", true},
		{"", "", true},
		{"close", "closed", false},
		{"clos", "close", false},
		{"Clos\xc5", "clos\xe5", false}, // bytes above ASCII do not fold
		{"[", "{", false},               // nor do the neighbours of the letters
		{"@", "`", false},
	}
	for _, tt := range tests {
		if EqualFold(tt.s, tt.t) != tt.want || EqualFold([]byte(tt.s), tt.t) != tt.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tt.s, tt.t, !tt.want, tt.want)
		}
	}
}

func TestTrimOWS(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		" \t ":              "",
		"chunked":           "chunked",
		" \tgzip, chunked ": "gzip, chunked",
		"a b":               "a b",
		"\r\nx\r\n":         "\r\nx\r\n", // only spaces and tabs are OWS
	} {
		if got := TrimOWS(in); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", in, got, want)
		}
		if got := TrimOWS([]byte(in)); string(got) != want {
			t.Errorf("TrimOWS([]byte(%q)) = %q, want %q", in, got, want)
		}
	}
}

func TestListHasToken(t *testing.T) {
	tests := []struct {
		list, token string
		want        bool
	}{
		{"close", "close", true},
		{"Keep-Alive, Upgrade", "upgrade", true},
		{" \tCLOSE\t ", "close", true},
		{"a,close", "close", true},
		{"gzip ,chunked", "chunked", true},
		{"closed, enclose, clo se", "close", false},
		{",,", "close", false},
		{"", "close", false},
		{"", "", false}, // an empty list holds nothing
	}
	for _, tt := range tests {
		if got := ListHasToken(tt.list, tt.token); got != tt.want {
			t.Errorf("ListHasToken(%q, %q) = %v", tt.list, tt.token, got)
		}
		if got := ListHasToken([]byte(tt.list), tt.token); got != tt.want {
			t.Errorf("ListHasToken([]byte(%q), %q) = %v", tt.list, tt.token, got)
		}
	}
	b := []byte("keep-alive, Upgrade")
	if n := testing.AllocsPerRun(100, func() {
		if !ListHasToken(b, "upgrade") || !EqualFold(TrimOWS(b[11:]), "upgrade") {
			t.Fatal("token not found")
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
