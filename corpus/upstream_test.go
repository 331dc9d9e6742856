package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is the witness upstream: a raw TCP server that reads what frontgate forwards strictly
// (HTTP/1.1, CRLF only, one framing), records each request as soon as its head has arrived and again
// when its body is whole, and answers each whole request 200 with an X-Recorded header naming the
// record, on a kept-alive connection. Anything it cannot read strictly is recorded as a problem of
// the request it belongs to, and the connection is closed.
type recorder struct {
	ln   net.Listener
	tags *regexp.Regexp // a case tag; a request is attributed to the first tag found in it

	mu    sync.Mutex // guards seq, reqs and conns
	seq   int
	reqs  []*recorded
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // connection goroutines
}

// recorded is one request as the upstream received it.
type recorded struct {
	ID       string // r<seq>, sent back in X-Recorded
	Seq      int
	Tag      string
	Method   string
	Target   string
	Proto    string
	Fields   []field
	Body     []byte
	Framing  string // "content-length", "chunked" or "none"
	Complete bool   // the whole body arrived (and the request was answered)
	Problems []string
	Head     string // the raw head, for reports
}

type field struct{ Name, Value string }

// values returns the values of the fields named name (case-insensitively).
func (r *recorded) values(name string) []string {
	var out []string
	for _, f := range r.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

func (r *recorded) String() string {
	state := "complete"
	if !r.Complete {
		state = "unfinished"
	}
	s := fmt.Sprintf("%s %s %s (%s, %s, body %q)", r.ID, r.Method, r.Target, state, r.Framing, truncate(string(r.Body), 120))
	if len(r.Problems) > 0 {
		s += " problems: " + strings.Join(r.Problems, "; ")
	}
	return s
}

// startRecorder listens on an ephemeral loopback port; tags matches the case tags it attributes
// requests to.
func startRecorder(t testing.TB, tags *regexp.Regexp) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln, tags: tags, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() { r.close() })
	return r
}

// Addr is the host:port the recorder listens on.
func (r *recorder) Addr() string { return r.ln.Addr().String() }

func (r *recorder) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.serve(c)
	}
}

// close stops accepting and waits for every connection to end. Called once the gateway has
// exited, its connections have all ended; a connection still open after 10 s is closed.
func (r *recorder) close() {
	r.ln.Close()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.mu.Lock()
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		<-done
	}
}

// requests returns a snapshot of every record, in arrival order.
func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]recorded, len(r.reqs))
	for i, q := range r.reqs {
		out[i] = *q
		out[i].Fields = append([]field(nil), q.Fields...)
		out[i].Body = append([]byte(nil), q.Body...)
		out[i].Problems = append([]string(nil), q.Problems...)
	}
	return out
}

// maxHead bounds a forwarded head; frontgate's own limit is 64 KiB, plus what it adds.
const maxHead = 1 << 20

func (r *recorder) serve(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		if _, err := br.Peek(1); err != nil {
			return // the gateway closed the connection between requests
		}
		rec, closeAfter, ok := r.readOne(br)
		if !ok {
			return
		}
		resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Recorded: " + rec.ID + "\r\n"
		if closeAfter {
			resp += "Connection: close\r\n"
		}
		if _, err := io.WriteString(c, resp+"\r\nok"); err != nil || closeAfter {
			return
		}
	}
}

// readOne reads one request; ok is false when the connection must end (after a problem, or an end
// of input inside a request), with what was read recorded.
func (r *recorder) readOne(br *bufio.Reader) (rec *recorded, closeAfter, ok bool) {
	head, err := readHead(br)
	if head == "" && err != nil {
		return nil, false, false
	}
	rec = r.add(head)
	if err != nil {
		r.problem(rec, "head: "+err.Error())
		return rec, false, false
	}
	if !r.parseHead(rec, head) {
		return rec, false, false
	}
	te, cl := rec.values("Transfer-Encoding"), rec.values("Content-Length")
	switch {
	case len(te) > 0 && len(cl) > 0:
		r.problem(rec, "both Transfer-Encoding and Content-Length")
		return rec, false, false
	case len(te) > 0:
		if len(te) != 1 || te[0] != "chunked" {
			r.problem(rec, fmt.Sprintf("Transfer-Encoding %q", te))
			return rec, false, false
		}
		r.setFraming(rec, "chunked")
		if err := r.readChunked(br, rec); err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				r.problem(rec, "chunked body: "+err.Error())
			}
			return rec, false, false
		}
	case len(cl) > 0:
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if len(cl) != 1 || err != nil || n < 0 || strings.TrimLeft(cl[0], "0123456789") != "" {
			r.problem(rec, fmt.Sprintf("Content-Length %q", cl))
			return rec, false, false
		}
		r.setFraming(rec, "content-length")
		buf := make([]byte, 32<<10)
		for n > 0 {
			m, err := br.Read(buf[:min(int64(len(buf)), n)])
			r.appendBody(rec, buf[:m])
			n -= int64(m)
			if err != nil && n > 0 {
				return rec, false, false // the gateway gave up mid-body: stays unfinished
			}
		}
	default:
		r.setFraming(rec, "none")
	}
	r.mu.Lock()
	rec.Complete = true
	if rec.Tag == "" {
		rec.Tag = r.tags.FindString(string(rec.Body))
	}
	r.mu.Unlock()
	for _, v := range rec.values("Connection") {
		if strings.Contains(strings.ToLower(v), "close") {
			closeAfter = true
		}
	}
	return rec, closeAfter, true
}

// readHead reads up to and including the empty line that ends a head. Lines must end in CRLF.
func readHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			if b.Len() == 0 {
				return "", err
			}
			return b.String(), fmt.Errorf("ended inside the head: %w", err)
		}
		if b.Len() > maxHead {
			return b.String(), errors.New("head over 1 MiB")
		}
		if line == "\r\n" {
			return b.String(), nil
		}
		if line == "\n" {
			return b.String(), errors.New("bare LF ends the head")
		}
	}
}

// add records a head as it arrived, before parsing it, so that a request the gateway started to
// send is never lost.
func (r *recorder) add(head string) *recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rec := &recorded{ID: "r" + strconv.Itoa(r.seq), Seq: r.seq, Head: head, Tag: r.tags.FindString(head)}
	r.reqs = append(r.reqs, rec)
	return rec
}

func (r *recorder) problem(rec *recorded, p string) {
	r.mu.Lock()
	rec.Problems = append(rec.Problems, p)
	r.mu.Unlock()
}

func (r *recorder) setFraming(rec *recorded, f string) {
	r.mu.Lock()
	rec.Framing = f
	r.mu.Unlock()
}

func (r *recorder) appendBody(rec *recorded, p []byte) {
	r.mu.Lock()
	rec.Body = append(rec.Body, p...)
	r.mu.Unlock()
}

// parseHead checks and splits a head strictly: request line, CRLF line ends, token names, values
// without control characters, one Host. The tag is taken from the target before the headers.
func (r *recorder) parseHead(rec *recorded, head string) bool {
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	var problems []string
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			problems = append(problems, fmt.Sprintf("bare CR or LF in line %q", l))
		}
	}
	parts := strings.Split(lines[0], " ")
	if len(parts) != 3 || !isToken(parts[0]) || !forwardedTarget(parts[1]) || parts[2] != "HTTP/1.1" {
		problems = append(problems, fmt.Sprintf("request line %q", lines[0]))
	}
	var fields []field
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			problems = append(problems, fmt.Sprintf("header line %q", l))
			continue
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
				problems = append(problems, fmt.Sprintf("control byte in header %s: %q", name, value))
				break
			}
		}
		fields = append(fields, field{name, value})
	}
	hosts := 0
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Host") {
			hosts++
		}
	}
	if hosts != 1 {
		problems = append(problems, fmt.Sprintf("%d Host fields", hosts))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(parts) == 3 {
		rec.Method, rec.Target, rec.Proto = parts[0], parts[1], parts[2]
		if tag := r.tags.FindString(parts[1]); tag != "" {
			rec.Tag = tag
		}
	}
	rec.Fields = fields
	rec.Problems = append(rec.Problems, problems...)
	return len(problems) == 0
}

// readChunked decodes a chunked body strictly (hex sizes, optional extensions, CRLF everywhere),
// appending the data to rec as it arrives, then reads the trailer section.
func (r *recorder) readChunked(br *bufio.Reader, rec *recorded) error {
	buf := make([]byte, 32<<10)
	for {
		line, err := readCRLFLine(br)
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseUint(size, 16, 62)
		if err != nil || size == "" || strings.TrimLeft(size, "0123456789abcdefABCDEF") != "" {
			return fmt.Errorf("chunk size line %q", line)
		}
		if n == 0 {
			break
		}
		for n > 0 {
			m, err := br.Read(buf[:min(uint64(len(buf)), n)])
			r.appendBody(rec, buf[:m])
			n -= uint64(m)
			if err != nil && n > 0 {
				return io.ErrUnexpectedEOF
			}
		}
		if crlf, err := readCRLFLine(br); err != nil || crlf != "" {
			if err != nil {
				return err
			}
			return fmt.Errorf("chunk data followed by %q, not CRLF", crlf)
		}
	}
	for {
		line, err := readCRLFLine(br)
		if err != nil {
			return err
		}
		if line == "" {
			return nil
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return fmt.Errorf("trailer line %q", line)
		}
		r.mu.Lock()
		rec.Fields = append(rec.Fields, field{"trailer:" + name, strings.Trim(line[len(name)+1:], " \t")})
		r.mu.Unlock()
	}
}

// readCRLFLine reads a line that must end in CRLF and returns it without the CRLF.
func readCRLFLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if line == "" {
			return "", io.EOF
		}
		return "", io.ErrUnexpectedEOF
	}
	if len(line) > 64<<10 {
		return "", errors.New("line over 64 KiB")
	}
	if !strings.HasSuffix(line, "\r\n") || strings.Count(line, "\r") != 1 {
		return "", fmt.Errorf("line %q does not end in exactly one CRLF", line)
	}
	return line[:len(line)-2], nil
}

// forwardedTarget reports whether a target is one a gateway may send: origin-form of visible
// ASCII without a fragment, or "*".
func forwardedTarget(s string) bool {
	if s == "*" {
		return true
	}
	if !strings.HasPrefix(s, "/") || strings.IndexByte(s, '#') >= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// TestRecorder checks the witness on its own: it records what it is sent, answers whole requests
// and flags what frontgate must never send it.
func TestRecorder(t *testing.T) {
	tags := regexp.MustCompile(`k[ls][0-9]{4}`)
	for _, tt := range []struct {
		name, send string
		complete   bool
		body       string
		problem    bool
	}{
		{"content-length", "POST /kl0001 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", true, "hello", false},
		{"chunked", "POST /kl0001 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n", true, "abcde", false},
		{"no body", "GET /kl0001 HTTP/1.1\r\nHost: a\r\n\r\n", true, "", false},
		{"unfinished", "POST /kl0001 HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nhel", false, "hel", false},
		{"both framings", "POST /kl0001 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, "", true},
		{"bare LF", "GET /kl0001 HTTP/1.1\nHost: a\r\n\r\n", false, "", true},
		{"two hosts", "GET /kl0001 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, "", true},
		{"fragment", "GET /kl0001#x HTTP/1.1\r\nHost: a\r\n\r\n", false, "", true},
		{"bad chunk", "POST /kl0001 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", false, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := startRecorder(t, tags)
			c, err := net.Dial("tcp", rec.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			answer, err := io.ReadAll(c)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			rec.close()
			got := rec.requests()
			if len(got) != 1 {
				t.Fatalf("recorded %d requests, want 1", len(got))
			}
			q := got[0]
			if q.Tag != "kl0001" || q.Complete != tt.complete || string(q.Body) != tt.body || (len(q.Problems) > 0) != tt.problem {
				t.Errorf("recorded %s (tag %q)", q.String(), q.Tag)
			}
			if answered := bytes.HasPrefix(answer, []byte("HTTP/1.1 200 OK\r\n")); answered != tt.complete {
				t.Errorf("answer %q", answer)
			}
		})
	}
}
