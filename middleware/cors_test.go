package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestCORS(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://evil.example") // replaced
		w.Write([]byte("data"))
	})
	policy := CORSPolicy{Origins: []string{"https://app.example.com"}, Methods: []string{"GET", "PUT"},
		Headers: []string{"Authorization"}, Credentials: true, MaxAge: 10 * time.Minute}
	h := CORS(upstream, policy)
	for _, tt := range []struct {
		name, method, origin, reqMethod string
		status                          int
		want                            map[string]string
	}{
		{"preflight, allowed", "OPTIONS", "https://app.example.com", "PUT", 204, map[string]string{
			"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "GET, PUT",
			"Access-Control-Allow-Headers": "Authorization", "Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true"}},
		{"preflight, other origin", "OPTIONS", "https://other.example", "PUT", 204, map[string]string{
			"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
		{"request, allowed", "GET", "https://app.example.com", "", 200, map[string]string{
			"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}},
		{"request, other origin", "GET", "https://other.example", "", 200, map[string]string{
			"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": ""}},
		{"same origin (no Origin)", "GET", "", "", 200, map[string]string{"Access-Control-Allow-Origin": "https://evil.example"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.reqMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tt.reqMethod)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			for k, v := range tt.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	star := CORS(upstream, CORSPolicy{Origins: []string{"*"}})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://any.example")
	w := httptest.NewRecorder()
	star.ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("origins [*] without credentials: %q, want *", w.Header().Get("Access-Control-Allow-Origin"))
	}
}
