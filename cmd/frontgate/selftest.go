package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/loadgen"
)

func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, rest := takeConfigFlag(args)
	return loadgen.Main(ctx, rest, stdout, stderr, func(ctx context.Context) (string, func(), error) {
		return startSelf(path)
	})
}

// takeConfigFlag removes -config FILE (selftest's self-mode config) from args before the load
// generator parses the rest.
func takeConfigFlag(args []string) (path string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-config" || a == "--config":
			if i+1 < len(args) {
				path = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "--config="):
			path = a[strings.Index(a, "=")+1:]
		case a == "--":
			return path, append(rest, args[i:]...)
		default:
			rest = append(rest, a)
		}
	}
	return path, rest
}

// startSelf runs the gateway in-process on a free loopback port, without access logs, for selftest's
// self mode. stop drains it.
func startSelf(path string) (string, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return "", nil, err
	}
	log := zap.NewNop()
	gw, err := buildGateway(cfg, log, nil, nil)
	if err != nil {
		return "", nil, fmt.Errorf("build gateway: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("listen: %w", err), gw.Close(context.Background()))
	}
	srv := startServer(newServer(gw.handler, log, &cfg.Server), ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		_ = errors.Join(srv.Stop(ctx), gw.Close(ctx)) // nothing to report to: the run is over
	}
	return "http://" + ln.Addr().String(), stop, nil
}
