package middleware

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSPolicy says which other origins' pages may call a route from a browser. The zero value allows
// none (and CORS answers nothing).
type CORSPolicy struct {
	// Origins are the allowed origins (https://app.example.com), or "*" for any (not with
	// Credentials: then the caller's origin is echoed for any).
	Origins []string
	// Methods and Headers are what a preflight allows; empty Methods: GET, HEAD and POST.
	Methods, Headers []string
	// Credentials lets the page send cookies and authorization.
	Credentials bool
	// MaxAge is how long a browser may reuse a preflight's answer; zero: the browser's default.
	MaxAge time.Duration
}

// CORS answers preflights (OPTIONS with Access-Control-Request-Method) at the edge and marks the
// answers of allowed origins for the browser; a request from an origin not allowed gets no CORS
// header, so the browser keeps the answer from the page. The route's own CORS fields from upstream
// are replaced.
func CORS(next http.Handler, p CORSPolicy) http.Handler {
	methods := p.Methods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	allowMethods, allowHeaders := strings.Join(methods, ", "), strings.Join(p.Headers, ", ")
	maxAge := ""
	if p.MaxAge > 0 {
		maxAge = strconv.Itoa(int(p.MaxAge / time.Second))
	}
	any := slices.Contains(p.Origins, "*")
	mark := func(h http.Header, origin string) {
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				delete(h, k)
			}
		}
		h.Add("Vary", "Origin")
		if origin == "" {
			return
		}
		if any && !p.Credentials {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if p.Credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && !any && !slices.Contains(p.Origins, origin) {
			origin = "" // not allowed: no CORS fields
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h := w.Header()
			mark(h, origin)
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if origin != "" {
				h.Set("Access-Control-Allow-Methods", allowMethods)
				if allowHeaders != "" {
					h.Set("Access-Control-Allow-Headers", allowHeaders)
				}
				if maxAge != "" {
					h.Set("Access-Control-Max-Age", maxAge)
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&headerWriter{ResponseWriter: w, edit: func(h http.Header) { mark(h, origin) }}, r)
	})
}
