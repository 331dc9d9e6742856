package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ReadTargets reads a targets file in vegeta's text format:
//
//	# a comment line
//	GET http://127.0.0.1:8080/a?x=1
//	X-Account: 42
//
//	POST http://127.0.0.1:8080/things
//	Content-Type: application/json
//	@body.json
//
// A target is a "METHOD URL" line, then its "Key: Value" header lines, then optionally one "@file" line
// whose file is the body (a relative path is taken from the targets file's folder); blank lines separate
// targets and lines starting with # are skipped. Each target gets the header lines of header too, after
// its own, except for the keys it sets itself.
//
// Unlike vegeta, which keeps connections to every host, all targets must share one scheme://host:port,
// since each connection of a run carries every target in turn. A target is named "METHOD /path?query"
// in the per-route report; when two targets have the same method and URL, the later one is named with
// its line too, "GET /a (line 9)", so that each keeps its own row.
//
// Errors name the file and line, or the body file that could not be read.
func ReadTargets(path string, header []Header) ([]Target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	defer f.Close()
	return parseTargets(f, path, header, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(path), name)
		}
		return os.ReadFile(name)
	})
}

// parseTargets parses the targets in r, named file in errors, reading bodies with readBody.
func parseTargets(r io.Reader, file string, header []Header, readBody func(string) ([]byte, error)) ([]Target, error) {
	var (
		targets []Target
		cur     *Target // the target being read; nil between targets
		hasBody bool    // cur's body line was read: nothing may follow
		origin  string  // scheme://host:port of the first target
		first   int     // its line
		names   = map[string]bool{}
	)
	errf := func(line int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: "+format, append([]any{file, line}, a...)...)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
		case line == "":
			cur = nil
		case cur == nil || isTargetLine(line):
			method, rawURL, _ := strings.Cut(line, " ")
			rawURL = strings.TrimSpace(rawURL)
			if !isTargetLine(line) || rawURL == "" || strings.ContainsAny(rawURL, " \t") {
				return nil, errf(n, "%q: want a target line, METHOD URL", line)
			}
			u, err := url.Parse(rawURL)
			switch {
			case err != nil:
				return nil, errf(n, "%v", err)
			case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
				return nil, errf(n, "url %q: want an absolute http or https URL", rawURL)
			case origin == "":
				origin, first = u.Scheme+"://"+u.Host, n
			case u.Scheme+"://"+u.Host != origin:
				return nil, errf(n, "%s differs from %s (line %d): all targets must share one scheme://host:port",
					u.Scheme+"://"+u.Host, origin, first)
			}
			name := method + " " + u.RequestURI()
			if names[name] {
				name = fmt.Sprintf("%s (line %d)", name, n)
			}
			names[name] = true
			targets = append(targets, Target{Name: name, Method: method, URL: rawURL})
			cur, hasBody = &targets[len(targets)-1], false
		case hasBody:
			return nil, errf(n, "%q after the body line: want a blank line before the next target", line)
		case strings.HasPrefix(line, "@"):
			name := strings.TrimSpace(line[1:])
			if name == "" {
				return nil, errf(n, "body line without a file name: want @path")
			}
			b, err := readBody(name)
			if err != nil {
				return nil, errf(n, "body file %s: %v", name, err)
			}
			cur.Body, hasBody = b, true
		default:
			h, err := ParseHeader(line)
			switch {
			case err != nil || strings.ContainsAny(h.Key, " \t"):
				return nil, errf(n, "%q: want a header line, Key: Value", line)
			case strings.EqualFold(h.Key, "Content-Length") || strings.EqualFold(h.Key, "Transfer-Encoding"):
				return nil, errf(n, "header %s is computed from the body and cannot be set", h.Key)
			}
			cur.Header = append(cur.Header, h)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%s: no target", file)
	}
	for i := range targets {
		own := targets[i].Header
		for _, h := range header {
			if !hasHeader(own, h.Key) {
				targets[i].Header = append(targets[i].Header, h)
			}
		}
	}
	return targets, nil
}

// isTargetLine reports whether line starts with a method, upper-case letters and a space, which no
// header line does (a header's key has no space before its colon).
func isTargetLine(line string) bool {
	method, _, ok := strings.Cut(line, " ")
	if !ok || method == "" {
		return false
	}
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
