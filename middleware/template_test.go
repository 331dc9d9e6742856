package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	trusted, _ := ParseTrustedProxies([]string{"10.0.0.1"})
	r := httptest.NewRequest("GET", "http://example.com:8443/a%20b/c?x=1&y=2", nil)
	r.RemoteAddr = "10.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "192.0.2.9")
	r.Header.Set(RequestIDHeader, "id-7")
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"https://{host}{path}{query}", "https://example.com/a%20b/c?x=1&y=2"},
		{"{request_id} from {client_ip}", "id-7 from 192.0.2.9"},
		{"", ""},
	} {
		tpl, err := ParseTemplate(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if got := tpl.Expand(r, trusted); got != tt.want {
			t.Errorf("%q expands to %q, want %q", tt.in, got, tt.want)
		}
	}
	noQuery := httptest.NewRequest("GET", "/p", nil)
	if tpl, _ := ParseTemplate("/new{query}"); tpl.Expand(noQuery, trusted) != "/new" {
		t.Error("{query} of a request without a query is not empty")
	}
	for _, bad := range []string{"{hots}", "{path", "x{}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Request rules reach the handler; response rules apply to the final answer after the handler set
// its own fields, never to a 1xx; flushing still works through the wrapper.
func TestHeaders(t *testing.T) {
	tpl := func(s string) Template { v, _ := ParseTemplate(s); return v }
	req := HeaderRules{Set: []HeaderValue{{"X-Env", tpl("prod")}, {"X-Id", tpl("{request_id}")}}, Remove: []string{"Cookie"}}
	resp := HeaderRules{Set: []HeaderValue{{"Strict-Transport-Security", tpl("max-age=63072000")}},
		Add: []HeaderValue{{"Via", tpl("frontgate")}}, Remove: []string{"Server"}}
	h := Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Env") != "prod" || r.Header.Get("X-Id") != "rid" || r.Header.Get("Cookie") != "" {
			t.Errorf("request header %v", r.Header)
		}
		w.Header().Set("Link", "</a.css>")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Server", "upstream/1.0")
		w.Header().Set("Via", "1.1 upstream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "part")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
	}), req, resp, TrustedProxies{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set(RequestIDHeader, "rid")
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r, _ := http.NewRequest("GET", srv.URL, nil)
	r.Header.Set("Cookie", "secret=1")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Server") != "" || res.Header.Get("Strict-Transport-Security") != "max-age=63072000" ||
		strings.Join(res.Header.Values("Via"), "|") != "1.1 upstream|frontgate" {
		t.Errorf("response header %v", res.Header)
	}
}
