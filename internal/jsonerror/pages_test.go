package jsonerror

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPages(t *testing.T) {
	pages := NewPages(map[string]string{"404": "<h1>Not here ({request_id})</h1>", "5xx": "<h1>Broken: {status}</h1>"})
	for _, tt := range []struct {
		name, accept string
		status       int
		wantHTML     string
	}{
		{"exact status, browser", "text/html,application/xhtml+xml,*/*;q=0.8", 404, "<h1>Not here (id-1)</h1>"},
		{"class, browser", "text/html", 502, "<h1>Broken: 502</h1>"},
		{"no page for it", "text/html", 403, ""},
		{"not a browser", "application/json", 404, ""},
		{"no Accept", "", 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r = r.WithContext(WithPages(r.Context(), pages))
			r.Header.Set("X-Request-Id", "id-1")
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			Write(w, r, tt.status)
			ct := w.Header().Get("Content-Type")
			switch {
			case tt.wantHTML != "" && (w.Body.String() != tt.wantHTML || ct != "text/html; charset=utf-8"):
				t.Errorf("%s %q, want the page %q", ct, w.Body, tt.wantHTML)
			case tt.wantHTML == "" && (ct != "application/json" || !strings.Contains(w.Body.String(), `"request_id":"id-1"`)):
				t.Errorf("%s %q, want the JSON shape", ct, w.Body)
			}
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
		})
	}
	// Without pages in the context, browsers get JSON too.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	Write(w, r, http.StatusNotFound)
	if w.Header().Get("Content-Type") != "application/json" {
		t.Error("a page without WithPages")
	}
}
