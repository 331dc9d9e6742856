package middleware

import (
	"fmt"
	"net/http"
	"strings"
)

// Template is a value with placeholders, expanded per request: {host} (the request's host, without
// the port), {path} (the URL path), {query} ("?" and the query when there is one, else nothing),
// {request_id} and {client_ip} (the client address trusted proxies vouch for). The zero value
// expands to "".
type Template struct {
	parts []templatePart
}

type templatePart struct {
	literal string
	field   string // a placeholder's name; "": literal
}

var placeholders = []string{"host", "path", "query", "request_id", "client_ip"}

// ParseTemplate compiles s; an unknown placeholder or an unclosed "{" is an error naming it.
func ParseTemplate(s string) (Template, error) {
	var t Template
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			t.parts = append(t.parts, templatePart{literal: s})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{literal: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return Template{}, fmt.Errorf("unclosed { in %q", s)
		}
		name := s[open+1 : open+end]
		known := false
		for _, p := range placeholders {
			known = known || p == name
		}
		if !known {
			return Template{}, fmt.Errorf("unknown placeholder {%s} (use {%s})", name, strings.Join(placeholders, "}, {"))
		}
		t.parts = append(t.parts, templatePart{field: name})
		s = s[open+end+1:]
	}
	return t, nil
}

// Expand writes the template for r.
func (t Template) Expand(r *http.Request, trusted TrustedProxies) string {
	if len(t.parts) == 1 && t.parts[0].field == "" {
		return t.parts[0].literal // no placeholder: nothing to build
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.field {
		case "":
			b.WriteString(p.literal)
		case "host":
			b.WriteString(HostName(r.Host))
		case "path":
			b.WriteString(r.URL.EscapedPath())
		case "query":
			if r.URL.RawQuery != "" {
				b.WriteString("?" + r.URL.RawQuery)
			}
		case "request_id":
			b.WriteString(r.Header.Get(RequestIDHeader))
		case "client_ip":
			if a := trusted.ClientIP(r); a.IsValid() {
				b.WriteString(a.String())
			}
		}
	}
	return b.String()
}

// HostName is the host of a Host header value, without its port ("[::1]:8080" gives "[::1]").
func HostName(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		return hostport[:i]
	}
	return hostport
}

// Redirect answers every request with status (301, 302, 303, 307 or 308) and a Location of to.
func Redirect(to Template, status int, trusted TrustedProxies) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", to.Expand(r, trusted))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
	})
}
