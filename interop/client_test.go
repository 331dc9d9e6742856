package interop

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// request is one entry of a client's run, as the client scripts read it.
type request struct {
	ID      string            `json:"id"` // answer.round
	Answer  string            `json:"answer"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Header  map[string]string `json:"headers"`
	Upload  string            `json:"upload,omitempty"` // request body file
	Chunked bool              `json:"chunked,omitempty"`
	Expect  bool              `json:"expect,omitempty"`
}

// result is what a client saw of one request: one JSON line of a client script's output.
type result struct {
	ID       string            `json:"id"`
	Status   int               `json:"status"`
	Len      int64             `json:"len"`     // of the body, decoded when it came compressed
	SHA256   string            `json:"sha256"`  // of the body, decoded
	RawLen   int64             `json:"raw_len"` // of the body as it came (compressed); 0: unknown
	Trailers map[string]string `json:"trailers,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"` // lower-case names, first value
	Info     []info            `json:"informational,omitempty"`
	Error    string            `json:"error,omitempty"`
	MS       float64           `json:"ms"`       // from the start of the request to the end of the body
	FirstMS  float64           `json:"first_ms"` // to the first body byte; 0: none
	// PrevClosedBy says, when this request came on a new connection, who had closed the previous
	// one: "server", "client", or "" when the client cannot tell (only Go's can).
	PrevClosedBy string `json:"prev_closed_by,omitempty"`
}

// info is an informational (1xx) response a client saw.
type info struct {
	Code int    `json:"code"`
	Link string `json:"link,omitempty"`
}

// client is one real HTTP client program.
type client struct {
	name     string
	accept   string            // the Accept-Encoding it sends to a gateway that compresses: what it decodes
	trailers bool              // it shows trailer fields
	infos    bool              // it shows informational responses
	closes   map[string]string // answers after which it closes its connection itself, and why
	skips    map[string]string // answer → why this client cannot make the request
	// run makes the requests in order against base (frontgate's URL with this client's route
	// prefix), keeping its connections, and returns what it saw and what it printed besides.
	run func(ctx context.Context, base string, reqs []request, dir string) ([]result, string, error)
}

// clients lists the four clients. Their Accept-Encoding values are each one's own default (Go's
// transport asks for gzip alone; aiohttp's gzip and deflate without the brotli module; undici's
// gzip, deflate and br), so that between them the three codings come back decoded by
// implementations other than the gateway's encoders: zstd by libcurl's libzstd, gzip by Go's
// compress/gzip and Python's zlib, br by Node's zlib.
func clients() []*client {
	return []*client{
		{name: "curl", accept: "deflate, gzip, br, zstd", trailers: true, infos: true, run: runCurl},
		{name: "go", accept: "gzip", trailers: true, infos: true, run: runGo},
		{name: "aiohttp", accept: "gzip, deflate", run: func(ctx context.Context, base string, reqs []request, dir string) ([]result, string, error) {
			return runScript(ctx, base, reqs, dir, "/usr/bin/python3", filepath.Join("testdata", "client_aiohttp.py"))
		}},
		{name: "fetch", accept: "gzip, deflate, br", skips: map[string]string{
			"continue": "Node's fetch (undici) refuses an Expect header: NotSupportedError",
		}, closes: map[string]string{
			"head-cl": "undici closes its connection after every HEAD (undici issue #258: servers that send a body anyway)",
		}, run: func(ctx context.Context, base string, reqs []request, dir string) ([]result, string, error) {
			return runScript(ctx, base, reqs, dir, "node", filepath.Join("testdata", "client_fetch.js"))
		}},
	}
}

// runScript runs a client script with a file listing the requests, the base URL and the
// per-request timeout in milliseconds, and reads one JSON result per line from its stdout.
func runScript(ctx context.Context, base string, reqs []request, dir, program, script string) ([]result, string, error) {
	plan, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, "", err
	}
	planPath := filepath.Join(dir, "requests.json")
	if err := os.WriteFile(planPath, plan, 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, program, script, planPath, base, strconv.Itoa(int(requestTimeout/time.Millisecond)))
	lines, stderr, runErr := runLines(cmd)
	var results []result
	for _, line := range lines {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return results, stderr, fmt.Errorf("unreadable output line %q: %v", line, err)
		}
		results = append(results, r)
	}
	if runErr != nil {
		return results, stderr, fmt.Errorf("%s %s: %w", program, filepath.Base(script), runErr)
	}
	return results, stderr, nil
}

// runLines runs cmd to its end (or its context's) and returns the non-empty lines of its stdout and
// its stderr.
func runLines(cmd *exec.Cmd) (lines []string, stderr string, err error) {
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	return lines, errOut.String(), err
}

// runCurl makes every request in one curl invocation (--next between them), so that curl keeps
// its connection. Each transfer writes its body and its header dump (informational responses,
// the final head and the trailers, in that order) to files, and -w prints its variables as JSON.
// A request with Accept-Encoding gets --compressed too: curl decodes the body it writes, and
// size_download stays the bytes that came.
func runCurl(ctx context.Context, base string, reqs []request, dir string) ([]result, string, error) {
	var args []string
	methods := map[string]string{}
	for i, r := range reqs {
		methods[r.ID] = r.Method
		if i > 0 {
			args = append(args, "--next")
		}
		args = append(args, "-s", "--max-time", fmt.Sprint(requestTimeout.Seconds()),
			"-o", filepath.Join(dir, r.ID+".body"), "-D", filepath.Join(dir, r.ID+".head"),
			"-w", `{"id":"`+r.ID+`","w":%{json}}\n`)
		switch r.Method {
		case "HEAD":
			args = append(args, "-I")
		case "GET":
		default:
			args = append(args, "-X", r.Method)
		}
		for k, v := range r.Header {
			args = append(args, "-H", k+": "+v)
			if strings.EqualFold(k, "Accept-Encoding") {
				args = append(args, "--compressed")
			}
		}
		if r.Upload != "" {
			args = append(args, "--data-binary", "@"+r.Upload)
			if r.Chunked {
				args = append(args, "-H", "Transfer-Encoding: chunked")
			}
			if r.Expect {
				args = append(args, "-H", "Expect: 100-continue", "--expect100-timeout", fmt.Sprint(requestTimeout.Seconds()))
			} else {
				args = append(args, "-H", "Expect:") // curl would add one to a large upload
			}
		}
		args = append(args, base+r.Path)
	}
	lines, stderr, runErr := runLines(exec.CommandContext(ctx, "curl", args...))
	var results []result
	for _, line := range lines {
		var out struct {
			ID string `json:"id"`
			W  struct {
				Code          int     `json:"http_code"`
				ExitCode      int     `json:"exitcode"`
				ErrorMsg      *string `json:"errormsg"`
				Size          int64   `json:"size_download"`
				Total         float64 `json:"time_total"`
				StartTransfer float64 `json:"time_starttransfer"`
			} `json:"w"`
		}
		if err := json.Unmarshal([]byte(line), &out); err != nil {
			return results, stderr, fmt.Errorf("unreadable curl -w line %q: %v", line, err)
		}
		r := result{ID: out.ID, Status: out.W.Code, Len: out.W.Size, RawLen: out.W.Size, MS: out.W.Total * 1000, FirstMS: out.W.StartTransfer * 1000}
		if out.W.ExitCode != 0 {
			msg := ""
			if out.W.ErrorMsg != nil {
				msg = *out.W.ErrorMsg
			}
			r.Error = fmt.Sprintf("curl exit %d: %s", out.W.ExitCode, msg)
		}
		head, _ := os.ReadFile(filepath.Join(dir, out.ID+".head"))
		r.Info, r.Headers, r.Trailers = parseHeaderDump(head)
		body, err := os.ReadFile(filepath.Join(dir, out.ID+".body"))
		if err != nil && !errors.Is(err, os.ErrNotExist) { // curl makes no file for an empty body
			return results, stderr, err
		}
		if methods[out.ID] != "HEAD" {
			r.Len, r.SHA256 = int64(len(body)), sha(body)
		} else if r.Len == 0 {
			r.SHA256 = sha(nil) // -I writes the headers where the body would go: the size says it all
		}
		results = append(results, r)
	}
	if runErr != nil {
		var exit *exec.ExitError
		if !errors.As(runErr, &exit) || ctx.Err() != nil { // a transfer's own failure is in its -w line
			return results, stderr, fmt.Errorf("curl: %w", runErr)
		}
	}
	return results, stderr, nil
}

// parseHeaderDump reads curl's --dump-header file: informational responses, the final response's
// fields (lower-case names, first value) and the trailer fields that curl writes after them.
func parseHeaderDump(b []byte) (infos []info, final, trailers map[string]string) {
	var cur map[string]string
	code := 0
	afterFinal := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "HTTP/"):
			f := strings.Fields(line)
			code = 0
			if len(f) > 1 {
				code, _ = strconv.Atoi(f[1])
			}
			cur = map[string]string{}
			if code < 200 {
				infos = append(infos, info{Code: code})
			} else {
				final, afterFinal = cur, false
			}
		case line == "":
			if cur != nil && code >= 200 {
				afterFinal = true
			}
			cur = nil
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
			switch {
			case cur != nil && code < 200:
				if k == "link" {
					infos[len(infos)-1].Link = v
				}
			case cur != nil:
				if _, dup := cur[k]; !dup {
					cur[k] = v
				}
			case afterFinal:
				if trailers == nil {
					trailers = map[string]string{}
				}
				trailers[k] = v
			}
		}
	}
	return infos, final, trailers
}

// runGo makes the requests with net/http's client in this process. One connection at most
// (MaxConnsPerHost 1): a request waits for the previous one's connection rather than racing it
// with a new dial, so that a new connection always means the old one was closed. Who closed it is
// noted: net/http's client sometimes drops a connection of its own accord (it does not reuse one
// whose request write it has not seen finish within 50 ms, which a loaded machine can cause), and
// that is not frontgate's doing.
func runGo(ctx context.Context, base string, reqs []request, _ string) ([]result, string, error) {
	dialer := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &watchedConn{Conn: c}, nil
		},
		MaxConnsPerHost:       1,
		MaxIdleConnsPerHost:   1,
		DisableCompression:    true,
		ExpectContinueTimeout: requestTimeout,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var out []result
	var prev *watchedConn
	prevClose := false
	for _, r := range reqs {
		if ctx.Err() != nil {
			break
		}
		res, conn, closeAsked := goRequest(ctx, c, base, r)
		if prev != nil && conn != nil && conn != prev {
			switch eof, closed := prev.state(); {
			case eof || prevClose:
				res.PrevClosedBy = "server"
			case closed:
				res.PrevClosedBy = "client"
			}
		}
		if conn != nil {
			prev, prevClose = conn, closeAsked
		}
		out = append(out, res)
	}
	return out, "", nil
}

// watchedConn notes whether the server ended the connection (a read met its end) before the
// client closed it.
type watchedConn struct {
	net.Conn
	mu     sync.Mutex
	eof    bool // a read failed before Close: the server closed or reset it
	closed bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if !c.closed {
			c.eof = true
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *watchedConn) state() (eof, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eof, c.closed
}

// goRequest makes one request and reads its body, returning what it saw, the connection it ended
// on, and whether the answer asked for the connection to close.
func goRequest(ctx context.Context, c *http.Client, base string, r request) (result, *watchedConn, bool) {
	res := result{ID: r.ID}
	var conn *watchedConn
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var mu sync.Mutex // the transport calls the trace from its own goroutine
	trace := &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			defer mu.Unlock()
			res.Info = append(res.Info, info{Code: code, Link: h.Get("Link")})
			return nil
		},
		Got100Continue: func() {
			mu.Lock()
			defer mu.Unlock()
			res.Info = append(res.Info, info{Code: 100})
		},
		GotConn: func(ci httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			conn, _ = ci.Conn.(*watchedConn) // the last one, when the transport tried again
		},
	}
	var body io.Reader
	if r.Upload != "" {
		data, err := os.ReadFile(r.Upload)
		if err != nil {
			res.Error = err.Error()
			return res, nil, false
		}
		body = bytes.NewReader(data)
		if r.Chunked {
			body = struct{ io.Reader }{body} // no known length: net/http sends it chunked
		}
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.Method, base+r.Path, body)
	if err != nil {
		res.Error = err.Error()
		return res, nil, false
	}
	if r.Chunked {
		req.ContentLength = -1
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	if r.Expect {
		req.Header.Set("Expect", "100-continue")
	}
	start := time.Now()
	ms := func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }
	resp, err := c.Do(req)
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		res.Error, res.MS = err.Error(), ms()
		return res, conn, false
	}
	res.Status = resp.StatusCode
	res.Headers = map[string]string{}
	for k, vs := range resp.Header {
		res.Headers[strings.ToLower(k)] = vs[0]
	}
	raw := &countingReader{r: resp.Body}
	body, closeBody, err := decoder(resp.Header.Get("Content-Encoding"), raw)
	if err != nil {
		resp.Body.Close()
		res.Error, res.MS = err.Error(), ms()
		return res, conn, resp.Close
	}
	h := sha256.New()
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if res.Len == 0 {
				res.FirstMS = ms()
			}
			h.Write(buf[:n])
			res.Len += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			res.Error = err.Error()
			break
		}
	}
	closeBody()
	if res.Error == "" && body != io.Reader(raw) {
		// The compressed stream ended: what follows it must be the end of the body (which also
		// fills resp.Trailer), not more bytes or an error.
		switch n, err := io.Copy(io.Discard, raw); {
		case err != nil:
			res.Error = "after the end of the compressed stream: " + err.Error()
		case n > 0:
			res.Error = fmt.Sprintf("%d bytes after the end of the compressed stream", n)
		}
	}
	res.RawLen = raw.n
	resp.Body.Close()
	res.MS = ms()
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	for k, vs := range resp.Trailer {
		if len(vs) > 0 {
			if res.Trailers == nil {
				res.Trailers = map[string]string{}
			}
			res.Trailers[strings.ToLower(k)] = vs[0]
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return res, conn, resp.Close
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decoder returns a reader of raw decoded by coding ("" is identity) and a function that releases
// it: the standard library's gzip (not the gateway's gzip encoder, klauspost's), klauspost's zstd
// and andybalholm's brotli.
func decoder(coding string, raw io.Reader) (io.Reader, func(), error) {
	switch strings.ToLower(coding) {
	case "":
		return raw, func() {}, nil
	case "gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() {}, nil
	case "zstd":
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	case "br":
		return brotli.NewReader(raw), func() {}, nil
	}
	return nil, nil, fmt.Errorf("cannot decode Content-Encoding %q", coding)
}

// sequence is a client's requests: the answers in order, then again in reverse, so that every
// answer comes twice and after two different neighbours. A non-empty accept is sent as every
// request's Accept-Encoding.
func sequence(fx *fixture, up *upstream, cl *client, accept string) []request {
	var list []answer
	for _, a := range fx.answers {
		if up.skips[a.name] == "" && cl.skips[a.name] == "" {
			list = append(list, a)
		}
	}
	var reqs []request
	for round := 1; round <= 2; round++ {
		for i := range list {
			a := list[i]
			if round == 2 {
				a = list[len(list)-1-i]
			}
			r := request{ID: fmt.Sprintf("%s.%d", a.name, round), Answer: a.name, Method: a.method, Path: a.path,
				Header: a.header, Chunked: a.chunked, Expect: a.expect}
			r.Header = maps.Clone(r.Header)
			if r.Header == nil {
				r.Header = map[string]string{}
			}
			if accept != "" {
				r.Header["Accept-Encoding"] = accept
			}
			if a.upload != "" {
				r.Upload = fx.uploads[a.upload]
			}
			reqs = append(reqs, r)
		}
	}
	return reqs
}
