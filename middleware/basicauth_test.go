package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	failures := 0
	var sawAuthorization string
	h := BasicAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuthorization = r.Header.Get("Authorization")
	}), "admin area", map[string][]byte{"alice": hash}, func(*http.Request) { failures++ })
	for _, tt := range []struct {
		name, user, password string
		send                 bool
		status               int
	}{
		{"no credentials", "", "", false, 401},
		{"wrong password", "alice", "guess", true, 401},
		{"unknown user", "mallory", "s3cret", true, 401},
		{"empty password", "alice", "", true, 401},
		{"right", "alice", "s3cret", true, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := failures
			r := httptest.NewRequest("GET", "/", nil)
			if tt.send {
				r.SetBasicAuth(tt.user, tt.password)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status == 401 {
				if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="admin area", charset="UTF-8"` || failures != before+1 {
					t.Errorf("WWW-Authenticate %q, failures %d", got, failures-before)
				}
			} else if sawAuthorization != "" {
				t.Errorf("the handler saw the credentials: %q", sawAuthorization)
			}
		})
	}
}
