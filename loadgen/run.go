package loadgen

import (
	"context"
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
)

// Report is the outcome of Run. Its embedded Result covers the whole run; Rounds has one Result per
// round that ran. The zero value is an empty report.
type Report struct {
	Result
	Rounds []*Result

	// Plan echoes: the first target's URL, connections, open-loop rate (0 for closed loop) and the client
	// used (ClientFast or ClientStd).
	URL    string
	Conns  int
	Rate   float64
	Client string
	// Interrupted is true when the context was cancelled before the plan completed.
	Interrupted bool
}

// Run executes p and returns its report. It stops early when ctx is cancelled: no new request is sent,
// requests in flight get a short grace to finish, and the report covers what ran. The error is non-nil
// only when the plan is invalid.
func Run(ctx context.Context, p Plan) (*Report, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	reqs, routes, std, err := prepareAll(p)
	if err != nil {
		return nil, err
	}
	rep := &Report{URL: p.Targets[0].URL, Conns: p.Conns, Rate: p.Rate, Client: ClientFast}
	if std {
		rep.Client = ClientStd
	}
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
		rep.Rounds = append(rep.Rounds, runRound(ctx, p, reqs, routes, std))
	}
	rep.Interrupted = ctx.Err() != nil
	rep.Result = *mergeRounds(rep.Rounds, p.Rate > 0, routes)
	return rep, nil
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
}

func runRound(ctx context.Context, p Plan, reqs []*prepared, routes []string, std bool) *Result {
	open := p.Rate > 0
	// hard is cancelled to cut requests in flight: abortGrace after ctx is, or when the round is over.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()

	workers := make([]*worker, p.Conns)
	for i := range workers {
		w := &worker{routes: make([]*routeStats, len(routes))}
		for r := range routes {
			w.routes[r] = newRouteStats(open)
		}
		workers[i] = w
	}
	rd := &round{
		pacer:   Pacer{Rate: p.Rate, Max: p.Requests, Duration: p.Duration},
		reqs:    reqs,
		stopped: ctx.Done(),
		start:   time.Now(),
	}
	for _, w := range workers {
		if std {
			w.conn = newStdConn(hard, p.Timeout, p.Insecure)
		} else {
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
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(rd) })
	}
	wg.Wait()
	elapsed := time.Since(rd.start)
	close(finished)
	helpers.Wait()

	res := newResult(open)
	res.Duration = elapsed
	if len(routes) > 1 {
		res.Routes = make(map[string]*Result, len(routes))
	}
	for r, name := range routes {
		rr := newResult(open)
		rr.Duration = elapsed
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
	open := rd.pacer.Rate > 0
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
		if err != nil {
			s.errors++
			s.kinds[classify(err, w.conn.aborted())]++
		} else {
			s.requests++
			s.countStatus(ex.status)
			if open {
				s.hist.record(end - rd.pacer.Due(i))
				s.raw.record(end - now)
			} else {
				s.hist.record(end - now)
			}
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
