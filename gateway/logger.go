package gateway

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/middleware"
)

// NewLogger builds the process log from the log config, writing to out (stderr), and the function
// that flushes and stops it. Format unset: console when out is a terminal, json otherwise. Each line
// is written as it is logged: the log with a line per request, the access log, has a buffered writer
// of its own (Options.AccessOut, log.access_file).
func NewLogger(c config.Log, out *os.File) (*zap.Logger, func(), error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, nil, fmt.Errorf("log level: %w", err)
	}
	ws := zapcore.Lock(out)
	stop := func() { _ = out.Sync() }
	return zap.New(zapcore.NewCore(newEncoder(c.Format, isTerminal(out)), ws, level), zap.ErrorOutput(ws)), stop, nil
}

// isTerminal is true when f is a terminal; not merely a character device: /dev/null is one.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// newEncoder is the encoder for a log format (json, console, or "": console on a terminal, json
// otherwise); terminal says whether the log goes to one.
func newEncoder(format string, terminal bool) zapcore.Encoder {
	if format == "" {
		format = "json"
		if terminal {
			format = "console"
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		if terminal {
			enc.EncodeLevel = zapcore.CapitalColorLevelEncoder // colour codes only where they are read as colour
		}
		return zapcore.NewConsoleEncoder(enc)
	}
	return middleware.NewJSONEncoder(enc) // zap's, with access lines written by hand
}
