package admin

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/config"
)

type inner struct {
	Name     string        `yaml:"name"`
	Interval time.Duration `yaml:"interval"`
}

type outer struct {
	Plain      string            `yaml:"plain"`
	NoTag      int               // yaml's default: the lowercased field name
	Skipped    string            `yaml:"-"`
	Empty      string            `yaml:"empty,omitempty"`
	Kept       string            `yaml:"kept,omitempty"`
	Tagged     string            `yaml:"opaque" redact:"true"`
	APIToken   string            `yaml:"api_token"`
	DBPassword *string           `yaml:"db_password"`
	ClientKey  string            `yaml:"client_key"`
	HashKey    string            `yaml:"hash_key" redact:"false"`
	Secrets    []string          `yaml:"secrets"`
	Nested     *inner            `yaml:"nested"`
	NilPtr     *inner            `yaml:"nil_ptr"`
	List       []inner           `yaml:"list"`
	NilList    []string          `yaml:"nil_list"`
	Headers    map[string]string `yaml:"headers"`
	Any        any               `yaml:"any"`
	Addr       netip.Addr        `yaml:"addr"`
	Size       config.ByteSize   `yaml:"size"`
	Ratio      float32           `yaml:"ratio"`
	Fn         func()            `yaml:"fn"`
	Inline     inner             `yaml:",inline"`
	unexported string
}

func TestRedact(t *testing.T) {
	pw := "hunter2"
	in := outer{
		Plain: "visible", NoTag: 7, Skipped: "gone", Kept: "k",
		Tagged: "opaque-secret", APIToken: "tok", DBPassword: &pw, ClientKey: "/etc/fg/client.key",
		HashKey: "header:X-User", Secrets: []string{"a", "b"},
		Nested:  &inner{Name: "n", Interval: 1500 * time.Millisecond},
		List:    []inner{{Name: "x", Interval: time.Minute}},
		Headers: map[string]string{"X-Api-Key": "k123", "Accept": "json"},
		Any:     map[string]any{"token": "t", "ttl": 5 * time.Second},
		Addr:    netip.MustParseAddr("10.0.0.1"), Size: 64 << 10, Ratio: 0.5,
		Fn:         func() {},
		Inline:     inner{Name: "merged", Interval: 5 * time.Second},
		unexported: "hidden",
	}
	got := Redact(in)
	want := map[string]any{
		"plain": "visible", "notag": int64(7), "kept": "k",
		"opaque": Redacted, "api_token": Redacted, "db_password": Redacted, "client_key": Redacted,
		"hash_key": "header:X-User", "secrets": Redacted,
		"nested":   map[string]any{"name": "n", "interval": "1.5s"},
		"nil_ptr":  nil,
		"list":     []any{map[string]any{"name": "x", "interval": "1m0s"}},
		"nil_list": []any{}, // unset list: empty, as the config reads it
		"headers":  map[string]any{"X-Api-Key": Redacted, "Accept": "json"},
		"any":      map[string]any{"token": Redacted, "ttl": "5s"},
		"addr":     "10.0.0.1", "size": int64(65536), "ratio": 0.5,
		"name": "merged", "interval": "5s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Redact =\n%#v\nwant\n%#v", got, want)
	}
	// The input is untouched and nothing aliases it.
	if *in.DBPassword != "hunter2" || in.Headers["X-Api-Key"] != "k123" {
		t.Fatal("Redact modified its input")
	}
	got.(map[string]any)["list"].([]any)[0].(map[string]any)["name"] = "changed"
	if in.List[0].Name != "x" {
		t.Fatal("Redact's output aliases its input")
	}
}

func TestRedactEdgeCases(t *testing.T) {
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
	if got := Redact(3 * time.Second); got != "3s" {
		t.Errorf("Redact(3s) = %#v", got)
	}
	if got := Redact([]int{1, 2}); !reflect.DeepEqual(got, []any{int64(1), int64(2)}) {
		t.Errorf("Redact([]int) = %#v", got)
	}
	if got := Redact(map[int]string{1: "a"}); !reflect.DeepEqual(got, map[string]any{"1": "a"}) {
		t.Errorf("Redact(map[int]string) = %#v", got)
	}
	withExtra := struct {
		Name  string            `yaml:"name"`
		Extra map[string]string `yaml:",inline"`
		None  *inner            `yaml:",inline"`
	}{Name: "n", Extra: map[string]string{"x": "1", "secret_x": "2"}}
	if got, want := Redact(withExtra), map[string]any{"name": "n", "x": "1", "secret_x": Redacted}; !reflect.DeepEqual(got, want) {
		t.Errorf("Redact(inline map) = %#v, want %#v", got, want)
	}
	type node struct {
		Name string `yaml:"name"`
		Next *node  `yaml:"next"`
	}
	n := &node{Name: "a"}
	n.Next = n
	got := Redact(n)
	want := map[string]any{"name": "a", "next": "[cycle]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Redact(cycle) = %#v, want %#v", got, want)
	}
	// A shared (not cyclic) pointer is copied at each place.
	shared := &inner{Name: "s"}
	pair := struct {
		A *inner `yaml:"a"`
		B *inner `yaml:"b"`
	}{shared, shared}
	if got := Redact(pair).(map[string]any); got["b"] == "[cycle]" {
		t.Errorf("shared pointer taken for a cycle: %#v", got)
	}
}

func TestRedactRealConfig(t *testing.T) {
	cfg := config.Config{
		Listen: ":8080",
		Server: config.Server{ReadHeaderTimeout: 10 * time.Second},
		Upstreams: map[string]config.Pool{
			"api": {Targets: []config.Target{{URL: "http://127.0.0.1:9000", Weight: 1}}, FailTimeout: 30 * time.Second,
				Balance: config.Hash, HashKey: config.HashKey{Key: config.Key{Source: config.Cookie, Name: "sid"}}},
		},
		Routes:  []config.Route{{PathPrefix: "/api/", Upstream: "api", Retries: 2, RetryBodyMax: 64 << 10, Host: config.PreserveHost}},
		Dir:     "/etc/frontgate",
		Tracing: &config.Tracing{OTLPEndpoint: "http://127.0.0.1:4318", Headers: map[string]string{"Authorization": "Bearer s3cret"}},
	}
	b, err := json.Marshal(Redact(cfg))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"listen":":8080"`, `"read_header_timeout":"10s"`, `"fail_timeout":"30s"`, `"url":"http://127.0.0.1:9000"`, `"retries":2`, `"retry_body_max":65536`,
		`"balance":"hash"`, `"hash_key":"cookie:sid"`, `"host":"preserve"`, `"engine":"lean"`} {
		if !strings.Contains(s, want) {
			t.Errorf("redacted config lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "s3cret") || !strings.Contains(s, `"otlp_endpoint":"http://127.0.0.1:4318"`) {
		t.Errorf("tracing headers' values shown, or the endpoint not:\n%s", s)
	}
	if strings.Contains(s, "/etc/frontgate") {
		t.Errorf("yaml:\"-\" field Dir rendered:\n%s", s)
	}
}
