package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		wantErr string // substring of the error; "" for none
		inside  []string
		outside []string
	}{
		{name: "empty trusts nobody", in: nil, outside: []string{"10.0.0.1", "127.0.0.1", "::1"}},
		{name: "ipv4 cidr", in: []string{"10.0.0.0/8"}, inside: []string{"10.0.0.1", "10.255.255.255", "::ffff:10.1.2.3"}, outside: []string{"11.0.0.1", "192.168.0.1"}},
		{name: "unmasked cidr is masked", in: []string{"192.168.1.77/24"}, inside: []string{"192.168.1.1"}, outside: []string{"192.168.2.1"}},
		{name: "bare address is one host", in: []string{" 192.0.2.7 "}, inside: []string{"192.0.2.7"}, outside: []string{"192.0.2.8"}},
		{name: "ipv6", in: []string{"2001:db8::/32", "::1"}, inside: []string{"2001:db8:1::5", "::1"}, outside: []string{"2001:db9::1", "127.0.0.1"}},
		{name: "ipv4-mapped cidr", in: []string{"::ffff:10.0.0.0/104"}, inside: []string{"10.9.9.9"}, outside: []string{"11.0.0.1"}},
		{name: "bad cidr named", in: []string{"10.0.0.0/8", "10.0.0.0/33"}, wantErr: `"10.0.0.0/33"`},
		{name: "bad address named", in: []string{"not-an-ip"}, wantErr: `trusted proxy "not-an-ip"`},
		{name: "empty entry", in: []string{""}, wantErr: `trusted proxy ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := ParseTrustedProxies(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.inside {
				if !tp.Contains(netip.MustParseAddr(s)) {
					t.Errorf("%s not trusted", s)
				}
			}
			for _, s := range tt.outside {
				if tp.Contains(netip.MustParseAddr(s)) {
					t.Errorf("%s trusted", s)
				}
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tp     TrustedProxies
		remote string
		xff    []string // X-Forwarded-For lines
		want   string   // "" for the zero Addr
	}{
		{name: "zero value ignores xff", tp: TrustedProxies{}, remote: "10.1.1.1:5000", xff: []string{"203.0.113.9"}, want: "10.1.1.1"},
		{name: "untrusted peer: xff spoof ignored", tp: tp, remote: "198.51.100.1:5000", xff: []string{"203.0.113.9"}, want: "198.51.100.1"},
		{name: "trusted peer, no xff", tp: tp, remote: "10.1.1.1:5000", want: "10.1.1.1"},
		{name: "trusted peer, one hop", tp: tp, remote: "10.1.1.1:5000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "rightmost untrusted wins over client-supplied left entries", tp: tp, remote: "10.1.1.1:5000", xff: []string{"1.1.1.1, 203.0.113.9, 10.2.2.2"}, want: "203.0.113.9"},
		{name: "all hops trusted gives leftmost", tp: tp, remote: "10.1.1.1:5000", xff: []string{"10.3.3.3,10.2.2.2"}, want: "10.3.3.3"},
		{name: "malformed entry stops at last good (trusted hop)", tp: tp, remote: "10.1.1.1:5000", xff: []string{"203.0.113.9, garbage, 10.2.2.2"}, want: "10.2.2.2"},
		{name: "malformed rightmost gives peer", tp: tp, remote: "10.1.1.1:5000", xff: []string{"203.0.113.9, unknown"}, want: "10.1.1.1"},
		{name: "empty entry is malformed", tp: tp, remote: "10.1.1.1:5000", xff: []string{"203.0.113.9,,"}, want: "10.1.1.1"},
		{name: "empty header line is malformed", tp: tp, remote: "10.1.1.1:5000", xff: []string{"203.0.113.9", ""}, want: "10.1.1.1"},
		{name: "several lines are one list", tp: tp, remote: "10.1.1.1:5000", xff: []string{"198.51.100.7", "10.5.5.5"}, want: "198.51.100.7"},
		{name: "later line is nearer", tp: tp, remote: "10.1.1.1:5000", xff: []string{"198.51.100.7", "203.0.113.9"}, want: "203.0.113.9"},
		{name: "entries with ports", tp: tp, remote: "10.1.1.1:5000", xff: []string{"[2001:db8::7]:443, 10.2.2.2:80"}, want: "2001:db8::7"},
		{name: "bracketed ipv6 without port", tp: tp, remote: "10.1.1.1:5000", xff: []string{"[2001:db8::8]"}, want: "2001:db8::8"},
		{name: "ipv6 trusted peer", tp: tp, remote: "[2001:db8:ffff::1]:443", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "ipv4-mapped peer is unmapped and trusted", tp: tp, remote: "[::ffff:10.1.1.1]:443", xff: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "zone dropped", tp: TrustedProxies{}, remote: "[fe80::1%eth0]:443", want: "fe80::1"},
		{name: "remote without port", tp: TrustedProxies{}, remote: "192.0.2.1", want: "192.0.2.1"},
		{name: "unparseable remote", tp: tp, remote: "@unix", xff: []string{"203.0.113.9"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := tt.tp.ClientIP(r)
			if tt.want == "" {
				if got.IsValid() {
					t.Fatalf("ClientIP = %v, want the zero Addr", got)
				}
				return
			}
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Fatalf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

// Over a real connection the peer is loopback; trusting it makes X-Forwarded-For count.
func TestClientIPOverTCP(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"loopback trusted", []string{"127.0.0.0/8", "::1"}, "203.0.113.50"},
		{"nobody trusted", nil, "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tp.ClientIP(r).String())
			}))
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.50")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != tt.want {
				t.Fatalf("client ip = %q, want %q", body, tt.want)
			}
		})
	}
}
