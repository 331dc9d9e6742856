package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Problems that point at the fix: a close upstream name, a tab in the indentation.
func TestProblemsSuggestTheFix(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"close upstream name", "upstreams: {svca: {targets: [\"http://a:1\"]}}\nroutes:\n  - {path: /, upstream: svcA}\n",
			`routes[0].upstream: unknown upstream "svcA" (did you mean "svca"?) (line 3)`},
		{"far upstream name", "upstreams: {svca: {targets: [\"http://a:1\"]}}\nroutes:\n  - {path: /, upstream: billing}\n",
			`routes[0].upstream: unknown upstream "billing" (line 3)`},
		{"targets as a string", "upstreams:\n  u: {targets: \"http://a:1\"}\n",
			`upstreams.u.targets: expected a list, got "http://a:1" (line 2)`},
		{"targets empty", "upstreams:\n  u: {targets: []}\n",
			`upstreams.u: give targets (like ["http://127.0.0.1:9000"]) or builtin: echo (line 2)`},
		{"unclosed brace", "listen: \":8080\"\nupstreams:\n  u: {targets: [\"http://a:1\"]\nroutes:\n  - {path: /, upstream: u}\n",
			`the { opened on this line is not closed (line 3)`},
		{"unclosed bracket", "listen: \":8080\"\nstatic:\n  - {prefix: /a/, path: x, hosts: [a.example}\n",
			`the [ opened on this line is not closed (line 3)`},
		{"tab", "listen: \":8080\"\nlog:\n\tlevel: info\n",
			`found character that cannot start any token (the line holds a tab: YAML indents with spaces only) (line 3)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test", t.TempDir())
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
				t.Errorf("got %v\nwant the one problem %s", err, tt.want)
			}
		})
	}
}

// A pair whose certificate reads but whose key does not is the key's problem, under tls.key.
func TestBadKeyFileIsReportedUnderKey(t *testing.T) {
	dir := t.TempDir()
	writeCertPair(t, dir, "site", time.Now().Add(time.Hour), "example.com")
	_, err := Parse([]byte("tls: {cert: site.crt, key: missing.key}\n"), "test", dir)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Path != "tls.key" ||
		!strings.Contains(ce.Problems[0].Msg, "cannot load the key for the certificate") {
		t.Errorf("got %v, want one problem at tls.key", err)
	}
}
