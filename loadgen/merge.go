package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// MergeFiles reads the results of several runs, each a JSON report (Report.WriteJSON) or an interval log
// (Plan.HdrLog), and merges them into one report as if one run had made every request: counts, statuses,
// error kinds and bytes are summed per route and in all, the latency histograms are merged (so the
// percentiles are those of all the samples together: exact, where averaging percentiles is not),
// Duration is the time covered by the union of the runs' rounds (for runs started together, from the
// first start to the last end), and the rates follow from it. Conns and Rate are summed; the uncorrected
// latency is kept when every input has one. A log holds latencies only: its run adds its responses and
// their latencies, with no statuses, errors or bytes.
//
// It refuses, naming the file, what it cannot read, a file of another kind, a JSON report without
// histograms, histograms of other settings than this package records, and the same run given twice (its
// JSON report and its log, say).
func MergeFiles(paths []string) (*Report, error) {
	if len(paths) == 0 {
		return nil, errors.New("merge: no file given")
	}
	ins := make([]*input, 0, len(paths))
	for _, path := range paths {
		in, err := readFile(path)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	return merge(ins)
}

// input is one run read for a merge; spans are the times its requests ran (its rounds).
type input struct {
	name  string
	rep   *Report
	spans []span
}

type span struct{ start, end time.Time }

func readFile(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // names the path
	}
	defer f.Close()
	return readInput(path, f)
}

// readInput reads one JSON report or interval log, telling them apart by their first bytes.
func readInput(name string, r io.Reader) (*input, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(8 << 10)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch trimmed := bytes.TrimLeft(head, " \t\r\n"); {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%s: empty file", name)
	case trimmed[0] == '{':
		return readJSON(name, br)
	case isHdrLog(trimmed):
		return readHdrLog(name, br, head)
	}
	return nil, fmt.Errorf("%s: neither a selftest JSON report (-json, -o json) nor an HdrHistogram log (-hdr-log)", name)
}

func readJSON(name string, r io.Reader) (*input, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("%s: not a selftest JSON report: %w", name, err)
	}
	if keys["requests"] == nil || keys["latency_ms"] == nil {
		return nil, fmt.Errorf("%s: a JSON file, but not a selftest report (no requests, no latency_ms)", name)
	}
	if keys["hist"] == nil || keys["start"] == nil {
		return nil, fmt.Errorf("%s: a selftest report without latency histograms (from a frontgate before merge): run it again to merge it", name)
	}
	var j JSONReport
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res, err := resultFromJSON(&j.JSONResult, name)
	if err != nil {
		return nil, err
	}
	in := &input{name: name, rep: &Report{Result: *res, URL: j.URL, Conns: j.Conns, Rate: j.Rate, Client: j.Client,
		Interrupted: j.Interrupted, RunIDs: j.RunIDs, Merged: j.MergedFrom}}
	for _, r := range j.Rounds {
		in.spans = append(in.spans, span{r.Start, r.End})
	}
	if len(in.spans) == 0 { // a merged report
		in.spans = []span{{j.Start, j.End}}
	}
	return in, nil
}

// resultFromJSON turns a JSONResult back into a Result with its histograms, checking that they hold one
// latency per response.
func resultFromJSON(j *JSONResult, where string) (*Result, error) {
	r := &Result{Requests: j.Requests, Errors: j.Errors, BytesSent: j.BytesSent, BytesReceived: j.BytesReceived,
		BodyBytesSent: j.BodyBytesSent, BodyBytesReceived: j.BodyBytesReceived, Start: j.Start, End: j.End,
		Status: make(map[int]uint64, len(j.Status)), ErrorKinds: make(map[string]uint64, numKinds)}
	for code, n := range j.Status {
		c, err := strconv.Atoi(code)
		if err != nil {
			return nil, fmt.Errorf("%s: status %q is not a number", where, code)
		}
		r.Status[c] = n
	}
	for _, k := range ErrorKinds {
		r.ErrorKinds[k] = 0
	}
	for k, n := range j.ErrorKinds {
		r.ErrorKinds[k] = n
	}
	var err error
	if r.hist, err = decodeHist(j.Hist); err != nil {
		return nil, fmt.Errorf("%s: hist: %w", where, err)
	}
	if n := r.hist.TotalCount(); n != int64(r.Requests) {
		return nil, fmt.Errorf("%s: hist holds %d latencies for %d responses", where, n, r.Requests)
	}
	if j.HistUncorrected != "" {
		if r.raw, err = decodeHist(j.HistUncorrected); err != nil {
			return nil, fmt.Errorf("%s: hist_uncorrected: %w", where, err)
		}
	}
	for name, rj := range j.Routes {
		rr, err := resultFromJSON(&rj, where+": route "+name)
		if err != nil {
			return nil, err
		}
		if r.Routes == nil {
			r.Routes = make(map[string]*Result, len(j.Routes))
		}
		r.Routes[name] = rr
	}
	return r, nil
}

// encodeHist returns h in HdrHistogram's compressed V2 encoding, base64 ("HISTFAAA…"); "" for nil. The
// encoding writes to memory only; should it fail all the same, the key is left out and a merge refuses
// the report.
func encodeHist(h *hdrhistogram.Histogram) string {
	if h == nil {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

func decodeHist(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, err
	}
	return h, checkSettings(h)
}

// checkSettings refuses a histogram whose settings differ from newHist's: merged into ours, its counts
// would move to other buckets, and the merge would no longer be exact.
func checkSettings(h *hdrhistogram.Histogram) error {
	if h.LowestTrackableValue() != histLowest || h.HighestTrackableValue() != histHighest ||
		h.SignificantFigures() != histDigits {
		return fmt.Errorf("histogram settings %d..%d with %d significant digits differ from selftest's %d..%d µs with %d",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), histLowest, histHighest, histDigits)
	}
	return nil
}

// merge sums the inputs; see MergeFiles.
func merge(ins []*input) (*Report, error) {
	open := true
	for _, in := range ins {
		open = open && in.rep.raw != nil
	}
	out := &Report{Result: *newResult(open)}
	seen := map[string]string{} // run id -> the file it came in
	var spans []span
	routeSpans := map[string][]span{}
	var urls, clients []string
	for _, in := range ins {
		r := in.rep
		for _, id := range r.RunIDs {
			if prev, ok := seen[id]; ok {
				return nil, fmt.Errorf("%s: the same run as %s (run id %s): give each run once, its JSON report or its log", in.name, prev, id)
			}
			seen[id] = in.name
		}
		out.addResult(&r.Result)
		for name, rr := range r.Routes {
			if out.Routes == nil {
				out.Routes = map[string]*Result{}
			}
			if out.Routes[name] == nil {
				out.Routes[name] = newResult(open)
			}
			out.Routes[name].addResult(rr)
			routeSpans[name] = append(routeSpans[name], in.spans...)
		}
		spans = append(spans, in.spans...)
		out.Conns += r.Conns
		out.Rate += r.Rate
		out.Interrupted = out.Interrupted || r.Interrupted
		out.RunIDs = append(out.RunIDs, r.RunIDs...)
		out.Merged = append(out.Merged, in.name)
		urls, clients = appendNew(urls, r.URL), appendNew(clients, r.Client)
	}
	out.URL, out.Client = strings.Join(urls, " "), strings.Join(clients, "+")
	out.Duration, out.Start, out.End = unionOf(spans)
	for name, rr := range out.Routes {
		rr.Duration, rr.Start, rr.End = unionOf(routeSpans[name])
	}
	out.finish()
	return out, nil
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// unionOf returns the time covered by spans (overlaps counted once, gaps not at all), the earliest start
// and the latest end. Spans without times are left out.
func unionOf(spans []span) (covered time.Duration, start, end time.Time) {
	var s []span
	for _, sp := range spans {
		if !sp.start.IsZero() && !sp.end.Before(sp.start) {
			s = append(s, sp)
		}
	}
	if len(s) == 0 {
		return 0, time.Time{}, time.Time{}
	}
	slices.SortFunc(s, func(a, b span) int { return a.start.Compare(b.start) })
	cur := s[0]
	start, end = cur.start, cur.end
	for _, sp := range s[1:] {
		if sp.start.After(cur.end) {
			covered += cur.end.Sub(cur.start)
			cur = sp
		} else if sp.end.After(cur.end) {
			cur.end = sp.end
		}
		if sp.end.After(end) {
			end = sp.end
		}
	}
	covered += cur.end.Sub(cur.start)
	return covered, start, end
}
