package corpus

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The Transfer-Encoding family is generated: every obfuscation of "Transfer-Encoding: chunked" in
// the list below, put into three request shapes (CL.TE, TE.CL and TE alone), with the expected
// outcome worked out by strictModel, a small reference reading of RFC 9112's rules as the team
// agreed them. The result is written to testdata/te-family.cases so that it can be reviewed like
// the hand-written files; TestGeneratedCases fails when the file is out of date:
//
//	go test ./corpus -run TestGeneratedCases -regen

var regen = flag.Bool("regen", false, "rewrite testdata/te-family.cases from the mutation list")

const generatedFile = "te-family.cases"

// mutation is one way of writing (or miswriting) the Transfer-Encoding line.
type mutation struct {
	name, line, source string
}

// smugglerChars are the bytes smuggler's default configuration puts around and inside the line.
var smugglerChars = []byte{0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff}

func mutations() []mutation {
	const (
		smugglerDefault    = "smuggler configs/default.py %s (github.com/defparam/smuggler)"
		smugglerExhaustive = "smuggler configs/exhaustive.py %s (github.com/defparam/smuggler)"
		portswigger        = "PortSwigger Web Security Academy, request smuggling: obfuscating the TE header (%s)"
		garden             = "HTTP Garden TROPHIES.md %s (github.com/narfindustries/http-garden)"
		llhttp             = "llhttp test/request/transfer-encoding.md %q (github.com/nodejs/llhttp)"
		rfc                = "RFC 9112 %s"
	)
	ms := []mutation{
		{"baseline", "Transfer-Encoding: chunked", fmt.Sprintf(rfc, "6.1 (the plain field)")},
		{"nameprefix1", " Transfer-Encoding: chunked", fmt.Sprintf(smugglerDefault, "nameprefix1")},
		{"tabprefix1", "Transfer-Encoding:\tchunked", fmt.Sprintf(smugglerDefault, "tabprefix1")},
		{"tabprefix2", "Transfer-Encoding\t:\tchunked", fmt.Sprintf(smugglerDefault, "tabprefix2")},
		{"space1", "Transfer-Encoding : chunked", fmt.Sprintf(smugglerDefault, "space1")},
	}
	for _, c := range smugglerChars {
		for _, p := range []struct{ name, format string }{
			{"midspace", "Transfer-Encoding:@chunked"},
			{"postspace", "Transfer-Encoding@: chunked"},
			{"prespace", "@Transfer-Encoding: chunked"},
			{"endspace", "Transfer-Encoding: chunked@"},
			{"xprespace", "X: X@Transfer-Encoding: chunked"},
			{"endspacex", "Transfer-Encoding: chunked@X: X"},
			{"rxprespace", "X: X\r@Transfer-Encoding: chunked"},
			{"xnprespace", "X: X@\nTransfer-Encoding: chunked"},
			{"endspacerx", "Transfer-Encoding: chunked\r@X: X"},
			{"endspacexn", "Transfer-Encoding: chunked@\nX: X"},
		} {
			// @ stands for the byte itself (not its UTF-8 encoding, which %c would give).
			name := fmt.Sprintf("%s-%02x", p.name, c)
			ms = append(ms, mutation{name, strings.ReplaceAll(p.format, "@", string([]byte{c})), fmt.Sprintf(smugglerDefault, name)})
		}
	}
	for _, m := range []struct{ name, line string }{
		{"spacejoin1", "Transfer Encoding: chunked"},
		{"underjoin1", "Transfer_Encoding: chunked"},
		{"smashed", "Transfer Encoding:chunked"},
		{"valueprefix1", "Transfer-Encoding:  chunked"},
		{"vertprefix1", "Transfer-Encoding:\x0bchunked"},
		{"commaCow", "Transfer-Encoding: chunked, cow"},
		{"cowComma", "Transfer-Encoding: cow, chunked"},
		{"contentEnc", "Content-Encoding: chunked"},
		{"linewrapped1", "Transfer-Encoding:\n chunked"},
		{"quoted", "Transfer-Encoding: \"chunked\""},
		{"aposed", "Transfer-Encoding: 'chunked'"},
		{"lazygrep", "Transfer-Encoding: chunk"},
		{"sarcasm", "TrAnSFer-EnCODinG: cHuNkeD"},
		{"yelling", "TRANSFER-ENCODING: CHUNKED"},
		{"0dsuffix", "Transfer-Encoding: chunked\r"},
		{"tabsuffix", "Transfer-Encoding: chunked\t"},
		{"revdualchunk", "Transfer-Encoding: cow\r\nTransfer-Encoding: chunked"},
		{"0dspam", "Transfer\r-Encoding: chunked"},
		{"nested", "Transfer-Encoding: cow chunked bar"},
		{"spaceFF", "Transfer-Encoding:\xffchunked"},
		{"accentCH", "Transfer-Encoding: ch\x96nked"},
		{"accentTE", "Transf\x82r-Encoding: chunked"},
		{"x-rout", "X:X\rTransfer-Encoding: chunked"},
		{"x-nout", "X:X\nTransfer-Encoding: chunked"},
	} {
		ms = append(ms, mutation{m.name, m.line, fmt.Sprintf(smugglerExhaustive, m.name)})
	}
	ms = append(ms,
		mutation{"ps-xchunked", "Transfer-Encoding: xchunked", fmt.Sprintf(portswigger, "Transfer-Encoding: xchunked")},
		mutation{"ps-chunked-then-x", "Transfer-Encoding: chunked\r\nTransfer-Encoding: x", fmt.Sprintf(portswigger, "a second TE field: x")},
		mutation{"ps-name-lf", "Transfer-Encoding\n: chunked", fmt.Sprintf(portswigger, "Transfer-Encoding[LF]: chunked")},
		mutation{"garden-comma-chunked", "Transfer-Encoding: ,chunked", fmt.Sprintf(garden, "transducer bugs 9, 15, 18 and server bug 21 (`,chunked`)")},
		mutation{"garden-nbsp-around", "Transfer-Encoding: \xa0chunked\xa0", fmt.Sprintf(garden, "server bug 12 (\\xa0 stripped from values)")},
		mutation{"garden-x85-around", "Transfer-Encoding: \x85chunked\x85", fmt.Sprintf(garden, "server bug 12 (\\x85 stripped from values)")},
		mutation{"garden-ff-around", "Transfer-Encoding: \xffchunked\xff", fmt.Sprintf(garden, "server bug 46 (bytes over \\x80 stripped)")},
		mutation{"garden-blegh", "Transfer-Encoding: blegh", fmt.Sprintf(garden, "server bug 44 (unknown codings taken as chunked)")},
		mutation{"garden-double-chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", fmt.Sprintf(garden, "server bug 11 and transducer bug 25 (two TE: chunked fields)")},
		mutation{"garden-name-continued", "Transfer-\r\nEncoding: chunked", fmt.Sprintf(garden, "server bug 37 (names continued across lines)")},
		mutation{"garden-x85-name", "Transfer-Encoding\x85: chunked", fmt.Sprintf(garden, "server bug 20 (\\x85 stripped from names)")},
		mutation{"garden-nul-end", "Transfer-Encoding: chunked\x00", fmt.Sprintf(garden, "server bug 43 (\\x00 stripped from value ends)")},
		mutation{"llhttp-pigeons", "Transfer-Encoding: pigeons", fmt.Sprintf(llhttp, "Ignoring `pigeons`")},
		mutation{"llhttp-identity", "Transfer-Encoding: identity", fmt.Sprintf(llhttp, "POST with `Transfer-Encoding` and `Content-Length`")},
		mutation{"llhttp-chunked-deflate", "Transfer-Encoding: chunked, deflate", fmt.Sprintf(llhttp, "POST with `chunked` before other transfer coding names")},
		mutation{"llhttp-chunked-then-deflate-field", "Transfer-Encoding: chunked\r\nTransfer-Encoding: deflate", fmt.Sprintf(llhttp, "POST with `chunked` and duplicate transfer-encoding")},
		mutation{"llhttp-deflate-chunked", "Transfer-Encoding: deflate, chunked", fmt.Sprintf(llhttp, "POST with `chunked` as last transfer-encoding")},
		mutation{"llhttp-deflate-then-chunked-field", "Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked", fmt.Sprintf(llhttp, "POST with `chunked` as last transfer-encoding (multiple headers)")},
		mutation{"llhttp-chunkedchunked", "Transfer-Encoding: chunkedchunked", fmt.Sprintf(llhttp, "POST with `chunkedchunked` as transfer-encoding")},
		mutation{"llhttp-empty", "Transfer-Encoding:", fmt.Sprintf(llhttp, "POST with empty `Transfer-Encoding` and `Content-Length` (lenient)")},
		mutation{"llhttp-obs-fold-after", "Transfer-Encoding: chunked\r\n , identity", fmt.Sprintf(llhttp, "Invalid OBS fold after chunked value")},
		mutation{"rfc-gzip-chunked", "Transfer-Encoding: gzip, chunked", fmt.Sprintf(rfc, "6.1 (a coding before chunked: 501 for one not understood)")},
		mutation{"rfc-chunked-comma", "Transfer-Encoding: chunked,", "RFC 9110 5.6.1 (empty list elements)"},
		mutation{"rfc-chunked-twice", "Transfer-Encoding: chunked, chunked", fmt.Sprintf(rfc, "6.1 (chunked MUST NOT be applied twice)")},
		mutation{"rfc-chunked-semicolon", "Transfer-Encoding: chunked;", fmt.Sprintf(rfc, "7 and RFC 9110 10.1.4 (a coding with an empty parameter)")},
		mutation{"rfc-chunked-param", "Transfer-Encoding: chunked; q=1", fmt.Sprintf(rfc, "7 (chunked takes no parameters)")},
		mutation{"rfc-chunked-dquote-param", "Transfer-Encoding: chunked;a=\"b\"", fmt.Sprintf(rfc, "7 (chunked takes no parameters)")},
	)
	return ms
}

// shape puts a mutated line into a request; the tag placeholder has the tag's length, so lengths
// computed here hold once it is replaced.
type shape struct {
	name, source string
	build        func(line string) string
}

var shapes = []shape{
	{"clte", "PortSwigger CL.TE (front end uses Content-Length, back end Transfer-Encoding); smuggler _check_clte", func(line string) string {
		body := "0\r\n\r\nGET /{case}/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
		return "POST /{case} HTTP/1.1\r\nHost: a\r\n" + line + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"tecl", "PortSwigger TE.CL (front end uses Transfer-Encoding, back end Content-Length); smuggler _check_tecl", func(line string) string {
		data := "GET /{case}/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
		size := strconv.FormatInt(int64(len(data)), 16) + "\r\n"
		return "POST /{case} HTTP/1.1\r\nHost: a\r\n" + line + "\r\nContent-Length: " + strconv.Itoa(len(size)) + "\r\n\r\n" +
			size + data + "\r\n0\r\n\r\n"
	}},
	{"te", "a chunked upload followed by a pipelined request (RFC 9112 6.3 and 7.1)", func(line string) string {
		return "POST /{case} HTTP/1.1\r\nHost: a\r\n" + line + "\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /{case}/next HTTP/1.1\r\nHost: a\r\n\r\n"
	}},
}

// generateCases renders the family as a case file.
func generateCases() string {
	var b strings.Builder
	b.WriteString(`# Generated by generate_test.go: every Transfer-Encoding obfuscation in its list, in three shapes.
# Do not edit; change the list or the model and run: go test ./corpus -run TestGeneratedCases -regen
#
# Shapes (the mutated line comes after Host):
#   clte  Content-Length covers "0\r\n\r\n" and a whole tagged GET: read as chunked, the GET would be
#         smuggled; read by Content-Length it is body.
#   tecl  Content-Length covers only the first chunk-size line: read by Content-Length, the chunk data
#         (a whole tagged GET) becomes the next request.
#   te    no Content-Length: a chunked "hello" and then a pipelined tagged GET.
# Expected outcomes come from strictModel (generate_test.go): a bare LF may be taken as a line end
# (RFC 9112 2.2 MAY) or refused, and an empty list element may be ignored (RFC 9110 5.6.1) or
# refused; where these readings differ the outcomes are joined with "|".
`)
	for _, m := range mutations() {
		for _, s := range shapes {
			raw := s.build(m.line)
			expect, blocks, notes := expectation(raw)
			fmt.Fprintf(&b, "\ncase: te-%s-%s\n", s.name, m.name)
			fmt.Fprintf(&b, "source: %s\n", m.source)
			fmt.Fprintf(&b, "source: shape %s: %s\n", s.name, s.source)
			for _, n := range notes {
				fmt.Fprintf(&b, "note: %s\n", n)
			}
			writeSend(&b, raw)
			fmt.Fprintf(&b, "expect: %s\n", expect)
			for _, f := range blocks {
				fmt.Fprintf(&b, "forward: %s %s\n", f.Method, f.Target)
				if f.Body != "" {
					fmt.Fprintf(&b, "  body: %s\n", escape(f.Body))
				}
			}
		}
	}
	return b.String()
}

// writeSend writes raw as send lines, one line of the message per line of the file.
func writeSend(b *strings.Builder, raw string) {
	for raw != "" {
		i := strings.Index(raw, "\r\n")
		if i < 0 {
			i = len(raw)
		} else {
			i += 2
		}
		fmt.Fprintf(b, "send: %s\n", escape(raw[:i]))
		raw = raw[i:]
	}
}

// expectation runs the model under each allowed reading and joins the distinct outcomes.
func expectation(raw string) (expect string, blocks []Forward, notes []string) {
	var (
		alts     []string
		seen     = map[string]bool{}
		results  []modelResult
		readings []reading
	)
	for _, rd := range []reading{{}, {bareLF: true}, {emptyElements: true}, {bareLF: true, emptyElements: true}} {
		r := strictModel(raw, rd)
		if len(r.forwards) > len(blocks) {
			if !samePrefix(r.forwards, blocks) {
				panic(fmt.Sprintf("readings of %q forward different requests", raw))
			}
			blocks = r.forwards
		} else if !samePrefix(blocks, r.forwards) {
			panic(fmt.Sprintf("readings of %q forward different requests", raw))
		}
		results = append(results, r)
		readings = append(readings, rd)
	}
	// Refusals after the same requests merge: their statuses join, and "partial" covers both.
	for i := range results {
		for j := range i {
			a, b := &results[j], &results[i]
			if a.end == "reject" && b.end == "reject" && len(a.forwards) == len(b.forwards) {
				a.codes = joinCodes(a.codes, b.codes)
				a.partial = a.partial || b.partial
				b.end = "merged"
			}
		}
	}
	for i, r := range results {
		if r.end == "merged" {
			continue
		}
		alt := r.alt()
		if !seen[alt] {
			seen[alt] = true
			alts = append(alts, alt)
			notes = append(notes, readings[i].String()+": "+r.why)
		}
	}
	if len(notes) == 1 {
		notes[0] = strings.TrimPrefix(notes[0], reading{}.String()+": ")
	}
	return strings.Join(alts, " | "), blocks, notes
}

// joinCodes is the union of two comma-separated status lists, in ascending order.
func joinCodes(a, b string) string {
	set := map[string]bool{}
	for _, c := range strings.Split(a+","+b, ",") {
		set[c] = true
	}
	var out []string
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func samePrefix(long, short []Forward) bool {
	for i := range short {
		if long[i].Method != short[i].Method || long[i].Target != short[i].Target || long[i].Body != short[i].Body {
			return false
		}
	}
	return true
}

// reading is a choice the RFC leaves to the server.
type reading struct {
	bareLF        bool // a bare LF ends a head line (RFC 9112 2.2 MAY); else it is refused
	emptyElements bool // empty elements of the Transfer-Encoding list are ignored (RFC 9110 5.6.1)
}

func (r reading) String() string {
	switch {
	case r.bareLF && r.emptyElements:
		return "with bare LF as a line end and empty list elements ignored"
	case r.bareLF:
		return "with bare LF as a line end"
	case r.emptyElements:
		return "with empty list elements ignored"
	}
	return "strictly"
}

// modelResult is what a strict server makes of a byte stream: the requests it forwards, then a clean
// end, a refusal (codes), or an end of input inside a request.
type modelResult struct {
	forwards []Forward
	end      string // "clean", "reject" or "incomplete"
	codes    string
	partial  bool // refused inside a body: the head may have been forwarded already
	why      string
}

func (r modelResult) alt() string {
	switch r.end {
	case "incomplete":
		return "incomplete"
	case "clean":
		return fmt.Sprintf("forward %d", len(r.forwards))
	}
	s := "reject " + r.codes
	if len(r.forwards) > 0 {
		s = fmt.Sprintf("forward %d then %s", len(r.forwards), s)
	}
	if r.partial {
		s += " partial"
	}
	return s
}

// strictModel reads raw as a sequence of requests under the agreed rules (see the task's rule list,
// summarised in testdata/README.md). It covers what the generated shapes need: origin-form targets,
// Host, Transfer-Encoding, Content-Length and chunked bodies without extensions or trailers.
func strictModel(raw string, rd reading) modelResult {
	var res modelResult
	stop := func(end, codes string, partial bool, why string) modelResult {
		res.end, res.codes, res.partial = end, codes, partial
		n := len(res.forwards)
		switch {
		case end == "clean":
			res.why = fmt.Sprintf("%d request(s) forwarded", n)
		case n > 0:
			res.why = fmt.Sprintf("request %d forwarded, then %s", n, why)
		default:
			res.why = why
		}
		return res
	}
	rest := raw
	for {
		for {
			if strings.HasPrefix(rest, "\r\n") {
				rest = rest[2:]
			} else if rd.bareLF && strings.HasPrefix(rest, "\n") {
				rest = rest[1:]
			} else {
				break
			}
		}
		if rest == "" {
			return stop("clean", "", false, "")
		}
		var lines []string
		for {
			i := strings.IndexByte(rest, '\n')
			if i < 0 {
				return stop("incomplete", "", false, "the input ends inside a head")
			}
			line := rest[:i]
			rest = rest[i+1:]
			if strings.HasSuffix(line, "\r") {
				line = line[:len(line)-1]
			} else if !rd.bareLF {
				return stop("reject", "400", false, fmt.Sprintf("bare LF after %q in the head (RFC 9112 2.2)", line))
			}
			if strings.Contains(line, "\r") {
				return stop("reject", "400", false, fmt.Sprintf("bare CR in head line %q (RFC 9112 2.2)", line))
			}
			if line == "" {
				break
			}
			lines = append(lines, line)
		}
		parts := strings.Split(lines[0], " ")
		if len(parts) != 3 || !isToken(parts[0]) || !strings.HasPrefix(parts[1], "/") || !visible(parts[1]) ||
			(parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") {
			return stop("reject", "400", false, fmt.Sprintf("%q is not a request line (RFC 9112 3)", lines[0]))
		}
		var te, cl, host []string
		for _, l := range lines[1:] {
			if l[0] == ' ' || l[0] == '\t' {
				// net/http's server unfolds the line and refuses the coding it then reads (501) itself.
				return stop("reject", "400,501", false, fmt.Sprintf("line %q starts with whitespace: obs-fold (RFC 9112 5.2)", l))
			}
			name, value, ok := strings.Cut(l, ":")
			if !ok || !isToken(name) {
				return stop("reject", "400", false, fmt.Sprintf("%q is not a field line: the name must be a token right before the colon (RFC 9112 5.1)", l))
			}
			value = strings.Trim(value, " \t")
			if !visibleValue(value) {
				return stop("reject", "400", false, fmt.Sprintf("a control byte in the value of %q (RFC 9110 5.5)", l))
			}
			switch strings.ToLower(name) {
			case "transfer-encoding":
				te = append(te, value)
			case "content-length":
				cl = append(cl, value)
			case "host":
				host = append(host, value)
			}
		}
		if len(host) != 1 && parts[2] == "HTTP/1.1" {
			return stop("reject", "400", false, fmt.Sprintf("%d Host fields (RFC 9112 3.2)", len(host)))
		}
		f := Forward{Method: parts[0], Target: parts[1]}
		switch {
		case len(te) > 0:
			var codings []string
			empty := false
			for _, e := range strings.Split(strings.Join(te, ","), ",") {
				if e = strings.ToLower(strings.Trim(e, " \t")); e == "" {
					empty = true
				} else {
					codings = append(codings, e)
				}
			}
			chunked := len(codings) == 1 && codings[0] == "chunked" && (!empty || rd.emptyElements)
			switch {
			case len(cl) > 0 && chunked:
				return stop("reject", "400", false, "Transfer-Encoding: chunked with Content-Length (RFC 9112 6.1, 6.3)")
			case len(cl) > 0:
				return stop("reject", "400,501", false, fmt.Sprintf("Transfer-Encoding %q with Content-Length (RFC 9112 6.1, 6.3)", te))
			case parts[2] == "HTTP/1.0":
				return stop("reject", "400", false, "Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1)")
			case !chunked:
				return stop("reject", "400,501", false, fmt.Sprintf("Transfer-Encoding %q is not exactly chunked (RFC 9112 6.1, 6.3, 7)", te))
			}
			body, after, err := strictChunked(rest)
			if err != "" {
				if err == "incomplete" {
					return stop("incomplete", "", true, "the input ends inside the chunked body")
				}
				return stop("reject", "400", true, err)
			}
			f.Body, rest = body, after
		case len(cl) > 0:
			for _, v := range cl {
				if v == "" || strings.Trim(v, "0123456789") != "" || v != cl[0] {
					return stop("reject", "400", false, fmt.Sprintf("Content-Length %q (RFC 9112 6.3)", cl))
				}
			}
			n, _ := strconv.Atoi(cl[0])
			if len(rest) < n {
				return stop("incomplete", "", true, "the input ends inside the body")
			}
			f.Body, rest = rest[:n], rest[n:]
		}
		res.forwards = append(res.forwards, f)
	}
}

// strictChunked decodes a chunked body without extensions or trailers at the start of s: chunk
// lines and data ends exactly CRLF. err is "" on success, "incomplete", or why it is malformed.
func strictChunked(s string) (body, rest, err string) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return "", "", "incomplete"
		}
		line := s[:i]
		if !strings.HasSuffix(line, "\r") || strings.Count(line, "\r") != 1 {
			return "", "", fmt.Sprintf("chunk-size line %q does not end in CRLF (RFC 9112 7.1)", line)
		}
		line = line[:len(line)-1]
		n, perr := strconv.ParseUint(line, 16, 40)
		if perr != nil || strings.Trim(line, "0123456789abcdefABCDEF") != "" {
			return "", "", fmt.Sprintf("chunk-size %q is not 1*HEXDIG (RFC 9112 7.1)", line)
		}
		s = s[i+1:]
		if n == 0 {
			if strings.HasPrefix(s, "\r\n") {
				return b.String(), s[2:], ""
			}
			if !strings.Contains(s, "\n") {
				return "", "", "incomplete"
			}
			return "", "", "the last chunk is not followed by CRLF (RFC 9112 7.1)"
		}
		if uint64(len(s)) < n+2 {
			return "", "", "incomplete"
		}
		if s[n:n+2] != "\r\n" {
			return "", "", fmt.Sprintf("chunk data followed by %q, not CRLF (RFC 9112 7.1)", s[n:n+2])
		}
		b.WriteString(s[:n])
		s = s[n+2:]
	}
}

func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func visibleValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// TestGeneratedCases keeps testdata/te-family.cases equal to what the mutation list and the model
// give (with -regen, it rewrites the file).
func TestGeneratedCases(t *testing.T) {
	want := generateCases()
	path := filepath.Join("testdata", generatedFile)
	if *regen {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date: run go test ./corpus -run TestGeneratedCases -regen", path)
	}
}

// TestStrictModel checks the model behind the generated expectations on requests whose outcome is
// plain, so that a mistake in it does not silently turn into hundreds of wrong expectations.
func TestStrictModel(t *testing.T) {
	for _, tt := range []struct {
		name, raw, want string
	}{
		{"plain get", "GET /{case} HTTP/1.1\r\nHost: a\r\n\r\n", "forward 1"},
		{"two pipelined", "GET /{case} HTTP/1.1\r\nHost: a\r\n\r\nGET /{case} HTTP/1.1\r\nHost: a\r\n\r\n", "forward 2"},
		{"chunked", "POST /{case} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "forward 1"},
		{"cl and te", "POST /{case} HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "reject 400"},
		{"unknown coding", "POST /{case} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "reject 400,501"},
		{"bare cr", "GET /{case} HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", "reject 400"},
		{"bare lf", "GET /{case} HTTP/1.1\nHost: a\r\n\r\n", "reject 400"},
		{"obs-fold", "GET /{case} HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "reject 400,501"},
		{"no host", "GET /{case} HTTP/1.1\r\n\r\n", "reject 400"},
		{"bad chunk size", "POST /{case} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", "reject 400 partial"},
		{"excess is a request", "POST /{case} HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nXGET /{case} HTTP/1.1\r\nHost: a\r\n\r\n", "forward 2"},
		{"excess is garbage", "POST /{case} HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nXY Z\r\n\r\n", "forward 1 then reject 400"},
		{"short body", "POST /{case} HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nX", "incomplete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := strictModel(tt.raw, reading{}).alt(); got != tt.want {
				t.Errorf("strictModel = %q, want %q", got, tt.want)
			}
		})
	}
	// The two readings of a bare LF.
	raw := "GET /{case} HTTP/1.1\nHost: a\n\n"
	if got, _, _ := expectation(raw); got != "reject 400 | forward 1" {
		t.Errorf("expectation(bare LF request) = %q", got)
	}
}
