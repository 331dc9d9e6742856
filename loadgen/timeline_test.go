package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// mixedServer answers 200, every 5th request 503, and answers every 7th with a malformed status line
// (an error for the load generator).
func mixedServer(t *testing.T) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		switch {
		case i%7 == 0:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				io.WriteString(conn, "HTTP/1.1 2000 Nonsense\r\n\r\n")
				conn.Close()
			}
		case i%5 == 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			io.WriteString(w, "hello")
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// checkTimeline checks that rep's timeline adds up to its totals, in order and with sane percentiles.
func checkTimeline(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Timeline) == 0 {
		t.Fatal("no timeline")
	}
	var req, errs, sent, recv uint64
	status := map[int]uint64{}
	var prevEnd time.Duration
	for i, iv := range rep.Timeline {
		req, errs, sent, recv = req+iv.Requests, errs+iv.Errors, sent+iv.BytesSent, recv+iv.BytesReceived
		for _, s := range iv.Status {
			status[s.Code] += s.Count
		}
		if iv.Start < prevEnd || iv.Duration < 0 || iv.Duration > 1100*time.Millisecond {
			t.Errorf("entry %d: start %v, duration %v after an end of %v", i, iv.Start, iv.Duration, prevEnd)
		}
		prevEnd = iv.Start + iv.Duration
		if !(0 <= iv.P50 && iv.P50 <= iv.P90 && iv.P90 <= iv.P99 && iv.P99 <= iv.Max && iv.Max <= rep.Latency.Max) {
			t.Errorf("entry %d: p50 %v p90 %v p99 %v max %v (run's max %v)", i, iv.P50, iv.P90, iv.P99, iv.Max, rep.Latency.Max)
		}
		if iv.Requests > 0 && iv.Max == 0 {
			t.Errorf("entry %d: %d requests but a max latency of 0", i, iv.Requests)
		}
	}
	if req != rep.Requests || errs != rep.Errors || sent != rep.BytesSent || recv != rep.BytesReceived {
		t.Errorf("timeline sums: %d requests, %d errors, %d/%d bytes; totals %d, %d, %d/%d",
			req, errs, sent, recv, rep.Requests, rep.Errors, rep.BytesSent, rep.BytesReceived)
	}
	if len(status) != len(rep.Status) {
		t.Errorf("timeline statuses %v, totals %v", status, rep.Status)
	}
	for code, n := range rep.Status {
		if status[code] != n {
			t.Errorf("status %d: timeline %d, total %d", code, status[code], n)
		}
	}
}

// A run with a timeline has an entry per second whose counts add up to the run's totals, in closed and
// open loop, errors and several statuses included.
func TestTimelineAddsUp(t *testing.T) {
	url := mixedServer(t)
	for _, tt := range []struct {
		name string
		plan Plan
	}{
		{"closed loop", Plan{Conns: 4, Duration: 3 * time.Second}},
		{"open loop", Plan{Conns: 4, Rate: 500, Duration: 3 * time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.plan
			p.Targets, p.Timeline = []Target{{URL: url + "/a"}, {URL: url + "/b"}}, true
			rep := mustRun(t, context.Background(), p)
			if rep.Errors == 0 || rep.Status[503] == 0 || rep.Status[200] == 0 {
				t.Fatalf("want errors, 503s and 200s: %d errors, status %v", rep.Errors, rep.Status)
			}
			checkTimeline(t, rep)
			if n := len(rep.Timeline); n < 3 || n > 4 {
				t.Errorf("a run of %v has %d timeline entries, want 3 or 4", rep.Duration, n)
			}
			j := rep.JSON()
			if len(j.Timeline) != len(rep.Timeline) || j.Timeline[0].Requests != rep.Timeline[0].Requests ||
				j.Timeline[0].Status["200"] == 0 || j.Timeline[0].DurationS <= 0.9 {
				t.Errorf("json timeline %+v", j.Timeline)
			}
		})
	}
}

// Over rounds the timeline runs on from the first round's start, pauses between its entries; without
// Plan.Timeline there is none.
func TestTimelineRounds(t *testing.T) {
	url := mixedServer(t)
	p := Plan{Targets: []Target{{URL: url}}, Conns: 2, Requests: 50, Rounds: 2, Pause: 200 * time.Millisecond, Timeline: true}
	rep := mustRun(t, context.Background(), p)
	checkTimeline(t, rep)
	if n := len(rep.Timeline); n != 2 {
		t.Fatalf("%d entries for 2 short rounds, want 2", n)
	}
	if gap := rep.Timeline[1].Start - (rep.Timeline[0].Start + rep.Timeline[0].Duration); gap < p.Pause {
		t.Errorf("the second round's entry starts %v after the first's end, want at least the pause %v", gap, p.Pause)
	}
	p.Timeline = false
	if rep := mustRun(t, context.Background(), p); rep.Timeline != nil || rep.JSON().Timeline != nil {
		t.Errorf("timeline without Plan.Timeline: %v", rep.Timeline)
	}
}
