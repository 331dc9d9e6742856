package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// quiet is how long the client waits for the server's next move (a response, or closing after a
	// refusal) before it half-closes its side itself.
	quiet = 3 * time.Second
	// exchangeLimit bounds one whole exchange.
	exchangeLimit = 20 * time.Second
)

// plan says when the client half-closes: at once (the case needs the end of input), after a given
// number of successful responses (a case that may only forward), or when the server falls quiet.
type plan struct {
	halfCloseAtOnce bool
	forwardCounts   []int // numbers of 2xx answers after which an acceptable outcome is complete
}

// planFor derives the client's plan from a case's outcomes.
func planFor(c *Case) plan {
	var p plan
	for _, a := range c.Alts {
		if a.Incomplete {
			p.halfCloseAtOnce = true
		}
		if len(a.Reject) == 0 && a.Forwards > 0 {
			p.forwardCounts = append(p.forwardCounts, a.Forwards)
		}
	}
	return p
}

// observation is what the client saw of one exchange.
type observation struct {
	Responses    []response
	Trailing     []byte // bytes after the last whole response that do not make one
	WriteErr     error
	ReadErr      error // the error that ended reading, other than EOF
	ServerClosed bool  // the server ended the connection before the client half-closed
	HalfClosed   bool  // the client half-closed (after sending everything)
	// FinalsBeforeHalfClose is how many final responses had arrived whole when the client
	// half-closed; a refusal among them should have been followed by the server closing.
	FinalsBeforeHalfClose int
	QuietAfter            bool // the client half-closed because the server fell quiet
	Elapsed               time.Duration
}

// response is one response read from the gateway.
type response struct {
	Status   int
	Header   map[string][]string // canonical-insensitive: keys lower case
	Body     []byte
	Complete bool // the body was read whole (false: the connection ended inside it)
}

func (r response) get(name string) string {
	if v := r.Header[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// finals are the final (non-1xx) responses.
func (o *observation) finals() []response {
	var out []response
	for _, r := range o.Responses {
		if r.Status >= 200 {
			out = append(out, r)
		}
	}
	return out
}

func (o *observation) String() string {
	var parts []string
	for _, r := range o.Responses {
		s := strconv.Itoa(r.Status)
		if id := r.get("X-Recorded"); id != "" {
			s += " (" + id + ")"
		}
		if !r.Complete {
			s += " (cut)"
		}
		parts = append(parts, s)
	}
	s := "responses [" + strings.Join(parts, ", ") + "]"
	switch {
	case o.ServerClosed:
		s += ", server closed the connection"
	case o.QuietAfter:
		s += fmt.Sprintf(", server fell quiet for %v and the client half-closed", quiet)
	case o.HalfClosed:
		s += ", client half-closed"
	}
	if len(o.Trailing) > 0 {
		s += fmt.Sprintf(", unparsed bytes %q", truncate(string(o.Trailing), 80))
	}
	if o.ReadErr != nil {
		s += ", read error: " + o.ReadErr.Error()
	}
	return s
}

// exchange sends raw on a new connection to addr and reads responses until the connection ends,
// half-closing the client's side according to p.
func exchange(addr string, raw []byte, p plan) *observation {
	start := time.Now()
	obs := &observation{}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		obs.ReadErr = err
		return obs
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	_ = c.SetDeadline(start.Add(exchangeLimit))

	// The bytes go out on their own goroutine: a server that refuses early may stop reading.
	var wg sync.WaitGroup
	written := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(written)
		if _, err := c.Write(raw); err != nil {
			obs.WriteErr = err
		}
	}()
	defer wg.Wait()

	// Reading goes on in another goroutine, which reports each chunk.
	type chunk struct {
		data []byte
		err  error
	}
	chunks := make(chan chunk, 16)
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := c.Read(buf)
			chunks <- chunk{buf[:n], err}
			if err != nil {
				close(chunks)
				return
			}
		}
	}()

	var data []byte // everything read so far
	halfClose := func(quietly bool) {
		if obs.HalfClosed {
			return
		}
		<-written
		obs.HalfClosed, obs.QuietAfter = true, quietly
		resps, _ := parseResponses(data, false)
		for _, r := range resps {
			if r.Status >= 200 {
				obs.FinalsBeforeHalfClose++
			}
		}
		_ = tc.CloseWrite()
	}
	if p.halfCloseAtOnce {
		halfClose(false)
	}
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for done := false; !done; {
		select {
		case ch, ok := <-chunks:
			if !ok {
				done = true
				break
			}
			data = append(data, ch.data...)
			if ch.err != nil {
				if !errors.Is(ch.err, io.EOF) {
					obs.ReadErr = ch.err
				}
				if !obs.HalfClosed {
					obs.ServerClosed = true
				}
				done = true
				break
			}
			resps, _ := parseResponses(data, false)
			if !obs.HalfClosed && wantHalfClose(resps, p) {
				halfClose(false)
			}
			timer.Reset(quiet) // Go 1.23 timers: no stale value to drain
		case <-timer.C:
			halfClose(true)
			timer.Reset(exchangeLimit)
		}
	}
	// Drain the reader goroutine (it ends after the error it reported).
	for range chunks {
	}
	obs.Responses, obs.Trailing = parseResponses(data, true)
	obs.Elapsed = time.Since(start)
	return obs
}

// wantHalfClose reports whether the responses so far complete an outcome that forwards only, so
// that the client can end its side at once. After a refusal the client waits for the server to
// close the connection itself.
func wantHalfClose(resps []response, p plan) bool {
	ok := 0
	for _, r := range resps {
		switch {
		case r.Status < 200:
		case r.Status < 300:
			ok++
		default:
			return false
		}
	}
	for _, n := range p.forwardCounts {
		if ok >= n {
			return true
		}
	}
	return false
}

// parseResponses parses the HTTP/1.1 responses at the start of data. With atEOF, a response
// without framing takes the rest, and a response cut short is returned marked incomplete; else
// only whole responses are returned. rest is what could not be parsed.
func parseResponses(data []byte, atEOF bool) (out []response, rest []byte) {
	for len(data) > 0 {
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 {
			return out, data
		}
		r, ok := parseResponseHead(string(data[:end]))
		if !ok {
			return out, data
		}
		body := data[end+4:]
		switch {
		case r.Status < 200 || r.Status == 204 || r.Status == 304:
			r.Complete = true
			data = body
		case strings.EqualFold(r.get("Transfer-Encoding"), "chunked"):
			decoded, n, err := dechunk(body)
			if err != nil {
				if !atEOF {
					return out, data
				}
				r.Body = decoded
				out = append(out, r)
				return out, nil
			}
			r.Body, r.Complete = decoded, true
			data = body[n:]
		case r.get("Content-Length") != "":
			n, err := strconv.Atoi(r.get("Content-Length"))
			if err != nil || n < 0 {
				return out, data
			}
			if len(body) < n {
				if !atEOF {
					return out, data
				}
				r.Body = body
				out = append(out, r)
				return out, nil
			}
			r.Body, r.Complete = body[:n], true
			data = body[n:]
		default: // to the end of the connection
			if !atEOF {
				return out, data
			}
			r.Body, r.Complete = body, true
			data = nil
		}
		out = append(out, r)
	}
	return out, nil
}

func parseResponseHead(head string) (response, bool) {
	lines := strings.Split(head, "\r\n")
	parts := strings.SplitN(lines[0], " ", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "HTTP/1.") {
		return response{}, false
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil || status < 100 || status > 999 {
		return response{}, false
	}
	r := response{Status: status, Header: map[string][]string{}}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return response{}, false
		}
		k = strings.ToLower(k)
		r.Header[k] = append(r.Header[k], strings.TrimSpace(v))
	}
	return r, true
}

// dechunk decodes a chunked body at the start of b, returning the data and how many bytes it took.
func dechunk(b []byte) ([]byte, int, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	var out []byte
	read := 0
	for {
		line, err := br.ReadString('\n')
		read += len(line)
		if err != nil {
			return out, read, io.ErrUnexpectedEOF
		}
		size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseUint(size, 16, 32)
		if err != nil {
			return out, read, err
		}
		if n == 0 {
			for {
				l, err := br.ReadString('\n')
				read += len(l)
				if err != nil {
					return out, read, io.ErrUnexpectedEOF
				}
				if strings.TrimSpace(l) == "" {
					return out, read, nil
				}
			}
		}
		p := make([]byte, n+2)
		m, err := io.ReadFull(br, p)
		read += m
		if err != nil {
			return append(out, p[:m]...), read, io.ErrUnexpectedEOF
		}
		out = append(out, p[:n]...)
	}
}

// TestParseResponses checks the client's response parser on the shapes frontgate sends.
func TestParseResponses(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		atEOF      bool
		statuses   []int
		complete   []bool
	}{
		{"two with lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, []int{200, 200}, []bool{true, true}},
		{"interim then final", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, []int{100, 200}, []bool{true, true}},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false, []int{200}, []bool{true}},
		{"to the end", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request", true, []int{400}, []bool{true}},
		{"to the end, not yet", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request", false, nil, nil},
		{"cut", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok", true, []int{200}, []bool{false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := parseResponses([]byte(tt.data), tt.atEOF)
			var statuses []int
			var complete []bool
			for _, r := range got {
				statuses = append(statuses, r.Status)
				complete = append(complete, r.Complete)
			}
			if fmt.Sprint(statuses) != fmt.Sprint(tt.statuses) || fmt.Sprint(complete) != fmt.Sprint(tt.complete) {
				t.Errorf("statuses %v complete %v, want %v %v", statuses, complete, tt.statuses, tt.complete)
			}
		})
	}
}
