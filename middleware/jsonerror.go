package middleware

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// errorBody is the JSON body of every error the gateway itself answers with.
type errorBody struct {
	Error     string `json:"error"`      // lower-case status text, e.g. "too many requests"
	Status    int    `json:"status"`     // the HTTP status code again
	RequestID string `json:"request_id"` // the request's X-Request-Id; "" when it has none
}

// writeJSONError answers r with status and a small JSON body naming it and the request id. Headers
// that would misdescribe the new body (a length or encoding set by an inner handler) are replaced.
func writeJSONError(w http.ResponseWriter, status int, r *http.Request) {
	b, err := json.Marshal(errorBody{
		Error:     strings.ToLower(http.StatusText(status)),
		Status:    status,
		RequestID: r.Header.Get(RequestIDHeader),
	})
	if err != nil { // cannot happen: three plain fields
		b = []byte(`{"error":"error","status":` + strconv.Itoa(status) + `}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Del("Content-Encoding")
	h.Del("Content-Range")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
