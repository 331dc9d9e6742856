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
