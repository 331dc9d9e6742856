package middleware

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// Recover wraps next so that a panic in it is logged at Error level (the value, the stack, the request
// id, method and path) instead of reaching net/http. If next had not sent its status yet, the client
// gets 500 with a JSON body; the panic value is never sent. If it had, the response is already
// partly out and cannot be mended, so Recover panics with http.ErrAbortHandler, which makes net/http
// cut the connection quietly: the client sees a broken response rather than a truncated one that looks
// complete. A panic with http.ErrAbortHandler itself is passed on untouched and not logged. A nil
// logger logs nothing.
func Recover(next http.Handler, logger *zap.Logger) http.Handler {
	if logger == nil {
		logger = zap.NewNop()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recoverWriter{w: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.Error("panic serving request",
				zap.Any("panic", v),
				zap.Stack("stack"),
				zap.String("request_id", r.Header.Get(RequestIDHeader)),
				zap.String("method", r.Method),
				zap.String("path", r.URL.Path),
				zap.Bool("response_started", rw.started))
			switch {
			case rw.hijacked:
				// the connection is the handler's; nothing to answer on
			case rw.started:
				panic(http.ErrAbortHandler)
			default:
				jsonerror.Write(w, r, http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// recoverWriter notes whether the response has started, so Recover knows whether it may still answer.
type recoverWriter struct {
	w        http.ResponseWriter
	started  bool // a final status went out
	hijacked bool
}

func (w *recoverWriter) Header() http.Header { return w.w.Header() }

func (w *recoverWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.started = true
	}
	w.w.WriteHeader(code)
}

func (w *recoverWriter) Write(p []byte) (int, error) {
	w.started = true
	return w.w.Write(p)
}

// ReadFrom keeps the connection's sendfile path for static files.
func (w *recoverWriter) ReadFrom(src io.Reader) (int64, error) {
	w.started = true
	if rf, ok := w.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.w, src)
}

// Flush sends buffered data to the client, for streaming handlers that assert http.Flusher.
func (w *recoverWriter) Flush() {
	w.started = true
	_ = http.NewResponseController(w.w).Flush()
}

// Hijack hands the connection to the handler (upgrades).
func (w *recoverWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.w).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, brw, err
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *recoverWriter) Unwrap() http.ResponseWriter { return w.w }
