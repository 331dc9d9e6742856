package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults applied by Plan when a field is left at its zero value.
const (
	DefaultConns          = 50
	DefaultRequests       = 1000
	DefaultTimeout        = 30 * time.Second
	DefaultHdrLogInterval = time.Second
)

// How far Plan.StartAt may lie from the time Run is called (see CheckStartAt).
const (
	MaxStartLate  = time.Second
	MaxStartAhead = 24 * time.Hour
)

// ParseStartAt parses a start time in RFC 3339 ("2026-05-01T12:00:00Z", "2026-05-01T14:00:00.5+02:00")
// and checks it against now with CheckStartAt.
func ParseStartAt(s string, now time.Time) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("start time %q: want RFC 3339, e.g. %s", s,
			now.Add(time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	return at, CheckStartAt(at, now)
}

// CheckStartAt returns an error when at is more than MaxStartLate before now (a start time the
// other workers have already passed: the load would not be simultaneous) or more than MaxStartAhead
// after it (most likely a mistyped date).
func CheckStartAt(at, now time.Time) error {
	switch d := at.Sub(now); {
	case d < -MaxStartLate:
		return fmt.Errorf("start time %s is %s in the past: give every worker the same time a little ahead",
			at.Format(time.RFC3339Nano), (-d).Round(time.Millisecond))
	case d > MaxStartAhead:
		return fmt.Errorf("start time %s is %s ahead: at most %s", at.Format(time.RFC3339Nano),
			d.Round(time.Second), MaxStartAhead)
	}
	return nil
}

// Plan describes one load test. The zero value of each field picks the documented default, so
// Plan{Targets: []Target{{URL: u}}} sends 1000 GET requests over 50 connections.
type Plan struct {
	// Targets are the requests to send; request i goes to Targets[i%len(Targets)]. At least one is needed.
	// With more than one target the report has a per-route breakdown keyed by Target.Name.
	Targets []Target

	// Conns is the number of connections, each driven by its own goroutine. In closed loop each one sends
	// its next request when the previous answer is in; in open loop (Rate > 0) it is the pool that carries
	// the scheduled requests. Zero means DefaultConns.
	Conns int

	// Requests stops a round after exactly this many requests were sent. Duration stops issuing new
	// requests after that much time and waits for the ones in flight. When both are zero, Requests is
	// DefaultRequests; when both are set, whichever comes first ends the round.
	Requests uint64
	Duration time.Duration

	// Rate, when > 0, switches to open loop: request i is due at start + i/Rate on an absolute schedule,
	// and latency is measured from that due time (coordinated-omission corrected) as well as from the
	// actual send. Zero means closed loop. It is this process's rate: N processes started together (see
	// StartAt) send N×Rate in all.
	Rate float64
	// Stages, when not empty, make the open-loop rate piecewise linear (see Stage): starting from Rate
	// (which may then be 0), each stage moves linearly to its own rate over its duration, and request i
	// is due when the integral of the rate reaches i. A zero Duration becomes the stages' total;
	// requests that the stages do not reach are not sent. Nil: Rate throughout.
	Stages []Stage

	// Rounds repeats the run; each round gets fresh connections and its own report. Zero means 1.
	Rounds int
	// Pause is the idle time between rounds. Zero means none.
	Pause time.Duration

	// Timeout bounds connecting and, separately, each exchange from its send to the end of its response
	// body (the built-in client refreshes socket deadlines lazily, so it may fire up to 1% late). Zero
	// means DefaultTimeout.
	Timeout time.Duration

	// Progress, when non-nil, receives a live progress line (carriage-return updated, meant for a terminal).
	Progress io.Writer

	// StartAt, when not zero, is the wall-clock time at which the first round starts: Run waits until
	// then, so that processes on several machines (with synchronised clocks) start one load together.
	// It must pass CheckStartAt. The zero value starts at once.
	StartAt time.Time

	// HdrLog, when non-nil, receives an HdrHistogram interval log of the latencies (those of
	// Result.Latency, in microseconds), in the standard format that HdrHistogram's own log readers and
	// MergeFiles read: one line per HdrLogInterval for all routes, and one per route, tagged with its
	// name, when the plan has several. Nil writes none and costs nothing per request.
	HdrLog io.Writer
	// HdrLogInterval is the length of one interval of HdrLog and of Timeline. Zero means
	// DefaultHdrLogInterval.
	HdrLogInterval time.Duration
	// Timeline, when set, fills Report.Timeline with one entry per HdrLogInterval: its requests, errors,
	// bytes, statuses and latency percentiles. Memory grows by one small entry per interval. False keeps
	// none and, without HdrLog too, costs nothing per request.
	Timeline bool

	// Insecure skips TLS certificate verification for https targets; the zero value verifies.
	Insecure bool

	// ForceStdClient sends through net/http's client even for http URLs (https always does). The zero value
	// uses the lean built-in HTTP/1.1 client for http URLs.
	ForceStdClient bool

	// Proto picks HTTP/2 (ProtoH2 for https URLs, ProtoH2C for http ones) over golang.org/x/net/http2's
	// client, one HTTP/2 connection per Conns. The zero value speaks HTTP/1.1.
	Proto Proto
	// Streams is the number of concurrent streams per HTTP/2 connection: Conns×Streams requests are in
	// flight in closed loop, and in open loop each connection carries at most Streams at once. Zero means
	// 1 (as h2load's -m); more than 1 needs Proto.
	Streams int
}

// Proto is the HTTP version of a plan's requests; the zero value is HTTP/1.1.
type Proto string

// The protocols of Plan.Proto besides HTTP/1.1.
const (
	ProtoH2  Proto = "h2"  // HTTP/2 over TLS, negotiated with ALPN (https URLs)
	ProtoH2C Proto = "h2c" // HTTP/2 in cleartext with prior knowledge (http URLs)
)

// Target is one request of a plan. The zero Method means GET; a nil Body sends none.
type Target struct {
	// Name labels the target in per-route reports; empty means the URL's path.
	Name string
	// URL is an absolute http or https URL.
	URL string
	// Method is the request method; empty means GET.
	Method string
	// Header holds extra request headers in order, as "Key: Value" pairs. Host overrides the URL's host;
	// Content-Length is computed from Body and must not be given.
	Header []Header
	// Body is the request body, sent as is with its Content-Length; the same bytes are reused by every request.
	Body []byte
}

// Header is one request header line; the zero value is invalid (a header needs a Key).
type Header struct{ Key, Value string }

// ParseHeader parses a header argument in curl's -H syntax, "Key: Value", trimming the spaces around
// key and value. It refuses an argument without a colon or with an empty key; Run checks the rest.
func ParseHeader(arg string) (Header, error) {
	k, v, ok := strings.Cut(arg, ":")
	if k = strings.TrimSpace(k); !ok || k == "" {
		return Header{}, fmt.Errorf("header %q: want 'Key: Value'", arg)
	}
	return Header{Key: k, Value: strings.TrimSpace(v)}, nil
}

// NewTarget builds the Target of one URL, as a command line gives it. A rawURL without a scheme
// ("127.0.0.1:8080/x") means http. A non-nil body, even empty, is sent as is; form fields, which
// exclude a body, are encoded once as a multipart body with its Content-Type (unless header already
// has one). An empty method means POST when there is a body or a form, GET otherwise. header is not
// modified.
func NewTarget(rawURL, method string, header []Header, body []byte, form []FormField) (Target, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	t := Target{URL: rawURL, Method: method, Header: header, Body: body}
	if len(form) > 0 {
		if body != nil {
			return Target{}, fmt.Errorf("target %s: a body and form fields exclude each other", rawURL)
		}
		b, ctype, err := EncodeMultipart(form)
		if err != nil {
			return Target{}, err
		}
		t.Body = b
		if !hasHeader(header, "Content-Type") {
			t.Header = append(append([]Header(nil), header...), Header{Key: "Content-Type", Value: ctype})
		}
	}
	if t.Method == "" && t.Body != nil {
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

func (p Plan) withDefaults() Plan {
	if p.Conns <= 0 {
		p.Conns = DefaultConns
	}
	if len(p.Stages) > 0 && p.Duration <= 0 {
		p.Duration = StagesDuration(p.Stages)
	}
	if p.Requests == 0 && p.Duration <= 0 {
		p.Requests = DefaultRequests
	}
	if p.Rounds <= 0 {
		p.Rounds = 1
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.HdrLogInterval <= 0 {
		p.HdrLogInterval = DefaultHdrLogInterval
	}
	if p.Streams == 0 {
		p.Streams = 1
	}
	return p
}

func (p Plan) validate() error {
	if len(p.Targets) == 0 {
		return errors.New("plan has no target")
	}
	if !p.StartAt.IsZero() {
		if err := CheckStartAt(p.StartAt, time.Now()); err != nil {
			return err
		}
	}
	for i, t := range p.Targets {
		u, err := url.Parse(t.URL)
		if err != nil {
			return fmt.Errorf("target %d: %w", i, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("target %d: url %q: scheme must be http or https", i, t.URL)
		}
		if u.Host == "" {
			return fmt.Errorf("target %d: url %q has no host", i, t.URL)
		}
		if want := map[Proto]string{ProtoH2: "https", ProtoH2C: "http"}[p.Proto]; want != "" && u.Scheme != want {
			return fmt.Errorf("target %d: url %q: %s needs %s URLs", i, t.URL, p.Proto, want)
		}
		for _, h := range t.Header {
			if h.Key == "" || strings.ContainsAny(h.Key, " :\r\n") || strings.ContainsAny(h.Value, "\r\n") {
				return fmt.Errorf("target %d: invalid header %q", i, h.Key+": "+h.Value)
			}
			if strings.EqualFold(h.Key, "Content-Length") || strings.EqualFold(h.Key, "Transfer-Encoding") {
				return fmt.Errorf("target %d: header %s is computed from the body and cannot be set", i, h.Key)
			}
		}
	}
	if p.Rate < 0 {
		return fmt.Errorf("rate %v must not be negative", p.Rate)
	}
	for i, s := range p.Stages {
		if s.Duration < 0 || s.Rate < 0 {
			return fmt.Errorf("stage %d (%v:%v): duration and rate must not be negative", i, s.Duration, s.Rate)
		}
	}
	switch {
	case p.Proto != "" && p.Proto != ProtoH2 && p.Proto != ProtoH2C:
		return fmt.Errorf("protocol %q: want %s or %s", p.Proto, ProtoH2, ProtoH2C)
	case p.Proto != "" && p.ForceStdClient:
		return fmt.Errorf("%s and the net/http client exclude each other", p.Proto)
	case p.Streams < 0:
		return fmt.Errorf("%d streams per connection: want at least 1", p.Streams)
	case p.Streams > 1 && p.Proto == "":
		return fmt.Errorf("%d streams per connection need HTTP/2 (h2 or h2c)", p.Streams)
	}
	return nil
}

// routeName is the per-route label of t.
func (t Target) routeName() string {
	if t.Name != "" {
		return t.Name
	}
	if u, err := url.Parse(t.URL); err == nil && u.Path != "" {
		return u.Path
	}
	return "/"
}

// FormField is one field of a multipart form, in curl's -F syntax: "key=value", "key=@file" (file upload,
// optionally followed by ";type=mime/type" and ";filename=name") or "key=<file" (value read from a file).
// The zero value is a text field with an empty name and value.
type FormField struct {
	Key string
	// Value is the text value, or the file's content when File is true or the value came from "<file".
	Value []byte
	// File makes the field a file part with Filename and ContentType (default application/octet-stream).
	File        bool
	Filename    string
	ContentType string
}

// ParseFormField parses one curl-style -F argument, reading any referenced file.
func ParseFormField(arg string) (FormField, error) {
	key, val, ok := strings.Cut(arg, "=")
	if !ok || key == "" {
		return FormField{}, fmt.Errorf("form field %q: want key=value, key=@file or key=<file", arg)
	}
	switch {
	case strings.HasPrefix(val, "@"):
		parts := strings.Split(val[1:], ";")
		f := FormField{Key: key, File: true, Filename: filepath.Base(parts[0]), ContentType: "application/octet-stream"}
		for _, opt := range parts[1:] {
			k, v, _ := strings.Cut(opt, "=")
			switch strings.TrimSpace(k) {
			case "type":
				f.ContentType = v
			case "filename":
				f.Filename = v
			default:
				return FormField{}, fmt.Errorf("form field %q: unknown option %q", arg, opt)
			}
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			return FormField{}, fmt.Errorf("form field %q: %w", key, err)
		}
		f.Value = data
		return f, nil
	case strings.HasPrefix(val, "<"):
		data, err := os.ReadFile(val[1:])
		if err != nil {
			return FormField{}, fmt.Errorf("form field %q: %w", key, err)
		}
		return FormField{Key: key, Value: data}, nil
	}
	return FormField{Key: key, Value: []byte(val)}, nil
}

// EncodeMultipart encodes fields once as a multipart/form-data body and returns it with its Content-Type
// (which carries the boundary).
func EncodeMultipart(fields []FormField) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if !f.File {
			if err := w.WriteField(f.Key, string(f.Value)); err != nil {
				return nil, "", fmt.Errorf("encode form field %q: %w", f.Key, err)
			}
			continue
		}
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, escapeQuotes(f.Key), escapeQuotes(f.Filename)))
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		pw, err := w.CreatePart(h)
		if err != nil {
			return nil, "", fmt.Errorf("encode form file %q: %w", f.Key, err)
		}
		if _, err := pw.Write(f.Value); err != nil {
			return nil, "", fmt.Errorf("encode form file %q: %w", f.Key, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("encode form: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }
