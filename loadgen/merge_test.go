package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// jsonInput writes rep as WriteJSON does and reads it back as MergeFiles would.
func jsonInput(t *testing.T, name string, rep *Report) *input {
	t.Helper()
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	in, err := readInput(name, &buf)
	if err != nil {
		t.Fatalf("read back %s: %v", name, err)
	}
	return in
}

func mustMerge(t *testing.T, ins ...*input) *Report {
	t.Helper()
	out, err := merge(ins)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// syntheticRun is a finished one-round report whose latencies are the given samples (microseconds), all
// answered 200, run from start for d.
func syntheticRun(samples []int64, start time.Time, d time.Duration) *Report {
	r := newResult(false)
	for _, us := range samples {
		_ = r.hist.RecordValue(us)
	}
	r.Requests, r.Status[200] = uint64(len(samples)), uint64(len(samples))
	r.BytesSent, r.BytesReceived = 100*uint64(len(samples)), 300*uint64(len(samples))
	r.Duration, r.Start, r.End = d, start, start.Add(d)
	r.finish()
	round := *r
	return &Report{Result: *r, Rounds: []*Result{&round}, URL: "http://gw/", Conns: 4, Client: ClientFast,
		RunIDs: []string{newRunID()}}
}

// Merging four runs' JSON reports gives exactly the percentiles of one histogram that recorded every
// sample: the merge is of histograms, not of summaries.
func TestMergeEqualsOneHistogramOfAllSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := newHist()
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var ins []*input
	var requests uint64
	for i := range 4 {
		// Each run has its own shape: a different median and a long tail.
		samples := make([]int64, 5000+1000*i)
		for j := range samples {
			samples[j] = int64((i+1)*200) + int64(rng.ExpFloat64()*float64(300*(i+1)))
			if rng.IntN(100) == 0 {
				samples[j] += rng.Int64N(1_000_000)
			}
			_ = all.RecordValue(samples[j])
		}
		requests += uint64(len(samples))
		// Started together, give or take 100ms; each ran 10s.
		ins = append(ins, jsonInput(t, fmt.Sprintf("w%d.json", i), syntheticRun(samples, start.Add(time.Duration(i)*25*time.Millisecond), 10*time.Second)))
	}
	got := mustMerge(t, ins...)
	want := latencyOf(all)
	if got.Latency != want {
		t.Errorf("merged latency\n%+v\nwant one histogram of every sample\n%+v", got.Latency, want)
	}
	if got.Requests != requests || got.hist.TotalCount() != all.TotalCount() || got.Status[200] != requests {
		t.Errorf("merged %d requests (%d latencies, status %v), want %d", got.Requests, got.hist.TotalCount(), got.Status, requests)
	}
	if got.BytesSent != 100*requests || got.BytesReceived != 300*requests {
		t.Errorf("bytes %d sent, %d received", got.BytesSent, got.BytesReceived)
	}
	if want := 10*time.Second + 75*time.Millisecond; got.Duration != want {
		t.Errorf("duration %v, want %v: from the first start to the last end", got.Duration, want)
	}
	if got.Conns != 16 || len(got.RunIDs) != 4 || len(got.Merged) != 4 {
		t.Errorf("conns %d, run ids %v, merged %v", got.Conns, got.RunIDs, got.Merged)
	}
}

// Averaging percentiles is wrong: one fast busy worker and one slow idle one.
func TestMergeNotAnAverageOfPercentiles(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fast := make([]int64, 990) // 1 ms each
	for i := range fast {
		fast[i] = 1000
	}
	slow := make([]int64, 10) // 100 ms each
	for i := range slow {
		slow[i] = 100_000
	}
	a, b := syntheticRun(fast, start, time.Second), syntheticRun(slow, start, time.Second)
	got := mustMerge(t, jsonInput(t, "a.json", a), jsonInput(t, "b.json", b))
	all := newHist()
	for _, v := range append(fast, slow...) {
		_ = all.RecordValue(v)
	}
	if want := latencyOf(all); got.Latency != want {
		t.Errorf("merged %+v, want %+v", got.Latency, want)
	}
	naiveP50 := (a.Latency.P50 + b.Latency.P50) / 2
	naiveP99 := (a.Latency.P99 + b.Latency.P99) / 2
	t.Logf("p50 merged %v, averaged %v; p99 merged %v, averaged %v", got.Latency.P50, naiveP50, got.Latency.P99, naiveP99)
	if got.Latency.P50 > 1001*time.Microsecond || naiveP50 < 50*time.Millisecond {
		t.Errorf("p50: merged %v, averaged %v; want about 1ms against about 50ms", got.Latency.P50, naiveP50)
	}
	if got.Latency.P99 > 1001*time.Microsecond || naiveP99 < 50*time.Millisecond {
		t.Errorf("p99: merged %v (99%% of the requests took 1ms), averaged %v", got.Latency.P99, naiveP99)
	}
}

// Four real runs against a real server: their JSON reports and, separately, their interval logs merge
// into the sums of their counts, and the merged latency is that of their histograms merged in memory.
func TestMergeRealRuns(t *testing.T) {
	url, served := countingServer(t, nil)
	targets := []Target{{URL: url + "/a"}, {URL: url + "/b", Method: "POST", Body: []byte("hello")}}
	var jsons, logs []*input
	var reps []*Report
	all, routeA := newHist(), newHist()
	for i := range 4 {
		var log bytes.Buffer
		p := Plan{Targets: targets, Conns: 2, Requests: uint64(100 + 50*i), Rounds: 1 + i%2, HdrLog: &log}
		if i == 3 {
			p.Rate = 5000 // open loop: with an uncorrected latency, which not every input has
		}
		rep := mustRun(t, context.Background(), p)
		reps = append(reps, rep)
		all.Merge(rep.hist)
		routeA.Merge(rep.Routes["/a"].hist)
		jsons = append(jsons, jsonInput(t, fmt.Sprintf("r%d.json", i), rep))
		in, err := readInput(fmt.Sprintf("r%d.hlog", i), &log)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, in)
	}
	for _, tt := range []struct {
		name string
		ins  []*input
	}{{"json", jsons}, {"logs", logs}} {
		t.Run(tt.name, func(t *testing.T) {
			got := mustMerge(t, tt.ins...)
			if int64(got.Requests) != served.Load() || got.Requests != 100+2*150+200+2*250 { // -n per round
				t.Errorf("merged %d requests, served %d", got.Requests, served.Load())
			}
			if got.Latency != latencyOf(all) || got.Routes["/a"].Latency != latencyOf(routeA) {
				t.Errorf("merged latency %+v, want %+v", got.Latency, latencyOf(all))
			}
			if got.LatencyUncorrected != nil {
				t.Error("uncorrected latency from one open-loop run of four")
			}
			var sent, a uint64
			for _, r := range reps {
				sent += r.BytesSent
				a += r.Routes["/a"].Requests
			}
			if got.Routes["/a"].Requests != a {
				t.Errorf("route /a: %d requests, want %d", got.Routes["/a"].Requests, a)
			}
			if tt.name == "json" && (got.BytesSent != sent || got.Status[200] != got.Requests || got.Routes["/b"].BodyBytesSent != 5*got.Routes["/b"].Requests) {
				t.Errorf("bytes sent %d (want %d), status %v, /b body bytes %d", got.BytesSent, sent, got.Status, got.Routes["/b"].BodyBytesSent)
			}
			if got.Conns != 8 || got.Rate != 5000 {
				t.Errorf("conns %d, rate %v; want the sums", got.Conns, got.Rate)
			}
		})
	}
}

// A report merged alone is the report: the same counts, latency and duration (rounds' pauses excluded).
func TestMergeOneIsIdentity(t *testing.T) {
	url, _ := countingServer(t, nil)
	for _, rate := range []float64{0, 3000} {
		rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 2, Requests: 60, Rate: rate,
			Rounds: 3, Pause: 20 * time.Millisecond})
		got := mustMerge(t, jsonInput(t, "one.json", rep))
		if got.Requests != rep.Requests || got.Latency != rep.Latency || got.Duration != rep.Duration ||
			!got.Start.Equal(rep.Start) || !got.End.Equal(rep.End) {
			t.Errorf("rate %v: merged %d requests, %+v in %v (%v..%v); want %d, %+v in %v (%v..%v)", rate, got.Requests,
				got.Latency, got.Duration, got.Start, got.End, rep.Requests, rep.Latency, rep.Duration, rep.Start, rep.End)
		}
		if (rate > 0) != (got.LatencyUncorrected != nil) || rate > 0 && *got.LatencyUncorrected != *rep.LatencyUncorrected {
			t.Errorf("rate %v: uncorrected %+v, want %+v", rate, got.LatencyUncorrected, rep.LatencyUncorrected)
		}
		// A merged report merges again.
		again := mustMerge(t, jsonInput(t, "merged.json", got))
		if again.Requests != rep.Requests || again.Latency != rep.Latency {
			t.Errorf("merged twice: %d requests, %+v", again.Requests, again.Latency)
		}
	}
}

func TestUnionOf(t *testing.T) {
	at := func(s float64) time.Time {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
	}
	for _, tt := range []struct {
		name  string
		spans []span
		want  time.Duration
	}{
		{"none", nil, 0},
		{"one", []span{{at(0), at(10)}}, 10 * time.Second},
		{"overlapping", []span{{at(1), at(11)}, {at(0), at(10)}}, 11 * time.Second},
		{"nested", []span{{at(0), at(10)}, {at(2), at(3)}}, 10 * time.Second},
		{"touching", []span{{at(0), at(1)}, {at(1), at(2)}}, 2 * time.Second},
		{"apart", []span{{at(0), at(1)}, {at(5), at(6)}}, 2 * time.Second},
		{"without times", []span{{}, {at(0), at(1)}}, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, _, _ := unionOf(tt.spans); got != tt.want {
				t.Errorf("unionOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// MergeFiles refuses what it cannot merge exactly, naming the file.
func TestMergeFilesErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	reportJSON := func(rep *Report, edit func(*JSONReport)) string {
		j := rep.JSON()
		if edit != nil {
			edit(&j)
		}
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	run := syntheticRun([]int64{100, 200, 300}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Second)
	good := file("good.json", reportJSON(run, nil))
	other := hdrhistogram.New(1, 1_000_000, 2)
	_ = other.RecordValue(100)
	otherEnc, _ := other.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	for _, tt := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"missing", []string{good, filepath.Join(dir, "missing.json")}, "missing.json: no such file"},
		{"empty", []string{file("empty.json", "")}, "empty.json: empty file"},
		{"text", []string{file("report.txt", "selftest http://x: 1 connections\n")}, "report.txt: neither a selftest JSON report"},
		{"other JSON", []string{file("other.json", `{"a": 1}`)}, "other.json: a JSON file, but not a selftest report"},
		{"old report", []string{file("old.json", `{"requests": 1, "latency_ms": {}}`)}, "old.json: a selftest report without latency histograms"},
		{"broken JSON", []string{file("broken.json", `{"requests": `)}, "broken.json: not a selftest JSON report"},
		{"other settings", []string{file("settings.json", reportJSON(run, func(j *JSONReport) { j.Hist = string(otherEnc) }))},
			"settings.json: hist: histogram settings 1..1000000 with 2 significant digits differ"},
		{"count mismatch", []string{file("count.json", reportJSON(run, func(j *JSONReport) { j.Requests = 4 }))},
			"count.json: hist holds 3 latencies for 4 responses"},
		{"bad histogram", []string{file("bad.json", reportJSON(run, func(j *JSONReport) { j.Hist = "HISTFAAA!!" }))}, "bad.json: hist: "},
		{"same run twice", []string{good, file("copy.json", reportJSON(run, nil))}, "copy.json: the same run as " + good},
		{"log without intervals", []string{file("empty.hlog", "#[Histogram log format version 1.3]\n")}, "empty.hlog: an HdrHistogram log without a single interval"},
		{"log of other settings", []string{file("other.hlog", "0.000,1.000,0.100,"+string(otherEnc)+"\n")}, "other.hlog: interval 1: histogram settings"},
		{"no file", nil, "no file given"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MergeFiles(tt.paths)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("MergeFiles: %v, want an error with %q", err, tt.want)
			}
		})
	}
	if _, err := MergeFiles([]string{good}); err != nil {
		t.Errorf("the good file alone: %v", err)
	}
}
