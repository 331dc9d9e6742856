package middleware

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// textBody is n bytes of text that compresses well but not to nothing.
func textBody(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog %x\n", i, i*7919)
	}
	return b.Bytes()[:n]
}

// compressClient sends Accept-Encoding as the test sets it and never decodes by itself.
var compressClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// decode undoes coding ("" is identity) with the codings' reference readers: the standard
// library's gzip, klauspost's zstd, andybalholm's brotli.
func decode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		t.Fatalf("unexpected Content-Encoding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", coding, err)
	}
	return out
}

func TestCompressNegotiation(t *testing.T) {
	body := textBody(4096)
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	}), CompressOptions{Encodings: []string{EncodingZstd, EncodingBrotli, EncodingGzip}, MinSize: 1024})
	srv := newTestServer(t, h)
	for _, tt := range []struct {
		accept string // "-": no field
		want   string
	}{
		{"-", ""},
		{"gzip", "gzip"},
		{"gzip, deflate, br, zstd", "zstd"}, // the server's order breaks the tie
		{"gzip;q=0, zstd;q=0.5, br;q=0.8", "br"},
		{"br;q=0.1, gzip;q=0.9", "gzip"},
		{"*", "zstd"},
		{"*, zstd;q=0", "br"},
		{"*;q=0", ""},
		{"identity;q=0, gzip", "gzip"},
		{"identity;q=0, deflate", ""}, // nothing to offer: as it is rather than 406
		{"gzip;q=0.5, identity", ""},
		{"deflate", ""},
	} {
		t.Run(tt.accept, func(t *testing.T) {
			hdr := map[string]string{"Accept-Encoding": tt.accept}
			if tt.accept == "-" {
				hdr = nil
			}
			res := get(t, compressClient, srv.URL, hdr)
			if got := res.header.Get("Content-Encoding"); got != tt.want {
				t.Fatalf("Content-Encoding = %q, want %q", got, tt.want)
			}
			if got := decode(t, tt.want, res.body); !bytes.Equal(got, body) {
				t.Errorf("decoded %d bytes, want the %d sent", len(got), len(body))
			}
			if v := res.header.Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding" {
				t.Errorf("Vary = %q, want Accept-Encoding on every answer of a compressible type", v)
			}
		})
	}
}

// answer is a handler that sets the header fields given as name, value pairs and writes body.
func answer(body []byte, fields ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		w.Write(body)
	}
}

func TestCompressRules(t *testing.T) {
	big, small := textBody(8192), textBody(100)
	tests := []struct {
		name    string
		method  string
		reqHdr  map[string]string
		handler func(w http.ResponseWriter, r *http.Request)
		status  int
		coding  string            // the Content-Encoding expected
		hdr     map[string]string // answer fields expected ("" for absent)
		body    []byte            // the decoded body expected; nil: not checked
	}{
		// A Content-Length kept would cut the client's read short: its deletion shows as a whole body.
		{name: "compressed, length known", handler: answer(big, "Content-Type", "application/json", "Content-Length", strconv.Itoa(len(big)), "Accept-Ranges", "bytes"),
			status: 200, coding: "gzip", hdr: map[string]string{"Accept-Ranges": "", "Vary": "Accept-Encoding"}, body: big},
		{name: "small with Content-Length", handler: answer(small, "Content-Type", "text/css", "Content-Length", strconv.Itoa(len(small))), status: 200, hdr: map[string]string{"Content-Length": "100", "Vary": "Accept-Encoding"}, body: small},
		{name: "small without Content-Length", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/css")
			w.Write(small[:50])
			w.Write(small[50:])
		}, status: 200, hdr: map[string]string{"Content-Length": "100", "Vary": "Accept-Encoding"}, body: small},
		{name: "large without Content-Length, many writes", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			for i := 0; i < len(big); i += 100 {
				w.Write(big[i:min(i+100, len(big))])
			}
		}, status: 200, coding: "gzip", body: big},
		{name: "just at min_size", handler: answer(big[:1024], "Content-Type", "text/plain"), status: 200, coding: "gzip", body: big[:1024]},
		{name: "one byte under min_size", handler: answer(big[:1023], "Content-Type", "text/plain"), status: 200, body: big[:1023]},
		{name: "no type: sniffed", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<!doctype html><p>")
			w.Write(big)
		}, status: 200, coding: "gzip", hdr: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "no type: sniffed as binary", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(append([]byte("\x89PNG\x0d\x0a\x1a\x0a"), big...))
		}, status: 200, hdr: map[string]string{"Content-Type": "image/png", "Vary": ""}},
		{name: "image", handler: answer(big, "Content-Type", "image/jpeg"), status: 200, hdr: map[string]string{"Vary": ""}, body: big},
		{name: "woff2", handler: answer(big, "Content-Type", "font/woff2"), status: 200, body: big},
		{name: "archive", handler: answer(big, "Content-Type", "application/zip"), status: 200, body: big},
		{name: "svg is compressible", handler: answer(big, "Content-Type", "image/svg+xml"), status: 200, coding: "gzip", body: big},
		{name: "already encoded", handler: answer(big, "Content-Type", "text/plain", "Content-Encoding", "br"), status: 200, coding: "br", hdr: map[string]string{"Vary": ""}},
		{name: "no-transform", handler: answer(big, "Content-Type", "text/plain", "Cache-Control", "public, No-Transform"), status: 200, body: big},
		{name: "HEAD", method: http.MethodHead, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		}, status: 200, hdr: map[string]string{"Content-Length": "8192", "Vary": "Accept-Encoding"}},
		{name: "304", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		}, status: 304, hdr: map[string]string{"Etag": `"v1"`, "Vary": ""}},
		{name: "204", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNoContent)
		}, status: 204},
		{name: "Range", reqHdr: map[string]string{"Range": "bytes=0-99"}, handler: func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "a.txt", time.Time{}, bytes.NewReader(big))
		}, status: 206, hdr: map[string]string{"Content-Length": "100"}, body: big[:100]},
		{name: "206 without Range", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Range", "bytes 0-8191/9000")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(big)
		}, status: 206, body: big},
		{name: "strong ETag weakened", handler: answer(big, "Content-Type", "text/plain", "Etag", `"abc"`), status: 200, coding: "gzip", hdr: map[string]string{"Etag": `W/"abc"`}},
		{name: "weak ETag kept", handler: answer(big, "Content-Type", "text/plain", "Etag", `W/"abc"`), status: 200, coding: "gzip", hdr: map[string]string{"Etag": `W/"abc"`}},
		{name: "strong ETag of an uncompressed answer kept", handler: answer(small, "Content-Type", "text/plain", "Etag", `"abc"`), status: 200, hdr: map[string]string{"Etag": `"abc"`}},
		{name: "Vary merged", handler: answer(big, "Content-Type", "text/plain", "Vary", "Origin"), status: 200, coding: "gzip", hdr: map[string]string{"Vary": "Origin, Accept-Encoding"}},
		{name: "Vary naming it already", handler: answer(big, "Content-Type", "text/plain", "Vary", "origin, accept-encoding"), status: 200, coding: "gzip", hdr: map[string]string{"Vary": "origin, accept-encoding"}},
		{name: "error answers too", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadGateway)
			w.Write(big)
		}, status: 502, coding: "gzip", body: big},
		{name: "not accepted: Vary alone", reqHdr: map[string]string{"Accept-Encoding": "identity"}, handler: answer(big, "Content-Type", "text/plain"), status: 200, hdr: map[string]string{"Vary": "Accept-Encoding"}, body: big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Compress(http.HandlerFunc(tt.handler), CompressOptions{Encodings: []string{EncodingGzip}, MinSize: 1024}))
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, srv.URL, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			for k, v := range tt.reqHdr {
				req.Header.Set(k, v)
			}
			resp, err := compressClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tt.coding {
				t.Fatalf("Content-Encoding %q, want %q", got, tt.coding)
			}
			for k, want := range tt.hdr {
				got := strings.Join(resp.Header.Values(k), ", ")
				if k == "Content-Length" && resp.ContentLength >= 0 {
					got = strconv.FormatInt(resp.ContentLength, 10) // the client moves it there
				}
				if got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.body != nil && tt.coding != "br" {
				if got := decode(t, tt.coding, raw); !bytes.Equal(got, tt.body) {
					t.Errorf("decoded body of %d bytes, want %d", len(got), len(tt.body))
				}
			}
		})
	}
}

// With min_size 0, an answer of a compressible type whose handler returns without writing or
// flushing is decided only when it ends: compressed, it must still be a whole stream (an empty
// body goes out as the coding's complete empty stream), never a Content-Encoding over no bytes,
// which decoders take for a cut stream. The interop matrix found it: an upstream's empty chunked
// answer, whose end beats the proxy's first flush.
func TestCompressAnswerDecidedAtItsEnd(t *testing.T) {
	for _, coding := range []string{"zstd", "br", "gzip"} {
		t.Run(coding, func(t *testing.T) {
			h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusOK)
			}), CompressOptions{Encodings: []string{coding}, MinSize: 0})
			srv := newTestServer(t, h)
			for range 2 { // the pooled writer and encoder serve the next answer too
				res := get(t, compressClient, srv.URL, map[string]string{"Accept-Encoding": coding})
				if got := res.header.Get("Content-Encoding"); got != coding {
					t.Fatalf("Content-Encoding %q, want %q", got, coding)
				}
				if len(res.body) == 0 {
					t.Fatalf("Content-Encoding %s over an empty body: no %s stream at all", coding, coding)
				}
				if got := decode(t, coding, res.body); len(got) != 0 {
					t.Errorf("decoded %q, want nothing", got)
				}
			}
		})
	}
}

// Large bodies written in many small pieces come back whole through each coding's reference
// decoder.
func TestCompressRoundTrip(t *testing.T) {
	body := textBody(300 << 10)
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		for i := 0; i < len(body); i += 37 {
			if _, err := w.Write(body[i:min(i+37, len(body))]); err != nil {
				t.Error(err)
				return
			}
		}
	}), CompressOptions{Encodings: []string{EncodingZstd, EncodingBrotli, EncodingGzip}, MinSize: 1024})
	srv := newTestServer(t, h)
	for _, coding := range []string{"zstd", "br", "gzip"} {
		t.Run(coding, func(t *testing.T) {
			for range 3 { // pooled encoders start each answer afresh
				res := get(t, compressClient, srv.URL, map[string]string{"Accept-Encoding": coding})
				if got := res.header.Get("Content-Encoding"); got != coding {
					t.Fatalf("Content-Encoding %q, want %q", got, coding)
				}
				if len(res.body) >= len(body)/3 {
					t.Errorf("%s: %d bytes on the wire for %d: not compressed", coding, len(res.body), len(body))
				}
				if got := decode(t, coding, res.body); !bytes.Equal(got, body) {
					t.Fatalf("%s: decoded %d bytes, want the %d sent", coding, len(got), len(body))
				}
			}
		})
	}
}

// A stream's events, each smaller than min_size, reach the client one by one: the handler writes
// the next only after the client has decoded the one before (no sleeps; a deadline bounds a stuck
// stream).
func TestCompressStreamsFlushes(t *testing.T) {
	for _, coding := range []string{"zstd", "br", "gzip"} {
		t.Run(coding, func(t *testing.T) {
			read := make(chan int)
			h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := range 3 {
					fmt.Fprintf(w, "data: event %d\n\n", i)
					w.(http.Flusher).Flush()
					select {
					case got := <-read:
						if got != i {
							t.Errorf("the client read event %d, want %d", got, i)
						}
					case <-r.Context().Done():
						return
					}
				}
			}), CompressOptions{Encodings: []string{coding}, MinSize: 1024})
			srv := newTestServer(t, h)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			req.Header.Set("Accept-Encoding", coding)
			resp, err := compressClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != coding {
				t.Fatalf("Content-Encoding %q, want %q", resp.Header.Get("Content-Encoding"), coding)
			}
			var dec io.Reader
			switch coding {
			case "gzip":
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				dec = zr
			case "zstd":
				zr, err := zstd.NewReader(resp.Body, zstd.WithDecoderConcurrency(1))
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				dec = zr
			case "br":
				dec = brotli.NewReader(resp.Body)
			}
			br := bufio.NewReader(dec)
			for i := range 3 {
				line, err := br.ReadString('\n')
				blank, err2 := br.ReadString('\n')
				if err != nil || err2 != nil || line != fmt.Sprintf("data: event %d\n", i) || blank != "\n" {
					t.Fatalf("event %d: %q %q (%v, %v)", i, line, blank, err, err2)
				}
				read <- i
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the events: %q, %v", rest, err)
			}
		})
	}
}

// An upgrade's 101 and the hijacked connection pass through untouched, and ResponseController
// reaches the connection through the wrapper.
func TestCompressPassesUpgrades(t *testing.T) {
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		conn, brw, err := rc.Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, strings.ToUpper(line))
	}), CompressOptions{Encodings: []string{EncodingGzip}})
	srv := newTestServer(t, h)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello tunnel\n")
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nHELLO TUNNEL\n"; string(got) != want {
		t.Errorf("the client read %q, want %q", got, want)
	}
}

// Pooled encoders run on the caller's goroutine (zstd's would otherwise encode and write blocks on
// goroutines of their own) and leave no goroutine behind.
func TestCompressEncodersKeepNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	body := textBody(512 << 10)
	for range 3 {
		for _, coding := range []string{EncodingZstd, EncodingBrotli, EncodingGzip} {
			sink := &sameGoroutineWriter{t: t, id: goroutineID()}
			pe := getEncoder(coding, sink)
			for i := 0; i < len(body); i += 64 << 10 {
				pe.enc.Write(body[i : i+64<<10])
			}
			pe.enc.Close()
			pe.release()
			if sink.n == 0 {
				t.Errorf("%s wrote nothing", coding)
			}
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after", before, after)
	}
}

// sameGoroutineWriter fails the test when written to from a goroutine other than id.
type sameGoroutineWriter struct {
	t  *testing.T
	id string
	n  int
}

func (w *sameGoroutineWriter) Write(p []byte) (int, error) {
	if id := goroutineID(); id != w.id {
		w.t.Errorf("written from goroutine %s, want the caller's %s", id, w.id)
	}
	w.n += len(p)
	return len(p), nil
}

// goroutineID is the running goroutine's number, from its stack trace's first line.
func goroutineID() string {
	var buf [64]byte
	line := string(buf[:runtime.Stack(buf[:], false)])
	id, _, _ := strings.Cut(strings.TrimPrefix(line, "goroutine "), " ")
	return id
}

func TestCompressibleType(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8": true, "TEXT/CSS": true, "text/event-stream": true,
		"application/json": true, "application/problem+json": true, "application/javascript": true,
		"application/xml": true, "application/atom+xml": true, "image/svg+xml": true,
		"application/wasm": true, "font/ttf": true, "font/otf": true, "application/x-ndjson": true,
		"font/woff2": false, "font/woff": false, "image/png": false, "image/jpeg": false,
		"video/mp4": false, "audio/mpeg": false, "application/zip": false, "application/gzip": false,
		"application/octet-stream": false, "application/pdf": false, "": false, "nonsense": false,
	} {
		if got := compressibleType(ct); got != want {
			t.Errorf("compressibleType(%q) = %v, want %v", ct, got, want)
		}
	}
}
