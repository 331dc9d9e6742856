package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// JSONReport is the JSON form of a Report, written by WriteJSON. Its keys are stable; consumers may rely
// on every key below being present (except where marked optional). The zero value encodes an empty run.
//
// Top level: every key of JSONResult (the whole run), plus
//
//	url          string   the first target's URL
//	conns        number   connections used
//	rate         number   open-loop target rate in requests/s; 0 for closed loop
//	client       string   "fast-http1" (built-in HTTP/1.1 client) or "net/http" (https fallback)
//	interrupted  bool     the run was cancelled before the plan completed
//	rounds       array    one JSONResult per round that ran
//	run_ids      array    the run's random id (for a merge: every input's), so merge can refuse a run twice
//	merged_from  array    optional, a merged report only: the files it was merged from
//	timeline     array    optional, with Plan.Timeline (selftest: -o json, -json, -html): one JSONInterval
//	                      per second of the run, in order; their counts add up to the totals
//	skipped      object   optional: route name -> why the run left it out (self mode)
//
// For a merged report (MergeFiles) conns and rate are the inputs' sums, url and client list the
// distinct ones (space- and +-separated), and rounds is empty.
type JSONReport struct {
	JSONResult
	URL         string            `json:"url"`
	Conns       int               `json:"conns"`
	Rate        float64           `json:"rate"`
	Client      string            `json:"client"`
	Interrupted bool              `json:"interrupted"`
	Rounds      []JSONResult      `json:"rounds"`
	RunIDs      []string          `json:"run_ids"`
	MergedFrom  []string          `json:"merged_from,omitempty"`
	Timeline    []JSONInterval    `json:"timeline,omitempty"`
	Skipped     map[string]string `json:"skipped,omitempty"`
}

// JSONResult is the JSON form of a Result (the whole run, one round or one route); the zero value is an
// empty result. Keys:
//
//	requests                number  responses received (any status)
//	errors                  number  requests that got no response (see error_kinds)
//	duration_s              number  wall time in seconds (summed over rounds for the whole run)
//	rps                     number  requests / duration_s
//	latency_ms              object  min, mean, p50, p90, p95, p99, p999, max in milliseconds; in open loop
//	                                measured from each request's due time (coordinated-omission corrected)
//	latency_uncorrected_ms  object  optional, open loop only: the same, measured from the actual send
//	bytes_sent              number  wire bytes sent (request heads and bodies)
//	bytes_received          number  wire bytes received (response heads, bodies, chunk framing)
//	body_bytes_sent         number  request body bytes sent
//	body_bytes_received     number  response body bytes received (decoded)
//	mb_per_s                number  (bytes_sent + bytes_received) / 10^6 / duration_s
//	status                  object  response count by status code, e.g. {"200": 998, "404": 2}
//	error_kinds             object  error count by kind; always has refused, reset, timeout, tls, canceled, other
//	routes                  object  optional, with several targets: route name -> JSONResult
//	start, end              string  RFC 3339 wall-clock times of the start and of the last response (top
//	                                level: of the first round and of the last); duration_s excludes pauses
//	hist                    string  the latency histogram behind latency_ms, in HdrHistogram's compressed
//	                                V2 encoding, base64 ("HISTFAAA…"): microseconds, 1 µs to 1 h, 3
//	                                significant digits; what merge combines exactly
//	hist_uncorrected        string  optional, open loop only: the same for latency_uncorrected_ms
type JSONResult struct {
	Requests             uint64                `json:"requests"`
	Errors               uint64                `json:"errors"`
	DurationS            float64               `json:"duration_s"`
	RPS                  float64               `json:"rps"`
	LatencyMS            JSONLatency           `json:"latency_ms"`
	LatencyUncorrectedMS *JSONLatency          `json:"latency_uncorrected_ms,omitempty"`
	BytesSent            uint64                `json:"bytes_sent"`
	BytesReceived        uint64                `json:"bytes_received"`
	BodyBytesSent        uint64                `json:"body_bytes_sent"`
	BodyBytesReceived    uint64                `json:"body_bytes_received"`
	MBPerS               float64               `json:"mb_per_s"`
	Status               map[string]uint64     `json:"status"`
	ErrorKinds           map[string]uint64     `json:"error_kinds"`
	Routes               map[string]JSONResult `json:"routes,omitempty"`
	Start                time.Time             `json:"start,omitzero"`
	End                  time.Time             `json:"end,omitzero"`
	Hist                 string                `json:"hist,omitempty"`
	HistUncorrected      string                `json:"hist_uncorrected,omitempty"`
}

// JSONLatency is a latency summary in milliseconds (keys min, mean, p50, p90, p95, p99, p999, max); all
// zero when no response was received.
type JSONLatency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func jsonLatency(l Latency) JSONLatency {
	return JSONLatency{Min: ms(l.Min), Mean: ms(l.Mean), P50: ms(l.P50), P90: ms(l.P90), P95: ms(l.P95),
		P99: ms(l.P99), P999: ms(l.P999), Max: ms(l.Max)}
}

// JSON converts r to its JSON form.
func (r *Result) JSON() JSONResult {
	j := JSONResult{
		Requests:          r.Requests,
		Errors:            r.Errors,
		DurationS:         r.Duration.Seconds(),
		RPS:               r.RPS(),
		LatencyMS:         jsonLatency(r.Latency),
		BytesSent:         r.BytesSent,
		BytesReceived:     r.BytesReceived,
		BodyBytesSent:     r.BodyBytesSent,
		BodyBytesReceived: r.BodyBytesReceived,
		MBPerS:            r.MBPerSec(),
		Status:            make(map[string]uint64, len(r.Status)),
		ErrorKinds:        make(map[string]uint64, numKinds),
		Start:             r.Start,
		End:               r.End,
		Hist:              encodeHist(r.hist),
		HistUncorrected:   encodeHist(r.raw),
	}
	if r.LatencyUncorrected != nil {
		l := jsonLatency(*r.LatencyUncorrected)
		j.LatencyUncorrectedMS = &l
	}
	for code, n := range r.Status {
		j.Status[strconv.Itoa(code)] = n
	}
	for _, k := range ErrorKinds {
		j.ErrorKinds[k] = r.ErrorKinds[k]
	}
	if len(r.Routes) > 0 {
		j.Routes = make(map[string]JSONResult, len(r.Routes))
		for name, rr := range r.Routes {
			j.Routes[name] = rr.JSON()
		}
	}
	return j
}

// JSON converts r to its JSON form.
func (r *Report) JSON() JSONReport {
	j := JSONReport{JSONResult: r.Result.JSON(), URL: r.URL, Conns: r.Conns, Rate: r.Rate, Client: r.Client,
		Interrupted: r.Interrupted, Rounds: make([]JSONResult, 0, len(r.Rounds)), RunIDs: r.RunIDs, MergedFrom: r.Merged,
		Timeline: jsonTimeline(r.Timeline)}
	for _, rr := range r.Rounds {
		j.Rounds = append(j.Rounds, rr.JSON())
	}
	for _, s := range r.Skipped {
		if j.Skipped == nil {
			j.Skipped = map[string]string{}
		}
		j.Skipped[s.Name] = s.Reason
	}
	return j
}

// WriteJSON writes the report as one indented JSON object (see JSONReport).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r.JSON()); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// Write writes the report to w as format "json" (WriteJSON) or otherwise as text (WriteText, with a
// latency histogram when hist is set).
func (r *Report) Write(w io.Writer, format string, hist bool) error {
	if format == "json" {
		return r.WriteJSON(w)
	}
	return r.WriteText(w, hist)
}

// WriteJSONFile writes the JSON report to the file at path, replacing it.
func (r *Report) WriteJSONFile(path string) error {
	return writeFile(path, "json", r.WriteJSON)
}

// WriteText writes the human-readable report: each round when there are several, then the total, with
// a text latency histogram when hist is set.
func (r *Report) WriteText(w io.Writer, hist bool) error {
	bw := bufio.NewWriter(w)
	mode := "closed loop"
	if r.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g req/s", r.Rate)
	}
	fmt.Fprintf(bw, "selftest %s: %d connections, %s, %s client\n", r.URL, r.Conns, mode, r.Client)
	if len(r.Merged) > 0 {
		fmt.Fprintf(bw, "merged from %d results: %s (connections and rate summed)\n", len(r.Merged), strings.Join(r.Merged, ", "))
	}
	if r.Interrupted {
		fmt.Fprintln(bw, "interrupted: the report covers what ran")
	}
	if len(r.Rounds) > 1 {
		for i, rr := range r.Rounds {
			fmt.Fprintf(bw, "\n== round %d of %d ==\n", i+1, len(r.Rounds))
			writeResult(bw, rr)
		}
		fmt.Fprintf(bw, "\n== total ==\n")
	} else {
		fmt.Fprintln(bw)
	}
	writeResult(bw, &r.Result)
	for _, s := range r.Skipped {
		fmt.Fprintf(bw, "%-13s %s: %s\n", "Skipped:", s.Name, s.Reason)
	}
	if hist {
		fmt.Fprintln(bw, "\nLatency histogram:")
		writeHist(bw, r.hist)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func fmtMS(d time.Duration) string { return strconv.FormatFloat(ms(d), 'f', 3, 64) + "ms" }

func mb(n uint64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + " MB" }

func writeLatency(w io.Writer, label string, l Latency) {
	fmt.Fprintf(w, "%-13s min %s  mean %s  max %s\n", label, fmtMS(l.Min), fmtMS(l.Mean), fmtMS(l.Max))
	fmt.Fprintf(w, "%-13s p50 %s  p90 %s  p95 %s  p99 %s  p99.9 %s\n", "", fmtMS(l.P50), fmtMS(l.P90),
		fmtMS(l.P95), fmtMS(l.P99), fmtMS(l.P999))
}

func statusLine(st map[int]uint64) string {
	codes := make([]int, 0, len(st))
	for c := range st {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d=%d", c, st[c]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func kindsLine(k map[string]uint64) string {
	var parts []string
	for _, name := range ErrorKinds {
		if k[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, k[name]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// Err returns an error when requests were sent but not one got a response (a refused port, say),
// saying how many failed and of which kinds; nil otherwise, even when some requests failed: a run that
// reached the server is judged by its figures (see Failed).
func (r *Result) Err() error {
	if r.Requests > 0 || r.Errors == 0 {
		return nil
	}
	return fmt.Errorf("no response received: %d requests failed (%s)", r.Errors, kindsLine(r.ErrorKinds))
}

func writeResult(w io.Writer, r *Result) {
	fmt.Fprintf(w, "%-13s %d completed, %d failed\n", "Requests:", r.Requests, r.Errors)
	fmt.Fprintf(w, "%-13s %s\n", "Total time:", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "%-13s %.1f (completed per second of total time)\n", "Requests/s:", r.RPS())
	if r.LatencyUncorrected != nil {
		writeLatency(w, "Latency:", r.Latency)
		fmt.Fprintf(w, "%-13s (from each request's due time; uncorrected: from its send)\n", "")
		writeLatency(w, "Uncorrected:", *r.LatencyUncorrected)
	} else {
		writeLatency(w, "Latency:", r.Latency)
	}
	fmt.Fprintf(w, "%-13s %s wire, %s bodies\n", "Sent:", mb(r.BytesSent), mb(r.BodyBytesSent))
	fmt.Fprintf(w, "%-13s %s wire, %s bodies\n", "Received:", mb(r.BytesReceived), mb(r.BodyBytesReceived))
	fmt.Fprintf(w, "%-13s %s in all (wire bytes sent + received; bodies %s)\n", "Payload:",
		mb(r.BytesSent+r.BytesReceived), mb(r.BodyBytesSent+r.BodyBytesReceived))
	fmt.Fprintf(w, "%-13s %.2f MB/s (payload per second of total time; MB = 10^6 bytes)\n", "Throughput:", r.MBPerSec())
	fmt.Fprintf(w, "%-13s %s\n", "Status:", statusLine(r.Status))
	fmt.Fprintf(w, "%-13s %s\n", "Errors:", kindsLine(r.ErrorKinds))
	if len(r.Routes) == 0 {
		return
	}
	names := make([]string, 0, len(r.Routes))
	for n := range r.Routes {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "Routes:\n  %-16s %9s %7s %10s %10s %10s %10s  %s\n", "route", "requests", "errors", "req/s", "p50", "p99", "max", "status")
	for _, n := range names {
		rr := r.Routes[n]
		fmt.Fprintf(w, "  %-16s %9d %7d %10.1f %10s %10s %10s  %s\n", n, rr.Requests, rr.Errors, rr.RPS(),
			fmtMS(rr.Latency.P50), fmtMS(rr.Latency.P99), fmtMS(rr.Latency.Max), statusLine(rr.Status))
	}
}

// writeHist draws the latency distribution as text bars over logarithmic bins from min to max.
func writeHist(w io.Writer, h *hdrhistogram.Histogram) {
	if h == nil || h.TotalCount() == 0 {
		fmt.Fprintln(w, "  (no responses)")
		return
	}
	const bins, width = 20, 40
	lo, hi := float64(max(h.Min(), 1)), float64(max(h.Max(), 1))
	n := bins
	if hi <= lo*1.01 {
		n = 1
	}
	counts := make([]int64, n)
	span := math.Log(hi / lo)
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		i := 0
		if n > 1 {
			i = int(math.Log(float64(max(b.To, 1))/lo) / span * float64(n))
			i = min(max(i, 0), n-1)
		}
		counts[i] += b.Count
	}
	var top int64
	for _, c := range counts {
		top = max(top, c)
	}
	total := float64(h.TotalCount())
	for i, c := range counts {
		upper := hi
		if n > 1 {
			upper = lo * math.Exp(span*float64(i+1)/float64(n))
		}
		bar := strings.Repeat("#", int(float64(c)/float64(top)*width+0.5))
		fmt.Fprintf(w, "  <= %10s |%-*s %d (%.1f%%)\n", fmtMS(time.Duration(upper*float64(time.Microsecond))), width, bar, c, float64(c)*100/total)
	}
}
