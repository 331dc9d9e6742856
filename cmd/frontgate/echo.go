package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/gateway"
	"github.com/frontgate/frontgate/leanhttp"
)

func runEcho(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("echo", "echo [-listen ADDR]", `  frontgate echo -listen 127.0.0.1:9000    # then: curl -F image_id=2 -F image=@photo.jpg 127.0.0.1:9000/demo2
`, stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "listen `address`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	log, flush, err := gateway.NewLogger(config.Log{Level: config.DefaultLevel}, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "frontgate echo: %v\n", err)
		return 1
	}
	defer flush()
	if err := serveEcho(ctx, *listen, log.Named("echo")); err != nil {
		log.Error("echo failed", zap.Error(err))
		return 1
	}
	return 0
}

// serveEcho runs the demo upstream on addr until ctx ends.
func serveEcho(ctx context.Context, addr string, log *zap.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: demo.Echo(), ReadHeaderTimeout: leanhttp.DefaultReadHeaderTimeout,
		IdleTimeout: leanhttp.DefaultIdleTimeout, MaxHeaderBytes: leanhttp.DefaultMaxHeaderBytes, ErrorLog: zap.NewStdLog(log)}
	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-failed:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), config.DefaultShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(drainCtx)
	<-failed // Serve has returned: http.ErrServerClosed
	return err
}
