package middleware

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The hand-written access line must be byte for byte what zap's JSON encoder writes for the same
// entry, whatever the strings hold and however long the durations are.
func TestAccessEncoderMatchesZapJSON(t *testing.T) {
	production := zap.NewProductionEncoderConfig()
	production.EncodeTime = zapcore.ISO8601TimeEncoder
	capital := production
	capital.EncodeLevel = zapcore.CapitalLevelEncoder
	epoch := production
	epoch.EncodeTime = zapcore.EpochTimeEncoder

	paths := []string{"/demo2", "/a b/\"q\"/\\", "/ctl\x01\x1f\x7f\n\r\t", "/caf\xc3\xa9/\xff\xfe/\xe2\x82", "/" + string(rune(0x1F600))}
	durations := []time.Duration{0, 1, 999_999, time.Millisecond, 3_654_253, 12_500 * time.Millisecond, 10 * time.Millisecond,
		100_000_000, 12 * 24 * time.Hour, -5}
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+30*60), time.FixedZone("west", -7*3600)}

	for name, cfg := range map[string]zapcore.EncoderConfig{"production": production, "capital levels": capital, "epoch time": epoch} {
		t.Run(name, func(t *testing.T) {
			fast, slow := NewJSONEncoder(cfg), zapcore.NewJSONEncoder(cfg)
			n := 0
			for i, p := range paths {
				for j, d := range durations {
					zone := zones[(i+j)%len(zones)]
					e := &exchange{status: 200 + j, bytesOut: int64(i * 1000), routeName: "r" + p, upstream: "http://10.0.0.1:80",
						upstreamD: durations[(j+3)%len(durations)], hasUp: j%2 == 0}
					if j%3 == 0 {
						e.hostName = "*.ex" + p // a host pattern, with the path's odd bytes
					}
					e.bytesIn.Store(int64(j))
					if (i+j)%4 == 1 { // an upgraded exchange: its tunnel's bytes count in, and it says so
						e.status, e.tunnel = http.StatusSwitchingProtocols, &countedConn{}
						e.tunnel.in.Store(int64(i) << 33)
						e.tunnel.out.Store(int64(j) * 77)
					}
					e.aborted = (i+j)%3 == 0 // with and without upgraded
					r := &http.Request{Method: "GET", URL: &url.URL{Path: p}, RemoteAddr: "127.0.0.1:" + p}
					a := &accessEntry{e: e, r: r, id: "id-" + p, total: d + durations[(j+1)%len(durations)], recv: d}
					ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Date(2026, 11, 26, 8, 0, 1, j*123_456_789%1e9, zone),
						LoggerName: "access", Message: "request"}
					want, err := slow.EncodeEntry(ent, []zapcore.Field{zap.Inline(a)})
					if err != nil {
						t.Fatal(err)
					}
					got, err := fast.EncodeEntry(ent, []zapcore.Field{zap.Inline(a)})
					if err != nil {
						t.Fatal(err)
					}
					if got.String() != want.String() {
						t.Errorf("path %q, duration %v:\n got %s\nwant %s", p, d, got, want)
					}
					n++
				}
			}
			// A logger with context fields goes through the JSON encoder, fields included.
			with := fast.Clone()
			with.AddString("k", "v")
			slowWith := slow.Clone()
			slowWith.AddString("k", "v")
			a := &accessEntry{e: &exchange{}, r: &http.Request{Method: "GET", URL: &url.URL{Path: "/"}}}
			ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Unix(0, 0), Message: "request"}
			got, _ := with.EncodeEntry(ent, []zapcore.Field{zap.Inline(a)})
			want, _ := slowWith.EncodeEntry(ent, []zapcore.Field{zap.Inline(a)})
			if got.String() != want.String() {
				t.Errorf("with context fields:\n got %s\nwant %s", got, want)
			}
		})
	}
	fast := NewJSONEncoder(production).(*accessEncoder)
	if !fast.fast[zapcore.InfoLevel-zapcore.DebugLevel] {
		t.Error("the production config does not take the fast path")
	}
	if NewJSONEncoder(capital).(*accessEncoder).fast[zapcore.InfoLevel-zapcore.DebugLevel] {
		t.Error("capital levels take the fast path, which writes them in lower case")
	}
}

func BenchmarkAccessEncoder(b *testing.B) {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	e := &exchange{status: 200, bytesOut: 8, routeName: "/demo2", upstream: "http://127.0.0.1:19000", upstreamD: 3_470_280, hasUp: true}
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/demo2"}, RemoteAddr: "127.0.0.1:53548"}
	a := &accessEntry{e: e, r: r, id: "2bc602aeeaf1-1ja", total: 3_654_253}
	for name, enc := range map[string]zapcore.Encoder{"zap": zapcore.NewJSONEncoder(cfg), "frontgate": NewJSONEncoder(cfg)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf, _ := enc.EncodeEntry(zapcore.Entry{Time: time.Now(), LoggerName: "access", Message: "request"}, []zapcore.Field{zap.Inline(a)})
				buf.Free()
			}
		})
	}
}

func TestAppendMillis3(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0.000", 499: "0.000", 500: "0.001", 1234567: "1.235", 2 * time.Second: "2000.000",
		999_999_500: "1000.000", -3: "0.000"} {
		if got := string(appendMillis3(nil, d)); got != want {
			t.Errorf("appendMillis3(%d) = %q, want %q", d, got, want)
		}
	}
}
