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
