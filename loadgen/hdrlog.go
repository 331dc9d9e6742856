package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The interval log (Plan.HdrLog) is HdrHistogram's standard log, format version 1.3, as HdrHistogram's
// HistogramLogReader (Java and Go) and HistogramLogProcessor read it:
//
//	#[Histogram log format version 1.3]
//	#[frontgate selftest run_id=0123456789abcdef url=http://10.0.0.5:8080/ conns=50 rate=0 client=fast-http1]
//	#[Latency in microseconds (Interval_Max in milliseconds) ...]
//	#[StartTime: 1767225600.123 (seconds since epoch), 2026-01-01T00:00:00Z]
//	#[BaseTime: 0 (seconds since epoch)]
//	"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//	1767225600.123,1.000,2.345,HISTFAAA…
//	Tag=/demo2,1767225600.123,1.000,2.345,HISTFAAA…
//
// Each interval has one untagged line (all routes) and, when the plan has several routes, one line per
// route tagged with its name (commas, spaces, line breaks and % percent-encoded). Timestamps are
// absolute (BaseTime 0), so the logs of several machines line up. The library's writer prints the
// header lines; the StartTime and interval lines are written here because its StartTime drops the
// milliseconds and its interval lines scale Interval_Max from nanoseconds, with no public option to
// say microseconds.

// intervals holds one worker's tally of the current interval (see ivlSet). The worker records into the
// set cur points to; once per interval the collector swaps in an empty set and takes the old one (see
// take). The interval log and the timeline (Plan.Timeline) both read what the collector gathers.
type intervals struct {
	cur  atomic.Pointer[ivlSet]
	busy atomic.Bool // set by the worker while it records into *cur
}

// ivlSet is one worker's tally of one interval: a sparse latency histogram per route (a dense one is
// 190 KB; an interval's few populated buckets take a few hundred bytes), the errors, the wire bytes and
// the responses by status code (4 KB).
type ivlSet struct {
	hists      []*hdrhistogram.PackedHistogram
	errors     uint64
	sent, recv uint64
	status     [1000]uint32 // by code; HTTP's three digits always fit
}

func newIvlSet(routes int) *ivlSet {
	s := &ivlSet{hists: make([]*hdrhistogram.PackedHistogram, routes)}
	for i := range s.hists {
		s.hists[i] = hdrhistogram.NewPacked(histLowest, histHighest, histDigits)
	}
	return s
}

func newIntervals(routes int) *intervals {
	iv := &intervals{}
	iv.cur.Store(newIvlSet(routes))
	return iv
}

// record is called by the worker only, once per request: failed requests count as errors, the others
// with their latency and status.
func (iv *intervals) record(route int, ex *exchange, failed bool, lat time.Duration) {
	iv.busy.Store(true)
	s := iv.cur.Load()
	s.sent += ex.wireSent
	s.recv += ex.wireRecv
	if failed {
		s.errors++
	} else {
		_ = s.hists[route].RecordValue(micros(lat)) // cannot fail: micros clamps to the range
		s.status[min(max(ex.status, 0), len(s.status)-1)]++
	}
	iv.busy.Store(false)
}

// take installs spare (empty) as the worker's set and returns the set it replaced, once the worker no
// longer records into it. The worker sets busy before it loads cur and clears it after recording, and
// all three are sequentially consistent atomics: busy seen clear after the swap means the worker has
// either finished with the old set or will load the new one. A record takes nanoseconds, so the wait
// is short.
func (iv *intervals) take(spare *ivlSet) *ivlSet {
	old := iv.cur.Swap(spare)
	for iv.busy.Load() {
		runtime.Gosched()
	}
	return old
}

// hdrLog writes the interval log of a run, from the intervals its collector gathers.
type hdrLog struct {
	w    *stickyWriter
	tags []string // escaped route names; nil with a single route
}

// stickyWriter passes writes on until one fails, then refuses every later one with the same error. Run
// reads err once the last round is over.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// newHdrLog writes the log's header, with the current time as its start.
func newHdrLog(p Plan, rep *Report, routes []string) *hdrLog {
	l := &hdrLog{w: &stickyWriter{w: p.HdrLog}}
	for _, name := range routes {
		if len(routes) > 1 {
			l.tags = append(l.tags, logTag(name))
		}
	}
	now := time.Now()
	lw := hdrhistogram.NewHistogramLogWriter(l.w)
	_ = lw.OutputLogFormatVersion() // write errors are kept by l.w
	_ = lw.OutputComment(fmt.Sprintf("[frontgate selftest run_id=%s url=%s conns=%d rate=%g client=%s]",
		rep.RunIDs[0], logTag(rep.URL), rep.Conns, rep.Rate, rep.Client))
	_ = lw.OutputComment("[Latency in microseconds (Interval_Max in milliseconds), from each request's due time " +
		"in open loop; untagged lines cover all routes, Tag= lines one route]")
	fmt.Fprintf(l.w, "#[StartTime: %.3f (seconds since epoch), %s]\n", float64(now.UnixMilli())/1e3,
		now.UTC().Format(time.RFC3339Nano))
	_ = lw.OutputBaseTime(0)
	_ = lw.OutputLegend()
	return l
}

// write writes the interval [start+from, start+to) of all routes and of each.
func (l *hdrLog) write(start time.Time, from, to time.Duration, all *hdrhistogram.Histogram, routes []*hdrhistogram.Histogram) {
	at, end := start.Add(from).UnixMilli(), start.Add(to).UnixMilli()
	l.line("", all, at, end)
	for r, h := range routes {
		if l.tags != nil {
			l.line(l.tags[r], h, at, end)
		}
	}
}

// line writes one interval line, as the library's HistogramLogWriter does but with Interval_Max in
// milliseconds.
func (l *hdrLog) line(tag string, h *hdrhistogram.Histogram, startMs, endMs int64) {
	payload, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil { // it writes to memory only
		l.w.err = fmt.Errorf("encode histogram: %w", err)
		return
	}
	if tag != "" {
		tag = "Tag=" + tag + ","
	}
	fmt.Fprintf(l.w, "%s%.3f,%.3f,%.3f,%s\n", tag, float64(startMs)/1e3, float64(endMs-startMs)/1e3,
		float64(h.Max())/1e3, payload)
}

// tagEscaper percent-encodes what a log tag must not hold (the log readers end a tag at a comma).
var tagEscaper = strings.NewReplacer("%", "%25", ",", "%2C", " ", "%20", "\t", "%09", "\r", "%0D", "\n", "%0A")

func logTag(route string) string { return tagEscaper.Replace(route) }

func routeOfTag(tag string) string {
	if s, err := url.PathUnescape(tag); err == nil {
		return s
	}
	return tag
}

// isHdrLog reports whether the start of a file looks like an interval log.
func isHdrLog(head []byte) bool {
	return bytes.HasPrefix(head, []byte("#")) || bytes.HasPrefix(head, []byte("Tag=")) ||
		bytes.HasPrefix(head, []byte(`"StartTimestamp"`)) || len(head) > 0 && head[0] >= '0' && head[0] <= '9'
}

// readHdrLog reads an interval log with the library's HistogramLogReader for MergeFiles: the untagged
// lines make the total, the tagged ones the routes. A log holds latencies only, so Requests is the
// number of latencies, and the statuses, errors and bytes are unknown (zero). head is the start of br,
// where the header with frontgate's run line is.
func readHdrLog(name string, br *bufio.Reader, head []byte) (*input, error) {
	in := &input{name: name, rep: &Report{Result: *newResult(false)}}
	readLogHeader(in.rep, head)
	routes := map[string]*Result{}
	routeSpans := map[string][]span{}
	var untagged, intervals int
	lr := hdrhistogram.NewHistogramLogReader(br)
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("%s: interval %d: %w", name, intervals+1, err)
		}
		if h == nil {
			break
		}
		intervals++
		if err := checkSettings(h); err != nil {
			return nil, fmt.Errorf("%s: interval %d: %w", name, intervals, err)
		}
		sp := span{time.UnixMilli(h.StartTimeMs()), time.UnixMilli(h.EndTimeMs())}
		if h.Tag() == "" {
			untagged++
			in.rep.hist.Merge(h)
			in.spans = append(in.spans, sp)
			continue
		}
		route := routeOfTag(h.Tag())
		if routes[route] == nil {
			routes[route] = newResult(false)
		}
		routes[route].hist.Merge(h)
		routeSpans[route] = append(routeSpans[route], sp)
	}
	if intervals == 0 {
		return nil, fmt.Errorf("%s: an HdrHistogram log without a single interval", name)
	}
	for route, r := range routes {
		r.Requests = uint64(r.hist.TotalCount())
		r.Duration, r.Start, r.End = unionOf(routeSpans[route])
		if untagged == 0 { // a log of tagged lines only: the total is their sum
			in.rep.hist.Merge(r.hist)
			in.spans = append(in.spans, routeSpans[route]...)
		}
	}
	if len(routes) > 0 {
		in.rep.Routes = routes
	}
	in.rep.Requests = uint64(in.rep.hist.TotalCount())
	in.rep.Duration, in.rep.Start, in.rep.End = unionOf(in.spans)
	return in, nil
}

// readLogHeader fills rep's run id, URL, connections, rate and client from frontgate's header line, when
// head has one.
func readLogHeader(rep *Report, head []byte) {
	const prefix = "#[frontgate selftest "
	i := bytes.Index(head, []byte(prefix))
	if i < 0 {
		return
	}
	line, _, _ := bytes.Cut(head[i+len(prefix):], []byte("]"))
	for _, f := range strings.Fields(string(line)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "run_id":
			rep.RunIDs = []string{v}
		case "url":
			rep.URL = routeOfTag(v)
		case "conns":
			rep.Conns, _ = strconv.Atoi(v)
		case "rate":
			rep.Rate, _ = strconv.ParseFloat(v, 64)
		case "client":
			rep.Client = v
		}
	}
}
