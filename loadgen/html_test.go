package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reportData returns the JSON report embedded in an HTML report, decoded.
func reportData(t *testing.T, page string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no report-data block in the page:\n%s", page)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(m[1]), &data); err != nil {
		t.Fatalf("report-data: %v\n%s", err, m[1])
	}
	return data
}

// The HTML report escapes whatever came from the user (route names, URLs, the command line), draws
// every chart with its lines, and embeds the same JSON as WriteJSON writes.
func TestHTMLReport(t *testing.T) {
	url := mixedServer(t)
	const evil = `<img src=x onerror="alert(1)">&`
	for _, open := range []bool{false, true} {
		p := Plan{Targets: []Target{{Name: evil, URL: url + "/a"}, {Name: "</script><b>", URL: url + "/b"}},
			Conns: 2, Duration: 1500 * time.Millisecond, Timeline: true}
		if open {
			p.Rate = 400
		}
		rep := mustRun(t, context.Background(), p)
		var page, js bytes.Buffer
		if err := rep.WriteHTML(&page, "frontgate selftest -H 'X: "+evil+"'"); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		s := page.String()
		for _, bad := range []string{"<img", "<b>", `onerror="`} {
			if strings.Contains(s, bad) {
				t.Errorf("open=%v: the page holds %q unescaped", open, bad)
			}
		}
		if !strings.Contains(s, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;") {
			t.Errorf("open=%v: the route name is not shown escaped", open)
		}
		var want map[string]any
		if err := json.Unmarshal(js.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		if got := reportData(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("open=%v: the page's data differs from the JSON report:\n%v\n%v", open, got, want)
		}
		for _, chart := range []string{"rps", "latency", "status", "spectrum"} {
			if !strings.Contains(s, `data-chart="`+chart+`"`) {
				t.Errorf("open=%v: no %s chart", open, chart)
			}
		}
		points := regexp.MustCompile(`data-series="([^"]*)" data-points="(\d+)"`).FindAllStringSubmatch(s, -1)
		series := map[string]bool{}
		for _, m := range points {
			series[m[1]] = true
			if m[2] == "0" {
				t.Errorf("open=%v: series %s has no points", open, m[1])
			}
		}
		for _, name := range []string{"requests/s", "errors/s", "p50", "p99", "max", "200", "503"} {
			if !series[name] {
				t.Errorf("open=%v: no %q series; have %v", open, name, series)
			}
		}
		if series["uncorrected"] != open || series["corrected"] != open || series["latency"] == open {
			t.Errorf("open=%v: spectrum series %v", open, series)
		}
	}
}

// A report without a timeline (a merge) still writes its page, saying so instead of drawing lines.
func TestHTMLReportWithoutTimeline(t *testing.T) {
	url := mixedServer(t)
	rep := mustRun(t, context.Background(), Plan{Targets: []Target{{URL: url}}, Conns: 1, Requests: 20})
	var page bytes.Buffer
	if err := rep.WriteHTML(&page, ""); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "no per-second timeline"); n != 3 {
		t.Errorf("%d charts say they have no timeline, want 3", n)
	}
	if !strings.Contains(page.String(), `data-series="latency"`) {
		t.Error("no latency spectrum")
	}
}
