package middleware

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/httpsyntax"
	"github.com/frontgate/frontgate/internal/jsonerror"
)

// DefaultForwardAuthMaxAnswer is ForwardAuthOptions.MaxAnswer's zero value: 64 KiB.
const DefaultForwardAuthMaxAnswer = 64 << 10

// ForwardAuthOptions configures ForwardAuth.
type ForwardAuthOptions struct {
	// URL is the auth service's endpoint, asked GET for every request. Required; it is only read.
	URL *url.URL
	// Transport sends the auth requests; it should keep connections alive. Nil: http.DefaultTransport.
	// Redirects are never followed: a 3xx is an answer for the client.
	Transport http.RoundTripper
	// CopyHeaders are the fields copied from a 2xx answer onto the request before next sees it. The
	// client's own fields of these names are removed even when the answer lacks them. Empty: none.
	CopyHeaders []string
	// Timeout bounds one auth exchange, the answer's body included. Zero: only the client's request
	// bounds it.
	Timeout time.Duration
	// MaxAnswer bounds the body of a refusal passed on to the client (bigger: 502). Zero:
	// DefaultForwardAuthMaxAnswer.
	MaxAnswer int64
	// Trusted are the proxies whose forwarding fields (X-Forwarded-*, X-Real-Ip, Forwarded) are passed
	// on to the auth service and whose X-Forwarded-For names the client. The zero value trusts nobody.
	Trusted TrustedProxies
	// OnFail, when set, is called for each request the auth service refuses (metrics).
	OnFail func(*http.Request)
	// Logger receives a Warn line for each failed exchange with the auth service (never a field
	// value of the request); nil logs nothing.
	Logger *zap.Logger
}

// ForwardAuth asks the auth service at opts.URL about every request before next sees it: a GET
// without a body carrying the request's header fields (credentials included) without the hop-by-hop
// and framing ones, and X-Forwarded-Method, X-Forwarded-Uri (the request target as received),
// X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-For and X-Real-Ip (the client's address). From a
// peer that is not a trusted proxy the client's own forwarding fields are left out; from a trusted
// one X-Forwarded-Host and X-Forwarded-Proto are kept when given, and the client address honours
// its X-Forwarded-For; Method and Uri are always the request's own.
//
// A 2xx answer lets the request go on to next with opts.CopyHeaders copied from the answer. Any other
// answer is the client's: its status, header fields (but hop-by-hop ones) and body. No answer (the
// service unreachable, the timeout past, a body over MaxAnswer) is a 502 in the JSON error shape.
func ForwardAuth(next http.Handler, opts ForwardAuthOptions) http.Handler {
	f := &forwardAuth{next: next, opts: opts, log: opts.Logger}
	if f.opts.Transport == nil {
		f.opts.Transport = http.DefaultTransport
	}
	if f.opts.MaxAnswer <= 0 {
		f.opts.MaxAnswer = DefaultForwardAuthMaxAnswer
	}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	f.opts.CopyHeaders = make([]string, len(opts.CopyHeaders)) // the caller's slice stays as it is
	for i, k := range opts.CopyHeaders {
		f.opts.CopyHeaders[i] = httpsyntax.CanonicalKey(k)
	}
	return f
}

type forwardAuth struct {
	next http.Handler
	opts ForwardAuthOptions
	log  *zap.Logger
}

var errAnswerTooBig = errors.New("auth answer body too large")

func (f *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := r.Context(), context.CancelFunc(func() {})
	if f.opts.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, f.opts.Timeout)
	}
	defer cancel()
	ask := (&http.Request{Method: http.MethodGet, URL: f.opts.URL, Header: f.authHeader(r), Host: f.opts.URL.Host}).WithContext(ctx)
	resp, err := f.opts.Transport.RoundTrip(ask)
	var body []byte
	if err == nil {
		body, err = f.readAnswer(resp)
	}
	if err != nil {
		f.fail(w, r, err, ctx.Err() != nil)
		return
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		for _, k := range f.opts.CopyHeaders {
			delete(r.Header, k)
			if v := resp.Header[k]; len(v) > 0 {
				r.Header[k] = v
			}
		}
		f.next.ServeHTTP(w, r)
		return
	}
	if f.opts.OnFail != nil {
		f.opts.OnFail(r)
	}
	out := w.Header()
	for k, v := range resp.Header {
		if !hopByHop(k) && k != "Content-Length" && !httpsyntax.HasToken(resp.Header["Connection"], k) {
			out[k] = v
		}
	}
	out.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// readAnswer reads a refusal's body, at most MaxAnswer bytes (a bigger one is an error), and drains
// an admission's within the same bound, so that the connection can be used again; it closes the body.
func (f *forwardAuth) readAnswer(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode < 200 {
		return nil, errors.New("auth answer status " + strconv.Itoa(resp.StatusCode))
	}
	if resp.StatusCode <= 299 {
		_, err := io.CopyN(io.Discard, resp.Body, f.opts.MaxAnswer)
		if errors.Is(err, io.EOF) {
			err = nil // a longer body only costs the connection
		}
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxAnswer+1))
	if err == nil && int64(len(body)) > f.opts.MaxAnswer {
		err = errAnswerTooBig
	}
	return body, err
}

// fail answers a request whose auth exchange failed (ended, when the timeout passed or the client
// went away): 502, or nothing when the client went away.
func (f *forwardAuth) fail(w http.ResponseWriter, r *http.Request, err error, ended bool) {
	fields := []zap.Field{zap.String("request_id", r.Header.Get(RequestIDHeader)), zap.Error(err)}
	if r.Context().Err() != nil {
		f.log.Debug("client went away during auth", fields...)
		panic(http.ErrAbortHandler) // nobody to answer: the connection is cut, as the proxy does
	}
	msg := "auth service failed"
	if ended || errors.Is(err, context.DeadlineExceeded) {
		msg = "auth service timed out"
	}
	f.log.Warn(msg, fields...)
	jsonerror.WriteMessage(w, r, http.StatusBadGateway, "authentication unavailable")
}

// authHeader is the auth request's header: r's fields without the hop-by-hop and framing ones (and,
// from a peer that is not a trusted proxy, without the client's forwarding fields), and the
// forwarding fields frontgate sets.
func (f *forwardAuth) authHeader(r *http.Request) http.Header {
	h := r.Header.Clone() // the transport may still read it while r's fields change downstream
	if h == nil {
		h = http.Header{}
	}
	peer, ok := parseHostAddr(r.RemoteAddr)
	trusted := ok && f.opts.Trusted.Contains(peer)
	connection := r.Header["Connection"]
	for k := range h {
		switch {
		case hopByHop(k), k == "Content-Length", k == "Expect", httpsyntax.HasToken(connection, k):
			delete(h, k)
		case !trusted && (strings.HasPrefix(k, "X-Forwarded-") || k == "X-Real-Ip" || k == "Forwarded"):
			delete(h, k)
		}
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	h.Set("X-Forwarded-Method", r.Method)
	h.Set("X-Forwarded-Uri", uri)
	if !trusted || h.Get("X-Forwarded-Host") == "" {
		h.Set("X-Forwarded-Host", r.Host)
	}
	if !trusted || h.Get("X-Forwarded-Proto") == "" {
		proto := "http"
		if r.TLS != nil {
			proto = "https"
		}
		h.Set("X-Forwarded-Proto", proto)
	}
	if ip := f.opts.Trusted.ClientIP(r); ip.IsValid() {
		h.Set("X-Forwarded-For", ip.String())
		h.Set("X-Real-Ip", ip.String())
	} else {
		h.Del("X-Forwarded-For")
		h.Del("X-Real-Ip")
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // net/http sends none for an empty one, rather than its own
	}
	return h
}

// hopByHop reports whether the canonical field name k ends at this hop (RFC 9110 7.6.1, and the
// fields net/http's ReverseProxy also treats so).
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
