package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkTiming measures the middleware with its JSON access log (written to io.Discard) around a
// handler that does nothing: the per-request cost frontgate adds to every request.
func BenchmarkTiming(b *testing.B) {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(io.Discard), zap.InfoLevel))
	h := Timing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, "bench")
		w.Header().Set("Content-Length", "2")
		_, _ = io.WriteString(w, "ok")
	}), Options{Logger: log})
	req := httptest.NewRequest(http.MethodGet, "/bench", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkCompress measures the compress wrapper around a handler that writes a 10 KiB text
// answer, per coding ("identity": a client that accepts none, so only Vary is added). Writers and
// encoders come from their pools: the allocations left are the answer's own.
func BenchmarkCompress(b *testing.B) {
	body := textBody(10 << 10)
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/html; charset=utf-8"}
		w.Write(body)
	}), CompressOptions{Encodings: []string{EncodingZstd, EncodingBrotli, EncodingGzip}, MinSize: 1024})
	for _, coding := range []string{"identity", EncodingZstd, EncodingBrotli, EncodingGzip} {
		b.Run(coding, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/bench", nil)
			req.Header.Set("Accept-Encoding", coding)
			w := &discardWriter{h: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}
