// Package fakeclock is a clock for tests that moves only when told to, to inject where the code
// under test takes a `now func() time.Time`. It is for tests only; nothing in the product imports it.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Clock is a settable time source, safe for concurrent use: Now is the start given to New plus
// every Advance since. The zero value stands at the Unix epoch.
type Clock struct{ ns atomic.Int64 }

// New returns a Clock standing at start.
func New(start time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(start.UnixNano())
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
