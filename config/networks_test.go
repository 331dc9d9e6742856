package config

import (
	"errors"
	"testing"
)

// allow and deny decode into networks; a route without its own takes the defaults'.
func TestAllowDeny(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+`defaults: {allow: [10.0.0.0/8, 192.0.2.7, "::ffff:172.16.0.0/108"]}
routes:
  - {path: /a, upstream: u}
  - {path: /b, upstream: u, deny: [203.0.113.0/24]}
  - {path: /c, upstream: u, allow: []}
`), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := func(ns []Network) (s []string) {
		for _, n := range ns {
			s = append(s, n.String())
		}
		return s
	}
	if a := got(c.Routes[0].Allow); len(a) != 3 || a[0] != "10.0.0.0/8" || a[1] != "192.0.2.7/32" || a[2] != "172.16.0.0/12" {
		t.Errorf("routes[0] allow %v, want the defaults'", a)
	}
	if r := c.Routes[1]; len(r.Allow) != 0 || len(r.Deny) != 1 || r.Deny[0].String() != "203.0.113.0/24" {
		t.Errorf("routes[1] allow %v deny %v, want its own deny only", got(r.Allow), got(r.Deny))
	}
	if r := c.Routes[2]; len(r.Allow) != 0 || len(r.Deny) != 0 {
		t.Errorf("routes[2] allow %v deny %v, want none (allow: [] given)", got(r.Allow), got(r.Deny))
	}
	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u, allow: [10.0.0.0/33]}\n", `routes[0].allow[0]: "10.0.0.0/33" is not a CIDR like 10.0.0.0/8 or an IP address (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, allow: [10.0.0.0/8], deny: [10.1.0.0/16]}\n", `routes[0].deny: give allow or deny, not both (line 3)`},
		{"defaults: {deny: [example.com]}\n", `defaults.deny[0]: "example.com" is not a CIDR like 10.0.0.0/8 or an IP address (line 2)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}
