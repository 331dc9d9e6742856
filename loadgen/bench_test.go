package loadgen

import (
	"context"
	"io"
	"os"
	"testing"
)

// BenchmarkRun measures the closed-loop request path over 64 connections. It loads LOADGEN_BENCH_URL when
// set (e.g. the nginx target of shared/bench/loadgen.sh), else an in-process canned server.
func BenchmarkRun(b *testing.B) {
	url := os.Getenv("LOADGEN_BENCH_URL")
	if url == "" {
		url = cannedBenchURL(b)
	}
	benchRun(b, Plan{Targets: []Target{{URL: url}}})
}

// BenchmarkRunHdrLog is BenchmarkRun with an interval log (to io.Discard): the cost of -hdr-log.
func BenchmarkRunHdrLog(b *testing.B) {
	benchRun(b, Plan{Targets: []Target{{URL: cannedBenchURL(b)}}, HdrLog: io.Discard})
}

// BenchmarkRunTimeline is BenchmarkRun with Plan.Timeline: the cost of the per-second timeline.
func BenchmarkRunTimeline(b *testing.B) {
	benchRun(b, Plan{Targets: []Target{{URL: cannedBenchURL(b)}}, Timeline: true})
}

// cannedBenchURL is an in-process server answering every request with an 8-byte body.
func cannedBenchURL(b *testing.B) string {
	return "http://" + cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwelcome\n", false) + "/"
}

// benchRun runs plan with 64 connections for b.N requests, timed, and checks that all were made.
func benchRun(b *testing.B, plan Plan) {
	plan.Conns, plan.Requests = 64, uint64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := Run(context.Background(), plan)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Requests != uint64(b.N) {
		b.Fatalf("%d requests, want %d", rep.Requests, b.N)
	}
}
