package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadRedisRateLimit(t *testing.T) {
	path := writeConfig(t, `
redis: {addr: "127.0.0.1:6379", password_file: secret/pw, db: 2}
upstreams: {api: {targets: ["http://127.0.0.1:9000"]}}
rate_limit: {rps: 1000, store: redis, on_store_error: allow}
defaults:
  rate_limit: {rps: 5, store: redis, on_store_error: deny, replicas: 3}
routes:
  - {path_prefix: /api/, upstream: api, rate_limit: {rps: 100, burst: 100, key: client_ip, store: redis, on_store_error: local, replicas: 4}}
  - {path_prefix: /b/, upstream: api}
  - {path_prefix: /c/, upstream: api, rate_limit: {rps: 1}}
`)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(filepath.Join(dir, "secret"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret", "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Redis; r.Addr != "127.0.0.1:6379" || r.DB != 2 || r.Timeout != DefaultRedisTimeout || r.PasswordFile != filepath.Join(dir, "secret", "pw") {
		t.Errorf("redis decoded wrong: %+v", r)
	}
	if pw, err := ReadRedisPassword(c.Redis.PasswordFile); err != nil || pw != "s3cret" {
		t.Errorf("password %q, %v", pw, err)
	}
	tests := []struct {
		name string
		rl   *RateLimit
		want RateLimit
	}{
		{"top level", c.RateLimit, RateLimit{RPS: 1000, Burst: 1000, Store: RedisStore, OnStoreError: FallbackAllow, Replicas: 1}},
		{"defaults", c.Defaults.RateLimit, RateLimit{RPS: 5, Burst: 5, Store: RedisStore, OnStoreError: FallbackDeny, Replicas: 3}},
		{"route's own", c.Routes[0].RateLimit, RateLimit{RPS: 100, Burst: 100, Store: RedisStore, OnStoreError: FallbackLocal, Replicas: 4}},
		{"route taking the defaults'", c.Routes[1].RateLimit, RateLimit{RPS: 5, Burst: 5, Store: RedisStore, OnStoreError: FallbackDeny, Replicas: 3}},
		{"local by default", c.Routes[2].RateLimit, RateLimit{RPS: 1, Burst: 1, Store: LocalStore, OnStoreError: FallbackLocal, Replicas: 1}},
	}
	for _, tt := range tests {
		if *tt.rl != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, *tt.rl, tt.want)
		}
	}
	if !c.UsesRedis() || len(c.Warnings) != 0 {
		t.Errorf("uses redis %v, warnings %v", c.UsesRedis(), c.Warnings)
	}
}

// Every problem of the redis block and of the new rate_limit keys, with its path and line, wherever
// rate_limit is given (top level, defaults, a route, a static mount).
func TestLoadRedisBad(t *testing.T) {
	const up = "upstreams: {u: {targets: [\"http://127.0.0.1:9000\"]}}\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"store redis without a redis block, everywhere", up + `rate_limit: {rps: 1, store: redis}
defaults: {rate_limit: {rps: 1, store: redis}}
routes: [{path: /a, upstream: u, rate_limit: {rps: 1, store: redis}}]
static: [{prefix: /s/, path: static, rate_limit: {rps: 1, store: redis}}]
`, []string{
			`rate_limit.store: store: redis needs the top-level redis: block, like redis: {addr: "127.0.0.1:6379"} (line 2)`,
			`defaults.rate_limit.store: store: redis needs the top-level redis: block, like redis: {addr: "127.0.0.1:6379"} (line 3)`,
			`routes[0].rate_limit.store: store: redis needs the top-level redis: block, like redis: {addr: "127.0.0.1:6379"} (line 4)`,
			`static[0].rate_limit.store: store: redis needs the top-level redis: block, like redis: {addr: "127.0.0.1:6379"} (line 5)`,
		}},
		{"unknown names", "rate_limit: {rps: 1, store: memcached, on_store_error: retry}\n", []string{
			`rate_limit.store: unknown store "memcached" (use local or redis) (line 1)`,
			`rate_limit.on_store_error: unknown policy "retry" (use local, allow or deny) (line 1)`,
		}},
		{"replicas", up + "redis: {addr: \"127.0.0.1:6379\"}\nroutes: [{path: /a, upstream: u, rate_limit: {rps: 1, store: redis, replicas: -1}}]\n",
			[]string{`routes[0].rate_limit.replicas: must be at least 1 (line 3)`}},
		{"addr missing", "redis: {db: 1}\n", []string{`redis.addr: missing; give the Redis server's host:port, like 127.0.0.1:6379 (line 1)`}},
		{"addr without port", "redis: {addr: \"127.0.0.1\"}\n", []string{`redis.addr: "127.0.0.1" is not host:port, like 127.0.0.1:6379 (line 1)`}},
		{"addr without host", "redis: {addr: \":6379\"}\n", []string{`redis.addr: ":6379" is not host:port, like 127.0.0.1:6379 (line 1)`}},
		{"addr with a bad port", "redis:\n  addr: \"redis.internal:http\"\n", []string{`redis.addr: "redis.internal:http" has no valid port (line 2)`}},
		{"addr port zero", "redis: {addr: \"127.0.0.1:0\"}\n", []string{`redis.addr: "127.0.0.1:0" has no valid port (line 1)`}},
		{"password file missing", "redis: {addr: \"127.0.0.1:6379\", password_file: nope}\n",
			[]string{`redis.password_file: cannot read the password: open DIR/nope: no such file or directory (line 1)`}},
		{"password file empty", "redis: {addr: \"127.0.0.1:6379\", password_file: empty}\n",
			[]string{`redis.password_file: DIR/empty is empty; leave password_file out for no password (line 1)`}},
		{"negative db", "redis: {addr: \"127.0.0.1:6379\", db: -1}\n", []string{`redis.db: must not be negative (line 1)`}},
		{"timeout negative", "redis: {addr: \"127.0.0.1:6379\", timeout: -5ms}\n", []string{`redis.timeout: duration must not be negative, got "-5ms" (line 1)`}},
		{"timeout too long", "redis:\n  addr: \"127.0.0.1:6379\"\n  timeout: 2s\n", []string{`redis.timeout: 2s: give more than 0 and at most 1s (line 3)`}},
		{"timeout not a duration", "redis: {addr: \"127.0.0.1:6379\", timeout: 20}\n",
			[]string{`redis.timeout: expected a duration like "5s", "250ms" or "30d", got "20" (line 1)`}},
		{"unknown key", "redis: {addr: \"127.0.0.1:6379\", password: x}\n", []string{`redis.password: unknown key (known keys: addr, db, password_file, timeout) (line 1)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.yaml)
			dir := filepath.Dir(path)
			if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			wantProblems(t, err, dir, tt.want)
		})
	}
}

// A redis block no rate limit uses is a warning, not a problem; the longest timeout passes.
func TestWarningUnusedRedis(t *testing.T) {
	c, err := Parse([]byte("redis: {addr: \"redis.internal:6379\", timeout: 1s}\nrate_limit: {rps: 1}\n"), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Timeout != time.Second || c.UsesRedis() {
		t.Errorf("timeout %v, uses redis %v", c.Redis.Timeout, c.UsesRedis())
	}
	if len(c.Warnings) != 1 || c.Warnings[0].String() != `redis: no rate_limit has store: redis; the block is unused (line 1)` {
		t.Errorf("warnings %v", c.Warnings)
	}
}
