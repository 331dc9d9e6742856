// Package loadgen is frontgate's load generator: the engine behind `frontgate selftest`.
//
// Run executes a Plan and returns a Report; Main is the command line around it. For http URLs requests go
// through a lean HTTP/1.1 client (one goroutine per keep-alive connection, each request serialised once,
// a minimal response parser, no allocation per request); https URLs fall back to net/http's client.
// Latencies go into one HdrHistogram per worker and route (about 190 KB each, twice that in open loop),
// merged at the end of each round, so memory does not grow with the number of requests.
//
// Open loop paces every connection's goroutine on one absolute schedule (see Pacer). Its sleeps rely on
// Go timers, which wake up to about a millisecond late when the process is otherwise idle; that lateness
// is part of the corrected latency (as it would be for any late send) but not of the uncorrected one.
package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// SelfFunc starts a frontgate gateway in-process for self mode (no URL given) and returns its base URL
// (like "http://127.0.0.1:41234") and a stop function that drains and stops it. A nil SelfFunc means self
// mode is not available.
type SelfFunc func(ctx context.Context) (baseURL string, stop func(), err error)

const usage = `Usage: frontgate selftest [flags] [URL]

Loads URL, or with no URL the gateway itself (started in-process from -config FILE or the embedded
default, with its built-in demo upstream) through a mix of its demo routes, reported per route.

  -c N          concurrent connections (closed loop; open loop: connection pool)   default 50
  -n N | -d DUR stop after N requests, or after DUR                                default -n 1000
  -rate R       open loop: R requests/s on an absolute schedule; latency measured from the intended
                send time (coordinated-omission corrected) and also reported uncorrected
  -rounds K     repeat the run K times, report each round and the total; -pause DUR between rounds
  -m METHOD  -H 'K: V' (repeatable)  -body STR | -body-file FILE
  -F key=value  -F field=@file.jpg   multipart form, curl syntax (repeatable); the body is encoded once
  -timeout DUR  per request                                                        default 30s
  -o text|json  report format; -hist adds a latency histogram (text bars)
  -fail-on EXPR exit 1 when e.g. 'errors>1%' or 'p99>200ms' holds (comma-separated: any)
  -k            https: skip certificate verification
  -std          use net/http's client instead of the built-in HTTP/1.1 client
  -config FILE  self mode: the gateway's config (default: the embedded one)

Examples:
  frontgate selftest                                   # the gateway itself, 1000 requests over 50 connections
  frontgate selftest -c 64 -d 10s http://127.0.0.1:8080/
  frontgate selftest -rate 20000 -d 10s -c 64 -hist http://127.0.0.1:8080/
  frontgate selftest -n 200 -F image_id=2 -F image=@photo.jpg http://127.0.0.1:8080/demo2
  frontgate selftest -d 30s -o json -fail-on 'errors>0,p99>200ms' http://127.0.0.1:8080/
`

// cli is the parsed command line.
type cli struct {
	plan    Plan
	url     string
	method  string
	headers []Header
	body    []byte
	hasBody bool
	form    []FormField
	output  string
	hist    bool
	failOn  []Condition
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// errUsage marks command-line errors (exit code 2).
var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func parseArgs(args []string) (*cli, error) {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		c                      cli
		conns, rounds          int
		requests               uint64
		dur, pause, timeout    time.Duration
		rate                   float64
		headers, forms         multiFlag
		body, bodyFile, failOn string
		insecure, std          bool
	)
	fs.IntVar(&conns, "c", DefaultConns, "connections")
	fs.Uint64Var(&requests, "n", DefaultRequests, "requests")
	fs.DurationVar(&dur, "d", 0, "duration")
	fs.Float64Var(&rate, "rate", 0, "open-loop rate")
	fs.IntVar(&rounds, "rounds", 1, "rounds")
	fs.DurationVar(&pause, "pause", 0, "pause between rounds")
	fs.StringVar(&c.method, "m", "", "method")
	fs.Var(&headers, "H", "header")
	fs.StringVar(&body, "body", "", "body")
	fs.StringVar(&bodyFile, "body-file", "", "body file")
	fs.Var(&forms, "F", "multipart field")
	fs.DurationVar(&timeout, "timeout", DefaultTimeout, "timeout")
	fs.StringVar(&c.output, "o", "text", "output")
	fs.BoolVar(&c.hist, "hist", false, "histogram")
	fs.StringVar(&failOn, "fail-on", "", "fail-on")
	fs.BoolVar(&insecure, "k", false, "insecure")
	fs.BoolVar(&std, "std", false, "net/http client")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch {
	case len(positional) > 1:
		return nil, usageErr("want at most one URL, got %q", positional)
	case conns < 1:
		return nil, usageErr("-c %d: want at least 1", conns)
	case rounds < 1:
		return nil, usageErr("-rounds %d: want at least 1", rounds)
	case rate < 0:
		return nil, usageErr("-rate %v: must not be negative", rate)
	case set["d"] && dur <= 0:
		return nil, usageErr("-d %v: must be positive", dur)
	case set["n"] && requests == 0:
		return nil, usageErr("-n 0: want at least 1")
	case timeout <= 0:
		return nil, usageErr("-timeout %v: must be positive", timeout)
	case c.output != "text" && c.output != "json":
		return nil, usageErr("-o %q: want text or json", c.output)
	case set["body"] && set["body-file"]:
		return nil, usageErr("-body and -body-file exclude each other")
	case len(forms) > 0 && (set["body"] || set["body-file"]):
		return nil, usageErr("-F excludes -body and -body-file")
	}
	if len(positional) == 1 {
		c.url = positional[0]
		if !strings.Contains(c.url, "://") {
			c.url = "http://" + c.url
		}
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageErr("-H %q: want 'Key: Value'", h)
		}
		c.headers = append(c.headers, Header{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	switch {
	case set["body"]:
		c.body, c.hasBody = []byte(body), true
	case set["body-file"]:
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return nil, usageErr("-body-file: %v", err)
		}
		c.body, c.hasBody = b, true
	}
	for _, f := range forms {
		ff, err := ParseFormField(f)
		if err != nil {
			return nil, usageErr("-F: %v", err)
		}
		c.form = append(c.form, ff)
	}
	if failOn != "" {
		conds, err := ParseFailOn(failOn)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		c.failOn = conds
	}
	if set["d"] && !set["n"] {
		requests = 0
	}
	c.plan = Plan{Conns: conns, Requests: requests, Duration: dur, Rate: rate, Rounds: rounds, Pause: pause,
		Timeout: timeout, Insecure: insecure, ForceStdClient: std}
	return &c, nil
}

// target builds the single target of URL mode.
func (c *cli) target() (Target, error) {
	t := Target{URL: c.url, Method: c.method, Header: c.headers, Body: c.body}
	if len(c.form) > 0 {
		body, ctype, err := EncodeMultipart(c.form)
		if err != nil {
			return Target{}, err
		}
		t.Body = body
		if !hasHeader(t.Header, "Content-Type") {
			t.Header = append(append([]Header(nil), t.Header...), Header{Key: "Content-Type", Value: ctype})
		}
	}
	if t.Method == "" && (c.hasBody || len(c.form) > 0) {
		t.Method = "POST"
	}
	return t, nil
}

func hasHeader(hs []Header, key string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			return true
		}
	}
	return false
}

// Main runs the selftest command with args (flags and an optional URL), writing the report to stdout and
// progress and errors to stderr. It returns the process exit code: 0 when the run completed (even if
// interrupted by ctx), 1 when a -fail-on condition holds or the run could not start (including a run in
// which every request failed, e.g. on a refused port), 2 for usage errors.
// self may be nil when no self mode is wired; then a URL is required.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, self SelfFunc) int {
	c, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "selftest: %v\n\n%s", err, usage)
		return 2
	}
	p := c.plan
	if c.url != "" {
		t, err := c.target()
		if err != nil {
			fmt.Fprintf(stderr, "selftest: %v\n", err)
			return 1
		}
		p.Targets = []Target{t}
	} else {
		switch {
		case self == nil:
			fmt.Fprintf(stderr, "selftest: %v: no URL given and no self mode available\n\n%s", errUsage, usage)
			return 2
		case c.method != "" || c.hasBody || len(c.form) > 0:
			fmt.Fprintf(stderr, "selftest: %v: -m, -body, -body-file and -F need a URL\n\n%s", errUsage, usage)
			return 2
		}
		base, stop, err := self(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "selftest: start the gateway: %v\n", err)
			return 1
		}
		if stop != nil {
			defer stop()
		}
		if p.Targets, err = SelfTargets(base, c.headers); err != nil {
			fmt.Fprintf(stderr, "selftest: %v\n", err)
			return 1
		}
	}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		p.Progress = stderr
	}
	rep, err := Run(ctx, p)
	if err != nil {
		fmt.Fprintf(stderr, "selftest: %v\n", err)
		return 1
	}
	if c.url == "" {
		rep.URL = strings.TrimSuffix(rep.URL, "/")
	}
	if c.output == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout, c.hist)
	}
	if err != nil {
		fmt.Fprintf(stderr, "selftest: %v\n", err)
		return 1
	}
	code := 0
	for _, h := range Failed(c.failOn, &rep.Result) {
		fmt.Fprintf(stderr, "selftest: fail-on: %s holds\n", h)
		code = 1
	}
	if rep.Requests == 0 && rep.Errors > 0 {
		fmt.Fprintf(stderr, "selftest: no response received: %d requests failed (%s)\n", rep.Errors, kindsLine(rep.ErrorKinds))
		code = 1
	}
	return code
}
