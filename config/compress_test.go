package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestCompressConfig(t *testing.T) {
	const pools = "upstreams: {u: {targets: [\"http://127.0.0.1:9\"]}}\n"
	c, err := Parse([]byte(pools+`defaults:
  compress: {encodings: [br, gzip], min_size: 2KiB}
routes:
  - {path: /inherits, upstream: u}
  - {path: /off, upstream: u, compress: false}
  - {path: /on, upstream: u, compress: true}
  - {path: /own, upstream: u, compress: {encodings: [gzip]}}
  - {path: /every, upstream: u, compress: {min_size: 0}}
`), "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []*Compress{
		{Encodings: []Encoding{Brotli, Gzip}, MinSize: 2048}, // the defaults'
		nil, // switched off
		{Encodings: DefaultEncodings, MinSize: DefaultMinSize}, // true: on with the defaults
		{Encodings: []Encoding{Gzip}, MinSize: DefaultMinSize},
		{Encodings: DefaultEncodings, MinSize: 0},
	}
	for i, w := range want {
		got := c.Routes[i].Compress
		if (got == nil) != (w == nil) || got != nil && (!slices.Equal(got.Encodings, w.Encodings) || got.MinSize != w.MinSize || got.switchedOff()) {
			t.Errorf("routes[%d] (%s) compress = %+v, want %+v", i, c.Routes[i].Path, got, w)
		}
	}
	if c.Routes[0].Compress != c.Defaults.Compress {
		t.Error("routes[0] does not share the defaults' compress")
	}

	for _, tt := range []struct {
		yaml     string
		defaults *Compress
		route    *Compress
	}{
		{"routes:\n  - {path: /a, upstream: u}\n", nil, nil}, // off unless configured
		{"defaults: {compress: true}\nroutes:\n  - {path: /a, upstream: u}\n",
			&Compress{Encodings: DefaultEncodings, MinSize: DefaultMinSize}, &Compress{Encodings: DefaultEncodings, MinSize: DefaultMinSize}},
		{"defaults: {compress: false}\nroutes:\n  - {path: /a, upstream: u, compress: {min_size: 10}}\n",
			nil, &Compress{Encodings: DefaultEncodings, MinSize: 10}},
		{"defaults: {compress: {}}\nroutes:\n  - {path: /a, upstream: u, compress: false}\n",
			&Compress{Encodings: DefaultEncodings, MinSize: DefaultMinSize}, nil},
	} {
		c, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		for _, pair := range []struct {
			name      string
			got, want *Compress
		}{{"defaults", c.Defaults.Compress, tt.defaults}, {"routes[0]", c.Routes[0].Compress, tt.route}} {
			if (pair.got == nil) != (pair.want == nil) || pair.got != nil && (!slices.Equal(pair.got.Encodings, pair.want.Encodings) || pair.got.MinSize != pair.want.MinSize) {
				t.Errorf("%s: %s compress = %+v, want %+v", tt.yaml, pair.name, pair.got, pair.want)
			}
		}
	}

	for _, tt := range []struct{ yaml, want string }{
		{"routes:\n  - {path: /a, upstream: u}\n  - {path: /b, upstream: u, compress: {encodings: [zstd, lz4]}}\n",
			`routes[1].compress.encodings[1]: unknown encoding "lz4" (use zstd, br or gzip) (line 4)`},
		{"routes:\n  - {path: /a, upstream: u, compress: {encodings: []}}\n",
			`routes[0].compress.encodings: give at least one of zstd, br or gzip (compress: false turns compression off) (line 3)`},
		{"defaults:\n  compress: {min_size: 2MiB}\n",
			`defaults.compress.min_size: at most 1MiB: a body of unknown length is held in memory up to min_size (line 3)`},
		{"defaults:\n  compress: {min_size: lots}\n",
			`defaults.compress.min_size: expected a size like 65536, "64KiB" or "32MiB", got "lots" (line 3)`},
		{"defaults:\n  compress: {level: 9}\n",
			`defaults.compress.level: unknown key (known keys: encodings, min_size) (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, compress: yes}\n",
			`routes[0].compress: expected true, false or a mapping, got "yes" (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, compress: 1}\n",
			`routes[0].compress: expected true, false or a mapping, got "1" (line 3)`},
		{"routes:\n  - {path: /a, upstream: u, compress: [gzip]}\n",
			`routes[0].compress: expected a mapping, got a list (line 3)`},
	} {
		_, err := Parse([]byte(pools+tt.yaml), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s: got %v, want the one problem %s", tt.yaml, err, tt.want)
		}
	}
}

// switchy is a switchable setting of the test's own: the mechanism is the decoder's, for any
// struct that embeds onOff, not compress's.
type switchy struct {
	onOff `yaml:"-"`
	Level int `yaml:"level"`
}

type switchyHolder struct {
	A *switchy `yaml:"a"`
	B *switchy `yaml:"b"`
	C *switchy `yaml:"c"`
	D *switchy `yaml:"d"`
	E *Rewrite `yaml:"e"` // not switchable: a boolean stays a problem
}

func TestSwitchableDecoding(t *testing.T) {
	var root yaml.Node
	src := "a: true\nb: false\nc: {level: 3}\nd: ~\ne: true\n"
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	d := &decoder{lines: map[string]int{}, given: map[string]bool{}}
	var v switchyHolder
	d.decode(&root, reflect.ValueOf(&v).Elem(), "")
	if v.A == nil || v.A.switchedOff() || v.A.Level != 0 {
		t.Errorf("a: true = %+v, want on with zero fields", v.A)
	}
	if v.B == nil || !v.B.switchedOff() {
		t.Errorf("b: false = %+v, want switched off", v.B)
	}
	if v.C == nil || v.C.switchedOff() || v.C.Level != 3 {
		t.Errorf("c: {level: 3} = %+v", v.C)
	}
	if v.D != nil || d.given["d"] {
		t.Errorf("d: ~ = %+v, given %v: want nil, not given", v.D, d.given["d"])
	}
	var msgs []string
	for _, p := range d.problems {
		msgs = append(msgs, p.String())
	}
	if want := `e: expected a mapping, got "true" (line 5)`; strings.Join(msgs, "\n") != want {
		t.Errorf("problems %q, want %q", msgs, want)
	}
	// inherit: own over the defaults', and switched off is nil.
	def := &switchy{Level: 1}
	if got := inherit(nil, def); got != def {
		t.Errorf("inherit(nil, def) = %+v", got)
	}
	if got := inherit(v.B, def); got != nil {
		t.Errorf("inherit(off, def) = %+v, want nil", got)
	}
	if got := inherit(v.C, def); got != v.C {
		t.Errorf("inherit(own, def) = %+v, want own", got)
	}
	if got := inherit(nil, v.B); got != nil {
		t.Errorf("inherit(nil, off) = %+v, want nil", got)
	}
}
