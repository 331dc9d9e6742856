package httpsyntax

import "testing"

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
