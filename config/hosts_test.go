package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHosts(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const pools = "upstreams:\n  u: {targets: [\"http://127.0.0.1:9\"]}\n"
	t.Run("normalized", func(t *testing.T) {
		c, err := Parse([]byte(pools+"routes:\n  - {hosts: [API.Example.COM., \"*.example.com\", xn--bcher-kva.example], path: /, upstream: u}\n"+
			"static:\n  - {hosts: [docs.example.com], prefix: /, path: a}\n  - {hosts: [www.example.com], prefix: /, path: b}\n  - {prefix: /, path: b}\n"), "test", dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c.Routes[0].Hosts, " "); got != "api.example.com *.example.com xn--bcher-kva.example" {
			t.Errorf("route hosts %q", got)
		}
	})
	for _, tt := range []struct{ name, yaml, want string }{
		{"port", "routes:\n  - {hosts: [\"a.example.com:443\"], path: /, upstream: u}\n",
			`routes[0].hosts[0]: "a.example.com:443": give the host name alone, without port, scheme or path (line 4)`},
		{"inner wildcard", "routes:\n  - {hosts: [\"a.*.example.com\"], path: /, upstream: u}\n",
			`routes[0].hosts[0]: "a.*.example.com": a wildcard is one leading label, like *.example.com (line 4)`},
		{"wildcard on a TLD", "routes:\n  - {hosts: [\"*.com\"], path: /, upstream: u}\n",
			`routes[0].hosts[0]: "*.com": a wildcard needs a domain of two labels or more, like *.example.com (line 4)`},
		{"unicode", "routes:\n  - {hosts: [\"bücher.example\"], path: /, upstream: u}\n",
			`routes[0].hosts[0]: "bücher.example": write an international name in its A-label form (xn--…) (line 4)`},
		{"empty label", "routes:\n  - {hosts: [\"a..example\"], path: /, upstream: u}\n",
			`routes[0].hosts[0]: "a..example" is not a valid host name (line 4)`},
		{"repeated", "routes:\n  - {hosts: [a.example, A.example], path: /, upstream: u}\n",
			`routes[0].hosts[1]: "a.example" is already hosts[0] (line 4)`},
		{"same host, same prefix", "static:\n  - {hosts: [a.example, b.example], prefix: /, path: a}\n  - {hosts: [b.example], prefix: /, path: b}\n",
			`static[1].prefix: "/" is already mounted by static[0] (line 5)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(pools+tt.yaml), "test", dir)
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
				t.Errorf("got %v\nwant the one problem %s", err, tt.want)
			}
		})
	}
}
