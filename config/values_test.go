package config

import (
	"errors"
	"strings"
	"testing"
)

// The little languages decode into typed values; a key left out takes its default, a key given a
// zero value keeps it.
func TestLittleLanguages(t *testing.T) {
	const pools = "upstreams:\n  u: {targets: [\"http://127.0.0.1:9\"]%s}\nroutes:\n  - {path: /a, upstream: u%s}\n"
	tests := []struct {
		name, pool, route, extra string
		check                    func(c *Config) bool
	}{
		{"defaults", "", "", "", func(c *Config) bool {
			u, r := c.Upstreams["u"], c.Routes[0]
			return u.Balance == RoundRobin && u.HashKey.Key == (Key{}) && r.Host == TargetHost && r.Retries == DefaultRetries &&
				c.Server.Engine == Lean && c.Log.Access && r.MaxInflight == 0 && c.Defaults.MaxBody == DefaultMaxBody && r.MaxBody == DefaultMaxBody
		}},
		{"least_conn", ", balance: least_conn", "", "", func(c *Config) bool { return c.Upstreams["u"].Balance == LeastConn }},
		{"hash by cookie", ", balance: hash, hash_key: \"cookie:sid\"", "", "", func(c *Config) bool {
			u := c.Upstreams["u"]
			return u.Balance == Hash && u.HashKey.Key == Key{Cookie, "sid"} && u.HashKey.String() == "cookie:sid"
		}},
		{"rate key global", "", ", rate_limit: {rps: 5, key: global}", "", func(c *Config) bool {
			return c.Routes[0].RateLimit.Key.Source == Global && c.Routes[0].RateLimit.Burst == 5
		}},
		{"rate key header", "", ", rate_limit: {rps: 1, key: \"header:X-Api-Key\"}", "", func(c *Config) bool {
			return c.Routes[0].RateLimit.Key.Key == Key{Header, "X-Api-Key"}
		}},
		{"zero retries kept", "", ", retries: 0, host: preserve", "", func(c *Config) bool {
			return c.Routes[0].Retries == 0 && c.Routes[0].Host == PreserveHost
		}},
		{"null retries defaulted", "", ", retries: null", "", func(c *Config) bool { return c.Routes[0].Retries == DefaultRetries }},
		{"route limits inherit defaults", "", "", "defaults: {max_inflight: 7, max_body: 1KiB}\n", func(c *Config) bool {
			return c.Routes[0].MaxInflight == 7 && c.Routes[0].MaxBody == 1024
		}},
		{"route limit zero overrides defaults", "", ", max_inflight: 0, max_body: 0", "defaults: {max_inflight: 7, max_body: 1KiB}\n", func(c *Config) bool {
			return c.Routes[0].MaxInflight == 0 && c.Routes[0].MaxBody == 0
		}},
		{"no body limit when asked", "", "", "defaults: {max_body: 0}\n", func(c *Config) bool {
			return c.Defaults.MaxBody == 0 && c.Routes[0].MaxBody == 0
		}},
		{"access off, stdlib engine", "", "", "log: {access: false}\nserver: {engine: stdlib}\n", func(c *Config) bool {
			return !c.Log.Access && c.Server.Engine == Stdlib
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := tt.extra + strings.Replace(strings.Replace(pools, "%s", tt.pool, 1), "%s", tt.route, 1)
			c, err := Parse([]byte(yaml), "test", t.TempDir())
			if err != nil {
				t.Fatalf("%s\n%v", yaml, err)
			}
			if !tt.check(c) {
				t.Errorf("%s decoded wrong: %+v %+v", yaml, c.Upstreams["u"], c.Routes[0])
			}
		})
	}
}

func TestLittleLanguagesRefused(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"upstreams:\n  u: {targets: [\"http://a:1\"], balance: hash, hash_key: global}\n",
			`upstreams.u.hash_key: unknown key "global" (use client_ip, header:NAME or cookie:NAME) (line 2)`},
		{"upstreams:\n  u: {targets: [\"http://a:1\"], balance: hash, hash_key: \"header:\"}\n",
			`upstreams.u.hash_key: unknown key "header:" (use client_ip, header:NAME or cookie:NAME) (line 2)`},
		{"upstreams:\n  u: {targets: [\"http://a:1\"], balance: hash, hash_key: \"client_ip:x\"}\n",
			`upstreams.u.hash_key: unknown key "client_ip:x" (use client_ip, header:NAME or cookie:NAME) (line 2)`},
		{"upstreams:\n  u: {targets: [\"http://a:1\"], balance: [hash]}\n",
			`upstreams.u.balance: expected a string, got a list (line 2)`},
		{"rate_limit: {rps: 1, key: \"cookie:sid\"}\n",
			`rate_limit.key: unknown key "cookie:sid" (use client_ip, header:NAME or global) (line 1)`},
		{"upstreams:\n  u: {targets: [\"http://a:1\"], hash_key: client_ip}\n",
			`upstreams.u.hash_key: only works with balance: hash (line 2)`},
		{"server: {engine: Lean}\n", `server.engine: unknown engine "Lean" (use lean or stdlib) (line 1)`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}
