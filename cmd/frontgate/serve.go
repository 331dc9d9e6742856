package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/frontgate/frontgate/admin"
	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/middleware"
)

// loadConfig loads path, or the embedded default when path is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

// printConfigError writes a config error to w: every problem on its own line.
func printConfigError(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(w, ce.Error())
		return
	}
	fmt.Fprintf(w, "frontgate: %v\n", err)
}

// newLogger builds the process logger from the log config, writing to out, and the function that
// flushes and stops it. Format unset: console when out is a terminal, json otherwise. Off a terminal
// the output is buffered (256 KiB, flushed every 100ms and at stop), so that the access log costs no
// write per request.
func newLogger(c config.Log, out *os.File) (*zap.Logger, func(), error) {
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
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
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

func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("serve", "serve [-config FILE] [-listen ADDR]", `  frontgate serve                          # embedded default: demo site, demo routes, echo upstream on :8080
  frontgate serve -config config.yaml      # your own file
  frontgate serve -listen 127.0.0.1:0      # any free port; the address is logged as "listening"
`, stderr)
	path := fs.String("config", "", "YAML config `file`; empty: the embedded default")
	listen := fs.String("listen", "", "listen `address`, overriding the config's listen")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file` until shutdown (for profiling)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if os.Getenv("GOGC") == "" {
		// The gateway's live heap is small (about 3 MiB under load); collecting at 8x rather than 2x
		// of it cuts GC work per request for a few tens of MiB at most. GOGC in the environment
		// still wins.
		debug.SetGCPercent(800)
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "frontgate: %v\n", err)
			return 1
		}
		defer stop()
	}
	rt := &runtime{path: *path, listen: *listen, metrics: admin.NewMetrics()}
	cfg, sum, err := rt.loadConfig()
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	log, flush, err := newLogger(cfg.Log, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "frontgate: %v\n", err)
		return 1
	}
	defer flush()
	rt.log = log
	if err := serve(ctx, rt, cfg, sum); err != nil {
		log.Error("serve failed", zap.Error(err))
		return 1
	}
	return 0
}

// serve runs the gateway until ctx ends, reloading on SIGHUP (and on file changes with watch: true),
// then drains in-flight requests within the shutdown timeout.
func serve(ctx context.Context, rt *runtime, cfg *config.Config, sum [32]byte) error {
	if err := rt.start(cfg, sum); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	if rt.path != "" {
		watching.Add(1)
		go func() {
			defer watching.Done()
			rt.watch(watchCtx, time.Second)
		}()
	}
	var failure error
	for failure == nil && ctx.Err() == nil {
		pub := rt.publicServer()
		select {
		case <-hup:
			rt.reload("SIGHUP")
		case <-pub.Done():
			if pub == rt.publicServer() { // not a listener replaced by a reload
				failure = fmt.Errorf("serve: %w", pub.Failed())
			}
		case <-ctx.Done():
		}
	}
	stopWatch()
	watching.Wait()
	rt.mu.Lock()
	timeout := rt.cfg.Server.ShutdownTimeout
	rt.mu.Unlock()
	if failure == nil {
		rt.log.Info("shutting down: draining in-flight requests", zap.Duration("timeout", timeout))
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := rt.shutdown(drainCtx); err != nil || failure != nil {
		return errors.Join(failure, err)
	}
	rt.log.Info("stopped", zap.Duration("drain", time.Since(start)))
	return nil
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check -config FILE", `  frontgate check -config config.yaml      # exit 0 and a summary, or exit 1 and every problem with its line
`, stderr)
	path := fs.String("config", "", "YAML config `file` to validate (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintln(stderr, "frontgate check: -config FILE is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok: listen %s, %d static mounts, %d upstreams, %d routes, demo routes %s\n",
		*path, cfg.Listen, len(cfg.Static), len(cfg.Upstreams), len(cfg.Routes), onOff(cfg.Demo))
	return 0
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// startCPUProfile profiles the process into path until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
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
