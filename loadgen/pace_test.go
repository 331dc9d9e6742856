package loadgen

import (
	"math"
	"math/rand/v2"
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

// TestPaceStages checks due times under piecewise-linear rates against their closed forms: request i is
// due when the integral of the rate reaches i.
func TestPaceStages(t *testing.T) {
	ms := time.Millisecond
	// 0→100/s over 1s (50 requests), 100/s held for 2s (200), 100→0/s over 1s (50), 0 for 1s (none),
	// 0→50/s over 1s (25): 325 requests in 6s.
	stages := Pacer{Stages: []Stage{{time.Second, 100}, {2 * time.Second, 100}, {time.Second, 0}, {time.Second, 0}, {time.Second, 50}}}
	tests := []struct {
		name string
		p    Pacer
		i    uint64
		want time.Duration
	}{
		{"constant as a stage", Pacer{Rate: 100, Stages: []Stage{{time.Second, 100}}}, 37, 370 * ms},
		{"ramp from 0: first at once", Pacer{Stages: []Stage{{2 * time.Second, 100}}}, 0, 0},
		{"ramp from 0: t = sqrt(i/25)", Pacer{Stages: []Stage{{2 * time.Second, 100}}}, 1, 200 * ms},
		{"ramp from 0: quarter", Pacer{Stages: []Stage{{2 * time.Second, 100}}}, 25, time.Second},
		{"ramp from 0: last at the end", Pacer{Stages: []Stage{{2 * time.Second, 100}}}, 100, 2 * time.Second},
		{"ramp from 0: beyond the end", Pacer{Stages: []Stage{{2 * time.Second, 100}}}, 101, never},
		{"ramp 100→300: 100t+100t² = 75", Pacer{Rate: 100, Stages: []Stage{{time.Second, 300}}}, 75, 500 * ms},
		{"ramp 100→300: end", Pacer{Rate: 100, Stages: []Stage{{time.Second, 300}}}, 200, time.Second},
		{"ramp down 300→100: 300t-100t² = 56", Pacer{Rate: 300, Stages: []Stage{{time.Second, 100}}}, 56, 200 * ms},
		{"stages: in the first ramp", stages, 2, 200 * ms},
		{"stages: end of the first ramp", stages, 50, time.Second},
		{"stages: flat stage", stages, 150, 2 * time.Second},
		{"stages: end of the flat stage", stages, 250, 3 * time.Second},
		{"stages: down to 0: 100t-50t² = 42", stages, 292, 3600 * ms},
		{"stages: end of the ramp to 0", stages, 300, 4 * time.Second},
		{"stages: after the 0 stage", stages, 301, 5200 * ms},
		{"stages: last", stages, 325, 6 * time.Second},
		{"stages: none left", stages, 326, never},
		{"leading 0 stage: first request waits for the rate", Pacer{Stages: []Stage{{time.Second, 0}, {time.Second, 10}}}, 0, time.Second},
		{"zero-length stage is a step", Pacer{Stages: []Stage{{0, 100}, {time.Second, 100}}}, 10, 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Due(tt.i); got != tt.want {
				t.Errorf("Due(%d) = %v, want %v", tt.i, got, tt.want)
			}
		})
	}

	paced := stages
	paced.Duration = 6 * time.Second
	for _, tt := range []struct {
		elapsed  time.Duration
		hits     uint64
		wantWait time.Duration
		wantStop bool
	}{
		{0, 0, 0, false},
		{100 * ms, 2, 100 * ms, false},
		{5 * time.Second, 301, 200 * ms, false},
		{5999 * ms, 324, 0, false}, // the last one before the end (5.96s), sent late
		{0, 325, 0, true},          // due at the end: not sent
		{0, 326, 0, true},          // beyond the stages
		{0, 1 << 40, 0, true},
	} {
		wait, stop := paced.Pace(tt.elapsed, tt.hits)
		if wait != tt.wantWait && !tt.wantStop || stop != tt.wantStop {
			t.Errorf("Pace(%v, %d) = %v, %v; want %v, %v", tt.elapsed, tt.hits, wait, stop, tt.wantWait, tt.wantStop)
		}
	}
	// Without Duration the last stage still ends the round.
	if _, stop := stages.Pace(0, 326); !stop {
		t.Error("Pace after the last stage does not stop")
	}
}

// integral is the number of requests the rate of p allows in [0, t): its integral, computed forwards.
func integral(p Pacer, t time.Duration) float64 {
	var n float64
	from, at := p.Rate, time.Duration(0)
	for _, s := range p.Stages {
		if t <= at {
			break
		}
		d := min(t-at, s.Duration).Seconds()
		end := from + (s.Rate-from)*d/s.Duration.Seconds()
		n += (from + end) / 2 * d
		from, at = s.Rate, at+s.Duration
	}
	return n
}

// TestPaceStagesPerSecond checks the schedule against the rate it follows: the requests due in each second
// are the integral of the rate over that second, within 1.
func TestPaceStagesPerSecond(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	schedules := []Pacer{
		{Rate: 200, Stages: []Stage{{3 * time.Second, 1000}}},
		{Stages: []Stage{{30 * time.Second, 1000}, {60 * time.Second, 5000}, {30 * time.Second, 0}}},
		{Rate: 7, Stages: []Stage{{1500 * time.Millisecond, 0}, {2 * time.Second, 0}, {2500 * time.Millisecond, 13}}},
	}
	for range 20 {
		var p Pacer
		p.Rate = float64(rng.IntN(300))
		for range 1 + rng.IntN(5) {
			p.Stages = append(p.Stages, Stage{time.Duration(1+rng.IntN(4000)) * time.Millisecond, float64(rng.IntN(3)) * rng.Float64() * 500})
		}
		schedules = append(schedules, p)
	}
	for _, p := range schedules {
		p.Duration = StagesDuration(p.Stages)
		secs := int((p.Duration + time.Second - 1) / time.Second)
		counts := make([]int, secs)
		var prev time.Duration
		for i := uint64(0); ; i++ {
			wait, stop := p.Pace(0, i)
			if stop {
				break
			}
			if wait < prev {
				t.Fatalf("%+v: Due(%d) = %v before Due(%d) = %v", p, i, wait, i-1, prev)
			}
			prev = wait
			counts[wait/time.Second]++
		}
		for s := range secs {
			end := min(time.Duration(s+1)*time.Second, p.Duration)
			want := integral(p, end) - integral(p, time.Duration(s)*time.Second)
			if math.Abs(float64(counts[s])-want) > 1 {
				t.Errorf("%+v: second %d has %d requests, the rate's integral over it is %.2f", p, s, counts[s], want)
			}
		}
	}
}
