package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The binary links none of gRPC, its gateway or genproto (8.7 MB of it came in with OpenTelemetry's
// otlptracehttp, replaced by tracing's own exporter), nor text/template or html/template (whose
// reflection by method name keeps every exported method in the binary: 13 MB came in with selftest's
// HTML report), nor a test-only package.
func TestBinaryLeavesOutGRPC(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "google.golang.org/grpc") || strings.HasPrefix(pkg, "google.golang.org/genproto") ||
			strings.HasPrefix(pkg, "github.com/grpc-ecosystem/") || strings.HasPrefix(pkg, "go.opentelemetry.io/proto/otlp/collector/") ||
			strings.HasPrefix(pkg, "github.com/frontgate/frontgate/internal/otlptest") ||
			pkg == "text/template" || pkg == "html/template" {
			t.Errorf("the binary links %s", pkg)
		}
	}
}
