package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestIPFilter(t *testing.T) {
	nets := func(list ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range list {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	trusted, err := ParseTrustedProxies([]string{"10.9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		rule       IPRule
		peer, xff  string
		wantStatus int
	}{
		{"no rule", IPRule{}, "192.0.2.1:5000", "", 200},
		{"allowed network", IPRule{Allow: nets("192.0.2.0/24")}, "192.0.2.7:5000", "", 200},
		{"outside the allow list", IPRule{Allow: nets("192.0.2.0/24", "127.0.0.1/32")}, "198.51.100.1:5000", "", 403},
		{"one allowed host", IPRule{Allow: nets("127.0.0.1/32")}, "127.0.0.1:5000", "", 200},
		{"IPv4-mapped peer", IPRule{Allow: nets("192.0.2.0/24")}, "[::ffff:192.0.2.9]:5000", "", 200},
		{"IPv6", IPRule{Allow: nets("2001:db8::/32")}, "[2001:db8::1]:5000", "", 200},
		{"denied", IPRule{Deny: nets("203.0.113.0/24")}, "203.0.113.5:5000", "", 403},
		{"not denied", IPRule{Deny: nets("203.0.113.0/24")}, "192.0.2.5:5000", "", 200},
		{"client behind a trusted proxy", IPRule{Allow: nets("192.0.2.0/24")}, "10.9.9.9:5000", "192.0.2.44", 200},
		{"denied client behind a trusted proxy", IPRule{Deny: nets("203.0.113.0/24")}, "10.9.9.9:5000", "203.0.113.5", 403},
		{"forged X-Forwarded-For from an untrusted peer", IPRule{Allow: nets("192.0.2.0/24")}, "198.51.100.1:5000", "192.0.2.44", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached, rejected := false, 0
			h := IPFilter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }), tt.rule, trusted,
				func(*http.Request) { rejected++ })
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus || reached != (tt.wantStatus == 200) || rejected != map[bool]int{true: 0, false: 1}[tt.wantStatus == 200] {
				t.Errorf("status %d, handler reached %v, rejections %d; want %d", w.Code, reached, rejected, tt.wantStatus)
			}
			if tt.wantStatus == 403 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("403 is not the JSON error shape: %q", w.Body)
			}
		})
	}
}
