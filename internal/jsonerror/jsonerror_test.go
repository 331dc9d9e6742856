package jsonerror

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestShape(t *testing.T) {
	tests := []struct {
		name, id, msg string
		status        int
		wantError     string
	}{
		{"status words", "abc123", "", http.StatusBadGateway, "bad gateway"},
		{"message", "id-2", `form field "key" is missing`, http.StatusBadRequest, `form field "key" is missing`},
		{"no id", "", "", http.StatusNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.id != "" {
				r.Header.Set("X-Request-Id", tt.id)
			}
			w := httptest.NewRecorder()
			w.Header().Set("Content-Encoding", "gzip") // set by an inner handler before it failed
			w.Header().Set("ETag", `"v1"`)
			if tt.msg == "" {
				Write(w, r, tt.status)
			} else {
				WriteMessage(w, r, tt.status, tt.msg)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			want := map[string]any{"error": tt.wantError, "status": float64(tt.status), "request_id": tt.id}
			if len(got) != len(want) || got["error"] != want["error"] || got["status"] != want["status"] || got["request_id"] != want["request_id"] {
				t.Errorf("body %v, want %v", got, want)
			}
			h := w.Result().Header
			if w.Code != tt.status || h.Get("Content-Type") != "application/json" || h.Get("Content-Encoding") != "" || h.Get("ETag") != "" ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Length") != itoa(w.Body.Len()) {
				t.Errorf("status %d headers %v", w.Code, h)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
