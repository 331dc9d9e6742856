package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/gateway"
	"github.com/frontgate/frontgate/ratelimit"
)

// printConfigError writes a config error to w: every problem on its own line.
func printConfigError(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(w, ce.Error())
		return
	}
	fmt.Fprintf(w, "frontgate: %v\n", err)
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
	// Caught from the start: by default either signal ends the process, and logrotate may send
	// USR1 at any time.
	sigs := make(chan os.Signal, 2)                      // one of each waits while a reload runs
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1) // reload; reopen the access-log file
	defer signal.Stop(sigs)
	cfg, err := gateway.LoadConfig(*path, *listen)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	log, flush, err := gateway.NewLogger(cfg.Log, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "frontgate: %v\n", err)
		return 1
	}
	defer flush()
	ratelimit.SetRedisLogger(log.Named("redis"))
	// The process log goes to stderr, the access log to stdout or log.access_file.
	srv := gateway.NewServer(gateway.Options{Path: *path, Listen: *listen, Version: versionString(), Log: log, AccessOut: os.Stdout})
	if err := srv.Run(ctx, cfg, sigs); err != nil {
		log.Error("serve failed", zap.Error(err))
		return 1
	}
	return 0
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
	fmt.Fprintf(stdout, "%s: ok: listen %s, %s, %s, %s, demo routes %s\n", *path, cfg.Listen,
		count(len(cfg.Static), "static mount"), count(len(cfg.Upstreams), "upstream"), count(len(cfg.Routes), "route"), onOff(cfg.Demo))
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stdout, "  warning: %s\n", w)
	}
	return 0
}

// count writes n and the noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
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

// startSelf runs the gateway in-process on a free loopback port, plain HTTP, without access logs or
// an admin listener, for selftest's self mode, and returns its base URL and config. stop drains it.
func startSelf(path string) (string, *config.Config, func(), error) {
	cfg, err := gateway.LoadConfig(path, "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	cfg.Log.Access, cfg.Admin, cfg.TLS, cfg.Watch = false, config.Admin{}, config.TLS{}, false
	srv := gateway.NewServer(gateway.Options{})
	if err := srv.Start(cfg); err != nil {
		return "", nil, nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx) // nothing to report to: the run is over
	}
	return "http://" + srv.Addr(), cfg, stop, nil
}
