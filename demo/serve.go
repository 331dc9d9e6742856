package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/leanhttp"
)

// ServeEcho runs Echo as an upstream on addr until ctx ends (`frontgate echo`), then lets the requests
// in flight finish within drain.
func ServeEcho(ctx context.Context, addr string, drain time.Duration, log *zap.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: Echo(), ReadHeaderTimeout: leanhttp.DefaultReadHeaderTimeout,
		IdleTimeout: leanhttp.DefaultIdleTimeout, MaxHeaderBytes: leanhttp.DefaultMaxHeaderBytes, ErrorLog: zap.NewStdLog(log)}
	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-failed:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err = srv.Shutdown(drainCtx)
	<-failed // Serve has returned: http.ErrServerClosed
	return err
}
