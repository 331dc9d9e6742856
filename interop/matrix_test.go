// Package interop runs frontgate between real HTTP/1.1 upstreams (Go's net/http, aiohttp, Python's
// http.server, Node's http module, nginx) and real clients (curl, Go's net/http client, aiohttp's
// client, Node's fetch), on both public-listener engines, with compression off and on, and checks
// every framing cell by cell: all the bytes, a prompt end, connection reuse on both sides of the
// gateway, and truncation that stays visible to the client; with compression, the coding each
// answer must or must not have, and the decoded bytes.
//
// Cells are subtests named variant/upstream/client/answer, like lean/aiohttp/curl/chunked or
// lean+compress/node/go/sse (see variants); a cell an upstream or client cannot produce is skipped
// with its reason. The end of TestMatrix logs a table of every cell.
package interop

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/frontgate/frontgate/internal/e2e"
)

var bin string

func TestMain(m *testing.M) { e2e.Main(m, &bin) }

// requireTools fails, naming the Debian packages, when a program the matrix runs is missing.
func requireTools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []struct{ prog, pkg string }{
		{"curl", "curl"}, {"/usr/bin/python3", "python3"}, {"node", "nodejs"}, {"/usr/sbin/nginx", "nginx-light"},
	} {
		if _, err := exec.LookPath(tool.prog); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool.prog, tool.pkg))
		}
	}
	if len(missing) == 0 {
		if out, err := exec.Command("/usr/bin/python3", "-c", "import aiohttp").CombinedOutput(); err != nil {
			missing = append(missing, fmt.Sprintf("aiohttp for /usr/bin/python3 (Debian package python3-aiohttp): %s", strings.TrimSpace(string(out))))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the interop matrix needs: %s", strings.Join(missing, "; "))
	}
}

// variant is one way to run frontgate in the matrix: an engine, with compression or without.
type variant struct {
	name   string // the first part of a cell's name
	engine string // server.engine
	// compress turns on defaults.compress, offering gatewayCodings; the clients then ask for the
	// codings they decode (client.accept).
	compress bool
	minSize  int // compress.min_size, in bytes
}

// variants are both engines as they are, and each once with compression: lean compresses every
// body (min_size 0: decided at the first write, the smallest bodies too), stdlib with the default
// min_size (a body of unknown length is held back up to it, a shorter one goes out as it is).
var variants = []variant{
	{name: "lean", engine: "lean"},
	{name: "stdlib", engine: "stdlib"},
	{name: "lean+compress", engine: "lean", compress: true},
	{name: "stdlib+compress1k", engine: "stdlib", compress: true, minSize: 1 << 10},
}

// gatewayCodings are the codings a variant that compresses offers, in its order of preference.
var gatewayCodings = []string{"zstd", "br", "gzip"}

// gateway is one frontgate process (one variant, one upstream) and what each client saw through it.
type gateway struct {
	v      variant
	up     *upstream
	proc   *e2e.Proc
	runs   map[string]*clientRun // by client name
	remote map[string]string     // request id → the client's address, from the access log
}

// clientRun is one client's run of its sequence through one gateway.
type clientRun struct {
	reqs    []request
	results map[string]result // by request id
	stderr  string
	err     error
	took    time.Duration
}

// writeGatewayConfig gives each client its own route and upstream pool (the same target), so that
// the clients can run at once while each one's upstream connections stay its own.
func writeGatewayConfig(t *testing.T, dir string, v variant, up *upstream, cls []*client) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "log: {format: json, level: info}\nserver: {engine: %s}\n", v.engine)
	if v.compress {
		fmt.Fprintf(&b, "defaults: {compress: {encodings: [%s], min_size: %d}}\n", strings.Join(gatewayCodings, ", "), v.minSize)
	}
	b.WriteString("upstreams:\n")
	for _, cl := range cls {
		// max_fails -1: the cuts must not eject the only target; ejection is not what is tested here.
		fmt.Fprintf(&b, "  %s: {targets: [%q], max_fails: -1}\n", cl.name, up.url)
	}
	b.WriteString("routes:\n")
	for _, cl := range cls {
		fmt.Fprintf(&b, "  - {path_prefix: /%s/, strip_prefix: true, upstream: %s, name: %s}\n", cl.name, cl.name, cl.name)
	}
	return e2e.WriteFile(t, dir, fmt.Sprintf("frontgate-%s-%s.yaml", v.name, up.name), b.String())
}

// TestMatrix starts the upstreams once, one frontgate per variant and upstream, runs every client
// through each, and then checks every cell.
func TestMatrix(t *testing.T) {
	requireTools(t)
	fx := newFixture(t)
	ups := startUpstreams(t, fx)
	cls := clients()

	var gws []*gateway
	for _, v := range variants {
		for _, up := range ups {
			cfg := writeGatewayConfig(t, fx.dir, v, up, cls)
			gws = append(gws, &gateway{v: v, up: up, proc: e2e.Serve(t, bin, cfg), runs: map[string]*clientRun{}})
		}
	}

	// Every client through every gateway, a few at a time: each client's own requests stay in order.
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex // guards gateway.runs
	slots := make(chan struct{}, parallelRuns)
	for _, gw := range gws {
		for _, cl := range cls {
			dir := filepath.Join(fx.dir, "runs", gw.v.name, gw.up.name, cl.name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				run := runClient(gw, cl, fx, dir)
				mu.Lock()
				gw.runs[cl.name] = run
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	t.Logf("all clients ran in %v", time.Since(start).Round(time.Millisecond))

	for _, gw := range gws {
		gw.remote = accessRemotes(t, gw.proc)
		// Under -race the binary is built with the detector (e2e.Build), which reports on stderr
		// and goes on: nothing else would show a race between a handler and the proxy's flusher.
		if text := gw.proc.Stderr.Text(); strings.Contains(text, "WARNING: DATA RACE") {
			t.Errorf("frontgate (%s, upstream %s) reported a data race:\n%s", gw.v.name, gw.up.name, text)
		}
	}

	sum := &summary{cells: map[string]string{}}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, gw := range gws {
				if gw.v != v {
					continue
				}
				t.Run(gw.up.name, func(t *testing.T) {
					for _, cl := range cls {
						t.Run(cl.name, func(t *testing.T) {
							run := gw.runs[cl.name]
							if run.err != nil {
								t.Errorf("the client run failed: %v\nits output:\n%s", run.err, run.stderr)
							}
							for _, a := range fx.answers {
								t.Run(a.name, func(t *testing.T) {
									defer sum.record(t, v.name, gw.up.name, cl.name, a.name)
									checkCell(t, fx, gw, cl, a)
								})
							}
						})
					}
				})
			}
		})
	}
	t.Log("\n" + sum.table(gws, cls, fx.answers))

	// The gateways stop together rather than one by one in the cleanups (which then find them
	// gone): each takes about a second under -race, and there are twenty.
	var stops sync.WaitGroup
	for _, gw := range gws {
		stops.Go(func() { gw.proc.Stop(t) })
	}
	stops.Wait()
}

// runClient runs cl's sequence through gw under the whole-run deadline.
func runClient(gw *gateway, cl *client, fx *fixture, dir string) *clientRun {
	ctx, cancel := context.WithTimeout(context.Background(), clientDeadline)
	defer cancel()
	accept := ""
	if gw.v.compress {
		accept = cl.accept
	}
	run := &clientRun{reqs: sequence(fx, gw.up, cl, accept), results: map[string]result{}}
	began := time.Now()
	results, stderr, err := cl.run(ctx, gw.proc.Base+"/"+cl.name, run.reqs, dir)
	run.took = time.Since(began)
	run.stderr, run.err = stderr, err
	if ctx.Err() != nil && err == nil {
		run.err = fmt.Errorf("the run passed its %v deadline", clientDeadline)
	}
	for _, r := range results {
		run.results[r.ID] = r
	}
	return run
}

// accessRemotes maps each request id in gw's access log to the client address it came from. A last
// request of the test's own, logged after every client's, shows that the log holds all their lines.
func accessRemotes(t *testing.T, p *e2e.Proc) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.Base+"/interop-last-request", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the last request: %v\nfrontgate's log:\n%s", err, p.Logs.Text())
	}
	resp.Body.Close()
	p.Logs.AccessFor(t, resp.Header.Get("X-Request-Id"))
	remotes := map[string]string{}
	for _, line := range p.Logs.Lines() {
		if e := e2e.ParseEntry(line); e != nil && e["logger"] == "access" {
			id, _ := e["request_id"].(string)
			remote, _ := e["remote"].(string)
			remotes[id] = remote
		}
	}
	return remotes
}

// checkCell checks one answer, both rounds, as one client saw it through one gateway.
func checkCell(t *testing.T, fx *fixture, gw *gateway, cl *client, a answer) {
	if why := gw.up.skips[a.name]; why != "" {
		t.Skipf("%s: %s", gw.up.name, why)
	}
	if why := cl.skips[a.name]; why != "" {
		t.Skipf("%s: %s", cl.name, why)
	}
	t.Logf("learned from: %s", a.learned)
	run := gw.runs[cl.name]
	for round := 1; round <= 2; round++ {
		id := fmt.Sprintf("%s.%d", a.name, round)
		i := slices.IndexFunc(run.reqs, func(r request) bool { return r.ID == id })
		r, ok := run.results[id]
		if !ok {
			t.Errorf("round %d: the client printed no result (its run took %v; output:\n%s)", round, run.took.Round(time.Millisecond), run.stderr)
			continue
		}
		where := fmt.Sprintf("round %d", round)
		if i > 0 {
			where += " (after " + run.reqs[i-1].Answer + ")"
		}
		checkResult(t, where, fx, cl, a, r)
		checkCoding(t, where, gw.v, cl, a, r)
		if i > 0 {
			checkReuse(t, where, fx, gw, cl, run, i)
		}
	}
}

// checkResult checks the bytes, the status, the framing fields, the informational responses, the
// trailers and the timing of one request.
func checkResult(t *testing.T, where string, fx *fixture, cl *client, a answer, r result) {
	t.Helper()
	got := fmt.Sprintf("status %d, %d bytes, %.0f ms", r.Status, r.Len, r.MS)
	switch {
	case a.cut && r.Error == "":
		t.Errorf("%s: TRUNCATION HIDDEN: the upstream sent %d of %d bytes and died, but the client saw a complete answer (%s)",
			where, len(a.body)/2, len(a.body), got)
	case a.cut && r.Len > int64(len(a.body)/2):
		t.Errorf("%s: the upstream sent %d bytes before dying, the client got %d (%s)", where, len(a.body)/2, r.Len, r.Error)
	case !a.cut && r.Error != "":
		t.Errorf("%s: %s (%s)", where, r.Error, got)
	}
	switch {
	case a.cut && r.Status == 0 && r.Error != "":
		t.Logf("%s: frontgate sent nothing of the cut answer, not even its status (%s)", where, r.Error)
	case r.Status != a.status:
		t.Errorf("%s: status %d, want %d", where, r.Status, a.status)
	}
	if r.Status != 0 && r.Headers["x-request-id"] == "" {
		t.Errorf("%s: the answer carries no X-Request-Id (frontgate puts one on every response; headers seen: %v)", where, r.Headers)
	}
	if !a.cut && (r.Len != int64(len(a.body)) || r.SHA256 != sha(a.body)) {
		t.Errorf("%s: body of %d bytes (sha256 %.12s), want %d bytes (sha256 %.12s)", where, r.Len, r.SHA256, len(a.body), sha(a.body))
	}
	if d := time.Duration(r.MS * float64(time.Millisecond)); d > promptLimit {
		t.Errorf("%s: took %v, more than %v: the answer did not end promptly", where, d.Round(time.Millisecond), promptLimit)
	}
	for k, v := range a.want {
		if r.Headers[k] != v {
			t.Errorf("%s: header %s = %q, want %q", where, k, r.Headers[k], v)
		}
	}
	if a.trailer && !cl.trailers {
		t.Logf("%s: %s cannot show trailers: only the body is checked", where, cl.name)
	}
	if a.info != 0 && !cl.infos {
		t.Logf("%s: %s cannot show informational responses: only the final answer is checked", where, cl.name)
	}
	if a.trailer && cl.trailers && r.Error == "" {
		k := strings.ToLower(fx.upPlan.TrailerName)
		if r.Trailers[k] != fx.upPlan.TrailerValue {
			t.Errorf("%s: trailer %s = %q, want %q (trailers seen: %v)", where, k, r.Trailers[k], fx.upPlan.TrailerValue, r.Trailers)
		}
	}
	if a.info != 0 && cl.infos && r.Error == "" {
		i := slices.IndexFunc(r.Info, func(in info) bool { return in.Code == a.info })
		switch {
		case i < 0:
			t.Errorf("%s: no %d informational response reached the client (saw %v)", where, a.info, r.Info)
		case a.info == http.StatusEarlyHints && r.Info[i].Link != fx.upPlan.Link:
			t.Errorf("%s: the 103's Link is %q, want %q", where, r.Info[i].Link, fx.upPlan.Link)
		}
	}
	if a.stream && r.Error == "" {
		// The events are written a pause apart, the last two pauses after the first: a gateway that
		// holds them back delivers them together, after the last was written. So the first must
		// arrive at least half a pause before the end, or else before the last was written: a client
		// the loaded machine did not run for a while reads the first two together, late, and the
		// third on time (seen once in CI: first at 521 ms, end at 650 ms).
		spread := time.Duration((r.MS - r.FirstMS) * float64(time.Millisecond))
		first := time.Duration(r.FirstMS * float64(time.Millisecond))
		if r.FirstMS <= 0 || (spread < ssePause/2 && first >= 2*ssePause) {
			t.Errorf("%s: the first event arrived at %.0f ms and the stream ended at %.0f ms: the events were held back, not streamed",
				where, r.FirstMS, r.MS)
		}
	}
}

// checkCoding checks one answer's coding. Through a gateway that compresses, Content-Encoding is
// the coding the client's Accept-Encoding gets where the rules say so (answer.wantCoded), and is
// absent where they say no; a compressed answer varies on Accept-Encoding and has no Content-Length
// that contradicts its compressed bytes (checkResult compares the decoded ones). Through one that
// does not compress, nothing is compressed, whatever the client asks (aiohttp and fetch ask always).
func checkCoding(t *testing.T, where string, v variant, cl *client, a answer, r result) {
	t.Helper()
	if r.Status == 0 {
		return // no head came (a cut answer): nothing to tell
	}
	ce := r.Headers["content-encoding"]
	if !v.compress {
		if ce != "" {
			t.Errorf("%s: Content-Encoding %q from a gateway that does not compress", where, ce)
		}
		return
	}
	switch want, known := a.wantCoded(v.minSize); {
	case !known:
	case want && ce == "":
		t.Errorf("%s: no Content-Encoding: a %s body of %d bytes is compressed with min_size %d for Accept-Encoding %q (headers seen: %v)",
			where, r.Headers["content-type"], len(a.body), v.minSize, cl.accept, r.Headers)
	case !want && ce != "":
		t.Errorf("%s: Content-Encoding %q on an answer that must go as it is (a %s body of %d bytes, min_size %d)",
			where, ce, r.Headers["content-type"], len(a.body), v.minSize)
	}
	if ce == "" {
		return
	}
	if want := chosenCoding(cl.accept); ce != want {
		t.Errorf("%s: Content-Encoding %q, want %q (the first of %v that Accept-Encoding %q names)", where, ce, want, gatewayCodings, cl.accept)
	}
	if !strings.Contains(strings.ToLower(r.Headers["vary"]), "accept-encoding") {
		t.Errorf("%s: a compressed answer without Vary: Accept-Encoding (Vary: %q)", where, r.Headers["vary"])
	}
	if n, ok := r.Headers["content-length"]; ok && r.RawLen > 0 && n != fmt.Sprint(r.RawLen) {
		t.Errorf("%s: Content-Length %s on a compressed body of %d bytes", where, n, r.RawLen)
	}
}

// chosenCoding is the coding a gateway that compresses picks for accept, a list without weights:
// the first of gatewayCodings it names.
func chosenCoding(accept string) string {
	named := map[string]bool{}
	for _, c := range strings.Split(accept, ",") {
		named[strings.ToLower(strings.TrimSpace(c))] = true
	}
	for _, c := range gatewayCodings {
		if named[c] {
			return c
		}
	}
	return ""
}

// checkReuse checks, for the request at index i of the run, that it came on a connection that was
// kept: on the client's side, frontgate keeps the client's connection after every answer but a cut
// or a close-delimited one (and the client keeps it too, except where client.closes says); on the
// upstream's side, frontgate reuses its connection after every answer that left it open.
//
// A connection counts as live from its first request until an answer that may end it, or a failed
// request; a request whose connection is unknown (no answer, no request id) makes the live ones
// unknown. A request after a kept-alive answer may open a new connection only when none is live:
// every client here, and frontgate's pool for this client's route, serve one request at a time.
// A cut answer's own request is not checked: when its upstream resets before frontgate has read
// the head, frontgate rightly tries again on a new upstream connection, and a client that got
// nothing at all (Go's) rightly tries again on a new connection to frontgate.
func checkReuse(t *testing.T, where string, fx *fixture, gw *gateway, cl *client, run *clientRun, i int) {
	t.Helper()
	cur := fx.answer(run.reqs[i].Answer)
	prevAns := fx.answer(run.reqs[i-1].Answer)
	prev, ok1 := run.results[run.reqs[i-1].ID]
	r, ok2 := run.results[run.reqs[i].ID]
	if cur.cut || !ok1 || !ok2 || (prev.Error != "" && !prevAns.cut) || r.Error != "" {
		return // nothing to tell, or a failure already reported
	}
	clientLive, upLive := map[string]bool{}, map[string]bool{}
	for k := 0; k < i; k++ {
		a := fx.answer(run.reqs[k].Answer)
		res, ok := run.results[run.reqs[k].ID]
		ends := !ok || a.mayCloseConn || cl.closes[a.name] != "" || (res.Error != "" && !a.cut)
		track(clientLive, gw.remote[res.Headers["x-request-id"]], ends)
		track(upLive, res.Headers["x-upstream-conn"], !ok || a.closesUp || gw.up.closes[a.name] || (res.Error != "" && !a.cut))
	}
	if id := r.Headers["x-request-id"]; id != "" {
		remote := gw.remote[id]
		switch {
		case remote == "":
			t.Errorf("%s: frontgate's access log has no line with the client's address for request %s", where, id)
		case prevAns.mayCloseConn || cl.closes[prevAns.name] != "" || len(clientLive) == 0 || clientLive[remote]:
			// kept, or free to be closed
		case r.PrevClosedBy == "client":
			t.Logf("%s: a new connection to frontgate after %s, but the client had closed the previous one itself", where, prevAns.name)
		default:
			why := ""
			if strings.Contains(strings.ToLower(prev.Headers["connection"]), "close") {
				why = " (frontgate answered it with Connection: close)"
			}
			t.Errorf("%s: the client's connection to frontgate was not kept after %s%s: this request came from %s, the live one was %v",
				where, prevAns.name, why, remote, keys(clientLive))
		}
	}
	conn := r.Headers["x-upstream-conn"]
	switch {
	case conn == "":
		t.Errorf("%s: the answer carries no X-Upstream-Conn (the upstream's view of frontgate's connection)", where)
	case !prevAns.closesUp && !gw.up.closes[prevAns.name] && len(upLive) > 0 && !upLive[conn]:
		t.Errorf("%s: frontgate opened a new upstream connection (peer port %s) although the one of %s was kept alive (live: %v)",
			where, conn, prevAns.name, keys(upLive))
	}
}

// track notes that a request went over connection c, which then ended or not; an unknown
// connection ("") makes every one unknown.
func track(live map[string]bool, c string, ended bool) {
	switch {
	case c == "":
		clear(live)
	case ended:
		delete(live, c)
	default:
		live[c] = true
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (fx *fixture) answer(name string) answer {
	i := slices.IndexFunc(fx.answers, func(a answer) bool { return a.name == name })
	return fx.answers[i]
}

// summary keeps every cell's outcome for the table at the end.
type summary struct {
	mu    sync.Mutex
	cells map[string]string // variant/upstream/client/answer → ok, FAIL, skip
}

func (s *summary) record(t *testing.T, variant, up, cl, a string) {
	mark := "ok"
	switch {
	case t.Failed():
		mark = "FAIL"
	case t.Skipped():
		mark = "skip"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cells[strings.Join([]string{variant, up, cl, a}, "/")] = mark
}

// table renders one row per variant, upstream and client, one column per answer, and the counts.
func (s *summary) table(gws []*gateway, cls []*client, answers []answer) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(tw, "variant/upstream/client")
	for _, a := range answers {
		fmt.Fprintf(tw, "\t%s", a.name)
	}
	fmt.Fprintln(tw)
	counts := map[string]int{}
	for _, gw := range gws {
		for _, cl := range cls {
			row := strings.Join([]string{gw.v.name, gw.up.name, cl.name}, "/")
			fmt.Fprint(tw, row)
			for _, a := range answers {
				mark := s.cells[row+"/"+a.name]
				if mark == "" {
					mark = "-" // not run (filtered out with -run)
				}
				counts[mark]++
				fmt.Fprintf(tw, "\t%s", mark)
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	fmt.Fprintf(&b, "%d ok, %d FAIL, %d skip\n", counts["ok"], counts["FAIL"], counts["skip"])
	return b.String()
}
