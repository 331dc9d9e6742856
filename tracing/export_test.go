package tracing

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/frontgate/frontgate/internal/otlptest"
)

// countingIDs hands out trace and span ids 1, 2, 3…, so that a test knows them in advance.
type countingIDs struct {
	mu          sync.Mutex // guards trace, span
	trace, span uint64
}

func (g *countingIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	g.mu.Lock()
	g.trace++
	n := g.trace
	g.mu.Unlock()
	return traceID(n), g.NewSpanID(ctx, trace.TraceID{})
}

func (g *countingIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.span++
	return spanID(g.span)
}

var _ sdktrace.IDGenerator = (*countingIDs)(nil)

func traceID(n uint64) (id trace.TraceID) {
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

func spanID(n uint64) (id trace.SpanID) {
	binary.BigEndian.PutUint64(id[:], n)
	return id
}

func tid(n uint64) []byte { id := traceID(n); return id[:] }
func sid(n uint64) []byte { id := spanID(n); return id[:] }

// recording is a real SDK tracer provider whose spans, ids counted from 1, a test collects; its
// limits are low enough to be passed.
func recording(t *testing.T, res *resource.Resource) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(&countingIDs{}), sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{AttributeValueLengthLimit: -1, AttributeCountLimit: 16,
			EventCountLimit: 2, LinkCountLimit: 2, AttributePerEventCountLimit: 2, AttributePerLinkCountLimit: 2}))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// exportTo makes an exporter posting to rc, sleeping through sleeps (which it records) at once.
func exportTo(t *testing.T, rc *otlptest.Receiver, opts exportOptions) (*exporter, *[]time.Duration) {
	var slept []time.Duration
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, d time.Duration) error {
			slept = append(slept, d)
			return ctx.Err()
		}
	}
	e, err := newExporter(rc.URL+"/v1/traces", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e, &slept
}

func kv(key string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: v}
}
func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func i64(n int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
}
func f64(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func boolean(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}
func array(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}

var (
	t0       = time.Unix(1_700_000_000, 123_456_789)
	t0ns     = uint64(t0.UnixNano())
	remoteSC = trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID(0xabc), SpanID: spanID(0xdef),
		TraceFlags: trace.FlagsSampled, TraceState: mustTraceState("vendor=caller,other=1"), Remote: true})
)

func mustTraceState(s string) trace.TraceState {
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		panic(err)
	}
	return ts
}

const (
	sampled  = 0x01                                                                      // W3C sampled
	local    = sampled | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK) // known not remote
	fromAfar = local | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)       // known remote
)

// Spans made by the SDK arrive at a receiver that decodes them with the collector's own types
// exactly as built here by hand: ids, parent, flags, trace state, kind, times, attributes of every
// type, events, links, status, dropped counts.
func TestExportConvertsSpans(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(tr trace.Tracer) // ends the span named "want" last
		want *tracepb.Span
	}{{
		name: "every attribute type",
		make: func(tr trace.Tracer) {
			_, s := tr.Start(context.Background(), "want", trace.WithTimestamp(t0), trace.WithAttributes(
				attribute.Bool("b", true), attribute.Int64("i", -7), attribute.Float64("f", 2.5), attribute.String("s", "x"),
				attribute.BoolSlice("bs", []bool{true, false}), attribute.Int64Slice("is", []int64{1, 2}),
				attribute.Float64Slice("fs", []float64{0.5}), attribute.StringSlice("ss", []string{"a", "b"}),
				attribute.KeyValue{Key: "bytes", Value: attribute.ByteSliceValue([]byte{0, 1})},
				attribute.KeyValue{Key: "mixed", Value: attribute.SliceValue(attribute.IntValue(1), attribute.StringValue("one"))},
				attribute.KeyValue{Key: "map", Value: attribute.MapValue(attribute.Bool("inner", false))},
				attribute.KeyValue{Key: "empty"}))
			s.SetStatus(codes.Ok, "")
			s.End(trace.WithTimestamp(t0.Add(time.Second)))
		},
		want: &tracepb.Span{TraceId: tid(1), SpanId: sid(1), Flags: local, Name: "want", Kind: tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: t0ns, EndTimeUnixNano: t0ns + 1e9, Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
			Attributes: []*commonpb.KeyValue{
				kv("b", boolean(true)), kv("i", i64(-7)), kv("f", f64(2.5)), kv("s", str("x")),
				kv("bs", array(boolean(true), boolean(false))), kv("is", array(i64(1), i64(2))), kv("fs", array(f64(0.5))),
				kv("ss", array(str("a"), str("b"))),
				kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1}}}),
				kv("mixed", array(i64(1), str("one"))),
				kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
					Values: []*commonpb.KeyValue{kv("inner", boolean(false))}}}}),
				kv("empty", &commonpb.AnyValue{}),
			}},
	}, {
		name: "error, events and what the limits dropped",
		make: func(tr trace.Tracer) {
			_, s := tr.Start(context.Background(), "want", trace.WithTimestamp(t0), trace.WithSpanKind(trace.SpanKindServer))
			for i := range 18 {
				s.SetAttributes(attribute.Int("a"+string(rune('a'+i)), i))
			}
			s.AddEvent("first", trace.WithTimestamp(t0.Add(1)))
			s.AddEvent("second", trace.WithTimestamp(t0.Add(2)), trace.WithAttributes(attribute.Int("n", 2)))
			s.AddEvent("third", trace.WithTimestamp(t0.Add(3)),
				trace.WithAttributes(attribute.String("x", "1"), attribute.String("y", "2"), attribute.String("z", "3")))
			s.SetStatus(codes.Error, "upstream down")
			s.End(trace.WithTimestamp(t0.Add(4)))
		},
		want: &tracepb.Span{TraceId: tid(1), SpanId: sid(1), Flags: local, Name: "want", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: t0ns, EndTimeUnixNano: t0ns + 4,
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "upstream down"},
			Attributes: func() (kvs []*commonpb.KeyValue) {
				for i := range 16 {
					kvs = append(kvs, kv("a"+string(rune('a'+i)), i64(int64(i))))
				}
				return kvs
			}(),
			DroppedAttributesCount: 2,
			Events: []*tracepb.Span_Event{ // the oldest went
				{Name: "second", TimeUnixNano: t0ns + 2, Attributes: []*commonpb.KeyValue{kv("n", i64(2))}},
				{Name: "third", TimeUnixNano: t0ns + 3, Attributes: []*commonpb.KeyValue{kv("x", str("1")), kv("y", str("2"))},
					DroppedAttributesCount: 1},
			},
			DroppedEventsCount: 1},
	}, {
		name: "child of a remote parent, with its trace state",
		make: func(tr trace.Tracer) {
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), remoteSC)
			_, s := tr.Start(ctx, "want", trace.WithTimestamp(t0), trace.WithSpanKind(trace.SpanKindClient))
			s.End(trace.WithTimestamp(t0))
		},
		want: &tracepb.Span{TraceId: tid(0xabc), SpanId: sid(1), ParentSpanId: sid(0xdef), TraceState: "vendor=caller,other=1",
			Flags: fromAfar, Name: "want", Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: t0ns, EndTimeUnixNano: t0ns,
			Status: &tracepb.Status{}},
	}, {
		name: "child of a local parent",
		make: func(tr trace.Tracer) {
			ctx, parent := tr.Start(context.Background(), "parent", trace.WithTimestamp(t0))
			_, s := tr.Start(ctx, "want", trace.WithTimestamp(t0), trace.WithSpanKind(trace.SpanKindProducer))
			parent.End()
			s.End(trace.WithTimestamp(t0))
		},
		want: &tracepb.Span{TraceId: tid(1), SpanId: sid(2), ParentSpanId: sid(1), Flags: local, Name: "want",
			Kind: tracepb.Span_SPAN_KIND_PRODUCER, StartTimeUnixNano: t0ns, EndTimeUnixNano: t0ns, Status: &tracepb.Status{}},
	}, {
		name: "links, remote and local",
		make: func(tr trace.Tracer) {
			_, other := tr.Start(context.Background(), "other")
			other.End()
			unsampled := remoteSC.WithTraceFlags(0)
			_, s := tr.Start(context.Background(), "want", trace.WithTimestamp(t0), trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithLinks(
					trace.Link{SpanContext: remoteSC},
					trace.Link{SpanContext: unsampled, Attributes: []attribute.KeyValue{attribute.String("why", "batch"),
						attribute.Int("n", 1), attribute.Int("over", 1)}},
					trace.Link{SpanContext: other.SpanContext()}))
			s.End(trace.WithTimestamp(t0))
		},
		want: &tracepb.Span{TraceId: tid(2), SpanId: sid(2), Flags: local, Name: "want", Kind: tracepb.Span_SPAN_KIND_CONSUMER,
			StartTimeUnixNano: t0ns, EndTimeUnixNano: t0ns, Status: &tracepb.Status{},
			Links: []*tracepb.Span_Link{ // at most two kept: the oldest went
				{TraceId: tid(0xabc), SpanId: sid(0xdef), TraceState: "vendor=caller,other=1", Flags: fromAfar &^ sampled,
					Attributes: []*commonpb.KeyValue{kv("why", str("batch")), kv("n", i64(1))}, DroppedAttributesCount: 1},
				{TraceId: tid(1), SpanId: sid(1), Flags: local},
			},
			DroppedLinksCount: 1},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := recording(t, resource.Empty())
			tt.make(tp.Tracer("test"))
			ended := rec.Ended()
			rc := otlptest.Start(t)
			e, _ := exportTo(t, rc, exportOptions{Headers: map[string]string{"Authorization": "Bearer k1", "Content-Type": "text/plain"}})
			if err := e.ExportSpans(context.Background(), ended[len(ended)-1:]); err != nil {
				t.Fatal(err)
			}
			if h := rc.Header(); h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != "application/x-protobuf" ||
				h.Get("Authorization") != "Bearer k1" {
				t.Errorf("posted with Content-Encoding %q, Content-Type %q, Authorization %q; want gzip, application/x-protobuf"+
					" (not the configured header's), the configured header", h.Get("Content-Encoding"), h.Get("Content-Type"), h.Get("Authorization"))
			}
			exports := rc.Exports()
			if len(exports) != 1 || len(exports[0].ResourceSpans) != 1 || len(exports[0].ResourceSpans[0].ScopeSpans) != 1 {
				t.Fatalf("got %v, want one export of one resource's one scope", exports)
			}
			spans := exports[0].ResourceSpans[0].ScopeSpans[0].Spans
			if len(spans) != 1 || !proto.Equal(spans[0], tt.want) {
				t.Errorf("received\n%v\nwant\n%s", spans, prototext.Format(tt.want))
			}
		})
	}
}

// One export holds spans of several resources and scopes: grouped by resource, then by scope, in
// the order each first appears, with the resources' attributes and schema URLs and the scopes'
// names, versions, attributes and schema URLs.
func TestExportGroupsByResourceAndScope(t *testing.T) {
	resA := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "a"), attribute.Int("replica", 3), attribute.StringSlice("zones", []string{"x"}))
	resB := resource.NewSchemaless(attribute.String("service.name", "b"))
	tpA, recA := recording(t, resA)
	tpB, recB := recording(t, resB)
	one := tpA.Tracer("one", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://schema/one"),
		trace.WithInstrumentationAttributes(attribute.Bool("lib", true)))
	two := tpA.Tracer("two")
	for _, step := range []struct {
		tr   trace.Tracer
		name string
	}{{one, "a1"}, {tpB.Tracer("one"), "b1"}, {two, "a2"}, {one, "a3"}} {
		_, s := step.tr.Start(context.Background(), step.name)
		s.End()
	}
	a, b := recA.Ended(), recB.Ended()
	batch := []sdktrace.ReadOnlySpan{a[0], b[0], a[1], a[2]}

	rc := otlptest.Start(t)
	e, _ := exportTo(t, rc, exportOptions{})
	if err := e.ExportSpans(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	exports := rc.Exports()
	if len(exports) != 1 {
		t.Fatalf("%d exports, want 1", len(exports))
	}
	var got []string
	for _, rs := range exports[0].ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				service := ""
				for _, a := range rs.Resource.Attributes {
					if a.Key == "service.name" {
						service = a.Value.GetStringValue()
					}
				}
				got = append(got, service+"/"+ss.Scope.GetName()+"/"+s.Name)
			}
		}
	}
	if want := "a/one/a1 a/one/a3 a/two/a2 b/one/b1"; strings.Join(got, " ") != want {
		t.Errorf("spans by resource/scope/name: %q, want %q", got, want)
	}
	rs := exports[0].ResourceSpans
	wantRes := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{ // sorted by key, as a resource keeps them
		kv("replica", i64(3)), kv("service.name", str("a")), kv("zones", array(str("x")))}}
	if !proto.Equal(rs[0].Resource, wantRes) || rs[0].SchemaUrl != "https://opentelemetry.io/schemas/1.26.0" || rs[1].SchemaUrl != "" {
		t.Errorf("first resource %v schema %q, second schema %q; want %v, the schema URL and none", rs[0].Resource,
			rs[0].SchemaUrl, rs[1].SchemaUrl, wantRes)
	}
	wantScope := &commonpb.InstrumentationScope{Name: "one", Version: "1.2.3", Attributes: []*commonpb.KeyValue{kv("lib", boolean(true))}}
	if s := rs[0].ScopeSpans[0]; !proto.Equal(s.Scope, wantScope) || s.SchemaUrl != "https://schema/one" {
		t.Errorf("scope %v schema %q, want %v https://schema/one", s.Scope, s.SchemaUrl, wantScope)
	}
}

// statusBody is a google.rpc.Status, encoded by hand as a collector would send it.
func statusBody(code int, msg string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(code))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, msg)
}

// A collector too busy for a batch (429, 502, 503, 504) or a connection that failed to carry it
// gets it again, after waits of 100ms, 200ms… or what Retry-After says (at most MaxWait), up to three
// posts; any other refusal is final. The waits are recorded, not slept.
func TestExportRetries(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	busy := func(status int, retryAfter string) otlptest.Answer {
		a := otlptest.Answer{Status: status}
		if retryAfter != "" {
			a.Header = http.Header{"Retry-After": {retryAfter}}
		}
		return a
	}
	for _, tt := range []struct {
		name    string
		opts    exportOptions
		answers []otlptest.Answer
		posts   int
		slept   []time.Duration
		err     string // "": delivered
	}{
		{name: "503 twice, then 200", answers: []otlptest.Answer{busy(503, ""), busy(503, "")}, posts: 3,
			slept: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "502 and 504, then 200", answers: []otlptest.Answer{busy(502, ""), busy(504, "")}, posts: 3,
			slept: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "connection dropped twice, then 200", answers: []otlptest.Answer{{Drop: true}, {Drop: true}}, posts: 3,
			slept: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "503 every time", answers: []otlptest.Answer{busy(503, ""), busy(503, ""), busy(503, "")}, posts: 3,
			slept: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, err: "try 3 of 3: the collector answered 503"},
		{name: "400 is final, its status message told", posts: 1, err: `400 Bad Request ("span 3 has no name")`,
			answers: []otlptest.Answer{{Status: 400, Header: http.Header{"Content-Type": {"application/x-protobuf"}},
				Body: statusBody(3, "span 3 has no name")}}},
		{name: "500 is final", answers: []otlptest.Answer{{Status: 500, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: []byte("oops\n")}}, posts: 1, err: `500 Internal Server Error ("oops")`},
		{name: "429 with Retry-After seconds", answers: []otlptest.Answer{busy(429, "3")}, posts: 2,
			slept: []time.Duration{3 * time.Second}},
		{name: "503 with a Retry-After date", answers: []otlptest.Answer{busy(503, now.Add(2*time.Second).Format(http.TimeFormat))},
			posts: 2, slept: []time.Duration{2 * time.Second}},
		{name: "Retry-After shorter than the backoff", answers: []otlptest.Answer{busy(503, ""), busy(503, "0")}, posts: 3,
			slept: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "Retry-After past the cap waits the cap", answers: []otlptest.Answer{busy(503, "3600")}, posts: 2,
			slept: []time.Duration{5 * time.Second}},
		{name: "Retry-After past the deadline gives up at once", opts: exportOptions{Timeout: time.Second},
			answers: []otlptest.Answer{busy(429, "3")}, posts: 1, err: "would be past the deadline"},
		{name: "fewer tries", opts: exportOptions{Tries: 2, Backoff: time.Millisecond},
			answers: []otlptest.Answer{busy(503, ""), busy(503, "")}, posts: 2, slept: []time.Duration{time.Millisecond},
			err: "try 2 of 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := recording(t, resource.Empty())
			_, s := tp.Tracer("test").Start(context.Background(), "GET")
			s.End()
			rc := otlptest.Start(t)
			rc.Script(tt.answers...)
			tt.opts.Now = func() time.Time { return now }
			e, slept := exportTo(t, rc, tt.opts)
			err := e.ExportSpans(context.Background(), rec.Ended())
			if n := rc.Requests(); n != tt.posts {
				t.Errorf("%d posts, want %d", n, tt.posts)
			}
			if strings.Join(durations(*slept), " ") != strings.Join(durations(tt.slept), " ") {
				t.Errorf("waited %v, want %v", *slept, tt.slept)
			}
			delivered := len(rc.Spans()) == 1
			switch {
			case tt.err == "" && (err != nil || !delivered):
				t.Errorf("export: %v, delivered %v; want it delivered", err, delivered)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || delivered):
				t.Errorf("export: %v, delivered %v; want an error with %q", err, delivered, tt.err)
			}
		})
	}
}

func durations(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// A collector that takes the post and never answers holds an export no longer than its ctx, or the
// exporter's own timeout, whichever ends first.
func TestExportEndsAtTheDeadline(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ctx     time.Duration // 0: no deadline
		timeout time.Duration // the exporter's; 0: its default, 10s
	}{{"the ctx's deadline", 50 * time.Millisecond, 0}, {"the exporter's timeout", 0, 50 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := recording(t, resource.Empty())
			_, s := tp.Tracer("test").Start(context.Background(), "GET")
			s.End()
			rc := otlptest.Start(t)
			rc.Script(otlptest.Answer{Hang: true})
			e, slept := exportTo(t, rc, exportOptions{Timeout: tt.timeout})
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			err := e.ExportSpans(ctx, rec.Ended())
			if !errors.Is(err, context.DeadlineExceeded) || rc.Requests() != 1 || len(*slept) != 0 {
				t.Errorf("export: %v after %d posts and waits %v; want the deadline after one post, no wait",
					err, rc.Requests(), *slept)
			}
		})
	}
}

// The exporter keeps its connection between exports; Shutdown closes it, and later exports fail
// without a post.
func TestExporterShutdown(t *testing.T) {
	tp, rec := recording(t, resource.Empty())
	_, s := tp.Tracer("test").Start(context.Background(), "GET")
	s.End()
	spans := rec.Ended()
	rc := otlptest.Start(t)
	e, _ := exportTo(t, rc, exportOptions{})
	for range 2 {
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
	}
	if opened, open := rc.Connections(); opened != 1 || open != 1 {
		t.Fatalf("%d connections opened, %d open after two exports; want one, kept", opened, open)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.Until(10*time.Second, "idle connection closed", func() bool { _, open := rc.Connections(); return open == 0 })
	if err := e.ExportSpans(context.Background(), spans); !errors.Is(err, errShutDown) || rc.Requests() != 2 {
		t.Errorf("export after Shutdown: %v, %d posts; want %v and no post", err, rc.Requests(), errShutDown)
	}
}

// Shutdown ends an export under way.
func TestExporterShutdownEndsAnExport(t *testing.T) {
	tp, rec := recording(t, resource.Empty())
	_, s := tp.Tracer("test").Start(context.Background(), "GET")
	s.End()
	rc := otlptest.Start(t)
	rc.Script(otlptest.Answer{Hang: true})
	e, _ := exportTo(t, rc, exportOptions{})
	done := make(chan error, 1)
	go func() { done <- e.ExportSpans(context.Background(), rec.Ended()) }()
	rc.Until(10*time.Second, "post", func() bool { return rc.Requests() == 1 })
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) || rc.Requests() != 1 {
		t.Errorf("the export under way returned %v after %d posts, want it canceled after one", err, rc.Requests())
	}
}
