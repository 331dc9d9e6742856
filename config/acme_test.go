package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tls.acme fills its defaults: Let's Encrypt, a storage folder under the user's config folder, paths
// against the config's folder, and the exact hosts of routes and static mounts as names. TLS is on
// without a certificate file.
func TestLoadACME(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	c, dir, err := loadTLSConfig(t, `upstreams: {u: {targets: ["http://127.0.0.1:9000"]}}
routes:
  - {hosts: [A.Example.com, "*.wild.example.com", b.example.com], path_prefix: /, upstream: u}
static:
  - {hosts: [docs.example.com, b.example.com], prefix: /, path: .}
tls:
  acme: {email: ops@example.com, ca_root: a.crt, http_listen: ":80"}
  default_sni: a.example.com
  redirect_http: ":80"
`)
	if err != nil {
		t.Fatal(err)
	}
	a := c.TLS.ACME
	want := ACME{Email: "ops@example.com", Directory: DefaultACMEDirectory, CARoot: filepath.Join(dir, "a.crt"),
		Storage: "/xdg/frontgate/acme", HTTPListen: ":80", Names: []string{"a.example.com", "b.example.com", "docs.example.com"}}
	if a.Email != want.Email || a.Directory != want.Directory || a.CARoot != want.CARoot || a.Storage != want.Storage ||
		a.HTTPListen != want.HTTPListen || !slices.Equal(a.Names, want.Names) || a.OnDemand != nil {
		t.Errorf("acme = %+v\nwant %+v", *a, want)
	}
	if !c.TLS.On() || len(c.TLS.Pairs()) != 0 {
		t.Errorf("TLS on %v with %d pairs, want on without any", c.TLS.On(), len(c.TLS.Pairs()))
	}

	c, dir, err = loadTLSConfig(t, `tls:
  acme:
    directory: https://ca.internal:14000/dir
    storage: state/acme
    names: [WWW.Example.com.]
    on_demand: {ask: "http://127.0.0.1:9000/allowed?token=x"}
`)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.TLS.ACME; a.Storage != filepath.Join(dir, "state", "acme") || !slices.Equal(a.Names, []string{"www.example.com"}) ||
		a.OnDemand == nil || a.OnDemand.Ask != "http://127.0.0.1:9000/allowed?token=x" {
		t.Errorf("acme = %+v", *a)
	}
	// on_demand alone needs no names.
	if _, _, err := loadTLSConfig(t, "tls:\n  acme: {storage: s, on_demand: {ask: \"https://auth.example.com/ok\"}}\n"); err != nil {
		t.Error(err)
	}
}

// Each bad tls.acme must produce exactly the listed problems (DIR is the config's folder).
func TestLoadACMEBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"every key wrong", `listen: ":8443"
tls:
  acme:
    email: ops
    directory: http://ca.example.com/dir
    ca_root: a.key
    storage: s
    http_listen: ":8443"
    names:
      - "*.example.com"
      - 10.0.0.1
      - a..example.com
      - www.example.com
      - www.example.com
    on_demand: {ask: "ftp://auth.example.com"}
`, []string{
			`tls.acme.email: "ops" is not an email address like ops@example.com (line 4)`,
			`tls.acme.directory: "http://ca.example.com/dir" is not an https URL like https://acme-v02.api.letsencrypt.org/directory (line 5)`,
			`tls.acme.ca_root: DIR/a.key holds no PEM certificate (line 6)`,
			`tls.acme.http_listen: must differ from listen: the public listener speaks TLS (line 8)`,
			`tls.acme.names[0]: "*.example.com" is a wildcard: HTTP-01 and TLS-ALPN-01 cannot prove one (that takes DNS-01); give exact names, or a certificate file for the wildcard (line 10)`,
			`tls.acme.names[1]: "10.0.0.1" is an IP address; give host names (line 11)`,
			`tls.acme.names[2]: "a..example.com" is not a valid host name (line 12)`,
			`tls.acme.names[4]: "www.example.com" is already names[3] (line 14)`,
			`tls.acme.on_demand.ask: "ftp://auth.example.com" is not an http or https URL (line 15)`,
		}},
		{"nothing to do", "tls:\n  acme:\n    storage: s\n    ca_root: nope.pem\n    http_listen: \"80\"\n", []string{
			`tls.acme: no names to get certificates for: give tls.acme.names, exact hosts: on routes or static mounts, or on_demand (line 2)`,
			`tls.acme.ca_root: cannot read the certificates: open DIR/nope.pem: no such file or directory (line 4)`,
			`tls.acme.http_listen: "80" is not host:port, like 127.0.0.1:8080 or :8080 (line 5)`,
		}},
		{"on_demand without ask", "tls:\n  acme:\n    storage: s\n    on_demand: {}\n",
			[]string{`tls.acme.on_demand.ask: missing; give the URL that answers 200 for the names that may get a certificate (line 4)`}},
		{"default_sni neither file nor acme name", "tls:\n  certs: [{cert: b.crt, key: b.key}]\n  default_sni: c.test\n  acme: {storage: s, names: [d.test]}\n",
			[]string{`tls.default_sni: "c.test" is not a name any of the certificates or tls.acme.names covers (line 3)`}},
		{"unknown key", "tls:\n  acme: {storage: s, names: [d.test], ask: x}\n",
			[]string{`tls.acme.ask: unknown key (known keys: ca_root, directory, email, http_listen, names, on_demand, storage) (line 2)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir, err := loadTLSConfig(t, tt.yaml)
			wantProblems(t, err, dir, tt.want)
		})
	}
}

// Without a storage folder and without a user config folder to default to, check says so.
func TestLoadACMENoStorage(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "")
	if _, err := os.UserConfigDir(); err == nil {
		t.Skip("this system has a user config folder without $HOME")
	}
	_, _, err := loadTLSConfig(t, "tls:\n  acme: {names: [a.test]}\n")
	if err == nil || !strings.Contains(err.Error(), "tls.acme.storage: missing, and there is no default (") {
		t.Errorf("Load error = %v", err)
	}
}
