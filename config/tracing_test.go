package config

import (
	"errors"
	"strings"
	"testing"
)

// tracing: defaults fill in (sample 1 when not given, service frontgate); sample: 0 is a setting.
func TestTracingConfig(t *testing.T) {
	for _, tt := range []struct {
		yaml    string
		sample  float64
		service string
	}{
		{`tracing: {otlp_endpoint: "http://127.0.0.1:4318"}`, 1, "frontgate"},
		{`tracing: {otlp_endpoint: "https://otel.example.com/base/", sample: 0, service_name: edge}`, 0, "edge"},
		{`tracing: {otlp_endpoint: "http://[::1]:4318", sample: 0.1}`, 0.1, "frontgate"},
	} {
		c, err := Parse([]byte(tt.yaml+"\n"), "test", t.TempDir())
		if err != nil {
			t.Errorf("%s: %v", tt.yaml, err)
			continue
		}
		if tr := c.Tracing; tr == nil || tr.Sample != tt.sample || tr.ServiceName != tt.service {
			t.Errorf("%s: got %+v, want sample %v service %s", tt.yaml, tr, tt.sample, tt.service)
		}
	}
	c, err := Parse([]byte("listen: :8080\n"), "test", t.TempDir())
	if err != nil || c.Tracing != nil {
		t.Errorf("without the key: tracing %+v, %v; want none", c.Tracing, err)
	}
}

func TestTracingConfigBad(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"tracing: {sample: 0.5}", `tracing.otlp_endpoint: missing; give the collector's OTLP/HTTP base URL, like http://127.0.0.1:4318 (line 1)`},
		{"tracing:\n  otlp_endpoint: 127.0.0.1:4318", `tracing.otlp_endpoint: "127.0.0.1:4318" is not an http or https URL like http://127.0.0.1:4318 (line 2)`},
		{"tracing:\n  otlp_endpoint: grpc://127.0.0.1:4317", `tracing.otlp_endpoint: "grpc://127.0.0.1:4317" is not an http or https URL like http://127.0.0.1:4318 (line 2)`},
		{"tracing:\n  otlp_endpoint: http://u:p@127.0.0.1:4318", `tracing.otlp_endpoint: holds user:password@; give credentials as tracing.headers (Authorization: …) (line 2)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318/?a=1", `tracing.otlp_endpoint: "http://127.0.0.1:4318/?a=1": give scheme://host:port with an optional path, nothing else (line 2)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  headers: {\"x y\": 1}", `tracing.headers.x y: "x y" is not a header field name (line 3)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  headers: {X-Key: \"a\\nb\"}", `tracing.headers.X-Key: the value holds a control character (CR, LF, NUL …) (line 3)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  sample: 1.5", `tracing.sample: must be between 0 and 1, got 1.5 (line 3)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  sample: -0.1", `tracing.sample: must be between 0 and 1, got -0.1 (line 3)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  sample: .nan", `tracing.sample: expected a number, got ".nan" (line 3)`},
		{"tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  sampel: 1", `tracing.sampel: unknown key (did you mean "sample"?) (line 3)`},
	} {
		_, err := Parse([]byte(tt.yaml+"\n"), "test", t.TempDir())
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
			t.Errorf("%s:\ngot  %v\nwant the one problem %s", strings.ReplaceAll(tt.yaml, "\n", `\n`), err, tt.want)
		}
	}
}
