package middleware

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// The content codings Compress applies, as Accept-Encoding and Content-Encoding name them.
const (
	EncodingZstd   = "zstd"
	EncodingBrotli = "br"
	EncodingGzip   = "gzip"
)

// Encoder settings: speed over the last percent of ratio, as a proxy compresses every answer anew.
const (
	gzipLevel   = 5 // klauspost's level 5: near gzip -6's ratio at several times its speed
	brotliLevel = 4 // the usual on-the-fly brotli level (higher ones cost far more CPU)
	// zstdWindow bounds a zstd encoder's memory (and the decoder's: RFC 9659 caps HTTP at 8 MiB).
	zstdWindow = 1 << 20
)

// CompressOptions configures Compress. The zero value compresses nothing (Compress returns next).
type CompressOptions struct {
	// Encodings are the codings offered (EncodingZstd, EncodingBrotli, EncodingGzip), in the
	// server's order of preference, which decides between codings a client weights the same.
	// Others are ignored. Empty: nothing is compressed.
	Encodings []string
	// MinSize is the smallest body compressed; smaller ones go out as they are. A body of unknown
	// length is held back until it reaches MinSize, the handler flushes, or it ends. Zero: every
	// body, decided at the first write.
	MinSize int
}

// Compress compresses next's answers on the fly with the coding the client prefers among
// opts.Encodings (Accept-Encoding's weights; q=0 refuses, "*" stands for the codings not named,
// ties go to the order of Encodings).
//
// An answer is compressed only when all of these hold: the request is not HEAD and has no Range;
// the status is not 1xx, 204, 206 or 304; the answer has no Content-Encoding and no
// Cache-Control: no-transform; its Content-Type is a compressible one (see compressibleType: text,
// JSON, JavaScript, XML, SVG, wasm, uncompressed fonts; never images, audio, video, archives or
// woff/woff2; a missing type is sniffed from the first bytes, as net/http would); and its body is
// at least MinSize (Content-Length when given; otherwise the bytes written before the handler
// returns or flushes). A compressed answer has Content-Encoding, loses Content-Length and
// Accept-Ranges, and its strong ETag is weakened ("x" becomes W/"x"); every answer of a
// compressible type, compressed or not, gets Vary: Accept-Encoding (merged with any Vary there).
//
// Flush flushes the encoder and then the connection, so a stream (text/event-stream) reaches the
// client event by event; a flush before MinSize bytes decides at once (compressed, unless
// Content-Length says the body is smaller). A 101 answer and Hijack pass through untouched, and
// Unwrap gives http.ResponseController the writer underneath. Writers and encoders are pooled and
// reset for each answer; zstd encodes synchronously (no goroutines).
func Compress(next http.Handler, opts CompressOptions) http.Handler {
	var offered []string
	for _, e := range opts.Encodings {
		if encoderPool(e) != nil && !slices.Contains(offered, e) {
			offered = append(offered, e)
		}
	}
	if len(offered) == 0 {
		return next
	}
	return &compressor{next: next, offered: offered, minSize: max(opts.MinSize, 0)}
}

type compressor struct {
	next    http.Handler
	offered []string
	minSize int
	writers sync.Pool // *compressWriter, each with its body buffer
}

func (c *compressor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	coding := ""
	if r.Method != http.MethodHead && r.Header["Range"] == nil {
		coding = httpsyntax.PreferredCoding(r.Header["Accept-Encoding"], c.offered)
	}
	cw, _ := c.writers.Get().(*compressWriter)
	if cw == nil {
		cw = &compressWriter{c: c}
	}
	cw.w, cw.coding = w, coding
	defer c.release(cw) // a panicking handler's encoder goes back to the pool too
	c.next.ServeHTTP(cw, r)
	cw.finish()
}

// release returns cw and its encoder to their pools, holding no reference to the exchange.
func (c *compressor) release(cw *compressWriter) {
	if cw.enc != nil {
		cw.enc.release()
	}
	buf := cw.buf[:0]
	if cap(buf) > maxPooledBuf {
		buf = nil // a large min_size's buffer is not kept idle in the pool
	}
	*cw = compressWriter{c: c, buf: buf}
	c.writers.Put(cw)
}

// maxPooledBuf is the largest held-body buffer a pooled writer keeps.
const maxPooledBuf = 64 << 10

// The states of a compressWriter.
const (
	undecided   = iota // the status (if any) and the body so far are held back
	passing            // everything goes to the writer underneath as it is
	compressing        // the body goes through the encoder
)

// compressWriter is the http.ResponseWriter Compress gives next.
type compressWriter struct {
	c      *compressor
	w      http.ResponseWriter
	coding string // the negotiated coding; "": identity (only Vary is added)
	state  int
	status int    // the held status while undecided; 0: none yet
	buf    []byte // the held body while undecided
	enc    *pooledEncoder
}

var (
	_ http.Flusher  = (*compressWriter)(nil)
	_ http.Hijacker = (*compressWriter)(nil)
	_ io.ReaderFrom = (*compressWriter)(nil)
)

func (cw *compressWriter) Header() http.Header { return cw.w.Header() }

// WriteHeader decides what it can from the status and the header: an answer that is never
// compressed passes at once; one of known length at least MinSize starts compressing; the rest is
// held until there is enough body to decide.
func (cw *compressWriter) WriteHeader(code int) {
	if cw.state != undecided {
		cw.w.WriteHeader(code) // superfluous: net/http says so
		return
	}
	if cw.status != 0 {
		return // held already
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols {
			cw.state = passing
		}
		cw.w.WriteHeader(code)
		return
	}
	h := cw.w.Header()
	if !compressibleAnswer(code, h) {
		cw.pass(code)
		return
	}
	ct := h["Content-Type"]
	if len(ct) > 0 && !compressibleType(ct[0]) {
		cw.pass(code)
		return
	}
	cw.status = code
	if cw.coding == "" {
		if len(ct) > 0 {
			addVary(h)
		}
		cw.pass(code) // a missing type would take sniffing, for Vary alone: not worth the wait
		return
	}
	if cl := h["Content-Length"]; len(cl) == 1 && len(ct) > 0 {
		if n, ok := httpsyntax.ContentLength(cl[0]); ok {
			addVary(h)
			if n < int64(cw.c.minSize) {
				cw.pass(code)
			} else {
				cw.start()
			}
		}
	}
}

// pass sends the status and anything held, and lets the rest through.
func (cw *compressWriter) pass(code int) {
	cw.state = passing
	cw.w.WriteHeader(code)
	if len(cw.buf) > 0 {
		_, _ = cw.w.Write(cw.buf) // an error shows again on the handler's next write
		cw.buf = cw.buf[:0]
	}
}

// start sends the held status with the compressed answer's header and sets up the encoder.
func (cw *compressWriter) start() {
	h := cw.w.Header()
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	h["Content-Encoding"] = codingValue(cw.coding)
	if etag := h["Etag"]; len(etag) == 1 && strings.HasPrefix(etag[0], `"`) {
		h["Etag"] = []string{"W/" + etag[0]}
	}
	cw.state = compressing
	cw.w.WriteHeader(cw.status)
	cw.enc = getEncoder(cw.coding, cw.w)
}

// decide ends the wait of a held answer: ending says the handler returned, so the held body is
// all of it. A body shorter than MinSize then goes out as it is; otherwise (or on a flush) the
// answer is compressed.
func (cw *compressWriter) decide(ending bool) {
	h := cw.w.Header()
	if _, ok := h["Content-Type"]; !ok {
		if len(cw.buf) == 0 {
			cw.pass(cw.status) // nothing to tell the type from
			return
		}
		h["Content-Type"] = []string{http.DetectContentType(cw.buf)}
		if !compressibleType(h["Content-Type"][0]) {
			cw.pass(cw.status)
			return
		}
	}
	addVary(h)
	if ending && len(cw.buf) < cw.c.minSize {
		cw.pass(cw.status)
		return
	}
	cw.start()
	if len(cw.buf) > 0 {
		_, _ = cw.enc.enc.Write(cw.buf) // an error shows again on the next write
		cw.buf = cw.buf[:0]
	}
}

func (cw *compressWriter) Write(p []byte) (int, error) {
	if cw.state == undecided && cw.status == 0 {
		cw.WriteHeader(http.StatusOK)
	}
	switch cw.state {
	case passing:
		return cw.w.Write(p)
	case compressing:
		return cw.enc.enc.Write(p)
	}
	if len(cw.buf)+len(p) < cw.c.minSize {
		cw.buf = append(cw.buf, p...)
		return len(p), nil
	}
	n := len(p)
	if _, ok := cw.w.Header()["Content-Type"]; !ok && len(cw.buf) < sniffLen {
		// Sniffing wants the first 512 bytes together, as net/http takes them.
		k := min(sniffLen-len(cw.buf), len(p))
		cw.buf, p = append(cw.buf, p[:k]...), p[k:]
	}
	cw.decide(false)
	if len(p) > 0 {
		if _, err := cw.Write(p); err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// sniffLen is how much of a body http.DetectContentType looks at.
const sniffLen = 512

// ReadFrom keeps the sendfile path of the writer underneath for an answer that passes.
func (cw *compressWriter) ReadFrom(src io.Reader) (int64, error) {
	if cw.state == undecided && cw.status == 0 {
		cw.WriteHeader(http.StatusOK)
	}
	if rf, ok := cw.w.(io.ReaderFrom); ok && cw.state == passing {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{cw}, src)
}

// writerOnly hides a writer's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// Flush sends what the handler wrote so far: a held answer is decided now, the encoder flushes
// its block, then the connection flushes.
func (cw *compressWriter) Flush() {
	cw.decideNow(false)
	if cw.state == compressing {
		_ = cw.enc.enc.Flush() // a write error shows on the handler's next write
	}
	_ = http.NewResponseController(cw.w).Flush()
}

// Hijack hands the connection to the handler (upgrades); nothing more is written through cw.
func (cw *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(cw.w).Hijack()
	if err == nil {
		cw.state = passing
	}
	return conn, brw, err
}

// Unwrap returns the writer underneath, for http.ResponseController.
func (cw *compressWriter) Unwrap() http.ResponseWriter { return cw.w }

// decideNow decides an undecided answer now, at a flush or at its end (ended): a 200 when no status
// was written (WriteHeader may itself decide, for a status that is never compressed).
func (cw *compressWriter) decideNow(ended bool) {
	if cw.state != undecided {
		return
	}
	if cw.status == 0 {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.state == undecided {
		cw.decide(ended)
	}
}

// finish ends the answer after the handler returned: one the handler never started is a 200 (as
// net/http makes it, here with Vary), a held one is decided with the whole body in hand, and a
// compressed one (decided just now too: with MinSize 0, an empty body) gets its encoder's final
// block. A hijacked connection is left alone.
func (cw *compressWriter) finish() {
	cw.decideNow(true)
	if cw.state == compressing {
		_ = cw.enc.enc.Close() // the client sees a cut body; nothing else to tell it
	}
}

// compressibleAnswer reports whether an answer with this status and header may be compressed at
// all, whatever its type.
func compressibleAnswer(code int, h http.Header) bool {
	switch code {
	case http.StatusNoContent, http.StatusPartialContent, http.StatusNotModified:
		return false
	}
	if len(h["Content-Encoding"]) > 0 {
		return false
	}
	return !httpsyntax.HasToken(h["Cache-Control"], "no-transform")
}

// compressibleType reports whether a Content-Type names a format that compresses well: an
// allowlist, so that anything unknown (and every image, audio, video, archive and woff/woff2,
// compressed already) goes out as it is.
//
//   - text/* (HTML, CSS, CSV, plain, text/javascript, text/event-stream, …);
//   - any */*+json or */*+xml (application/ld+json, application/problem+json, image/svg+xml, …);
//   - application/ json, javascript, x-javascript, ecmascript, xml, wasm, x-ndjson, ndjson,
//     x-www-form-urlencoded, yaml, x-yaml, toml, graphql, sql, x-sh, rtf, vnd.ms-fontobject,
//     x-font-ttf, x-font-otf, font-sfnt;
//   - font/ ttf, otf, collection (woff and woff2 are compressed already);
//   - image/ x-icon, vnd.microsoft.icon, bmp.
func compressibleType(ct string) bool {
	typ, sub, ok := strings.Cut(httpsyntax.MediaType(ct), "/")
	if !ok {
		return false
	}
	if httpsyntax.EqualFold(typ, "text") {
		return true
	}
	if i := strings.LastIndexByte(sub, '+'); i >= 0 {
		if suffix := sub[i:]; httpsyntax.EqualFold(suffix, "+json") || httpsyntax.EqualFold(suffix, "+xml") {
			return true
		}
	}
	var list []string
	switch {
	case httpsyntax.EqualFold(typ, "application"):
		list = compressibleApplication
	case httpsyntax.EqualFold(typ, "font"):
		list = compressibleFont
	case httpsyntax.EqualFold(typ, "image"):
		list = compressibleImage
	}
	for _, s := range list {
		if httpsyntax.EqualFold(sub, s) {
			return true
		}
	}
	return false
}

var (
	compressibleApplication = []string{"json", "javascript", "x-javascript", "ecmascript", "xml", "wasm",
		"x-ndjson", "ndjson", "x-www-form-urlencoded", "yaml", "x-yaml", "toml", "graphql", "sql", "x-sh",
		"rtf", "vnd.ms-fontobject", "x-font-ttf", "x-font-otf", "font-sfnt"}
	compressibleFont  = []string{"ttf", "otf", "collection"}
	compressibleImage = []string{"x-icon", "vnd.microsoft.icon", "bmp"}
)

// hdrVaryAE is the Vary value of an answer that had none; capped so that an Add copies it.
var hdrVaryAE = []string{"Accept-Encoding"}

// addVary adds Accept-Encoding to Vary, into the one field there is (Vary: Origin becomes Vary:
// Origin, Accept-Encoding), unless Vary names it or "*" already.
func addVary(h http.Header) {
	v := h["Vary"]
	switch {
	case httpsyntax.HasToken(v, "Accept-Encoding") || httpsyntax.HasToken(v, "*"):
	case len(v) == 0:
		h["Vary"] = hdrVaryAE[:1:1]
	default:
		h["Vary"] = []string{strings.Join(v, ", ") + ", Accept-Encoding"}
	}
}

// Content-Encoding values, shared by every answer; capped so that an Add copies them.
var (
	hdrZstd   = []string{EncodingZstd}
	hdrBrotli = []string{EncodingBrotli}
	hdrGzip   = []string{EncodingGzip}
)

func codingValue(coding string) []string {
	switch coding {
	case EncodingZstd:
		return hdrZstd[:1:1]
	case EncodingBrotli:
		return hdrBrotli[:1:1]
	}
	return hdrGzip[:1:1]
}

// encoder is what the three codings' streaming writers have in common.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

// pooledEncoder is an encoder with the sink it writes to: the sink points at an answer's writer
// only while the encoder is out of its pool.
type pooledEncoder struct {
	enc  encoder
	sink sink
	pool *sync.Pool
}

type sink struct{ w io.Writer }

func (s *sink) Write(p []byte) (int, error) { return s.w.Write(p) }

var zstdPool, brotliPool, gzipPool sync.Pool

func encoderPool(coding string) *sync.Pool {
	switch coding {
	case EncodingZstd:
		return &zstdPool
	case EncodingBrotli:
		return &brotliPool
	case EncodingGzip:
		return &gzipPool
	}
	return nil
}

// getEncoder returns an encoder for coding, from its pool or new, reset to write to w.
func getEncoder(coding string, w io.Writer) *pooledEncoder {
	pool := encoderPool(coding)
	pe, _ := pool.Get().(*pooledEncoder)
	if pe == nil {
		pe = &pooledEncoder{pool: pool}
		pe.enc = newEncoder(coding, &pe.sink)
	}
	pe.sink.w = w
	pe.enc.Reset(&pe.sink) // a fresh stream, whatever the last one left
	return pe
}

func (pe *pooledEncoder) release() {
	pe.sink.w = nil
	pe.pool.Put(pe)
}

func newEncoder(coding string, w io.Writer) encoder {
	switch coding {
	case EncodingZstd:
		// One block at a time on the caller's goroutine: a pooled encoder keeps no goroutine.
		enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic("middleware: zstd options: " + err.Error()) // constant options: never
		}
		return enc
	case EncodingBrotli:
		return brotli.NewWriterLevel(w, brotliLevel)
	}
	enc, err := gzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		panic("middleware: gzip level: " + err.Error()) // a constant level: never
	}
	return enc
}
