// Package loadgen is a load generator for HTTP/1.1 and HTTP/2 servers: the engine behind
// `frontgate selftest`.
//
// Run executes a Plan and returns a Report, which writes itself as text, JSON or HTML (with its latency
// histograms encoded, so that MergeFiles can combine the reports of several runs, from several machines
// started together with Plan.StartAt, into one exact report). ParseHeader,
// ParseFormField and NewTarget build a Target from command-line style arguments, ParseFailOn and
// Failed turn a report into a pass or fail, and ProgressWriter picks where a live progress line goes.
// For http URLs requests go through a lean HTTP/1.1 client (one goroutine per keep-alive connection,
// each request serialised once, a minimal response parser, no allocation per request); https URLs fall
// back to net/http's client. Plan.Proto sends HTTP/2 instead (h2 over TLS, h2c in cleartext) through
// golang.org/x/net/http2, one ClientConn per connection carrying Plan.Streams concurrent requests; the
// targets may come from a file in vegeta's format (ReadTargets). Latencies go into one HdrHistogram per
// worker and route (about 190 KB each, twice that in open loop), merged at the end of each round, so
// memory does not grow with the number of requests. With Plan.HdrLog each worker also keeps a sparse
// histogram per route for the current interval of the log, handed to the log's writer once per
// interval without a lock; with Plan.Timeline the same per-interval tallies (with errors, bytes and
// statuses) make Report.Timeline.
//
// Open loop paces every connection's goroutine on one absolute schedule (see Pacer). Its sleeps rely on
// Go timers, which wake up to about a millisecond late when the process is otherwise idle; that lateness
// is part of the corrected latency (as it would be for any late send) but not of the uncorrected one.
package loadgen
