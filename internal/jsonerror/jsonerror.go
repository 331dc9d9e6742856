// Package jsonerror writes the one JSON error shape of every answer frontgate makes itself (the
// proxy's 502/503/504, the middleware's 413/429/503/500, the router's 404/405, the demo routes' 4xx):
//
//	{"error":"bad gateway","status":502,"request_id":"2f1c…"}
//
// It never carries an internal error's text: only the status's own words, or a message written for
// the client. Where the gateway configured error pages (WithPages), a client that accepts HTML gets
// the page for the status instead.
package jsonerror

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// requestIDHeader is where the timing middleware puts each request's id (middleware.RequestIDHeader).
const requestIDHeader = "X-Request-Id"

// body is the JSON shape.
type body struct {
	Error     string `json:"error"`      // the status text in lower case, or a message for the client
	Status    int    `json:"status"`     // the HTTP status code again
	RequestID string `json:"request_id"` // the request's X-Request-Id; "" when it has none
}

// Write answers r with status and a body naming the status in lower-case words.
func Write(w http.ResponseWriter, r *http.Request, status int) {
	WriteMessage(w, r, status, strings.ToLower(http.StatusText(status)))
}

// WriteMessage answers r with status and msg, a message written for the client. Headers that would
// misdescribe the new body (a length, encoding or validator set by an inner handler) are replaced.
// An answer to HEAD carries the headers only.
func WriteMessage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	contentType := "application/json"
	var b []byte
	if html, ok := htmlPage(r, status); ok {
		contentType, b = "text/html; charset=utf-8", []byte(html)
	} else {
		var err error
		b, err = json.Marshal(body{Error: msg, Status: status, RequestID: r.Header.Get(requestIDHeader)})
		if err != nil { // cannot happen: three plain fields
			b = []byte(`{"error":"error","status":` + strconv.Itoa(status) + `,"request_id":""}`)
		}
		b = append(b, '\n')
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Del("Content-Encoding")
	h.Del("Content-Range")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
