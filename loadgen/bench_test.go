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
		url = "http://" + cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwelcome\n", false) + "/"
	}
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := Run(context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 64, Requests: uint64(b.N)})
	if err != nil {
		b.Fatal(err)
	}
	if rep.Requests != uint64(b.N) {
		b.Fatalf("%d requests, want %d", rep.Requests, b.N)
	}
}

// BenchmarkRunHdrLog is BenchmarkRun with an interval log (to io.Discard): the cost of -hdr-log.
func BenchmarkRunHdrLog(b *testing.B) {
	url := "http://" + cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwelcome\n", false) + "/"
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := Run(context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 64, Requests: uint64(b.N), HdrLog: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	if rep.Requests != uint64(b.N) {
		b.Fatalf("%d requests, want %d", rep.Requests, b.N)
	}
}

// BenchmarkRunTimeline is BenchmarkRun with Plan.Timeline: the cost of the per-second timeline.
func BenchmarkRunTimeline(b *testing.B) {
	url := "http://" + cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nwelcome\n", false) + "/"
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := Run(context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 64, Requests: uint64(b.N), Timeline: true})
	if err != nil {
		b.Fatal(err)
	}
	if rep.Requests != uint64(b.N) {
		b.Fatalf("%d requests, want %d", rep.Requests, b.N)
	}
}
