package httpsyntax

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// RequestHead is a request's line and fields as ParseRequestHead read them, with what the rules
// decided from them. A value can be used again for the next head: Fields keeps its capacity.
type RequestHead struct {
	Method, Target string
	Minor          int      // 1 for HTTP/1.1, 0 for HTTP/1.0
	URL            *url.URL // the target parsed: origin-form, absolute-form, or * (Path "*")
	Fields         []Field  // the field lines but Host and Transfer-Encoding, in order, names canonical
	Host           string   // absolute-form's authority, else the Host field's value
	Length         int64    // the body: its Content-Length, 0 for none, -1 for chunked
	Close          bool     // the connection ends after this request
	Continue       bool     // the client waits for 100 Continue before it sends the body
}

// Field is one field line: a canonical name and its value without surrounding spaces.
type Field struct{ Name, Value string }

// ParseRequestHead parses head (from the request line through the empty line that ends the fields,
// as HeadLength measures it, without empty lines before it) into h. It refuses what RFC 9112 refuses
// and whatever another parser might read differently, returning the status to answer with (and
// closing the connection after, the framing being in doubt):
//   - a request line that is not `method SP target SP version` with single spaces, a method that is
//     not a token, a target with spaces, controls, non-ASCII bytes or a fragment, an absolute-form
//     target that is not http(s) with a host and no userinfo, `*` but for OPTIONS (400); another
//     version than HTTP/1.0 and HTTP/1.1 (505 if it looks like one, else 400); CONNECT (501);
//   - a field line that ParseField refuses (obsolete folding, no colon, a name that is not a token
//     or is followed by a space, a value with a control character) (400);
//   - no Host in HTTP/1.1, more than one, or one that is not uri-host[:port] (400);
//   - Transfer-Encoding with Content-Length, Transfer-Encoding in HTTP/1.0, a coding list that does
//     not end in a plain chunked (400; 501 for codings before a final chunked), a Content-Length
//     that is not all digits or disagrees with another (400);
//   - an expectation other than 100-continue (417).
func ParseRequestHead(head string, h *RequestHead) (status int, err error) {
	fields := h.Fields[:0]
	clear(fields[:cap(fields)]) // no strings of the last head kept alive
	*h = RequestHead{Fields: fields}
	line, rest := CutLine(head)
	method, after, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(after, " ")
	if !ok1 || !ok2 || !Token(method) || target == "" {
		return http.StatusBadRequest, fmt.Errorf("malformed request line %q", line)
	}
	h.Method, h.Target = method, target
	switch {
	case proto == "HTTP/1.1":
		h.Minor = 1
	case proto == "HTTP/1.0":
		h.Minor = 0
	case len(proto) == 8 && strings.HasPrefix(proto, "HTTP/") && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]):
		return http.StatusHTTPVersionNotSupported, fmt.Errorf("unsupported protocol %q", proto)
	default:
		return http.StatusBadRequest, fmt.Errorf("malformed request line %q", line)
	}
	if method == http.MethodConnect {
		return http.StatusNotImplemented, errors.New("CONNECT is not supported")
	}
	if h.URL, err = ParseTarget(method, target); err != nil {
		return http.StatusBadRequest, err
	}

	var hosts, lengths, codings []string
	var connection []string
	var expect string
	expects := 0
	for rest != "" {
		line, rest = CutLine(rest)
		if line == "" {
			break
		}
		k, v, err := ParseField(line)
		if err != nil {
			return http.StatusBadRequest, err
		}
		switch k {
		case "Host":
			hosts = append(hosts, v)
			continue
		case "Transfer-Encoding":
			codings = append(codings, v)
			continue
		case "Content-Length":
			lengths = append(lengths, v)
		case "Connection":
			connection = append(connection, v)
		case "Expect":
			expect = v
			expects++
		}
		h.Fields = append(h.Fields, Field{k, v})
	}

	switch {
	case len(hosts) > 1:
		return http.StatusBadRequest, errors.New("more than one Host header")
	case len(hosts) == 0 && h.Minor == 1:
		return http.StatusBadRequest, errors.New("missing Host header")
	case len(hosts) == 1 && !ValidHost(hosts[0]):
		return http.StatusBadRequest, fmt.Errorf("invalid Host %q", hosts[0])
	case len(hosts) == 1:
		h.Host = hosts[0]
	}
	if h.URL.Host != "" {
		h.Host = h.URL.Host // absolute-form wins (RFC 9112 3.2.2)
	}

	switch {
	case len(codings) > 0 && h.Minor == 0:
		return http.StatusBadRequest, errors.New("transfer-encoding in an HTTP/1.0 request")
	case len(codings) > 0 && len(lengths) > 0:
		return http.StatusBadRequest, errors.New("both Transfer-Encoding and Content-Length")
	case len(codings) > 0:
		switch TransferCoding(codings) {
		case Chunked:
			h.Length = -1
		case ChunkedOverOther:
			return http.StatusNotImplemented, fmt.Errorf("unsupported transfer coding %q", codings)
		default:
			return http.StatusBadRequest, fmt.Errorf("transfer-encoding %q does not end in chunked", codings)
		}
	case len(lengths) > 0:
		n, ok := ContentLength(lengths[0])
		if !ok {
			return http.StatusBadRequest, fmt.Errorf("invalid Content-Length %q", lengths[0])
		}
		for _, v := range lengths[1:] {
			if v != lengths[0] {
				return http.StatusBadRequest, errors.New("conflicting Content-Length headers")
			}
		}
		h.Length = n
	}

	if expects > 0 {
		if expects > 1 || !EqualFold(TrimOWS(expect), "100-continue") {
			return http.StatusExpectationFailed, fmt.Errorf("unsupported expectation %q", expect)
		}
		h.Continue = h.Minor == 1 && h.Length != 0
	}
	if h.Minor == 0 {
		h.Close = !HasToken(connection, "keep-alive")
	} else {
		h.Close = HasToken(connection, "close")
	}
	return 0, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ParseTarget parses a request target: origin-form, absolute-form (http or https, any case, with a
// valid host and no userinfo), or * for OPTIONS. Spaces, controls, bytes past ASCII and fragments
// are refused in all of them.
func ParseTarget(method, target string) (*url.URL, error) {
	if target == "*" {
		if method != http.MethodOptions {
			return nil, errors.New("* is only for OPTIONS")
		}
		return &url.URL{Path: "*"}, nil
	}
	if u := simpleTarget(target); u != nil {
		return u, nil
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return nil, fmt.Errorf("malformed request target %q", target)
		}
	}
	absolute := hasPrefixFold(target, "http://") || hasPrefixFold(target, "https://")
	if target[0] != '/' && !absolute {
		return nil, fmt.Errorf("malformed request target %q", target)
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("request target: %w", err)
	}
	if absolute && (u.Host == "" || u.User != nil || !ValidHost(u.Host)) {
		return nil, fmt.Errorf("request target %q: no valid authority", target)
	}
	return u, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// simpleTarget is the URL of an origin-form target whose path needs no unescaping and whose query
// holds only visible characters, the usual kind, built without url.ParseRequestURI's general parse
// (it gives the same URL for these); nil for any other target.
func simpleTarget(target string) *url.URL {
	if target[0] != '/' {
		return nil
	}
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if c := path[i]; c >= 0x80 || !pathChar[c] {
			return nil
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return nil
		}
	}
	return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
}

// pathChar: the path characters that net/url leaves as they are when it escapes a path (so that
// RawPath stays empty).
var pathChar = alnumAnd("-._~$&+,;=:@/")
