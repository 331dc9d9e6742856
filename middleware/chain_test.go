package middleware

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The middlewares in the order the gateway is meant to stack them: the JSON errors carry the id that
// Timing gave the request, and Timing's access log sees their status.
func TestMiddlewaresStackedUnderTiming(t *testing.T) {
	clock := newManualClock()
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest) // replaced by MaxBody's 413
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h := Timing(Recover(RateLimit(MaxInflight(MaxBody(inner, 100, nil), 10, nil),
		RateLimitOptions{RPS: 1, Burst: 3, Key: KeyClientIP(TrustedProxies{}), Now: clock.Now}), log),
		Options{Logger: log, Now: clock.Now})
	srv := newTestServer(t, h)

	tests := []struct {
		name   string
		do     func() exchangeResult
		status int
		errMsg string // "" for a success
	}{
		{"passes", func() exchangeResult { return get(t, srv.Client(), srv.URL+"/ok", nil) }, 204, ""},
		{"body too large", func() exchangeResult {
			return post(t, srv.Client(), srv.URL+"/ok", bytes.Repeat([]byte("z"), 500), true, "")
		}, 413, "request entity too large"},
		{"panic", func() exchangeResult { return get(t, srv.Client(), srv.URL+"/panic", nil) }, 500, "internal server error"},
		{"rate limited", func() exchangeResult { return get(t, srv.Client(), srv.URL+"/ok", nil) }, 429, "too many requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.TakeAll()
			res := tt.do()
			id := res.header.Get(RequestIDHeader)
			if id == "" {
				t.Fatal("no request id from Timing")
			}
			if tt.errMsg != "" {
				checkJSONError(t, res, tt.status, tt.errMsg, id)
			} else if res.status != tt.status {
				t.Fatalf("status %d, want %d", res.status, tt.status)
			}
			access := logs.FilterMessage("request").All()
			if len(access) != 1 {
				t.Fatalf("%d access log lines", len(access))
			}
			f := access[0].ContextMap()
			if f["status"] != int64(tt.status) || f["request_id"] != id {
				t.Errorf("access log %v, want status %d and id %s", f, tt.status, id)
			}
		})
	}
}
