package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

const (
	// ssePause is the upstreams' pause between two server-sent events. A gateway that holds the
	// events back delivers the first no sooner than two pauses after the request; the pause is long
	// enough that a client the loaded CI machine leaves unscheduled for that long is rare (at 300 ms
	// it was seen twice: a first event at 521 and at 649 ms, streamed).
	ssePause = 500 * time.Millisecond
	// clientDeadline bounds one client program's whole run (every request of both rounds).
	clientDeadline = 60 * time.Second
	// parallelRuns is how many client runs go at once. Most of a run's time is spent waiting (the
	// pauses of the event streams, and the timeouts of hanging answers when there are bugs), so
	// they overlap well even on two cores.
	parallelRuns = 20
	// etagTime is the modification time of nginx's /304 file: with its 16 bytes it fixes the ETag
	// that nginx computes, which every other upstream uses too.
	etagTime = 1700000000
)

var (
	// requestTimeout is how long a client waits for one request, body included, before giving up:
	// what a hanging answer costs.
	requestTimeout = raceScaled(4 * time.Second)
	// promptLimit is how long a request may take: a request that ends later fails its cell.
	promptLimit = raceScaled(3 * time.Second)
)

// raceScaled is d, doubled when the tests run under the race detector: the gateways are then built
// with it too (e2e.Build), and compress a 1 MiB body several times slower (a CI run took 3.2 s to
// send chunked-1m as br to fetch).
func raceScaled(d time.Duration) time.Duration {
	if e2e.RaceEnabled {
		return 2 * d
	}
	return d
}

// answer is one kind of response that every upstream gives on the same path, and what a client
// must see of it through frontgate.
type answer struct {
	name    string            // the subtest name; request ids are name.round
	method  string            // GET, HEAD or POST
	path    string            // on the upstream; a client asks for it under its own route prefix
	header  map[string]string // request headers to send
	upload  string            // request body: a key of fixture.uploads, "" for none
	chunked bool              // send the upload with Transfer-Encoding: chunked
	expect  bool              // send Expect: 100-continue

	status  int               // the final status the client must see
	body    []byte            // the body the client must see, byte for byte
	want    map[string]string // response headers the client must see (lower-case names)
	trailer bool              // the answer ends with the X-Checksum trailer
	info    int               // an informational status (100, 103) the client must see, where it can
	stream  bool              // the first event must arrive a pause before the end (not buffered)

	coded codedRule // whether a gateway that compresses sends it compressed

	cut          bool // the upstream dies mid-body: the client must report an error
	closesUp     bool // the upstream's connection ends with this answer
	mayCloseConn bool // frontgate may close the client's connection after it

	learned string // where the case was learned from
}

// codedRule says when a gateway that compresses (see variant) must send an answer compressed to a
// client that asks for a coding, and when it must not.
type codedRule int

const (
	// neverCoded: HEAD, 204, 304, or a type that does not compress (application/octet-stream): no
	// Content-Encoding, whatever min_size.
	neverCoded codedRule = iota
	// flushCoded: text of unknown length, which the proxy flushes as it comes (ReverseProxy flushes
	// a body without Content-Length, and every event stream, at once): the first flush decides, so
	// it is compressed whatever min_size.
	flushCoded
	// sizeCoded: text with a Content-Length: compressed when the body is at least min_size.
	sizeCoded
	// emptyCoded: an empty text body of unknown length: compressed with min_size 0; with more, the
	// proxy's first flush (compressed) and the body's end (sent as it is) race, so either is right.
	emptyCoded
)

// wantCoded reports whether the answer must come compressed through a gateway that compresses
// with minSize, and whether that is decided at all (see emptyCoded).
func (a answer) wantCoded(minSize int) (want, known bool) {
	switch a.coded {
	case flushCoded:
		return true, true
	case sizeCoded:
		return len(a.body) >= minSize, true
	case emptyCoded:
		return minSize == 0, minSize == 0
	}
	return false, true
}

// fixture is everything the upstreams and clients share: bodies, uploads and the upstream plan.
type fixture struct {
	dir      string
	bodies   map[string][]byte // response bodies by answer name, as the upstreams send them whole
	uploads  map[string]string // request body files by name
	upPlan   upstreamPlan
	planPath string // upPlan as JSON, the argument of every upstream script
	answers  []answer
}

// upstreamPlan is the JSON that tells each upstream script what to send, so that every upstream
// answers alike.
type upstreamPlan struct {
	Bodies       string           `json:"bodies"` // folder with one file per answer body
	Chunks       map[string][]int `json:"chunks"` // chunk sizes per chunked answer; the last repeats
	TrailerName  string           `json:"trailer_name"`
	TrailerValue string           `json:"trailer_value"`
	ETag         string           `json:"etag"`
	Link         string           `json:"link"`
	SSEEvents    []string         `json:"sse_events"`
	SSEPauseMS   int              `json:"sse_pause_ms"`
}

// alphabet is what bodies are made of: printable, and nothing nginx's SSI would take for a command.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// pattern returns n bytes of text that depend on seed, so that no two bodies are alike.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+seed)%len(alphabet)]
	}
	return b
}

// pieces cuts data into pieces of the given sizes, the last size repeating (as the scripts do).
func pieces(data []byte, sizes []int) [][]byte {
	var out [][]byte
	for i, k := 0, 0; i < len(data); k++ {
		n := min(sizes[min(k, len(sizes)-1)], len(data)-i)
		out = append(out, data[i:i+n])
		i += n
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newFixture writes the bodies, uploads and upstream plan into a temporary folder and lists the
// answers.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &fixture{dir: dir, bodies: map[string][]byte{}, uploads: map[string]string{}}
	sizes := []struct {
		name string
		n    int
	}{
		{"cl", 10000}, {"chunked", 5000}, {"chunked-trailers", 3000}, {"chunked-1m", 1 << 20},
		{"close", 7000}, {"early-hints", 500}, {"cut-cl", 10000}, {"cut-chunked", 10000}, {"cut-close", 10000},
	}
	bodyDir := filepath.Join(dir, "bodies")
	if err := os.MkdirAll(bodyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range sizes {
		fx.bodies[s.name] = pattern(s.n, i+1)
		writeFile(t, filepath.Join(bodyDir, s.name), fx.bodies[s.name])
	}
	for i, u := range []struct {
		name string
		n    int
	}{{"echo", 100000}, {"continue", 20000}} {
		fx.uploads[u.name] = filepath.Join(dir, "uploads", u.name)
		writeFile(t, fx.uploads[u.name], pattern(u.n, 40+i))
	}
	fx.upPlan = upstreamPlan{
		Bodies:       bodyDir,
		Chunks:       map[string][]int{"chunked": {1, 10, 100, 1000}, "chunked-trailers": {1000}, "chunked-1m": {8191}},
		TrailerName:  "X-Checksum",
		TrailerValue: sha(fx.bodies["chunked-trailers"]),
		ETag:         fmt.Sprintf(`"%x-%x"`, etagTime, 16),
		Link:         "</style.css>; rel=preload; as=style",
		SSEEvents:    []string{"event: tick\ndata: 1\n\n", "event: tick\ndata: 2\n\n", "event: tick\ndata: 3\n\n"},
		SSEPauseMS:   int(ssePause / time.Millisecond),
	}
	plan, err := json.Marshal(fx.upPlan)
	if err != nil {
		t.Fatal(err)
	}
	fx.planPath = filepath.Join(dir, "upstream-plan.json")
	writeFile(t, fx.planPath, plan)
	fx.answers = fx.list()
	return fx
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) upload(name string) []byte {
	b, err := os.ReadFile(fx.uploads[name])
	if err != nil {
		panic(err) // written by newFixture
	}
	return b
}

// list is the answers in the order of a client's first round. Cuts are followed by ordinary
// answers, so that the request after a cut shows whether the connections recovered.
func (fx *fixture) list() []answer {
	get := func(name string) answer {
		return answer{name: name, method: "GET", path: "/" + name, status: 200, body: fx.bodies[name]}
	}
	cont := fx.upload("continue")
	echo := fx.upload("echo")
	var sse strings.Builder
	for _, ev := range fx.upPlan.SSEEvents {
		sse.WriteString(ev)
	}
	with := func(a answer, f func(*answer)) answer { f(&a); return a }
	return []answer{
		with(get("cl"), func(a *answer) {
			a.coded = sizeCoded
			a.learned = "RFC 9112 §6.3 rule 6; h11 test_io.py test_ContentLengthReader"
		}),
		with(get("chunked"), func(a *answer) {
			a.coded = flushCoded
			a.learned = "h11 test_io.py test_ChunkedReader (chunks of any size, 1 byte up); llhttp test/response/transfer-encoding.md"
		}),
		{name: "head-cl", method: "HEAD", path: "/cl", status: 200, want: map[string]string{"content-length": fmt.Sprint(len(fx.bodies["cl"]))},
			learned: "RFC 9110 §9.3.2 (HEAD carries the GET's Content-Length, no body); Go net/http transfer.go's HEAD framing"},
		with(get("chunked-trailers"), func(a *answer) {
			a.trailer, a.coded = true, flushCoded
			a.learned = "Go net/http/httputil reverseproxy_test.go TestReverseProxy (announced trailers pass through); h11 test_ChunkedReader (fields after the last chunk)"
		}),
		with(get("cut-cl"), func(a *answer) {
			a.cut, a.closesUp, a.mayCloseConn, a.coded = true, true, true, sizeCoded
			a.learned = "The Measurement Factory's Daft tests for Squid (a proxy must preserve body truncation signals); curl exit code 18"
		}),
		with(get("chunked-empty"), func(a *answer) {
			a.coded = emptyCoded
			a.learned = "h11 test_ChunkedReader (a body that is only 0\\r\\n\\r\\n)"
		}),
		{name: "204", method: "GET", path: "/204", status: 204,
			learned: "RFC 9110 §15.3.5 and RFC 9112 §6.3 rule 1 (no body, whatever the headers say)"},
		with(get("cut-chunked"), func(a *answer) {
			a.cut, a.closesUp, a.mayCloseConn, a.coded = true, true, true, flushCoded
			a.learned = "Daft tests for Squid (truncated chunked body: the last chunk must not be invented)"
		}),
		{name: "304", method: "GET", path: "/304", header: map[string]string{"If-None-Match": fx.upPlan.ETag}, status: 304,
			want:    map[string]string{"etag": fx.upPlan.ETag},
			learned: "RFC 9110 §15.4.5; nginx's not-modified filter (ETag from mtime and size)"},
		with(get("chunked-1m"), func(a *answer) {
			a.coded = flushCoded
			a.learned = "frontgate's own buffer sizes (16 KiB upstream reads, 64 KiB held back by leanhttp): a body that crosses them all"
		}),
		with(get("close"), func(a *answer) {
			a.closesUp, a.mayCloseConn, a.coded = true, true, flushCoded
			a.learned = "RFC 9112 §6.3 rule 8; h11 test_io.py test_Http10Reader (a body delimited by the close)"
		}),
		with(get("early-hints"), func(a *answer) {
			a.info, a.coded = 103, sizeCoded // a type only some upstreams send: frontgate sniffs it
			a.learned = "RFC 8297; nginx-tests proxy_early_hints.t; Apache Traffic Server's early-hints gold tests"
		}),
		with(get("cut-close"), func(a *answer) {
			a.cut, a.closesUp, a.mayCloseConn, a.coded = true, true, true, flushCoded
			a.learned = "Daft tests for Squid (truncation by the server); RFC 9112 §6.3 rule 8 and §8 (an incomplete close-delimited body is visible only as a reset)"
		}),
		// The echoes are application/octet-stream from every upstream: the answers a gateway that
		// compresses must leave alone for their type (neverCoded).
		{name: "echo-cl", method: "POST", path: "/echo", upload: "echo", status: 200, body: echo,
			learned: "RFC 9112 §6.2 (a request body with a Content-Length)"},
		{name: "continue", method: "POST", path: "/continue", upload: "continue", expect: true, status: 200, info: 100, coded: sizeCoded,
			body:    fmt.Appendf(nil, "len=%d sha256=%s", len(cont), sha(cont)),
			learned: "RFC 9110 §10.1.1 (a proxy forwards the expectation and the 100); curl's --expect100-timeout; Go net/http's ExpectContinueTimeout"},
		with(get("sse"), func(a *answer) {
			a.body, a.stream, a.coded = []byte(sse.String()), true, flushCoded
			a.learned = "Go net/http/httputil TestSelectFlushInterval (text/event-stream is flushed at once); the HTML server-sent events spec"
		}),
		{name: "echo-chunked", method: "POST", path: "/echo", upload: "echo", chunked: true, status: 200, body: echo,
			learned: "RFC 9112 §7.1 (a chunked request body); smuggler.py's habit of trying both framings of one upload"},
	}
}
