package loadgen

import (
	"testing"
	"time"
)

func TestPace(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		p        Pacer
		elapsed  time.Duration
		hits     uint64
		wantWait time.Duration
		wantStop bool
	}{
		{"zero pacer never waits", Pacer{}, 0, 0, 0, false},
		{"zero pacer never stops", Pacer{}, time.Hour, 1 << 40, 0, false},
		{"closed loop count not reached", Pacer{Max: 10}, 5 * time.Second, 9, 0, false},
		{"closed loop count reached", Pacer{Max: 10}, 0, 10, 0, true},
		{"closed loop before deadline", Pacer{Duration: time.Second}, 999 * ms, 5000, 0, false},
		{"closed loop at deadline", Pacer{Duration: time.Second}, time.Second, 3, 0, true},
		{"open loop first is due at once", Pacer{Rate: 100}, 0, 0, 0, false},
		{"open loop waits for its slot", Pacer{Rate: 100}, 0, 1, 10 * ms, false},
		{"open loop slot is absolute", Pacer{Rate: 100}, 25 * ms, 5, 25 * ms, false},
		{"open loop late request goes at once", Pacer{Rate: 100}, 500 * ms, 5, 0, false},
		{"open loop fractional rate", Pacer{Rate: 3}, 0, 1, 333333333, false},
		{"open loop high rate", Pacer{Rate: 20000}, 0, 20000, time.Second, false},
		{"open loop count reached", Pacer{Rate: 100, Max: 5}, 0, 5, 0, true},
		{"open loop due before deadline", Pacer{Rate: 10, Duration: time.Second}, 0, 9, 900 * ms, false},
		{"open loop due at deadline", Pacer{Rate: 10, Duration: time.Second}, 0, 10, 0, true},
		{"open loop deadline passed", Pacer{Rate: 10, Duration: time.Second}, time.Second, 3, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, stop := tt.p.Pace(tt.elapsed, tt.hits)
			if wait != tt.wantWait || stop != tt.wantStop {
				t.Errorf("Pace(%v, %d) = %v, %v; want %v, %v", tt.elapsed, tt.hits, wait, stop, tt.wantWait, tt.wantStop)
			}
		})
	}
}

// TestPaceSchedule checks that the schedule does not drift: after any number of requests at rate R the
// due time of request i is i/R, to the nanosecond's rounding.
func TestPaceSchedule(t *testing.T) {
	p := Pacer{Rate: 20000}
	for _, i := range []uint64{1, 7, 20000, 199999, 10_000_000} {
		want := time.Duration(i) * time.Second / 20000
		if got := p.Due(i); got < want-1 || got > want+1 {
			t.Errorf("Due(%d) = %v, want %v", i, got, want)
		}
		if wait, _ := p.Pace(0, i); wait != p.Due(i) {
			t.Errorf("Pace(0, %d) wait = %v, want %v", i, wait, p.Due(i))
		}
	}
}
