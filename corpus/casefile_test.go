package corpus

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The case files (testdata/*.cases) are line-based; see testdata/README.md for the format. In short:
//
//	case: NAME
//	source: where the case was learned (suite and test, URL, RFC section); may repeat
//	note: why the expectation is what it is; may repeat
//	send: escaped bytes (repeat the key to continue; nothing is added between the pieces)
//	expect: ALT | ALT ...
//	forward: METHOD TARGET        one block per request the upstream must receive, in order
//	  header: Name: value         the forwarded request has this field with exactly this value
//	  absent: Name                the forwarded request has no such field
//	  body: escaped bytes         the decoded body (repeat to continue); empty when left out
//
// ALT is "reject CODES [partial]", "forward [N] [then reject CODES [partial]]", "either CODES
// [partial]" (reject CODES, or forward every block), "answer CODES" (the gateway's own answer, the
// connection kept) or "incomplete". CODES is a comma-separated list of statuses; "4xx" stands for
// any of 400-499.

// placeholder is replaced in sent bytes and expected targets, header values and bodies by the case's
// tag, which has the same length, so that lengths written in a case stay right.
const placeholder = "{case}"

// Case is one request case: the bytes a client sends and what frontgate must make of them.
type Case struct {
	Name     string
	Sources  []string
	Notes    []string
	File     string
	Line     int
	Send     string    // the bytes to send, with placeholders
	Expect   string    // the expect line as written
	Alts     []Alt     // the acceptable outcomes
	Forwards []Forward // the requests the upstream may receive, in order
}

// Alt is one acceptable outcome: the first Forwards blocks forwarded (each answered 200), then either
// nothing more (Reject empty) or a refusal with one of the Reject statuses after which the server
// closes the connection; or, when Incomplete, no complete request and no success at all.
type Alt struct {
	Forwards   int
	Answer     []Codes // the gateway answers the request itself with one of these, keeping the connection
	Reject     []Codes
	Partial    bool // the upstream may see the head (and part of the body) of a request it never gets whole
	Incomplete bool
}

// Codes is an inclusive range of statuses.
type Codes struct{ Lo, Hi int }

func (c Codes) has(status int) bool { return c.Lo <= status && status <= c.Hi }

func (c Codes) String() string {
	if c.Lo == c.Hi {
		return strconv.Itoa(c.Lo)
	}
	return fmt.Sprintf("%dxx", c.Lo/100)
}

func (a Alt) rejects(status int) bool {
	for _, c := range a.Reject {
		if c.has(status) {
			return true
		}
	}
	return false
}

func (a Alt) String() string {
	if a.Incomplete {
		return "incomplete"
	}
	var b strings.Builder
	if len(a.Answer) > 0 {
		b.WriteString("answer ")
		for i, c := range a.Answer {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.String())
		}
		return b.String()
	}
	if a.Forwards > 0 {
		fmt.Fprintf(&b, "forward %d", a.Forwards)
		if len(a.Reject) > 0 {
			b.WriteString(" then ")
		}
	}
	if len(a.Reject) > 0 {
		b.WriteString("reject ")
		for i, c := range a.Reject {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.String())
		}
		if a.Partial {
			b.WriteString(" partial")
		}
	}
	return b.String()
}

// Forward is one request the upstream must receive.
type Forward struct {
	Method, Target string
	Headers        []HeaderWant
	Body           string
}

// HeaderWant is a field the forwarded request must carry with exactly Value, or must not carry at all.
type HeaderWant struct {
	Name, Value string
	Absent      bool
}

// loadCases reads every testdata/*.cases file.
func loadCases(t testing.TB) []*Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.cases"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files in testdata: %v", err)
	}
	sort.Strings(files)
	var all []*Case
	for _, f := range files {
		cs, err := parseCaseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	return all
}

// parseCaseFile reads one case file.
func parseCaseFile(path string) ([]*Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCases(path, f)
}

// parseCases parses the case-file text read from r; name labels errors.
func parseCases(name string, r interface{ Read([]byte) (int, error) }) ([]*Case, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var (
		cases []*Case
		cur   *Case
		fwd   *Forward
		n     int
	)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, args...))
	}
	finish := func() error {
		if cur == nil {
			return nil
		}
		if err := cur.validate(); err != nil {
			return fmt.Errorf("%s:%d: case %s: %w", name, cur.Line, cur.Name, err)
		}
		cases = append(cases, cur)
		return nil
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c < 0x20 || c >= 0x7f {
				return nil, fail("byte %#x must be written as an escape", c)
			}
		}
		if strings.HasSuffix(line, " ") {
			return nil, fail("trailing space (write \\s)")
		}
		indented := strings.HasPrefix(line, "  ")
		key, val, ok := strings.Cut(strings.TrimLeft(line, " "), ":")
		if !ok {
			return nil, fail("want key: value, got %q", line)
		}
		val = strings.TrimPrefix(val, " ")
		if indented {
			if fwd == nil {
				return nil, fail("%s: outside a forward block", key)
			}
			switch key {
			case "header":
				hn, hv, ok := strings.Cut(val, ":")
				if !ok {
					return nil, fail("header: want Name: value")
				}
				v, err := unescape(strings.TrimPrefix(hv, " "))
				if err != nil {
					return nil, fail("%v", err)
				}
				fwd.Headers = append(fwd.Headers, HeaderWant{Name: hn, Value: v})
			case "absent":
				fwd.Headers = append(fwd.Headers, HeaderWant{Name: val, Absent: true})
			case "body":
				v, err := unescape(val)
				if err != nil {
					return nil, fail("%v", err)
				}
				fwd.Body += v
			default:
				return nil, fail("unknown key %q in a forward block", key)
			}
			continue
		}
		if key != "case" && cur == nil {
			return nil, fail("%s: before the first case", key)
		}
		if key != "forward" {
			fwd = nil
		}
		switch key {
		case "case":
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &Case{Name: val, File: filepath.Base(name), Line: n}
		case "source":
			cur.Sources = append(cur.Sources, val)
		case "note":
			cur.Notes = append(cur.Notes, val)
		case "send":
			v, err := unescape(val)
			if err != nil {
				return nil, fail("%v", err)
			}
			cur.Send += v
		case "expect":
			if cur.Expect != "" {
				return nil, fail("a second expect line")
			}
			cur.Expect = val
		case "forward":
			method, target, ok := strings.Cut(val, " ")
			if !ok {
				return nil, fail("forward: want METHOD TARGET")
			}
			cur.Forwards = append(cur.Forwards, Forward{Method: method, Target: target})
			fwd = &cur.Forwards[len(cur.Forwards)-1]
		default:
			return nil, fail("unknown key %q", key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return cases, nil
}

// validate parses the expect line and checks that the case is whole.
func (c *Case) validate() error {
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, " /\t"):
		return fmt.Errorf("a name must be one word without slashes")
	case len(c.Sources) == 0:
		return fmt.Errorf("no source")
	case c.Send == "":
		return fmt.Errorf("nothing to send")
	case !strings.Contains(c.Send, placeholder):
		return fmt.Errorf("the sent bytes carry no %s tag", placeholder)
	case c.Expect == "":
		return fmt.Errorf("no expect line")
	}
	alts, err := parseExpect(c.Expect, len(c.Forwards))
	if err != nil {
		return err
	}
	c.Alts = alts
	most := 0
	for _, a := range alts {
		most = max(most, a.Forwards)
	}
	if most != len(c.Forwards) {
		return fmt.Errorf("%d forward blocks, but the outcomes forward at most %d", len(c.Forwards), most)
	}
	for _, f := range c.Forwards {
		if !strings.Contains(f.Target, placeholder) && !hasTaggedHeader(f) {
			return fmt.Errorf("forward %s %s: neither the target nor a header names the tag", f.Method, f.Target)
		}
	}
	return nil
}

func hasTaggedHeader(f Forward) bool {
	for _, h := range f.Headers {
		if strings.Contains(h.Value, placeholder) {
			return true
		}
	}
	return false
}

// parseExpect parses "ALT | ALT ..."; blocks is the number of forward blocks of the case.
func parseExpect(s string, blocks int) ([]Alt, error) {
	var alts []Alt
	for _, part := range strings.Split(s, "|") {
		words := strings.Fields(part)
		if len(words) == 0 {
			return nil, fmt.Errorf("empty outcome in %q", s)
		}
		var a Alt
		rest := words[1:]
		switch words[0] {
		case "incomplete":
			a.Incomplete = true
		case "answer":
			if len(rest) == 0 {
				return nil, fmt.Errorf("answer without statuses")
			}
			codes, err := parseCodes(rest[0])
			if err != nil {
				return nil, err
			}
			a.Answer, rest = codes, rest[1:]
		case "reject", "either":
			if len(rest) == 0 {
				return nil, fmt.Errorf("%s without statuses", words[0])
			}
			codes, err := parseCodes(rest[0])
			if err != nil {
				return nil, err
			}
			a.Reject, rest = codes, rest[1:]
			if len(rest) > 0 && rest[0] == "partial" {
				a.Partial, rest = true, rest[1:]
			}
			if words[0] == "either" {
				alts = append(alts, a)
				a = Alt{Forwards: blocks}
			}
		case "forward":
			a.Forwards = blocks
			if len(rest) > 0 {
				if n, err := strconv.Atoi(rest[0]); err == nil {
					a.Forwards, rest = n, rest[1:]
				}
			}
			if len(rest) > 0 && rest[0] == "then" {
				if len(rest) < 3 || rest[1] != "reject" {
					return nil, fmt.Errorf("want forward N then reject CODES in %q", part)
				}
				codes, err := parseCodes(rest[2])
				if err != nil {
					return nil, err
				}
				a.Reject, rest = codes, rest[3:]
				if len(rest) > 0 && rest[0] == "partial" {
					a.Partial, rest = true, rest[1:]
				}
			}
		default:
			return nil, fmt.Errorf("unknown outcome %q", words[0])
		}
		if len(rest) > 0 {
			return nil, fmt.Errorf("unexpected %q in %q", strings.Join(rest, " "), part)
		}
		if words[0] == "forward" && a.Forwards == 0 {
			return nil, fmt.Errorf("%q forwards nothing", part)
		}
		if a.Forwards > blocks {
			return nil, fmt.Errorf("%q forwards %d requests but there are %d blocks", part, a.Forwards, blocks)
		}
		alts = append(alts, a)
	}
	return alts, nil
}

func parseCodes(s string) ([]Codes, error) {
	var out []Codes
	for _, w := range strings.Split(s, ",") {
		if len(w) == 3 && w[1:] == "xx" && '1' <= w[0] && w[0] <= '5' {
			lo := int(w[0]-'0') * 100
			out = append(out, Codes{lo, lo + 99})
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("bad status %q", w)
		}
		out = append(out, Codes{n, n})
	}
	return out, nil
}

// unescape decodes a case file's escapes: \r \n \t \0 \s (space) \\ \xHH, and {N*TEXT}, TEXT
// repeated N times. The placeholder {case} stays as it is.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) {
				return "", fmt.Errorf("lone backslash at the end of %q", s)
			}
			i++
			switch s[i] {
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case 's':
				b.WriteByte(' ')
			case '\\':
				b.WriteByte('\\')
			case '{':
				b.WriteByte('{')
			case 'x':
				if i+2 >= len(s) {
					return "", fmt.Errorf("short \\x escape in %q", s)
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", fmt.Errorf("bad \\x escape in %q", s)
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				return "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
			}
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed { in %q (write \\{ for a brace)", s)
			}
			inner := s[i+1 : i+end]
			if "{"+inner+"}" == placeholder {
				b.WriteString(placeholder)
				i += end
				continue
			}
			count, text, ok := strings.Cut(inner, "*")
			n, err := strconv.Atoi(count)
			if !ok || err != nil || n < 1 || n > 1<<20 || text == "" {
				return "", fmt.Errorf("want {N*TEXT} or %s, got {%s} (write \\{ for a brace)", placeholder, inner)
			}
			piece, err := unescape(text)
			if err != nil {
				return "", err
			}
			b.WriteString(strings.Repeat(piece, n))
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// escape writes b the way case files do, so that reports and generated files show every byte.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == 0:
			b.WriteString(`\0`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '{' && !strings.HasPrefix(s[i:], placeholder):
			b.WriteString(`\{`)
		case c == ' ' && i == len(s)-1:
			b.WriteString(`\s`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TestCaseFiles checks the corpus itself: every file parses, names are unique, every case has a
// source, and the corpus is as large as promised, with cases that must be forwarded among them.
func TestCaseFiles(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 500 {
		t.Errorf("%d cases, want at least 500", len(cases))
	}
	seen := map[string]string{}
	mustForward := 0
	for _, c := range cases {
		if prev, ok := seen[c.Name]; ok {
			t.Errorf("case %s in %s:%d also in %s", c.Name, c.File, c.Line, prev)
		}
		seen[c.Name] = fmt.Sprintf("%s:%d", c.File, c.Line)
		if len(c.Alts) == 1 && c.Alts[0].Forwards > 0 && len(c.Alts[0].Reject) == 0 {
			mustForward++
		}
	}
	if mustForward < 20 {
		t.Errorf("%d cases must be forwarded, want at least 20", mustForward)
	}
}

// TestCaseSyntax checks the case-file parser on small inputs, the escapes and the expect grammar.
func TestCaseSyntax(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{`GET / HTTP/1.1\r\n`, "GET / HTTP/1.1\r\n"},
		{`a\sb\s`, "a b "},
		{`\x00\xff\0\t\\`, "\x00\xff\x00\t\\"},
		{`{3*ab}c`, "abababc"},
		{`/{case}/x`, "/{case}/x"},
		{`\{`, "{"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := unescape(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("unescape(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if back, _ := unescape(escape(got)); back != got {
				t.Errorf("escape(%q) = %q does not read back", got, escape(got))
			}
		})
	}
	for _, bad := range []string{`\q`, `\x4`, `{x}`, `{2*}`, `a\`} {
		t.Run("bad "+bad, func(t *testing.T) {
			if got, err := unescape(bad); err == nil {
				t.Errorf("unescape(%q) = %q, want an error", bad, got)
			}
		})
	}
	for _, tt := range []struct {
		expect string
		blocks int
		want   string // the alternatives, joined by " | "
	}{
		{"reject 400,501", 0, "reject 400,501"},
		{"either 4xx", 1, "reject 4xx | forward 1"},
		{"forward", 2, "forward 2"},
		{"forward 1 then reject 400 partial | reject 400", 1, "forward 1 then reject 400 partial | reject 400"},
		{"incomplete | reject 413", 0, "incomplete | reject 413"},
	} {
		t.Run(tt.expect, func(t *testing.T) {
			alts, err := parseExpect(tt.expect, tt.blocks)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, a := range alts {
				parts = append(parts, a.String())
			}
			if got := strings.Join(parts, " | "); got != tt.want {
				t.Errorf("parseExpect(%q) = %q, want %q", tt.expect, got, tt.want)
			}
		})
	}
	src := "case: c1\nsource: here\nsend: GET /{case} HTTP/1.1\\r\\n\nsend: Host: a\\r\\n\\r\\n\nexpect: forward\n" +
		"forward: GET /{case}\n  header: X-Forwarded-Host: a\n  absent: Upgrade\n  body: \\x41\n"
	cs, err := parseCases("inline", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Send != "GET /{case} HTTP/1.1\r\nHost: a\r\n\r\n" || len(cs[0].Forwards) != 1 ||
		cs[0].Forwards[0].Body != "A" || len(cs[0].Forwards[0].Headers) != 2 {
		t.Errorf("parsed %+v", cs)
	}
	for _, bad := range []string{
		"case: x\nsend: GET /{case} HTTP/1.1\\r\\n\\r\\n\nexpect: reject 400\n",                                 // no source
		"case: x\nsource: s\nsend: GET / HTTP/1.1\\r\\n\\r\\n\nexpect: reject 400\n",                            // no tag
		"case: x\nsource: s\nsend: GET /{case} HTTP/1.1\\r\\n\\r\\n\nexpect: forward\n",                         // no block
		"case: x\nsource: s\nsend: GET /{case} HTTP/1.1\\r\\n\\r\\n \nexpect: reject 400\n",                     // trailing space
		"case: x\nsource: s\nsend: GET /{case} HTTP/1.1\\r\\n\\r\\n\nexpect: reject 99\n",                       // bad status
		"case: x y\nsource: s\nsend: GET /{case} HTTP/1.1\\r\\n\\r\\n\nexpect: reject 400\n",                    // spaced name
		"case: x\nsource: s\nsend: GET /{case} HTTP/1.1\\r\\n\\r\\n\nexpect: forward 2\nforward: GET /{case}\n", // too many
	} {
		if _, err := parseCases("inline", strings.NewReader(bad)); err == nil {
			t.Errorf("parsed without an error:\n%s", bad)
		}
	}
}
