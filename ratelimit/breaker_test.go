package ratelimit

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/fakeclock"
)

// newFakeClock is a clock that moves only when told to.
func newFakeClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_700_000_000, 0)) }

func TestBreaker(t *testing.T) {
	type step struct {
		advance time.Duration
		op      string // "allow", "deny" (Allow must say false), "ok", "fail"
		state   BreakerState
	}
	tests := []struct {
		name    string
		steps   []step
		changes []string
	}{
		{"closed until the third failure in a row", []step{
			{0, "allow", Closed}, {0, "fail", Closed}, {0, "fail", Closed}, {0, "allow", Closed}, {0, "fail", Open}, {0, "deny", Open},
		}, []string{"open"}},
		{"a success restarts the count", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "ok", Closed}, {0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
		}, []string{"open"}},
		{"open for the cool-down, then one probe; its success closes", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{999 * time.Millisecond, "deny", Open},
			{time.Millisecond, "allow", HalfOpen}, // the probe
			{0, "deny", HalfOpen},                 // nobody else while it runs
			{time.Hour, "deny", HalfOpen},         // however long it runs
			{0, "ok", Closed}, {0, "allow", Closed}, {0, "allow", Closed},
		}, []string{"open", "half_open", "closed"}},
		{"a failed probe opens it for another cool-down", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{time.Second, "allow", HalfOpen}, {0, "fail", Open},
			{500 * time.Millisecond, "deny", Open},
			{500 * time.Millisecond, "allow", HalfOpen}, {0, "ok", Closed},
		}, []string{"open", "half_open", "open", "half_open", "closed"}},
		{"late answers of calls begun while closed", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{0, "fail", Open}, // a late failure changes nothing, not even the cool-down's start
			{time.Second, "allow", HalfOpen}, {0, "fail", Open},
			{0, "ok", Closed}, // Redis answered a call after all: it is back
		}, []string{"open", "half_open", "open", "closed"}},
		{"after closing, it takes the full count again", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{time.Second, "allow", HalfOpen}, {0, "ok", Closed},
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
		}, []string{"open", "half_open", "closed", "open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			var changes []string
			b := NewBreaker(3, time.Second, clock.Now, func(s BreakerState) { changes = append(changes, s.String()) })
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				switch s.op {
				case "allow", "deny":
					if got := b.Allow(); got != (s.op == "allow") {
						t.Fatalf("step %d: Allow() = %v", i, got)
					}
				case "ok":
					b.Success()
				case "fail":
					b.Failure()
				}
				if got := b.State(); got != s.state {
					t.Fatalf("step %d (%s): state %s, want %s", i, s.op, got, s.state)
				}
			}
			if !slices.Equal(changes, tt.changes) {
				t.Errorf("changes %v, want %v", changes, tt.changes)
			}
		})
	}
}

// Of many callers after the cool-down exactly one probes; the race detector checks the rest.
func TestBreakerOneProbe(t *testing.T) {
	clock := newFakeClock()
	b := NewBreaker(1, time.Second, clock.Now, nil)
	b.Failure()
	clock.Advance(time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	probes := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.Allow() {
				mu.Lock()
				probes++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if probes != 1 || b.State() != HalfOpen {
		t.Errorf("%d probes, state %s; want 1, half_open", probes, b.State())
	}
}
