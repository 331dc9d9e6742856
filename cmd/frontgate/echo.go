package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/gateway"
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
	if err := demo.ServeEcho(ctx, *listen, config.DefaultShutdownTimeout, log.Named("echo")); err != nil {
		log.Error("echo failed", zap.Error(err))
		return 1
	}
	return 0
}
