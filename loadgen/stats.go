package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms count microseconds from 1 µs to one hour with 3 significant digits: about 190 KB
// each, allocated once per worker and route however many requests run. Longer values are clamped.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLowest, histHighest, histDigits) }

// recorder feeds one worker's HdrHistogram in batches: latencies are buffered and recorded every
// len(buf) requests, so the histogram's counts are touched in bursts that stay in cache instead of once
// between two system calls that evict them. Call flush before reading the histogram.
type recorder struct {
	h   *hdrhistogram.Histogram
	n   int
	buf [256]uint32 // microseconds; histHighest fits
}

func newRecorder() *recorder { return &recorder{h: newHist()} }

// micros is d in whole microseconds, clamped to the histograms' range.
func micros(d time.Duration) int64 { return min(max(int64(d/time.Microsecond), 0), histHighest) }

func (r *recorder) record(d time.Duration) {
	r.buf[r.n] = uint32(micros(d))
	r.n++
	if r.n == len(r.buf) {
		r.flush()
	}
}

func (r *recorder) flush() {
	for _, v := range r.buf[:r.n] {
		_ = r.h.RecordValue(int64(v)) // cannot fail: the value is within range
	}
	r.n = 0
}

// errKind classifies failed requests.
type errKind int

const (
	kindRefused  errKind = iota // connection refused
	kindReset                   // connection reset, or closed before the response was complete
	kindTimeout                 // -timeout elapsed (connect, send or receive)
	kindTLS                     // TLS handshake or certificate failure
	kindCanceled                // aborted because the run was interrupted
	kindOther                   // anything else, e.g. a malformed response
	numKinds
)

// ErrorKinds lists the error kinds in report order; every report has a count for each.
var ErrorKinds = [numKinds]string{"refused", "reset", "timeout", "tls", "canceled", "other"}

func classify(err error, aborted bool) errKind {
	var (
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		uaErr    x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
		netErr   net.Error
	)
	switch {
	case aborted || errors.Is(err, errCanceled) || errors.Is(err, context.Canceled):
		return kindCanceled
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verErr),
		errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		return kindTLS
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return kindTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kindReset
	}
	return kindOther
}

// routeStats is one worker's tally for one route. Only its worker writes it, with no locking; it is read
// after the worker has stopped.
type routeStats struct {
	hist *recorder // latency: from the due time in open loop, from the send otherwise
	raw  *recorder // open loop only: latency from the actual send

	requests, errors uint64
	traffic
	status    [600]uint64
	oddStatus map[int]uint64 // codes outside 0..599
	kinds     [numKinds]uint64
}

func newRouteStats(open bool) *routeStats {
	s := &routeStats{hist: newRecorder()}
	if open {
		s.raw = newRecorder()
	}
	return s
}

func (s *routeStats) add(ex *exchange) {
	s.traffic.add(ex.traffic)
}

func (s *routeStats) countStatus(code int) {
	if code >= 0 && code < len(s.status) {
		s.status[code]++
		return
	}
	if s.oddStatus == nil {
		s.oddStatus = make(map[int]uint64)
	}
	s.oddStatus[code]++
}

// Latency is a latency summary; the zero value means no request completed.
type Latency struct {
	Min, Mean, P50, P90, P95, P99, P999, Max time.Duration
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Min:  us(h.Min()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P95:  us(h.ValueAtQuantile(95)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
	}
}

// Result is the outcome of a round, of a route within a round, or of the whole run. The zero value is an
// empty result: nothing sent.
type Result struct {
	// Requests counts the responses received (any status); Errors counts requests that got none
	// (refused, reset, timeout, ...). Every request sent is in exactly one of them.
	Requests, Errors uint64
	// Duration is the wall time the requests took: from the round's start until the last response of the
	// round (summed over rounds for the whole run, pauses excluded).
	Duration time.Duration
	// Start and End are the wall-clock times of the round's start and of its last response (for the whole
	// run: the first round's start and the last round's end). Zero in a Result that did not run.
	Start, End time.Time
	// Latency summarises the latency of the received responses. In open loop it is measured from each
	// request's due time (coordinated-omission corrected), otherwise from its send.
	Latency Latency
	// LatencyUncorrected is set in open loop only: the latency measured from the actual send.
	LatencyUncorrected *Latency
	// BytesSent and BytesReceived count wire bytes (HTTP heads, bodies and chunk framing);
	// BodyBytesSent and BodyBytesReceived count the bodies alone.
	BytesSent, BytesReceived, BodyBytesSent, BodyBytesReceived uint64
	// Status counts responses by status code.
	Status map[int]uint64
	// ErrorKinds counts errors by kind; it has an entry for every name in ErrorKinds.
	ErrorKinds map[string]uint64
	// Routes breaks the result down by Target name when the plan has more than one target; nil otherwise.
	Routes map[string]*Result

	hist, raw *hdrhistogram.Histogram
}

// RPS is the rate of received responses, per second of Duration.
func (r *Result) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// MBPerSec is the wire throughput, sent plus received, in MB (10^6 bytes) per second of Duration.
func (r *Result) MBPerSec() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.BytesSent+r.BytesReceived) / 1e6 / r.Duration.Seconds()
}

// Non2xx counts the responses whose status is not 2xx.
func (r *Result) Non2xx() uint64 {
	var n uint64
	for code, c := range r.Status {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

func newResult(open bool) *Result {
	r := &Result{Status: make(map[int]uint64), ErrorKinds: make(map[string]uint64), hist: newHist()}
	for _, k := range ErrorKinds {
		r.ErrorKinds[k] = 0
	}
	if open {
		r.raw = newHist()
	}
	return r
}

// addCounts adds requests, errors and bytes to r's counts.
func (r *Result) addCounts(requests, errors uint64, t traffic) {
	r.Requests += requests
	r.Errors += errors
	r.BytesSent += t.wireSent
	r.BytesReceived += t.wireRecv
	r.BodyBytesSent += t.bodySent
	r.BodyBytesReceived += t.bodyRecv
}

func (r *Result) addStats(s *routeStats) {
	r.addCounts(s.requests, s.errors, s.traffic)
	for code, n := range s.status {
		if n > 0 {
			r.Status[code] += n
		}
	}
	for code, n := range s.oddStatus {
		r.Status[code] += n
	}
	for k, n := range s.kinds {
		r.ErrorKinds[ErrorKinds[k]] += n
	}
	s.hist.flush()
	r.hist.Merge(s.hist.h)
	if r.raw != nil && s.raw != nil {
		s.raw.flush()
		r.raw.Merge(s.raw.h)
	}
}

// addResult adds o's counts and histograms to r (not its Duration nor Routes).
func (r *Result) addResult(o *Result) {
	r.addCounts(o.Requests, o.Errors, traffic{o.BytesSent, o.BytesReceived, o.BodyBytesSent, o.BodyBytesReceived})
	for code, n := range o.Status {
		r.Status[code] += n
	}
	for k, n := range o.ErrorKinds {
		r.ErrorKinds[k] += n
	}
	r.hist.Merge(o.hist)
	if r.raw != nil && o.raw != nil {
		r.raw.Merge(o.raw)
	}
}

// finish computes the latency summaries from the histograms.
func (r *Result) finish() {
	r.Latency = latencyOf(r.hist)
	if r.raw != nil {
		l := latencyOf(r.raw)
		r.LatencyUncorrected = &l
	}
	for _, rr := range r.Routes {
		rr.finish()
	}
}
