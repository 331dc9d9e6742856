package gateway

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/frontgate/frontgate/admin"
)

// allow and deny answer 403 in the JSON error shape before a request reaches its route (the
// upstream, a static mount), counted as rejected for reason "ip"; the test's client is 127.0.0.1.
func TestAllowDenyAtTheEdge(t *testing.T) {
	api := namedUpstream(t, "api")
	metrics := admin.NewMetrics()
	base, _ := buildObserved(t, fmt.Sprintf(`
defaults: {deny: [127.0.0.0/8]}
upstreams: {api: {targets: [%q]}}
routes:
  - {path: /open, upstream: api, allow: [127.0.0.1, "::1"]}
  - {path: /closed, upstream: api, allow: [198.51.100.0/24], name: closed}
  - {path: /inherits, upstream: api, name: inherits}
static:
  - {prefix: /, path: site, name: site}
`, api), metrics)
	for _, tt := range []struct {
		path   string
		status int
	}{{"/open", 200}, {"/closed", 403}, {"/inherits", 403}, {"/index.html", 403}} {
		status, body, h := do(t, base, "GET", "x", tt.path)
		if status != tt.status {
			t.Errorf("GET %s = %d %q, want %d", tt.path, status, body, tt.status)
			continue
		}
		if status == 403 {
			var e map[string]any
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["status"] != 403.0 || e["request_id"] != h.Get("X-Request-Id") {
				t.Errorf("GET %s: 403 body %q is not the JSON error shape with the request id", tt.path, body)
			}
		} else if body != "api /open" {
			t.Errorf("GET /open = %q", body)
		}
	}
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	_, exposition, _ := do(t, srv.URL, "GET", "x", "/")
	for _, want := range []string{`frontgate_rejected_total{reason="ip",route="closed"} 1`, `frontgate_rejected_total{reason="ip",route="site"} 1`} {
		if !strings.Contains(exposition, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
