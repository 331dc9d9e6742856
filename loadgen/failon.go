package loadgen

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Condition is one -fail-on test such as "p99>200ms" or "errors>1%". The zero value is not a valid
// condition; build one with ParseFailOn.
type Condition struct {
	// Metric is one of: errors, non2xx (counts, or percentages of all requests sent with a % value),
	// requests, rps, mb_per_s, and the latencies min, mean, p50, p90, p95, p99, p999 (also p99.9), max.
	Metric string
	// Op is one of >, >=, <, <=, ==, !=.
	Op string
	// Value is the threshold: milliseconds for latencies, a percentage when Percent, else a plain number.
	Value float64
	// Percent compares errors or non2xx as a percentage of all requests sent (Requests+Errors).
	Percent bool

	text string
}

// String returns the condition as it was written.
func (c Condition) String() string { return c.text }

var latencyMetrics = map[string]func(Latency) time.Duration{
	"min":  func(l Latency) time.Duration { return l.Min },
	"mean": func(l Latency) time.Duration { return l.Mean },
	"p50":  func(l Latency) time.Duration { return l.P50 },
	"p90":  func(l Latency) time.Duration { return l.P90 },
	"p95":  func(l Latency) time.Duration { return l.P95 },
	"p99":  func(l Latency) time.Duration { return l.P99 },
	"p999": func(l Latency) time.Duration { return l.P999 },
	"max":  func(l Latency) time.Duration { return l.Max },
}

// ParseFailOn parses a list of conditions separated by "," or "||"; the run fails when any holds.
func ParseFailOn(expr string) ([]Condition, error) {
	var conds []Condition
	for _, part := range strings.Split(strings.ReplaceAll(expr, "||", ","), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		c, err := parseCondition(part)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if len(conds) == 0 {
		return nil, fmt.Errorf("fail-on %q: no condition", expr)
	}
	return conds, nil
}

func parseCondition(s string) (Condition, error) {
	i := strings.IndexAny(s, "<>=!")
	if i <= 0 {
		return Condition{}, fmt.Errorf("fail-on %q: want METRIC OP VALUE, like p99>200ms or errors>1%%", s)
	}
	c := Condition{Metric: strings.ToLower(strings.TrimSpace(s[:i])), text: s}
	rest := s[i:]
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<", "="} {
		if strings.HasPrefix(rest, op) {
			c.Op, rest = op, strings.TrimSpace(rest[len(op):])
			break
		}
	}
	if c.Op == "=" {
		c.Op = "=="
	}
	if c.Op == "" || rest == "" {
		return Condition{}, fmt.Errorf("fail-on %q: want METRIC OP VALUE", s)
	}
	if c.Metric == "p99.9" {
		c.Metric = "p999"
	}
	var err error
	switch {
	case latencyMetrics[c.Metric] != nil:
		c.Value, err = parseMillis(rest)
	case c.Metric == "errors" || c.Metric == "non2xx":
		if v, ok := strings.CutSuffix(rest, "%"); ok {
			c.Percent, rest = true, strings.TrimSpace(v)
		}
		c.Value, err = strconv.ParseFloat(rest, 64)
	case c.Metric == "requests" || c.Metric == "rps" || c.Metric == "mb_per_s":
		c.Value, err = strconv.ParseFloat(rest, 64)
	default:
		return Condition{}, fmt.Errorf("fail-on %q: unknown metric %q", s, c.Metric)
	}
	if err != nil {
		return Condition{}, fmt.Errorf("fail-on %q: value: %w", s, err)
	}
	return c, nil
}

// parseMillis reads a latency threshold: a Go duration ("200ms", "1.5s", "250us") or a bare number of ms.
func parseMillis(s string) (float64, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, nil
	}
	d, err := time.ParseDuration(strings.ReplaceAll(s, "µ", "u"))
	if err != nil {
		return 0, err
	}
	return float64(d) / float64(time.Millisecond), nil
}

// Holds evaluates the condition on r.
func (c Condition) Holds(r *Result) bool {
	v := c.measure(r)
	switch c.Op {
	case ">":
		return v > c.Value
	case ">=":
		return v >= c.Value
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case "==":
		return v == c.Value
	case "!=":
		return v != c.Value
	}
	return false
}

// measure returns the metric's value on r, in the unit of Value.
func (c Condition) measure(r *Result) float64 {
	if f := latencyMetrics[c.Metric]; f != nil {
		return float64(f(r.Latency)) / float64(time.Millisecond)
	}
	var n uint64
	switch c.Metric {
	case "errors":
		n = r.Errors
	case "non2xx":
		n = r.Non2xx()
	case "requests":
		return float64(r.Requests)
	case "rps":
		return r.RPS()
	case "mb_per_s":
		return r.MBPerSec()
	}
	if c.Percent {
		total := r.Requests + r.Errors
		if total == 0 {
			return 0
		}
		return float64(n) * 100 / float64(total)
	}
	return float64(n)
}

// Failed returns the conditions among conds that hold on r.
func Failed(conds []Condition, r *Result) []Condition {
	var held []Condition
	for _, c := range conds {
		if c.Holds(r) {
			held = append(held, c)
		}
	}
	return held
}
