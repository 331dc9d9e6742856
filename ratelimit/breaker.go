package ratelimit

import (
	"sync/atomic"
	"time"
)

// BreakerState is where a Breaker stands.
type BreakerState int32

const (
	Closed   BreakerState = iota // calls go ahead
	HalfOpen                     // one probe call is under way; no other call goes ahead
	Open                         // no call goes ahead until the cool-down has passed
)

var breakerStateNames = [...]string{"closed", "half_open", "open"}

// String is the state's name in metrics and logs: closed, half_open or open.
func (s BreakerState) String() string { return breakerStateNames[s] }

// Breaker is a circuit breaker: after Failures consecutive failed calls it opens and refuses every
// call for Cooldown; then it lets one probe call through (half-open), whose success closes it and
// whose failure opens it for another Cooldown. Its methods are safe for concurrent use and take no
// lock: every request of a limited route asks it.
type Breaker struct {
	failures int32
	cooldown int64 // nanoseconds
	now      func() time.Time
	onChange func(BreakerState)

	state    atomic.Int32 // a BreakerState
	fails    atomic.Int32 // consecutive failures while closed
	openedAt atomic.Int64 // UnixNano of the latest opening
}

// NewBreaker returns a closed breaker. failures ≤ 0 means 1; now nil means time.Now; onChange, if
// not nil, is called after every change with the state (on the goroutine that caused the change;
// it must be quick).
func NewBreaker(failures int, cooldown time.Duration, now func() time.Time, onChange func(BreakerState)) *Breaker {
	if now == nil {
		now = time.Now
	}
	return &Breaker{failures: int32(max(1, failures)), cooldown: int64(cooldown), now: now, onChange: onChange}
}

// State is the breaker's state now. An open breaker whose cool-down has passed still says Open
// until a call asks Allow.
func (b *Breaker) State() BreakerState { return BreakerState(b.state.Load()) }

// Allow reports whether a call may go ahead. Whoever gets true must report the call's outcome with
// Success or Failure.
func (b *Breaker) Allow() bool {
	switch BreakerState(b.state.Load()) {
	case Closed:
		return true
	case Open:
		if b.now().UnixNano()-b.openedAt.Load() < b.cooldown {
			return false
		}
		if b.state.CompareAndSwap(int32(Open), int32(HalfOpen)) { // the first caller after the cool-down probes
			b.changed(HalfOpen)
			return true
		}
	}
	return false
}

// Success reports a call that the server answered: the breaker closes, the failure count restarts.
func (b *Breaker) Success() {
	if b.fails.Load() != 0 { // read first: the common case writes nothing shared
		b.fails.Store(0)
	}
	if b.state.Load() != int32(Closed) && b.state.Swap(int32(Closed)) != int32(Closed) {
		b.changed(Closed)
	}
}

// Failure reports a call that failed: a failed probe opens the breaker again, and the Failures-th
// failure in a row of a closed one opens it.
func (b *Breaker) Failure() {
	switch BreakerState(b.state.Load()) {
	case HalfOpen:
		b.open(HalfOpen)
	case Closed:
		if b.fails.Add(1) >= b.failures {
			b.open(Closed)
		}
	}
	// Open: a call that began before the breaker opened; it stays open as it is.
}

func (b *Breaker) open(from BreakerState) {
	b.openedAt.Store(b.now().UnixNano())
	if b.state.CompareAndSwap(int32(from), int32(Open)) {
		b.fails.Store(0)
		b.changed(Open)
	}
}

// changed reports a change to s. Changes racing on several goroutines may be reported out of
// order; each report says the state as it is at the time, so the last report is the state.
func (b *Breaker) changed(s BreakerState) {
	if b.onChange != nil {
		if now := b.State(); now != s {
			s = now
		}
		b.onChange(s)
	}
}
