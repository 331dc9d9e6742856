package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// abortGrace is how long requests in flight may still finish after the caller's context is cancelled
// before their connections are cut (and the requests counted as canceled errors).
const abortGrace = time.Second

// Client names reported in Report.Client.
const (
	ClientFast = "fast-http1" // the built-in lean HTTP/1.1 client
	ClientStd  = "net/http"   // net/http's client (https targets, or Plan.ForceStdClient)
	ClientH2   = "h2"         // x/net/http2's client over TLS; with Plan.Streams > 1, "h2 (N streams/conn)"
	ClientH2C  = "h2c"        // x/net/http2's client in cleartext; "h2c (N streams/conn)" likewise
)

// Report is the outcome of Run. Its embedded Result covers the whole run; Rounds has one Result per
// round that ran. The zero value is an empty report.
type Report struct {
	Result
	Rounds []*Result

	// Plan echoes: the first target's URL, connections, open-loop rate (0 for closed loop; with
	// Plan.Stages the mean rate of the schedule) and the client used (ClientFast, ClientStd, ClientH2
	// or ClientH2C).
	URL    string
	Conns  int
	Rate   float64
	Client string
	// Interrupted is true when the context was cancelled before the plan completed.
	Interrupted bool
	// Skipped names the routes the caller left out of the plan, with the reason (Run leaves it nil;
	// selftest's self mode fills it).
	Skipped []Skipped

	// RunIDs identifies the runs the report covers: one random id for a run, every input's for a merge
	// (see MergeFiles, which refuses the same run given twice). Nil in a report built by hand.
	RunIDs []string
	// Merged names the inputs of a merged report, in the order given; nil for a single run.
	Merged []string
	// Timeline has an entry per interval of the run, a second by default, with Plan.Timeline; nil
	// otherwise, and in a merged report.
	Timeline []Interval
}

// Skipped is a route left out of a run, with the reason; the report names it.
type Skipped struct{ Name, Reason string }

// Run executes p and returns its report. With p.StartAt it first waits until then. It stops early when
// ctx is cancelled: no new request is sent, requests in flight get a short grace to finish, and the
// report covers what ran. The error is non-nil when the plan is invalid (then the report is nil) or when
// writing p.HdrLog failed (then the report is complete and the log stops at the failed write).
func Run(ctx context.Context, p Plan) (*Report, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	reqs, routes, std, err := prepareAll(p)
	if err != nil {
		return nil, err
	}
	rep := &Report{URL: p.Targets[0].URL, Conns: p.Conns, Rate: p.pacer().meanRate(), Client: ClientFast, RunIDs: []string{newRunID()}}
	switch {
	case p.Proto != "":
		rep.Client = string(p.Proto)
		if p.Streams > 1 {
			rep.Client += fmt.Sprintf(" (%d streams/conn)", p.Streams)
		}
	case std:
		rep.Client = ClientStd
	}
	if !p.StartAt.IsZero() {
		waitUntil(ctx, p.StartAt, p.Progress)
	}
	col := newCollector(p, rep, routes)
	for round := 0; round < p.Rounds; round++ {
		if round > 0 && p.Pause > 0 {
			t := time.NewTimer(p.Pause)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
		rep.Rounds = append(rep.Rounds, runRound(ctx, p, reqs, routes, std, col))
	}
	rep.Interrupted = ctx.Err() != nil
	rep.Result = *mergeRounds(rep.Rounds, p.pacer().open(), routes)
	if col != nil && col.timeline {
		rep.Timeline = col.closed
	}
	if col != nil && col.log != nil && col.log.w.err != nil {
		return rep, fmt.Errorf("hdr log: %w", col.log.w.err)
	}
	return rep, nil
}

// newRunID returns 16 random hex digits.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// prepareAll serialises the targets and names their routes. All targets must share one scheme and host,
// since each connection carries every target.
func prepareAll(p Plan) (reqs []*prepared, routes []string, std bool, err error) {
	index := map[string]int{}
	var origin string
	for i, t := range p.Targets {
		u, err := url.Parse(t.URL)
		if err != nil {
			return nil, nil, false, fmt.Errorf("target %d: %w", i, err)
		}
		if i == 0 {
			origin = u.Scheme + "://" + u.Host
			std = u.Scheme == "https" || p.ForceStdClient
		} else if o := u.Scheme + "://" + u.Host; o != origin {
			return nil, nil, false, fmt.Errorf("target %d: %s differs from %s: all targets must share one origin", i, o, origin)
		}
		name := t.routeName()
		r, ok := index[name]
		if !ok {
			r = len(routes)
			index[name] = r
			routes = append(routes, name)
		}
		pr, err := prepare(t, r)
		if err != nil {
			return nil, nil, false, err
		}
		reqs = append(reqs, pr)
	}
	return reqs, routes, std, nil
}

// worker drives one connection.
type worker struct {
	conn   requester
	routes []*routeStats
	ivl    *intervals    // the current interval's tally; nil without Plan.HdrLog and Plan.Timeline
	done   atomic.Uint64 // requests finished, for the progress line
	timer  *time.Timer
}

// round is the state shared by the workers of one round.
type round struct {
	pacer   Pacer
	start   time.Time
	reqs    []*prepared
	tickets atomic.Uint64 // requests claimed so far
	stop    atomic.Bool   // set when the caller's context is cancelled: issue nothing more
	stopped <-chan struct{}
	elapsed time.Duration // the round's duration, set before its finished channel is closed
}

func runRound(ctx context.Context, p Plan, reqs []*prepared, routes []string, std bool, col *collector) *Result {
	open := p.pacer().open()
	// hard is cancelled to cut requests in flight: abortGrace after ctx is, or when the round is over.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()

	workers := make([]*worker, p.Conns*p.Streams) // Streams is 1 but for HTTP/2
	for i := range workers {
		w := &worker{routes: make([]*routeStats, len(routes))}
		for r := range routes {
			w.routes[r] = newRouteStats(open)
		}
		if col != nil {
			w.ivl = newIntervals(len(routes))
		}
		workers[i] = w
	}
	rd := &round{
		pacer:   p.pacer(),
		reqs:    reqs,
		stopped: ctx.Done(),
		start:   time.Now(),
	}
	var h2 *h2Conn
	for i, w := range workers {
		switch {
		case p.Proto != "":
			if i%p.Streams == 0 {
				h2 = newH2Conn(p, p.Streams)
			}
			w.conn = newH2Stream(hard, h2)
		case std:
			w.conn = newStdConn(hard, p.Timeout, p.Insecure)
		default:
			w.conn = newFastConn(hard, rd.start, p.Timeout)
		}
	}

	finished := make(chan struct{})
	var helpers sync.WaitGroup
	helpers.Go(func() { // on cancellation: stop issuing, then cut what is still in flight after a grace
		select {
		case <-finished:
			return
		case <-ctx.Done():
		}
		rd.stop.Store(true)
		t := time.NewTimer(abortGrace)
		defer t.Stop()
		select {
		case <-finished:
		case <-t.C:
			for _, w := range workers {
				w.conn.abort()
			}
			cancelHard()
		}
	})

	if p.Progress != nil {
		helpers.Go(func() { progress(p.Progress, rd, workers, finished) })
	}
	if col != nil {
		helpers.Go(func() { col.run(rd, workers, finished) })
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(rd) })
	}
	wg.Wait()
	elapsed := time.Since(rd.start)
	rd.elapsed = elapsed
	close(finished)
	helpers.Wait()

	res := newResult(open)
	res.Duration = elapsed
	res.Start, res.End = rd.start.Round(0), rd.start.Add(elapsed).Round(0) // wall clock only
	if len(routes) > 1 {
		res.Routes = make(map[string]*Result, len(routes))
	}
	for r, name := range routes {
		rr := newResult(open)
		rr.Duration = elapsed
		rr.Start, rr.End = res.Start, res.End
		for _, w := range workers {
			rr.addStats(w.routes[r])
		}
		res.addResult(rr)
		if res.Routes != nil {
			res.Routes[name] = rr
		}
	}
	res.finish()
	return res
}

func (w *worker) run(rd *round) {
	defer w.conn.close()
	var ex exchange
	open := rd.pacer.open()
	// now is the time since the start, read from the monotonic clock only (cheaper than time.Now). The
	// end of one exchange doubles as the send time of the next, saving a clock read per request.
	now := time.Since(rd.start)
	for !rd.stop.Load() {
		i := rd.tickets.Add(1) - 1
		wait, stop := rd.pacer.Pace(now, i)
		if stop {
			return
		}
		if wait > 0 {
			if !w.sleep(rd, wait) {
				return
			}
			now = time.Since(rd.start)
		}
		r := rd.reqs[i%uint64(len(rd.reqs))]
		s := w.routes[r.route]
		ex = exchange{}
		err := w.conn.do(r, now, &ex)
		end := time.Since(rd.start)
		s.add(&ex)
		var lat time.Duration
		if err != nil {
			s.errors++
			s.kinds[classify(err, w.conn.aborted())]++
		} else {
			s.requests++
			s.countStatus(ex.status)
			lat = end - now
			if open {
				s.raw.record(lat)
				lat = end - rd.pacer.Due(i)
			}
			s.hist.record(lat)
		}
		if w.ivl != nil {
			w.ivl.record(r.route, &ex, err != nil, lat)
		}
		w.done.Add(1)
		now = end
	}
}

// sleep waits for d, or returns false when the round is stopped first.
func (w *worker) sleep(rd *round, d time.Duration) bool {
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case <-w.timer.C:
		return true
	case <-rd.stopped:
		w.timer.Stop()
		return false
	}
}

// mergeRounds sums the rounds into the result of the whole run.
func mergeRounds(rounds []*Result, open bool, routes []string) *Result {
	total := newResult(open)
	if len(routes) > 1 {
		total.Routes = make(map[string]*Result, len(routes))
		for _, name := range routes {
			total.Routes[name] = newResult(open)
		}
	}
	if len(rounds) > 0 {
		total.Start, total.End = rounds[0].Start, rounds[len(rounds)-1].End
		for _, t := range total.Routes {
			t.Start, t.End = total.Start, total.End
		}
	}
	for _, r := range rounds {
		total.Duration += r.Duration
		total.addResult(r)
		for name, rr := range r.Routes {
			t := total.Routes[name]
			t.Duration += rr.Duration
			t.addResult(rr)
		}
	}
	total.finish()
	return total
}
