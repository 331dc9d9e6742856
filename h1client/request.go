package h1client

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// writeRequest sends the request line, headers and body, copying a streamed body through bufs's
// buffers (nil: one per copy). The caller has removed hop-by-hop headers (ReverseProxy does);
// framing headers are written from ContentLength here.
func writeRequest(bw *bufio.Writer, req *http.Request, bufs httputil.BufferPool) error {
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		for _, v := range vs {
			if v == "" && k == "User-Agent" {
				continue // an empty User-Agent means none, as for net/http's transports
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(httpsyntax.SafeValue(v)) // net/http's server refuses CR and LF; other handlers may not
			bw.WriteString("\r\n")
		}
	}
	body := req.Body
	hasBody := body != nil && body != http.NoBody
	chunked := false
	switch {
	case req.ContentLength > 0 || (req.ContentLength == 0 && !hasBody && methodWantsLength(req.Method)):
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
		bw.WriteString("\r\n")
	case hasBody && req.ContentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		chunked = true
	}
	bw.WriteString("\r\n")
	if !hasBody || req.ContentLength == 0 {
		return bw.Flush()
	}
	if chunked {
		cw := httputil.NewChunkedWriter(bw)
		if _, err := copyBody(cw, body, bufs); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		bw.WriteString("\r\n")
		return bw.Flush()
	}
	n, err := copyBody(bw, io.LimitReader(body, req.ContentLength), bufs)
	if err != nil {
		return err
	}
	if n != req.ContentLength {
		return fmt.Errorf("request body: %d bytes, Content-Length said %d", n, req.ContentLength)
	}
	return bw.Flush()
}

// methodWantsLength: an empty POST, PUT or PATCH still says Content-Length: 0.
func methodWantsLength(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// copyBody copies with a buffer from bufs (nil: a buffer of its own).
func copyBody(dst io.Writer, src io.Reader, bufs httputil.BufferPool) (int64, error) {
	if bufs == nil {
		return io.Copy(dst, onlyReader{src})
	}
	buf := bufs.Get()
	defer bufs.Put(buf)
	return io.CopyBuffer(dst, onlyReader{src}, buf)
}

// onlyReader hides WriterTo so that io.CopyBuffer uses the pooled buffer.
type onlyReader struct{ io.Reader }

// Rewinder is a request body that can be sent again (see Send): Rewind readies it to be read from
// its start, reporting whether it could.
type Rewinder interface {
	Rewind() bool
}

// rewindBody readies req's body to be sent again, reporting whether it could: no body always can.
func rewindBody(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	rb, ok := req.Body.(Rewinder)
	return ok && rb.Rewind()
}

// closeBody closes req's body, if any: the transport's job once it is done with the request.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
