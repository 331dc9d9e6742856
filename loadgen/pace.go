package loadgen

import "time"

// Pacer decides when each request of a round may be sent. It is a pure function of the time elapsed since
// the round started and of how many requests were already claimed, so it can be tested without a clock.
//
// With Rate > 0 it is an open-loop schedule: request i (counting from 0) is due at exactly i/Rate after the
// start, whatever happened before, so a late request does not push back the ones after it. With Rate == 0
// (closed loop) every request is due at once. Max == 0 and Duration == 0 mean no limit of that kind; the
// zero Pacer never waits and never stops.
type Pacer struct {
	Rate     float64       // requests per second; 0 means closed loop (no waiting)
	Max      uint64        // number of requests in the round; 0 means no count limit
	Duration time.Duration // no request is issued at or after this time; 0 means no time limit
}

// Due is the offset from the start at which request i (0-based) is scheduled; 0 in closed loop.
func (p Pacer) Due(i uint64) time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(i) * float64(time.Second) / p.Rate)
}

// Pace tells, at elapsed time since the start and with hits requests already claimed, how long to wait
// before sending request number hits (0-based), or stop when the round has no such request: the count
// is reached, or Duration has elapsed, or (open loop) the request would be due at or after Duration.
func (p Pacer) Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool) {
	if p.Max > 0 && hits >= p.Max {
		return 0, true
	}
	if p.Rate <= 0 {
		if p.Duration > 0 && elapsed >= p.Duration {
			return 0, true
		}
		return 0, false
	}
	due := p.Due(hits)
	if p.Duration > 0 && (due >= p.Duration || elapsed >= p.Duration) {
		return 0, true
	}
	if due <= elapsed {
		return 0, false
	}
	return due - elapsed, false
}
