// Package corpus runs a corpus of raw HTTP/1.1 requests, gathered from public test suites and
// request-smuggling research, through the frontgate binary on both of its plain-HTTP engines (lean
// and stdlib), against a recording upstream, and checks each outcome against a strict reading of
// RFC 9112. The cases live in testdata/*.cases; testdata/README.md describes the format.
package corpus

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/frontgate/frontgate/internal/e2e"
)

var bin string

func TestMain(m *testing.M) { e2e.Main(m, &bin) }

// engines are the values of server.engine the corpus runs through, with the letter that marks their
// tags.
var engines = []struct {
	name   string
	letter byte
}{{"lean", 'l'}, {"stdlib", 's'}}

// tagPattern matches every tag: k, the engine's letter, and the case's number in four digits; as
// long as the placeholder {case}.
var tagPattern = regexp.MustCompile(`k[ls][0-9]{4}`)

func tagFor(letter byte, i int) string { return fmt.Sprintf("k%c%04d", letter, i) }

// parallel is how many exchanges run at once per engine.
const parallel = 24

// TestCorpus sends every case to frontgate on each engine and judges what the client and the
// upstream saw. Each case is a subtest: TestCorpus/lean/NAME.
func TestCorpus(t *testing.T) {
	cases := loadCases(t)
	if len(cases) > 9999 {
		t.Fatalf("%d cases do not fit four-digit tags", len(cases))
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			runEngine(t, eng.name, eng.letter, cases)
		})
	}
}

func runEngine(t *testing.T, engine string, letter byte, cases []*Case) {
	rec := startRecorder(t, tagPattern)
	dir := t.TempDir()
	cfg := e2e.WriteFile(t, dir, "frontgate.yaml", fmt.Sprintf(`log: {format: json, level: info}
server: {engine: %s, shutdown_timeout: 5s}
upstreams:
  up:
    targets: ["http://%s"]
    max_fails: -1
routes:
  - {path_prefix: /, upstream: up, name: all, retries: 0}
`, engine, rec.Addr()))
	p := e2e.Serve(t, bin, cfg)

	obs := make([]*observation, len(cases))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			raw := strings.ReplaceAll(c.Send, placeholder, tagFor(letter, i))
			obs[i] = exchange(p.Addr, []byte(raw), planFor(c))
		}()
	}
	wg.Wait()
	// Stop the gateway and let the upstream's connections end, so that every request it was
	// sending (late or unfinished) is recorded before judging.
	if err := p.Stop(t); err != nil {
		t.Errorf("frontgate exited with %v; output:\n%s", err, tail(p.Logs.Text(), 40))
	}
	rec.close()

	byTag := map[string][]recorded{}
	for _, q := range rec.requests() {
		byTag[q.Tag] = append(byTag[q.Tag], q)
	}
	for _, q := range byTag[""] {
		t.Errorf("%s: the upstream received a request that no case sent (a smuggled request?): %s\nhead: %q",
			engine, q.String(), truncate(q.Head, 400))
	}
	failed := 0
	for i, c := range cases {
		tag := tagFor(letter, i)
		verdict := judge(c, tag, obs[i], byTag[tag])
		t.Run(c.Name, func(t *testing.T) {
			if verdict != "" {
				t.Error(report(c, engine, tag, obs[i], byTag[tag], verdict))
			}
		})
		if verdict != "" {
			failed++
		}
	}
	t.Logf("%s: %d cases, %d passed, %d failed", engine, len(cases), len(cases)-failed, failed)
}

// judge returns "" when the observation fits one of the case's outcomes, else why it fits none.
func judge(c *Case, tag string, obs *observation, got []recorded) string {
	var whys []string
	for _, a := range c.Alts {
		why := judgeAlt(c, a, tag, obs, got)
		if why == "" {
			return ""
		}
		whys = append(whys, fmt.Sprintf("not %q: %s", a.String(), why))
	}
	return strings.Join(whys, "\n  ")
}

// judgeAlt checks one outcome.
func judgeAlt(c *Case, a Alt, tag string, obs *observation, got []recorded) string {
	var complete, unfinished []recorded
	for _, q := range got {
		if len(q.Problems) > 0 {
			return "the upstream received a malformed request: " + q.String()
		}
		if q.Complete {
			complete = append(complete, q)
		} else {
			unfinished = append(unfinished, q)
		}
	}
	finals := obs.finals()
	if a.Incomplete {
		if len(complete) > 0 {
			return fmt.Sprintf("the upstream received %d whole request(s)", len(complete))
		}
		for _, r := range finals {
			if r.Status < 300 {
				return fmt.Sprintf("the client got a %d", r.Status)
			}
		}
		if obs.ReadErr != nil && !isReset(obs.ReadErr) {
			return "the exchange did not end: " + obs.ReadErr.Error()
		}
		return ""
	}
	if len(a.Answer) > 0 {
		if len(got) > 0 {
			return fmt.Sprintf("the upstream received %d request(s), want none", len(got))
		}
		if len(finals) != 1 || !slices.ContainsFunc(a.Answer, func(c Codes) bool { return c.has(finals[0].Status) }) {
			return fmt.Sprintf("the client got %d final response(s), want one of %v", len(finals), a.Answer)
		}
		if obs.ServerClosed && obs.FinalsBeforeHalfClose > 0 {
			return "the server closed the connection after its own answer"
		}
		return ""
	}
	if len(complete) != a.Forwards {
		return fmt.Sprintf("the upstream received %d whole request(s), want %d", len(complete), a.Forwards)
	}
	if len(unfinished) > 0 && !a.Partial {
		return fmt.Sprintf("the upstream received the start of %d request(s) it never got whole", len(unfinished))
	}
	for i := range a.Forwards {
		if why := matchForward(c.Forwards[i], tag, complete[i]); why != "" {
			return fmt.Sprintf("forwarded request %d: %s", i+1, why)
		}
	}
	want := a.Forwards
	if len(a.Reject) > 0 {
		want++
	}
	if len(finals) != want {
		return fmt.Sprintf("the client got %d final response(s), want %d", len(finals), want)
	}
	for i := range a.Forwards {
		r := finals[i]
		if r.Status != 200 || r.get("X-Recorded") != complete[i].ID {
			return fmt.Sprintf("response %d is %d from record %q, want 200 from %s", i+1, r.Status, r.get("X-Recorded"), complete[i].ID)
		}
	}
	if len(a.Reject) > 0 {
		r := finals[a.Forwards]
		if !a.rejects(r.Status) {
			return fmt.Sprintf("response %d is %d", a.Forwards+1, r.Status)
		}
		if !obs.ServerClosed && obs.FinalsBeforeHalfClose > a.Forwards {
			return fmt.Sprintf("after the %d the server kept the connection open (the client waited %v, then half-closed)", r.Status, quiet)
		}
	}
	return ""
}

// matchForward compares a forwarded request with its block.
func matchForward(f Forward, tag string, q recorded) string {
	sub := func(s string) string { return strings.ReplaceAll(s, placeholder, tag) }
	if q.Method != f.Method || q.Target != sub(f.Target) {
		return fmt.Sprintf("got %s %s, want %s %s", q.Method, q.Target, f.Method, sub(f.Target))
	}
	if string(q.Body) != sub(f.Body) {
		return fmt.Sprintf("body %q, want %q", truncate(string(q.Body), 200), truncate(sub(f.Body), 200))
	}
	for _, h := range f.Headers {
		vals := q.values(h.Name)
		switch {
		case h.Absent && len(vals) > 0:
			return fmt.Sprintf("has %s: %q, want none", h.Name, vals)
		case !h.Absent && strings.Join(vals, ", ") != sub(h.Value):
			return fmt.Sprintf("%s is %q, want %q", h.Name, vals, sub(h.Value))
		}
	}
	return ""
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// report describes a failed case: what was sent, what was expected and what was seen.
func report(c *Case, engine, tag string, obs *observation, got []recorded, verdict string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %s (%s:%d) on %s, tag %s\n", c.Name, c.File, c.Line, engine, tag)
	fmt.Fprintf(&b, "source: %s\n", strings.Join(c.Sources, "; "))
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "sent: %s\n", truncate(escape(strings.ReplaceAll(c.Send, placeholder, tag)), 600))
	fmt.Fprintf(&b, "expected: %s\n", c.Expect)
	fmt.Fprintf(&b, "client saw: %s\n", obs.String())
	if len(got) == 0 {
		b.WriteString("upstream saw: nothing\n")
	}
	for _, q := range got {
		fmt.Fprintf(&b, "upstream saw: %s\n", q.String())
	}
	fmt.Fprintf(&b, "why:\n  %s", verdict)
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
