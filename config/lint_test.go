package config

import (
	"strings"
	"testing"
	"time"
)

func TestWarnings(t *testing.T) {
	const pools = "upstreams:\n  u: {targets: [\"http://127.0.0.1:9\"]}\n"
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"none", "routes:\n  - {path_prefix: /api/, upstream: u}\n  - {path_prefix: /apiv2/, upstream: u}\n  - {path: /api, upstream: u}\n", nil},
		{"repeated", "routes:\n  - {path: /a, upstream: u}\n  - {path: /a, upstream: u}\n",
			[]string{"routes[1]: repeats routes[0]: it can never match (line 5)"}},
		{"shadowed by a prefix", "routes:\n  - {path_prefix: /api, upstream: u}\n  - {path: /api/users, methods: [GET], upstream: u}\n",
			[]string{"routes[1]: can never match: routes[0] takes every request it would (line 5)"}},
		{"prefix boundary", "routes:\n  - {path_prefix: /b, upstream: u}\n  - {path_prefix: /bxyz, upstream: u}\n", nil},
		{"narrower methods first", "routes:\n  - {path: /a, methods: [GET], upstream: u}\n  - {path: /a, upstream: u}\n", nil},
		{"other host", "routes:\n  - {path_prefix: /, upstream: u}\n  - {hosts: [a.example], path_prefix: /, upstream: u}\n", nil},
		{"same hosts", "routes:\n  - {hosts: [a.example, b.example], path_prefix: /, upstream: u}\n  - {hosts: [b.example, a.example], path: /x, upstream: u}\n",
			[]string{"routes[1]: can never match: routes[0] takes every request it would (line 5)"}},
		{"mount under a route", "routes:\n  - {path_prefix: /, methods: [POST], upstream: u}\nstatic:\n  - {prefix: /css/, path: .}\n",
			[]string{"static[0]: can never match: routes[0] takes every request under /css/ (line 6)"}},
		{"access file unused", "log: {access: false, access_file: access.log}\n",
			[]string{"log.access_file: access: false, so nothing is written to it (line 3)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// With certificate files, a host name none of them covers is reported.
func TestWarningsUncoveredHosts(t *testing.T) {
	dir := t.TempDir()
	writeCertPair(t, dir, "site", time.Now().Add(time.Hour), "example.com", "*.example.com")
	c, err := Parse([]byte(`tls: {cert: site.crt, key: site.key}
upstreams: {u: {targets: ["http://127.0.0.1:9"]}}
routes:
  - {hosts: [www.example.com, example.com, a.b.example.com], path_prefix: /, upstream: u}
  - {hosts: ["*.example.com", "*.other.org"], path: /x, upstream: u}
`), "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`routes[0].hosts[2]: no certificate in tls covers "a.b.example.com": its clients get the default one (line 4)`,
		`routes[1].hosts[1]: no certificate in tls covers "*.other.org": its clients get the default one (line 5)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Names tls.acme gets certificates for are covered; a wildcard is not (it takes DNS-01).
func TestWarningsACMECoveredHosts(t *testing.T) {
	c, err := Parse([]byte(`tls: {acme: {storage: acme, names: [a.example.com]}}
upstreams: {u: {targets: ["http://127.0.0.1:9"]}}
routes:
  - {hosts: [a.example.com, b.example.com, "*.example.com"], path_prefix: /, upstream: u}
`), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`routes[0].hosts[1]: no certificate in tls covers "b.example.com": its clients get the default one (line 4)`,
		`routes[0].hosts[2]: no certificate in tls covers "*.example.com": its clients get the default one (line 4)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
