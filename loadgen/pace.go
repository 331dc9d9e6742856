package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Pacer decides when each request of a round may be sent. It is a pure function of the time elapsed since
// the round started and of how many requests were already claimed, so it can be tested without a clock.
//
// With Rate > 0 or Stages it is an open-loop schedule: request i (counting from 0) is due at the time t
// at which the integral of the rate from the start reaches i, whatever happened before, so a late
// request does not push back the ones after it. At a constant Rate that is i/Rate. Without Stages and
// with Rate == 0 (closed loop) every request is due at once. Max == 0 and Duration == 0 mean no limit of
// that kind; the zero Pacer never waits and never stops.
type Pacer struct {
	Rate     float64       // requests per second, or with Stages the rate at the start; 0 and no Stages: closed loop
	Stages   []Stage       // a piecewise-linear rate after Rate; nil: Rate throughout
	Max      uint64        // number of requests in the round; 0 means no count limit
	Duration time.Duration // no request is issued at or after this time; 0 means no time limit
}

// Stage is one piece of a piecewise-linear open-loop rate, as k6's stages: over Duration the rate moves
// linearly from the previous stage's end rate (for the first stage, Pacer.Rate or Plan.Rate) to Rate. A
// stage whose Rate equals the previous one holds it; a stage from 0 to 0 sends nothing. The zero Stage
// lasts no time.
type Stage struct {
	Duration time.Duration
	Rate     float64 // requests per second at the end of the stage
}

// never is Due's answer for a request that the stages do not reach.
const never = time.Duration(math.MaxInt64)

// open reports whether p paces an open loop.
func (p Pacer) open() bool { return p.Rate > 0 || len(p.Stages) > 0 }

// Due is the offset from the start at which request i (0-based) is scheduled; 0 in closed loop. With
// Stages, request 0 is due at the start of the first stage that sends anything, and a request beyond
// the last stage's end is due never (the largest Duration).
func (p Pacer) Due(i uint64) time.Duration {
	if len(p.Stages) == 0 {
		if p.Rate <= 0 {
			return 0
		}
		return time.Duration(float64(i) * float64(time.Second) / p.Rate)
	}
	x, from, start := float64(i), p.Rate, 0.0 // x: requests still to place; start: seconds
	for _, s := range p.Stages {
		d := s.Duration.Seconds()
		area := (from + s.Rate) / 2 * d
		if area > 0 && x <= area {
			return time.Duration(math.Round((start + solveRamp(from, (s.Rate-from)/d, x)) * float64(time.Second)))
		}
		x -= max(area, 0)
		from, start = s.Rate, start+d
	}
	return never
}

// solveRamp returns the t ≥ 0 at which r0·t + a·t²/2 (the requests sent by a rate starting at r0 and
// changing by a per second) reaches x, for an x that the ramp reaches. The form 2x/(r0+√(r0²+2ax)) is
// the quadratic's root without the cancellation of (√(r0²+2ax)−r0)/a; at a == 0 it is x/r0.
func solveRamp(r0, a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	return 2 * x / (r0 + math.Sqrt(max(r0*r0+2*a*x, 0)))
}

// Pace tells, at elapsed time since the start and with hits requests already claimed, how long to wait
// before sending request number hits (0-based), or stop when the round has no such request: the count
// is reached, or Duration has elapsed, or (open loop) the request would be due at or after Duration or
// after the last stage.
func (p Pacer) Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool) {
	if p.Max > 0 && hits >= p.Max {
		return 0, true
	}
	if !p.open() {
		if p.Duration > 0 && elapsed >= p.Duration {
			return 0, true
		}
		return 0, false
	}
	due := p.Due(hits)
	if due == never || p.Duration > 0 && (due >= p.Duration || elapsed >= p.Duration) {
		return 0, true
	}
	if due <= elapsed {
		return 0, false
	}
	return due - elapsed, false
}

// StagesDuration is the total duration of stages.
func StagesDuration(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration
	}
	return d
}

// ParseSchedule turns the -rate and -stages arguments into Plan.Rate and Plan.Stages, given the -d
// duration (0 when not given). rate is "" (none), "R" (a constant R requests/s, or with stages the
// rate the first stage starts from) or "FROM:TO", a ramp from FROM to TO over d, which must then be
// given. stages is "" or a comma-separated list of DURATION:RATE, each ramping from the previous
// stage's end rate (the first from rate, by default 0) to RATE over DURATION; the run lasts their
// sum, so d must not be given with them. Rates must not be negative.
func ParseSchedule(rate, stages string, d time.Duration) (start float64, st []Stage, err error) {
	from, to, ramp := strings.Cut(rate, ":")
	if rate != "" {
		if start, err = parseRate("-rate", from); err != nil {
			return 0, nil, err
		}
	}
	switch {
	case ramp && stages != "":
		return 0, nil, fmt.Errorf("-rate %s: a ramp excludes -stages (give the start rate alone)", rate)
	case ramp && d <= 0:
		return 0, nil, fmt.Errorf("-rate %s: a ramp needs -d, the time it takes", rate)
	case ramp:
		end, err := parseRate("-rate", to)
		return start, []Stage{{Duration: d, Rate: end}}, err
	case stages == "":
		return start, nil, nil
	case d > 0:
		return 0, nil, fmt.Errorf("-stages and -d exclude each other: the stages' durations add up to the run's")
	}
	for _, s := range strings.Split(stages, ",") {
		ds, rs, ok := strings.Cut(strings.TrimSpace(s), ":")
		dur, derr := time.ParseDuration(ds)
		if !ok || derr != nil || dur <= 0 {
			return 0, nil, fmt.Errorf("-stages: stage %q: want DURATION:RATE, e.g. 30s:1000, with a positive duration", s)
		}
		r, err := parseRate("-stages: stage "+strconv.Quote(s)+": rate", rs)
		if err != nil {
			return 0, nil, err
		}
		st = append(st, Stage{Duration: dur, Rate: r})
	}
	return start, st, nil
}

func parseRate(what, s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, fmt.Errorf("%s %q: want a number of requests per second, at least 0", what, s)
	}
	return r, nil
}

// pacer is the Pacer of one round of p.
func (p Plan) pacer() Pacer {
	return Pacer{Rate: p.Rate, Stages: p.Stages, Max: p.Requests, Duration: p.Duration}
}

// meanRate is the open-loop rate averaged over the schedule: Rate without Stages, else the requests
// the stages send (up to Duration, when it ends them early) divided by their time.
func (p Pacer) meanRate() float64 {
	if len(p.Stages) == 0 {
		return p.Rate
	}
	var n, t float64
	from := p.Rate
	for _, s := range p.Stages {
		d := s.Duration.Seconds()
		if p.Duration > 0 {
			d = min(d, p.Duration.Seconds()-t)
		}
		if d <= 0 {
			from = s.Rate
			continue
		}
		end := from + (s.Rate-from)*d/s.Duration.Seconds()
		n, t, from = n+(from+end)/2*d, t+d, s.Rate
	}
	if t == 0 {
		return 0
	}
	return n / t
}
