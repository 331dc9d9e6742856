// Command frontgate is a reverse-proxy gateway that times request-body receipt apart from handling,
// configured by one YAML file, with a load tester built in.
//
//	frontgate serve [-config FILE]    run the gateway (embedded default without -config)
//	frontgate check -config FILE      validate a config file
//	frontgate echo [-listen ADDR]     run the demo upstream on its own
//	frontgate selftest [flags] [URL]  load-test a URL, or the gateway itself
//	frontgate version                 print the version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the module
// build info.
var version = ""

const usage = `frontgate: a reverse-proxy gateway with request timing and a built-in load tester

Usage:
  frontgate serve [-config FILE] [-listen ADDR]   run the gateway (embedded default without -config)
  frontgate check -config FILE                    validate a config file, listing every problem
  frontgate echo [-listen ADDR]                   run the demo upstream (answers with what it got)
  frontgate selftest [flags] [URL]                load-test URL, or the gateway itself without URL
  frontgate version                               print the version

Run 'frontgate COMMAND -h' for a command's flags and examples.
`

func main() {
	// The signals stay caught until the process exits (the stop function is dropped): a second
	// SIGTERM while it is already on its way out must not kill it with the default action.
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the exit code: 0 success, 1 failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	case "echo":
		return runEcho(ctx, rest, stdout, stderr)
	case "selftest":
		return runSelftest(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "frontgate", versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "frontgate: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel" // built from a checkout: the revision below says which
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " (" + rev + dirty + ")"
	}
	return v + " " + info.GoVersion
}

// newFlags makes a subcommand's flag set whose -h prints the synopsis, the flags and examples.
func newFlags(name, synopsis, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("frontgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: frontgate %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
	}
	return fs
}

// parseFlags parses args, turning -h into exit 0 and bad flags into exit 2; ok is false when the
// command must return code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return 2, false
	}
	return 0, true
}
