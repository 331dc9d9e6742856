package interop

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// quietLog drops net/http's server log: the cuts make it complain on purpose.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// goUpstream answers the interop paths with net/http's server. A Content-Length gives a length,
// Flush gives chunked, "Transfer-Encoding: identity" gives a close-delimited body (net/http's way
// for server-sent events), WriteHeader(103) gives early hints, reading the body sends 100 Continue,
// a panic with http.ErrAbortHandler cuts a response with a FIN, and a hijacked connection with
// SO_LINGER 0 cuts one with a RST.
func goUpstream(fx *fixture) http.Handler {
	p := fx.upPlan
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		_, port, _ := net.SplitHostPort(r.RemoteAddr)
		h.Set("X-Upstream-Conn", port)
		flush := func() { w.(http.Flusher).Flush() }
		key := r.Method + " " + r.URL.Path
		switch key {
		case "HEAD /cl":
			h.Set("Content-Length", fmt.Sprint(len(fx.bodies["cl"])))
			h.Set("Content-Type", "text/plain")
		case "GET /cl":
			h.Set("Content-Length", fmt.Sprint(len(fx.bodies["cl"])))
			h.Set("Content-Type", "text/plain")
			w.Write(fx.bodies["cl"])
		case "GET /chunked", "GET /chunked-1m", "GET /chunked-trailers":
			name := r.URL.Path[1:]
			h.Set("Content-Type", "text/plain")
			if name == "chunked-trailers" {
				h.Set("Trailer", p.TrailerName)
			}
			for _, piece := range pieces(fx.bodies[name], p.Chunks[name]) {
				w.Write(piece)
				flush() // one chunk per piece
			}
			if name == "chunked-trailers" {
				h.Set(p.TrailerName, p.TrailerValue)
			}
		case "GET /chunked-empty":
			h.Set("Content-Type", "text/plain")
			flush() // the headers go out before the end: chunked, and then only the last chunk
		case "GET /close":
			h.Set("Content-Type", "text/plain")
			h.Set("Transfer-Encoding", "identity") // no length, no chunks: net/http closes after it
			for _, piece := range pieces(fx.bodies["close"], []int{1000}) {
				w.Write(piece)
				flush()
			}
		case "GET /204":
			w.WriteHeader(http.StatusNoContent)
		case "GET /304":
			h.Set("ETag", p.ETag)
			if r.Header.Get("If-None-Match") == p.ETag {
				w.WriteHeader(http.StatusNotModified)
			}
		case "GET /early-hints":
			h.Set("Link", p.Link)
			w.WriteHeader(http.StatusEarlyHints)
			h.Set("Content-Length", fmt.Sprint(len(fx.bodies["early-hints"])))
			w.Write(fx.bodies["early-hints"])
		case "GET /sse":
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
			for i, ev := range p.SSEEvents {
				if i > 0 {
					time.Sleep(ssePause)
				}
				io.WriteString(w, ev)
				flush()
			}
		case "GET /cut-cl":
			data := fx.bodies["cut-cl"]
			h.Set("Content-Length", fmt.Sprint(len(data)))
			w.Write(data[:len(data)/2])
			flush()
			panic(http.ErrAbortHandler) // net/http closes the connection: a FIN at half the length
		case "GET /cut-chunked":
			data := fx.bodies["cut-chunked"]
			h.Set("Content-Type", "text/plain")
			for _, piece := range pieces(data[:len(data)/2], []int{1000}) {
				w.Write(piece)
				flush()
			}
			panic(http.ErrAbortHandler) // a FIN without the last chunk
		case "GET /cut-close":
			data := fx.bodies["cut-close"]
			// A type as every upstream gives it: net/http does not sniff one with Transfer-Encoding
			// set, and without one, whether frontgate compresses would hang on a race between the
			// proxy's first flush (nothing to sniff: sent as it is) and the first bytes.
			h.Set("Content-Type", "text/plain")
			h.Set("Transfer-Encoding", "identity")
			w.Write(data[:len(data)/2])
			conn, _, err := w.(http.Hijacker).Hijack() // flushes what was written
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close() // a RST at half the body
		case "POST /echo":
			data, err := io.ReadAll(r.Body)
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			h.Set("Content-Length", fmt.Sprint(len(data)))
			h.Set("Content-Type", "application/octet-stream")
			w.Write(data)
		case "POST /continue":
			data, err := io.ReadAll(r.Body) // the first read sends 100 Continue
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			fmt.Fprintf(w, "len=%d sha256=%s", len(data), sha(data))
		default:
			http.NotFound(w, r)
		}
	})
}
