package loadgen

import (
	"testing"
	"time"
)

func TestParseFailOn(t *testing.T) {
	res := &Result{Requests: 990, Errors: 10, Duration: time.Second,
		Latency: Latency{Min: time.Millisecond, Mean: 20 * time.Millisecond, P50: 10 * time.Millisecond,
			P90: 100 * time.Millisecond, P95: 150 * time.Millisecond, P99: 250 * time.Millisecond,
			P999: 300 * time.Millisecond, Max: time.Second},
		Status: map[int]uint64{200: 980, 503: 10}}
	tests := []struct {
		expr    string
		want    []Condition // Metric, Op, Value, Percent only
		holds   bool
		wantErr bool
	}{
		{expr: "errors>1%", want: []Condition{{Metric: "errors", Op: ">", Value: 1, Percent: true}}, holds: false},
		{expr: "errors>=1%", want: []Condition{{Metric: "errors", Op: ">=", Value: 1, Percent: true}}, holds: true},
		{expr: "errors > 5", want: []Condition{{Metric: "errors", Op: ">", Value: 5}}, holds: true},
		{expr: "p99>200ms", want: []Condition{{Metric: "p99", Op: ">", Value: 200}}, holds: true},
		{expr: "p99>0.3s", want: []Condition{{Metric: "p99", Op: ">", Value: 300}}, holds: false},
		{expr: "p99.9>=300", want: []Condition{{Metric: "p999", Op: ">=", Value: 300}}, holds: true},
		{expr: "P50 < 500us", want: []Condition{{Metric: "p50", Op: "<", Value: 0.5}}, holds: false},
		{expr: "max<=1s", want: []Condition{{Metric: "max", Op: "<=", Value: 1000}}, holds: true},
		{expr: "mean=20ms", want: []Condition{{Metric: "mean", Op: "==", Value: 20}}, holds: true},
		{expr: "rps<1000", want: []Condition{{Metric: "rps", Op: "<", Value: 1000}}, holds: true},
		{expr: "requests!=990", want: []Condition{{Metric: "requests", Op: "!=", Value: 990}}, holds: false},
		{expr: "non2xx>0.5%", want: []Condition{{Metric: "non2xx", Op: ">", Value: 0.5, Percent: true}}, holds: true},
		{expr: "p99>1s, errors>2%", want: []Condition{{Metric: "p99", Op: ">", Value: 1000}, {Metric: "errors", Op: ">", Value: 2, Percent: true}}, holds: false},
		{expr: "p99>1s || errors>0", want: []Condition{{Metric: "p99", Op: ">", Value: 1000}, {Metric: "errors", Op: ">", Value: 0}}, holds: true},
		{expr: "", wantErr: true},
		{expr: "p99", wantErr: true},
		{expr: ">5", wantErr: true},
		{expr: "latency>5ms", wantErr: true},
		{expr: "p99>fast", wantErr: true},
		{expr: "rps>10%", wantErr: true},
		{expr: "errors>", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			conds, err := ParseFailOn(tt.expr)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %+v", conds)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(conds) != len(tt.want) {
				t.Fatalf("got %d conditions, want %d", len(conds), len(tt.want))
			}
			for i, c := range conds {
				w := tt.want[i]
				if c.Metric != w.Metric || c.Op != w.Op || c.Value != w.Value || c.Percent != w.Percent {
					t.Errorf("condition %d = %+v, want %+v", i, c, w)
				}
			}
			if got := len(Failed(conds, res)) > 0; got != tt.holds {
				t.Errorf("holds = %v, want %v", got, tt.holds)
			}
		})
	}
}
