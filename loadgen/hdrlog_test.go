package loadgen

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// readLogCounts reads an interval log with hdrhistogram-go's own HistogramLogReader (not readHdrLog) and
// sums the latencies per tag ("" for the untagged lines), counting the intervals per tag.
func readLogCounts(t *testing.T, log []byte) (counts map[string]int64, intervals map[string]int) {
	t.Helper()
	counts, intervals = map[string]int64{}, map[string]int{}
	lr := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log))
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			t.Fatalf("the library's reader: %v\n%s", err, log)
		}
		if h == nil {
			return counts, intervals
		}
		if h.EndTimeMs() < h.StartTimeMs() {
			t.Errorf("interval %s ends at %d before its start %d", h.Tag(), h.EndTimeMs(), h.StartTimeMs())
		}
		counts[h.Tag()] += h.TotalCount()
		intervals[h.Tag()]++
	}
}

// The log written through Plan.HdrLog reads back with the library's standard reader, and its intervals
// hold one latency per response: per route tag and in all, closed and open loop, over several rounds.
func TestHdrLogReadBack(t *testing.T) {
	url, served := countingServer(t, nil)
	targets := []Target{{URL: url + "/a"}, {URL: url + "/b b,c"}, {Name: "third", URL: url + "/c"}}
	for _, tt := range []struct {
		name string
		plan Plan
	}{
		{"closed loop", Plan{Conns: 3, Duration: 300 * time.Millisecond, Rounds: 2}},
		{"open loop", Plan{Conns: 3, Rate: 2000, Requests: 500}},
		{"one route", Plan{Conns: 2, Requests: 100}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			served.Store(0)
			var log bytes.Buffer
			p := tt.plan
			p.Targets, p.HdrLog, p.HdrLogInterval = targets, &log, 50*time.Millisecond
			if tt.name == "one route" {
				p.Targets = targets[:1]
			}
			rep := mustRun(t, context.Background(), p)
			if rep.Requests == 0 || int64(rep.Requests) != served.Load() {
				t.Fatalf("%d requests reported, %d served", rep.Requests, served.Load())
			}
			counts, intervals := readLogCounts(t, log.Bytes())
			if counts[""] != int64(rep.Requests) {
				t.Errorf("untagged intervals hold %d latencies, want %d requests", counts[""], rep.Requests)
			}
			if tt.name != "one route" && intervals[""] < 2 {
				t.Errorf("%d intervals of 50ms in a run of %v", intervals[""], rep.Duration)
			}
			wantTags := len(rep.Routes) + 1 // untagged
			if len(counts) != wantTags {
				t.Errorf("tags %v, want the untagged and one per route of %d", counts, len(rep.Routes))
			}
			for name, r := range rep.Routes {
				if got := counts[logTag(name)]; got != int64(r.Requests) {
					t.Errorf("route %q: tag %q holds %d latencies, want %d", name, logTag(name), got, r.Requests)
				}
				if intervals[logTag(name)] != intervals[""] {
					t.Errorf("route %q: %d intervals, untagged %d", name, intervals[logTag(name)], intervals[""])
				}
			}
			for _, want := range []string{"#[Histogram log format version 1.3]\n", "#[BaseTime: 0 (seconds since epoch)]\n",
				`"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"` + "\n",
				"#[frontgate selftest run_id=" + rep.RunIDs[0] + " "} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log lacks %q:\n%.600s", want, log.String())
				}
			}
		})
	}
}

func TestLogTagRoundTrip(t *testing.T) {
	for _, route := range []string{"/", "/demo1/x", "/a b,c", "100%,\r\n\tx", "Tag=,"} {
		tag := logTag(route)
		if strings.ContainsAny(tag, ", \r\n\t") {
			t.Errorf("logTag(%q) = %q holds a separator", route, tag)
		}
		if back := routeOfTag(tag); back != route {
			t.Errorf("routeOfTag(logTag(%q)) = %q", route, back)
		}
	}
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// A failed log write does not stop the run: the report is complete and the error comes with it.
func TestHdrLogWriteError(t *testing.T) {
	url, _ := countingServer(t, nil)
	rep, err := Run(context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 2, Requests: 50, HdrLog: &failingWriter{n: 200}})
	if err == nil || !strings.Contains(err.Error(), "hdr log: disk full") {
		t.Errorf("err = %v, want the write error", err)
	}
	if rep == nil || rep.Requests != 50 {
		t.Errorf("report %+v, want 50 requests", rep)
	}
}
