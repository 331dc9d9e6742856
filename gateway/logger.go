package gateway

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/middleware"
)

// NewLogger builds the process logger from the log config, writing to out, and the function that
// flushes and stops it. Format unset: console when out is a terminal, json otherwise. Off a terminal
// the output is buffered (256 KiB, flushed every 100ms and at stop), so that the access log costs no
// write per request.
func NewLogger(c config.Log, out *os.File) (*zap.Logger, func(), error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, nil, fmt.Errorf("log level: %w", err)
	}
	terminal := term.IsTerminal(int(out.Fd())) // not merely a character device: /dev/null is one

	format := c.Format
	if format == "" {
		format = "json"
		if terminal {
			format = "console"
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	var encoder zapcore.Encoder
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		if terminal {
			enc.EncodeLevel = zapcore.CapitalColorLevelEncoder // colour codes only where they are read as colour
		}
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = middleware.NewJSONEncoder(enc) // zap's, with access lines written by hand
	}
	var ws zapcore.WriteSyncer = zapcore.Lock(out)
	stop := func() { _ = out.Sync() }
	if !terminal {
		buf := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(out), Size: 256 << 10, FlushInterval: 100 * time.Millisecond}
		ws, stop = buf, func() { _ = buf.Stop() }
	}
	return zap.New(zapcore.NewCore(encoder, ws, level), zap.ErrorOutput(ws)), stop, nil
}
