package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/demo"
	"github.com/frontgate/frontgate/loadgen"
)

// selftestUsage is selftest's help text (-h).
//
//go:embed selftest_usage.txt
var selftestUsage string

// selftestArgs is selftest's command line, parsed.
type selftestArgs struct {
	plan                        loadgen.Plan // without its targets
	url, method, output, config string       // url is empty for self mode
	jsonFile, hdrLog, htmlFile  string
	targets                     string
	command                     string   // the command line, shown in the HTML report
	files                       []string // merge's inputs; nil when not merging
	headers                     []loadgen.Header
	body                        []byte // nil without -body or -body-file
	form                        []loadgen.FormField
	hist                        bool
	failOn                      []loadgen.Condition
}

// runSelftest is `frontgate selftest`; its self mode runs the gateway in-process with startSelf.
func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return selftest(ctx, args, stdout, stderr, startSelf)
}

// selftest runs the selftest command and returns its exit code: 0 when the run completed (even if
// interrupted by ctx), 1 when a -fail-on condition holds or the run could not start (including one in
// which every request failed), 2 for usage errors. self starts the gateway from the config at path
// (empty: the embedded one) for self mode; nil leaves no self mode, so a URL is required.
func selftest(ctx context.Context, args []string, stdout, stderr io.Writer,
	self func(path string) (baseURL string, cfg *config.Config, stop func(), err error)) int {
	a, err := parseSelftest(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, selftestUsage)
		return 0
	case err == nil && a.files != nil:
		rep, err := loadgen.MergeFiles(a.files)
		return output(rep, a, err, stdout, stderr)
	case err == nil && a.url == "" && a.targets == "" && self == nil:
		err = usageErr("no URL given and no self mode available")
	case err == nil && (a.url == "" || a.targets != "") && (a.method != "" || a.body != nil || len(a.form) > 0):
		err = usageErr("-m, -body, -body-file and -F need a URL (and no -targets)")
	case err == nil && a.url != "" && a.targets != "":
		err = usageErr("a URL and -targets exclude each other")
	}
	if err != nil {
		if fmt.Fprintf(stderr, "selftest: %v\n", err); !errors.As(err, new(shortErr)) {
			fmt.Fprintf(stderr, "\n%s", selftestUsage)
		}
		return 2
	}
	fail := func(format string, v ...any) int { fmt.Fprintf(stderr, "selftest: "+format+"\n", v...); return 1 }
	p, skipped := a.plan, []loadgen.Skipped(nil)
	if a.targets != "" {
		if p.Targets, err = loadgen.ReadTargets(a.targets, a.headers); err != nil {
			return fail("%v", err)
		}
	} else if a.url != "" {
		t, err := loadgen.NewTarget(a.url, a.method, a.headers, a.body, a.form)
		if err != nil {
			return fail("%v", err)
		}
		p.Targets = []loadgen.Target{t}
	} else {
		base, cfg, stop, err := self(a.config)
		if err != nil {
			return fail("start the gateway: %v", err)
		}
		if stop != nil {
			defer stop()
		}
		if p.Targets, skipped, err = demo.SelfTargets(ctx, cfg, base, a.headers); err != nil {
			return fail("%v", err)
		}
	}
	if a.hdrLog != "" {
		f, err := os.Create(a.hdrLog)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close() // a failed write shows in Run's error
		p.HdrLog = f
	}
	p.Progress = loadgen.ProgressWriter(stderr)
	rep, err := loadgen.Run(ctx, p)
	if rep != nil && a.url == "" && a.targets == "" {
		rep.URL, rep.Skipped = strings.TrimSuffix(rep.URL, "/"), skipped // the gateway's base URL
	}
	return output(rep, a, err, stdout, stderr)
}

// output writes rep as -o and -json ask and returns the exit code: 1 for runErr (rep is nil when nothing
// ran), a failed write, a -fail-on condition that holds, or no response at all.
func output(rep *loadgen.Report, a *selftestArgs, runErr error, stdout, stderr io.Writer) int {
	fail := func(format string, v ...any) int { fmt.Fprintf(stderr, "selftest: "+format+"\n", v...); return 1 }
	if rep == nil {
		return fail("%v", runErr)
	}
	err := rep.Write(stdout, a.output, a.hist)
	if err == nil && a.jsonFile != "" {
		err = rep.WriteJSONFile(a.jsonFile)
	}
	if err == nil && a.htmlFile != "" {
		err = rep.WriteHTMLFile(a.htmlFile, a.command)
	}
	if err != nil {
		return fail("%v", err)
	}
	code := 0
	for _, h := range loadgen.Failed(a.failOn, &rep.Result) {
		code = fail("fail-on: %s holds", h)
	}
	for _, err := range []error{rep.Err(), runErr} {
		if err != nil {
			code = fail("%v", err)
		}
	}
	return code
}

// usageErr is a command-line error (exit code 2).
func usageErr(format string, a ...any) error { return fmt.Errorf("usage: "+format, a...) }

// shortErr is a command-line error that its message explains: printed without the usage text.
type shortErr struct{ error }

// parseSelftest parses selftest's flags, which may come before and after the URL, or after merge the
// files.
func parseSelftest(args []string) (*selftestArgs, error) {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // selftest prints its own usage text
	var (
		a                                    selftestArgs
		p                                    = &a.plan
		body, bodyFile, failOn, rate, stages string
		formErr                              error // bad -F arguments, reported without the usage
	)
	fs.IntVar(&p.Conns, "c", loadgen.DefaultConns, "connections")
	fs.Uint64Var(&p.Requests, "n", 0, "requests") // unset: loadgen's default unless there is a time limit
	fs.DurationVar(&p.Duration, "d", 0, "duration")
	fs.StringVar(&rate, "rate", "", "open-loop rate")
	fs.StringVar(&stages, "stages", "", "open-loop stages")
	fs.IntVar(&p.Rounds, "rounds", 1, "rounds")
	fs.DurationVar(&p.Pause, "pause", 0, "pause between rounds")
	fs.StringVar(&a.method, "m", "", "method")
	fs.Func("H", "header", func(v string) error { h, err := loadgen.ParseHeader(v); a.headers = append(a.headers, h); return err })
	fs.StringVar(&body, "body", "", "body")
	fs.StringVar(&bodyFile, "body-file", "", "body file")
	fs.Func("F", "multipart field", func(v string) error {
		f, err := loadgen.ParseFormField(v)
		a.form, formErr = append(a.form, f), errors.Join(formErr, err)
		return nil
	})
	fs.DurationVar(&p.Timeout, "timeout", loadgen.DefaultTimeout, "timeout")
	fs.StringVar(&a.output, "o", "text", "output")
	fs.BoolVar(&a.hist, "hist", false, "histogram")
	fs.StringVar(&failOn, "fail-on", "", "fail-on")
	fs.BoolVar(&p.Insecure, "k", false, "insecure")
	fs.BoolVar(&p.ForceStdClient, "std", false, "net/http client")
	fs.BoolFunc("h2", "HTTP/2 over TLS", func(string) error { p.Proto = loadgen.ProtoH2; return nil })
	fs.BoolFunc("h2c", "HTTP/2 cleartext", func(string) error { p.Proto = loadgen.ProtoH2C; return nil })
	fs.IntVar(&p.Streams, "streams", 1, "streams per HTTP/2 connection")
	fs.StringVar(&a.targets, "targets", "", "targets file")
	fs.StringVar(&a.config, "config", "", "self mode config")
	fs.StringVar(&a.jsonFile, "json", "", "json report file")
	fs.StringVar(&a.hdrLog, "hdr-log", "", "interval log file")
	fs.StringVar(&a.htmlFile, "html", "", "html report file")
	fs.Func("start-at", "start time", func(v string) (err error) { p.StartAt, err = loadgen.ParseStartAt(v, time.Now()); return err })

	var positional []string
	a.command = loadgen.CommandLine(append([]string{"frontgate", "selftest"}, args...))
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr("%w", err) // flag.ErrHelp for -h
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(positional) > 0 && positional[0] == "merge" {
		a.files, positional = positional[1:], nil // not nil: merging
	}
	for name := range set {
		if a.files != nil && !strings.Contains(" o hist json html fail-on ", " "+name+" ") {
			return nil, usageErr("-%s does not apply to merge", name)
		}
	}

	switch {
	case a.files != nil && len(a.files) == 0:
		return nil, usageErr("merge: no file given")
	case len(positional) > 1:
		return nil, usageErr("want at most one URL, got %q", positional)
	case p.Conns < 1:
		return nil, usageErr("-c %d: want at least 1", p.Conns)
	case p.Rounds < 1:
		return nil, usageErr("-rounds %d: want at least 1", p.Rounds)
	case set["d"] && p.Duration <= 0:
		return nil, usageErr("-d %v: must be positive", p.Duration)
	case set["n"] && p.Requests == 0:
		return nil, usageErr("-n 0: want at least 1")
	case set["n"] && (set["d"] || set["stages"]):
		return nil, shortErr{usageErr("-n and -d (or -stages) exclude each other: stop after N requests or after a time")}
	case formErr != nil:
		return nil, shortErr{fmt.Errorf("-F: %w", formErr)}
	case p.Timeout <= 0:
		return nil, usageErr("-timeout %v: must be positive", p.Timeout)
	case a.output != "text" && a.output != "json":
		return nil, usageErr("-o %q: want text or json", a.output)
	case set["body"] && set["body-file"]:
		return nil, usageErr("-body and -body-file exclude each other")
	case len(a.form) > 0 && (set["body"] || set["body-file"]):
		return nil, usageErr("-F excludes -body and -body-file")
	}
	if len(positional) == 1 {
		a.url = positional[0]
	}
	var err error
	switch {
	case set["body"]:
		a.body = []byte(body)
	case set["body-file"]:
		if a.body, err = os.ReadFile(bodyFile); err != nil {
			return nil, shortErr{fmt.Errorf("-body-file: %w", err)}
		}
	}
	if failOn != "" {
		if a.failOn, err = loadgen.ParseFailOn(failOn); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	p.Timeline = a.output == "json" || a.jsonFile != "" || a.htmlFile != ""
	if p.Rate, p.Stages, err = loadgen.ParseSchedule(rate, stages, p.Duration); err != nil {
		return nil, shortErr{usageErr("%v", err)}
	}
	return &a, nil
}
