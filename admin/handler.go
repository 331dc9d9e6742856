// Package admin holds frontgate's Prometheus metrics (Metrics) and the admin HTTP handler (Handler):
// health and readiness probes, /metrics, the running configuration (redacted, see Redact) and
// net/http/pprof. The admin handler is meant for a private listener: it does no authentication.
package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strings"

	"go.uber.org/zap"
)

// Options configures Handler. The zero value serves /healthz, an always-ready /readyz and pprof, and
// answers 404 on /metrics and /config.
type Options struct {
	// Metrics is served on /metrics; nil answers 404 there.
	Metrics *Metrics
	// Ready decides /readyz: 200 "ready" when it returns nil, 503 with the error's text otherwise.
	// Nil means always ready. It is called once per probe, so it should be quick.
	Ready func() error
	// Config returns the running configuration, already redacted (see Redact), which /config
	// answers as indented JSON. Nil answers 404 on /config.
	Config func() any
	// Logger receives errors from serving metrics and encoding the config; the caller names it.
	// Nil logs nothing.
	Logger *zap.Logger
}

// Handler returns the admin handler:
//
//	/healthz                  200 "ok" as long as the process serves requests
//	/readyz                   200 "ready", or 503 with the reason (Options.Ready)
//	/metrics                  Prometheus exposition of Options.Metrics
//	/config                   the running configuration as JSON (Options.Config)
//	/debug/pprof/             the pprof index, with cmdline, profile, symbol, trace and the named
//	                          profiles (heap, goroutine, allocs, block, mutex, threadcreate) below it
//
// / lists them. Only GET and HEAD are served: other methods on these paths get 405 with an Allow
// header. Every other path gets 404. Probe and config answers are marked Cache-Control: no-store.
func Handler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	mux := http.NewServeMux()
	// A "GET" pattern matches HEAD too, and the mux answers 405 with Allow for other methods on a
	// known path and 404 for unknown paths, which is exactly the contract.
	index := []string{"/healthz    200 ok while the process serves", "/readyz     200 ready; 503 once shutdown has begun"}
	if opts.Metrics != nil {
		index = append(index, "/metrics    Prometheus exposition")
	}
	if opts.Config != nil {
		index = append(index, "/config     the running config as JSON, secrets redacted")
	}
	index = append(index, "/debug/pprof/  Go's profiler")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "frontgate admin\n\n"+strings.Join(index, "\n"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				plain(w, http.StatusServiceUnavailable, err.Error())
				return
			}
		}
		plain(w, http.StatusOK, "ready")
	})
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics.handler(log))
	}
	if opts.Config != nil {
		mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
			serveConfig(w, opts.Config(), log)
		})
	}
	// pprof.Index serves the index at /debug/pprof/ and every named profile below it (404 for an
	// unknown name); the others need handlers of their own.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// plain answers a short text body; a failed probe is never cached.
func plain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}

func serveConfig(w http.ResponseWriter, cfg any, log *zap.Logger) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		log.Error("encoding config", zap.Error(err))
		plain(w, http.StatusInternalServerError, "cannot encode the config: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
