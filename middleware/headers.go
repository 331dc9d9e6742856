package middleware

import (
	"net/http"
)

// HeaderRules change a message's header: Remove first, then Set (replacing), then Add (appending).
// Values are templates. The zero value changes nothing.
type HeaderRules struct {
	Set, Add []HeaderValue
	Remove   []string
}

// HeaderValue is one header field with a templated value.
type HeaderValue struct {
	Name  string
	Value Template
}

func (hr HeaderRules) empty() bool {
	return len(hr.Set) == 0 && len(hr.Add) == 0 && len(hr.Remove) == 0
}

// Apply changes h by the rules, for request r (a proxy's forwarded header, say, or r's own).
func (hr HeaderRules) Apply(h http.Header, r *http.Request, trusted TrustedProxies) {
	for _, k := range hr.Remove {
		h.Del(k)
	}
	for _, f := range hr.Set {
		h.Set(f.Name, f.Value.Expand(r, trusted))
	}
	for _, f := range hr.Add {
		h.Add(f.Name, f.Value.Expand(r, trusted))
	}
}

// Headers applies request rules to r before next sees it, and response rules to the answer's header
// as it is written (after next, a proxy say, set its own fields; 1xx answers are left alone).
func Headers(next http.Handler, request, response HeaderRules, trusted TrustedProxies) http.Handler {
	if request.empty() && response.empty() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		request.Apply(r.Header, r, trusted)
		if response.empty() {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&headerWriter{ResponseWriter: w, edit: func(h http.Header) { response.Apply(h, r, trusted) }}, r)
	})
}

// headerWriter calls edit on the header once, when the final status goes out (after the handler set
// its own fields; 1xx answers are left alone).
type headerWriter struct {
	http.ResponseWriter
	edit func(http.Header)
	done bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		w.edit(w.ResponseWriter.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the writer underneath, for Flush and Hijack.
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
