package loadgen

import (
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Interval is one entry of Report.Timeline: what happened in one interval of the run (a second unless
// Plan.HdrLogInterval says otherwise). The zero value is an empty interval at the run's start.
type Interval struct {
	// Start is the interval's start, from the run's start (the first round's); Duration is its length,
	// shorter for the last interval of a round. Pauses between rounds fall between intervals.
	Start, Duration time.Duration
	// Requests counts the responses received in the interval, Errors the requests that failed in it.
	Requests, Errors uint64
	// BytesSent and BytesReceived count the wire bytes of the requests that finished in the interval.
	BytesSent, BytesReceived uint64
	// P50, P90, P99 and Max summarise the latency of the interval's responses as Result.Latency does;
	// zero without a response.
	P50, P90, P99, Max time.Duration
	// Status counts the interval's responses by status code, in ascending order of code.
	Status []StatusCount
}

// StatusCount is a number of responses with one status code.
type StatusCount struct {
	Code  int
	Count uint64
}

// collector gathers the workers' interval tallies (see intervals) every `every`, and hands each closed
// interval to the interval log and to the timeline. It holds one interval's figures, whatever the
// length of the run; the timeline grows by one small Interval per interval. One goroutine at a time
// uses it: Run, then the collector goroutine of each round in turn.
type collector struct {
	every              time.Duration
	spare              *ivlSet
	routes             []*hdrhistogram.Histogram // the current interval's latencies, per route
	all                *hdrhistogram.Histogram   // and of all routes
	errors, sent, recv uint64
	status             [len(ivlSet{}.status)]uint64

	log      *hdrLog    // nil without Plan.HdrLog
	timeline bool       // Plan.Timeline: append to intervals
	origin   time.Time  // the first round's start, set by the first run
	closed   []Interval // the timeline so far
}

// newCollector returns the collector of p's intervals, or nil when neither the interval log nor the
// timeline asks for them.
func newCollector(p Plan, rep *Report, routes []string) *collector {
	if p.HdrLog == nil && !p.Timeline {
		return nil
	}
	c := &collector{every: p.HdrLogInterval, spare: newIvlSet(len(routes)), all: newHist(), timeline: p.Timeline}
	for range routes {
		c.routes = append(c.routes, newHist())
	}
	if p.HdrLog != nil {
		c.log = newHdrLog(p, rep, routes)
	}
	return c
}

// run collects and closes an interval every c.every until finished is closed (the workers are done),
// then closes the last, partial one.
func (c *collector) run(rd *round, workers []*worker, finished <-chan struct{}) {
	if c.origin.IsZero() {
		c.origin = rd.start
	}
	t := time.NewTicker(c.every)
	defer t.Stop()
	var from time.Duration
	for {
		select {
		case <-t.C:
			to := time.Since(rd.start)
			c.collect(workers)
			c.close(rd.start, from, to)
			from = to
		case <-finished:
			c.collect(workers)
			c.close(rd.start, from, max(rd.elapsed, from))
			return
		}
	}
}

// collect adds every worker's interval tally to the collector's.
func (c *collector) collect(workers []*worker) {
	for _, w := range workers {
		set := w.ivl.take(c.spare)
		for r, h := range set.hists {
			_ = h.MergeInto(c.routes[r]) // nothing drops: the same settings
			_ = h.MergeInto(c.all)
			h.Reset()
		}
		c.errors += set.errors
		c.sent += set.sent
		c.recv += set.recv
		for code, n := range set.status {
			c.status[code] += uint64(n)
		}
		set.errors, set.sent, set.recv, set.status = 0, 0, 0, [len(set.status)]uint32{}
		c.spare = set
	}
}

// close hands the interval [start+from, start+to) to the log and the timeline, and empties it.
func (c *collector) close(start time.Time, from, to time.Duration) {
	if c.log != nil {
		c.log.write(start, from, to, c.all, c.routes)
	}
	if c.timeline {
		iv := Interval{Start: start.Sub(c.origin) + from, Duration: to - from, Requests: uint64(c.all.TotalCount()),
			Errors: c.errors, BytesSent: c.sent, BytesReceived: c.recv}
		if l := latencyOf(c.all); iv.Requests > 0 {
			iv.P50, iv.P90, iv.P99, iv.Max = min(l.P50, l.Max), min(l.P90, l.Max), min(l.P99, l.Max), l.Max
		}
		for code, n := range c.status {
			if n > 0 {
				iv.Status = append(iv.Status, StatusCount{code, n})
			}
		}
		c.closed = append(c.closed, iv)
	}
	c.all.Reset()
	for _, h := range c.routes {
		h.Reset()
	}
	c.errors, c.sent, c.recv, c.status = 0, 0, 0, [len(c.status)]uint64{}
}

// JSONInterval is the JSON form of an Interval, one entry of JSONReport's timeline:
//
//	t               number  the interval's start in seconds from the run's start
//	duration_s      number  its length in seconds (1 but for the last of a round)
//	requests        number  responses received in it (any status)
//	errors          number  requests that failed in it
//	p50, p90, p99   number  latency in milliseconds, as latency_ms (0 without a response)
//	max             number
//	bytes_sent      number  wire bytes of the requests that finished in it
//	bytes_received  number
//	status          object  responses by status code, e.g. {"200": 998, "503": 2}
type JSONInterval struct {
	T             float64           `json:"t"`
	DurationS     float64           `json:"duration_s"`
	Requests      uint64            `json:"requests"`
	Errors        uint64            `json:"errors"`
	P50           float64           `json:"p50"`
	P90           float64           `json:"p90"`
	P99           float64           `json:"p99"`
	Max           float64           `json:"max"`
	BytesSent     uint64            `json:"bytes_sent"`
	BytesReceived uint64            `json:"bytes_received"`
	Status        map[string]uint64 `json:"status"`
}

func jsonTimeline(ivs []Interval) []JSONInterval {
	if ivs == nil {
		return nil
	}
	out := make([]JSONInterval, 0, len(ivs))
	for _, iv := range ivs {
		j := JSONInterval{T: iv.Start.Seconds(), DurationS: iv.Duration.Seconds(), Requests: iv.Requests, Errors: iv.Errors,
			P50: ms(iv.P50), P90: ms(iv.P90), P99: ms(iv.P99), Max: ms(iv.Max),
			BytesSent: iv.BytesSent, BytesReceived: iv.BytesReceived, Status: make(map[string]uint64, len(iv.Status))}
		for _, s := range iv.Status {
			j.Status[strconv.Itoa(s.Code)] = s.Count
		}
		out = append(out, j)
	}
	return out
}
