package loadgen

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The HTML report is one self-contained page, written here with every value that came from the user
// (URLs, route names, the command line) escaped by html.EscapeString; the charts are inline SVG drawn
// here, so the page needs no script nor network to show. A tiny script only records the page's layout
// in data-* attributes for the tests (scroll width, the charts' positions). The report's JSON form
// (JSONReport, the same as -o json) is embedded as <script type="application/json" id="report-data">;
// json.Marshal escapes <, > and &, so nothing in it can end the script. (Not html/template: its
// reflection keeps every exported method of every type in the binary, 13 MB of a 40 MB frontgate.)

// htmlHead is the page up to its heading; {title} stands for the URL, escaped.
const htmlHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>frontgate selftest: {title}</title>
<style>
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
pre.cmd { white-space: pre-wrap; overflow-wrap: anywhere; background: #f3f3f3; padding: 8px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { padding: 3px 6px; border-bottom: 1px solid #ddd; text-align: left; overflow-wrap: anywhere; vertical-align: top; }
td.num, th.num { text-align: right; }
table.settings th { width: 14em; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 6px; }
.summary div { background: #f3f3f3; padding: 6px; overflow-wrap: anywhere; }
.summary span { display: block; font-size: 12px; color: #555; }
figure { margin: 0 0 12px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 13px system-ui, sans-serif; fill: #333; }
svg .grid { stroke: #e4e4e4; }
svg .axis { stroke: #888; }
.note { color: #555; font-size: 13px; }
</style>
</head>
<body>
<main>
`

// htmlScript ends the page: the layout recorder.
const htmlScript = `<script>
// Records the layout for the tests: whether the page scrolls sideways, and where each chart is drawn.
addEventListener("load", function () {
  var d = document.documentElement;
  d.setAttribute("data-scroll-width", d.scrollWidth);
  d.setAttribute("data-client-width", d.clientWidth);
  document.querySelectorAll("svg[data-chart]").forEach(function (s) {
    var r = s.getBoundingClientRect();
    s.setAttribute("data-rect", [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round).join(","));
  });
});
</script>
</body>
</html>
`

// WriteHTMLFile writes the HTML report (see WriteHTML) to the file at path, replacing it.
func (r *Report) WriteHTMLFile(path, command string) error {
	return writeFile(path, "html", func(w io.Writer) error { return r.WriteHTML(w, command) })
}

// writeFile creates the file at path and writes it with write; what names the report in errors.
func writeFile(path, what string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err // names the path
	}
	err = write(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s report: %w", what, cerr)
	}
	return err
}

// WriteHTML writes the report as one self-contained HTML page: the command line (command; empty shows
// none) and settings, the summary, per-second charts of requests and errors, latency percentiles and
// status codes (from Timeline; a report without one says so), the latency percentile spectrum on a
// logarithmic scale (corrected and uncorrected in open loop), and the per-route table.
func (r *Report) WriteHTML(w io.Writer, command string) error {
	pg := r.htmlPage(command)
	data, err := json.Marshal(pg.Data)
	if err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	e := html.EscapeString // text and double-quoted attribute values alike
	b := &strings.Builder{}
	b.WriteString(strings.Replace(htmlHead, "{title}", e(pg.Data.URL), 1))
	b.WriteString("<h1>frontgate selftest report</h1>\n")
	if pg.Command != "" {
		fmt.Fprintf(b, "<pre class=\"cmd\" id=\"command\">%s</pre>\n", e(pg.Command))
	}
	b.WriteString("<table class=\"settings\" id=\"settings\">\n")
	for _, st := range pg.Settings {
		fmt.Fprintf(b, "<tr><th>%s</th><td>%s</td></tr>\n", e(st[0]), e(st[1]))
	}
	b.WriteString("</table>\n\n<h2>Summary</h2>\n<div class=\"summary\" id=\"summary\">\n")
	for _, f := range pg.Summary {
		fmt.Fprintf(b, "<div><span>%s</span><b data-key=\"%s\">%s</b></div>\n", e(f.Label), e(f.Key), e(f.Value))
	}
	b.WriteString("</div>\n<p class=\"note\">Latency in milliseconds")
	if pg.Data.LatencyUncorrectedMS != nil {
		b.WriteString(", from each request's due time (coordinated-omission corrected)")
	}
	b.WriteString("; MB = 10^6 bytes; wire bytes count heads and bodies.</p>\n\n<h2>Charts</h2>\n")
	for _, c := range pg.Charts {
		c.write(b, e)
	}
	b.WriteString("\n<h2>Routes</h2>\n<table id=\"routes\">\n<tr><th style=\"width:24%\">route</th><th class=\"num\">requests</th>" +
		"<th class=\"num\">errors</th><th class=\"num\">requests/s</th><th class=\"num\">p50</th><th class=\"num\">p90</th>" +
		"<th class=\"num\">p99</th><th class=\"num\">max</th><th style=\"width:16%\">status</th></tr>\n")
	for _, rt := range pg.Routes {
		fmt.Fprintf(b, "<tr data-route=\"%s\"><td>%s</td><td class=\"num\">%d</td><td class=\"num\">%d</td>", e(rt.Name), e(rt.Name), rt.Requests, rt.Errors)
		for _, v := range []string{rt.RPS, rt.P50, rt.P90, rt.P99, rt.Max} {
			fmt.Fprintf(b, "<td class=\"num\">%s</td>", e(v))
		}
		fmt.Fprintf(b, "<td>%s</td></tr>\n", e(rt.StatusLine))
	}
	b.WriteString("</table>\n</main>\n<script type=\"application/json\" id=\"report-data\">")
	b.Write(data)
	b.WriteString("</script>\n")
	b.WriteString(htmlScript)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

// write draws c as an SVG figure into b, escaping its text with e.
func (c *svgChart) write(b *strings.Builder, e func(string) string) {
	fmt.Fprintf(b, "<figure>\n<svg viewBox=\"0 0 %d %d\" data-chart=\"%s\" role=\"img\" aria-label=\"%s\">\n", c.W, c.H, e(c.ID), e(c.Title))
	fmt.Fprintf(b, "<text x=\"%d\" y=\"16\" font-weight=\"bold\">%s</text>\n", c.L, e(c.Title))
	for _, t := range c.YTicks {
		fmt.Fprintf(b, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%s\" y2=\"%s\"/>\n", c.L, c.R, t.Pos, t.Pos)
		fmt.Fprintf(b, "<text x=\"%d\" dx=\"-6\" y=\"%s\" dy=\"4\" text-anchor=\"end\">%s</text>\n", c.L, t.Pos, e(t.Label))
	}
	for _, t := range c.XTicks {
		fmt.Fprintf(b, "<line class=\"grid\" x1=\"%s\" x2=\"%s\" y1=\"%d\" y2=\"%d\"/>\n", t.Pos, t.Pos, c.T, c.B)
		fmt.Fprintf(b, "<text x=\"%s\" y=\"%d\" dy=\"18\" text-anchor=\"middle\">%s</text>\n", t.Pos, c.B, e(t.Label))
	}
	fmt.Fprintf(b, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n", c.L, c.R, c.B, c.B)
	fmt.Fprintf(b, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n", c.L, c.L, c.T, c.B)
	fmt.Fprintf(b, "<text class=\"axis-label\" x=\"%d\" y=\"%d\" dy=\"-6\" text-anchor=\"end\">%s</text>\n", c.R, c.H, e(c.XLabel))
	fmt.Fprintf(b, "<text class=\"axis-label\" transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", c.YMid, e(c.YLabel))
	if c.Empty != "" {
		fmt.Fprintf(b, "<text x=\"%d\" dx=\"20\" y=\"%d\" dy=\"40\" class=\"empty\">%s</text>\n", c.L, c.T, e(c.Empty))
	}
	for _, s := range c.Series {
		if c.Empty != "" {
			break
		}
		fmt.Fprintf(b, "<g data-series=\"%s\" data-points=\"%d\">\n", e(s.Name), s.N)
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"24\" width=\"14\" height=\"4\" fill=\"%s\"/><text x=\"%d\" dx=\"18\" y=\"30\">%s</text>\n", s.LegendX, e(s.Color), s.LegendX, e(s.Name))
		fmt.Fprintf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n", e(s.Color), e(s.Points))
		for _, d := range s.Dots {
			fmt.Fprintf(b, "<circle cx=\"%s\" cy=\"%s\" r=\"3\" fill=\"%s\"/>", d.X, d.Y, e(s.Color))
		}
		b.WriteString("\n</g>\n")
	}
	b.WriteString("</svg>\n</figure>\n")
}

type htmlPage struct {
	Command  string
	Settings [][2]string
	Summary  []htmlFigure
	Charts   []*svgChart
	Routes   []htmlRoute
	Data     JSONReport
}

// htmlFigure is one cell of the summary; Key names it as in the JSON report (data-key).
type htmlFigure struct{ Key, Label, Value string }

type htmlRoute struct {
	Name                                string
	Requests, Errors                    uint64
	RPS, P50, P90, P99, Max, StatusLine string
}

func (r *Report) htmlPage(command string) *htmlPage {
	mode := "closed loop"
	if r.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g requests/s", r.Rate)
	}
	pg := &htmlPage{Command: command, Data: r.JSON()}
	pg.Settings = [][2]string{{"URL", r.URL}, {"Mode", mode}, {"Connections", strconv.Itoa(r.Conns)},
		{"Client", r.Client}, {"Rounds", strconv.Itoa(len(r.Rounds))}}
	if !r.Start.IsZero() {
		pg.Settings = append(pg.Settings, [2]string{"Start", r.Start.UTC().Format(time.RFC3339Nano)},
			[2]string{"End", r.End.UTC().Format(time.RFC3339Nano)})
	}
	pg.Settings = append(pg.Settings, [2]string{"Run ids", strings.Join(r.RunIDs, " ")})
	if len(r.Merged) > 0 {
		pg.Settings = append(pg.Settings, [2]string{"Merged from", strings.Join(r.Merged, ", ")})
	}
	if r.Interrupted {
		pg.Settings = append(pg.Settings, [2]string{"Interrupted", "yes: the report covers what ran"})
	}
	l := r.Latency
	pg.Summary = []htmlFigure{
		{"requests", "Requests (completed)", strconv.FormatUint(r.Requests, 10)},
		{"errors", "Errors (failed)", strconv.FormatUint(r.Errors, 10)},
		{"duration_s", "Total time", r.Duration.Round(time.Millisecond).String()},
		{"rps", "Requests/s", strconv.FormatFloat(r.RPS(), 'f', 1, 64)},
		{"latency_ms.min", "Latency min", fmtMS(l.Min)}, {"latency_ms.mean", "Latency mean", fmtMS(l.Mean)},
		{"latency_ms.p50", "Latency p50", fmtMS(l.P50)}, {"latency_ms.p90", "Latency p90", fmtMS(l.P90)},
		{"latency_ms.p99", "Latency p99", fmtMS(l.P99)}, {"latency_ms.max", "Latency max", fmtMS(l.Max)},
		{"bytes_sent", "Sent (wire)", mb(r.BytesSent)}, {"bytes_received", "Received (wire)", mb(r.BytesReceived)},
		{"mb_per_s", "Throughput", strconv.FormatFloat(r.MBPerSec(), 'f', 2, 64) + " MB/s"},
		{"status", "Status", statusLine(r.Status)},
	}
	pg.Charts = r.charts()
	if len(r.Routes) == 0 {
		pg.Routes = []htmlRoute{routeRow(r.URL, &r.Result)}
	}
	names := make([]string, 0, len(r.Routes))
	for n := range r.Routes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pg.Routes = append(pg.Routes, routeRow(n, r.Routes[n]))
	}
	return pg
}

func routeRow(name string, r *Result) htmlRoute {
	return htmlRoute{Name: name, Requests: r.Requests, Errors: r.Errors, RPS: strconv.FormatFloat(r.RPS(), 'f', 1, 64),
		P50: fmtMS(r.Latency.P50), P90: fmtMS(r.Latency.P90), P99: fmtMS(r.Latency.P99), Max: fmtMS(r.Latency.Max),
		StatusLine: statusLine(r.Status)}
}

// The charts' SVG coordinates: a viewBox of chartW×chartH with the plot inside the margins.
const (
	chartW, chartH             = 960, 300
	plotL, plotR, plotT, plotB = 80, 915, 40, 250
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// svgChart is one line chart, laid out in SVG coordinates.
type svgChart struct {
	ID, Title, XLabel, YLabel string
	Empty                     string // shown instead of the lines when there is no data
	Series                    []svgSeries
	XTicks, YTicks            []svgTick
	W, H, L, R, T, B, YMid    int
}

type svgSeries struct {
	Name, Color, Points string
	N                   int      // points
	Dots                []svgDot // drawn when the points are few
	LegendX             int
}

type svgDot struct{ X, Y string }

// svgTick is an axis tick at Pos (SVG coordinate along its axis).
type svgTick struct {
	Pos   string
	Label string
}

// series is one line in data coordinates.
type series struct {
	name, color string
	xs, ys      []float64
}

// lineChart lays out lines over x in [x0, x1] with the ticks xticks (data values and labels), and y from
// 0 to a round number above the highest point.
func lineChart(id, title, xlabel, ylabel string, x0, x1 float64, xticks []float64, xtickLabel func(float64) string, lines []series) *svgChart {
	c := &svgChart{ID: id, Title: title, XLabel: xlabel, YLabel: ylabel, W: chartW, H: chartH, L: plotL, R: plotR, T: plotT, B: plotB,
		YMid: (plotT + plotB) / 2}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	var ymax float64
	for _, s := range lines {
		for _, y := range s.ys {
			ymax = max(ymax, y)
		}
	}
	ystep := niceStep(ymax / 5)
	ytop := math.Max(ystep, ystep*math.Ceil(ymax/ystep))
	px := func(x float64) float64 { return plotL + (x-x0)/(x1-x0)*(plotR-plotL) }
	py := func(y float64) float64 { return plotB - y/ytop*(plotB-plotT) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for _, x := range xticks {
		c.XTicks = append(c.XTicks, svgTick{f(px(x)), xtickLabel(x)})
	}
	for i := 0; float64(i)*ystep <= ytop*1.0001; i++ {
		c.YTicks = append(c.YTicks, svgTick{f(py(float64(i) * ystep)), fmtTick(float64(i)*ystep, ystep)})
	}
	for i, s := range lines {
		out := svgSeries{Name: s.name, Color: s.color, N: len(s.xs), LegendX: plotL + 150*i}
		var pts strings.Builder
		for j := range s.xs {
			x, y := f(px(s.xs[j])), f(py(s.ys[j]))
			fmt.Fprintf(&pts, "%s,%s ", x, y)
			if len(s.xs) <= 120 {
				out.Dots = append(out.Dots, svgDot{x, y})
			}
		}
		out.Points = strings.TrimSpace(pts.String())
		c.Series = append(c.Series, out)
	}
	return c
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten; 1 for v ≤ 0.
func niceStep(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// fmtTick formats v with the decimals step needs.
func fmtTick(v, step float64) string {
	return strconv.FormatFloat(v, 'f', max(0, int(-math.Floor(math.Log10(step)))), 64)
}

// charts draws the per-interval charts from the timeline and the percentile spectrum.
func (r *Report) charts() []*svgChart {
	var xs, rps, eps, p50, p90, p99, pmax []float64
	var end float64
	codes := map[int]uint64{}
	for _, iv := range r.Timeline {
		x := (iv.Start + iv.Duration).Seconds()
		end = max(end, x)
		xs = append(xs, x)
		rps = append(rps, perSecond(iv.Requests, iv.Duration))
		eps = append(eps, perSecond(iv.Errors, iv.Duration))
		p50, p90, p99, pmax = append(p50, ms(iv.P50)), append(p90, ms(iv.P90)), append(p99, ms(iv.P99)), append(pmax, ms(iv.Max))
		for _, s := range iv.Status {
			codes[s.Code] += s.Count
		}
	}
	tstep := niceStep(end / 8)
	var tticks []float64
	for t := 0.0; t <= end*1.0001; t += tstep {
		tticks = append(tticks, t)
	}
	secs := func(v float64) string { return fmtTick(v, tstep) }
	const xl = "time (s)"
	charts := []*svgChart{
		lineChart("rps", "Requests and errors per second", xl, "per second", 0, end, tticks, secs, []series{
			{"requests/s", palette[0], xs, rps}, {"errors/s", palette[1], xs, eps}}),
		lineChart("latency", "Latency per second", xl, "latency (ms)", 0, end, tticks, secs, []series{
			{"p50", palette[0], xs, p50}, {"p90", palette[2], xs, p90}, {"p99", palette[3], xs, p99}, {"max", palette[1], xs, pmax}}),
		lineChart("status", "Status codes per second", xl, "responses/s", 0, end, tticks, secs, r.statusSeries(codes, xs)),
	}
	for _, c := range charts {
		if len(r.Timeline) == 0 {
			c.Empty = "no per-second timeline in this report (a merged report has none)"
		}
	}
	return append(charts, r.spectrum())
}

func perSecond(n uint64, d time.Duration) float64 {
	if d < time.Millisecond {
		return 0 // too short an interval for a rate
	}
	return float64(n) / d.Seconds()
}

// statusSeries has a line per status code seen, the most frequent first; past the palette's size the
// rarest are summed as "other".
func (r *Report) statusSeries(codes map[int]uint64, xs []float64) []series {
	order := make([]int, 0, len(codes))
	for c := range codes {
		order = append(order, c)
	}
	sort.Slice(order, func(i, j int) bool {
		return codes[order[i]] > codes[order[j]] || codes[order[i]] == codes[order[j]] && order[i] < order[j]
	})
	lines := len(order)
	if lines > len(palette) {
		lines = len(palette) // the last line is "other"
	}
	out := make([]series, lines)
	line := map[int]int{}
	for i, c := range order {
		i = min(i, lines-1)
		line[c] = i
		out[i].name, out[i].color = strconv.Itoa(c), palette[i]
		if len(order) > lines && i == lines-1 {
			out[i].name = "other"
		}
	}
	for i := range out {
		out[i].xs, out[i].ys = xs, make([]float64, len(xs))
	}
	for j, iv := range r.Timeline {
		for _, s := range iv.Status {
			out[line[s.Code]].ys[j] += perSecond(s.Count, iv.Duration)
		}
	}
	return out
}

// spectrum draws latency by percentile, HdrHistogram's way: x is log10(1/(1-q)), so 90%, 99%, 99.9%
// … are equally spaced, as far as the number of responses supports.
func (r *Report) spectrum() *svgChart {
	n := float64(r.Requests)
	depth := min(max(math.Ceil(math.Log10(max(n, 1))), 1), 6)
	var ticks []float64
	for x := 0.0; x <= depth; x++ {
		ticks = append(ticks, x)
	}
	label := func(x float64) string {
		return strconv.FormatFloat(100*(1-math.Pow(10, -x)), 'f', max(0, int(x)-2), 64) + "%"
	}
	var lines []series
	add := func(name, color string, h *hdrhistogram.Histogram) {
		s := series{name: name, color: color}
		for x := 0.0; x <= depth+1e-9; x += depth / 200 {
			s.xs = append(s.xs, x)
			s.ys = append(s.ys, float64(h.ValueAtQuantile(100*(1-math.Pow(10, -x))))/1e3)
		}
		s.ys[len(s.ys)-1] = float64(h.Max()) / 1e3 // the line ends at the slowest response
		lines = append(lines, s)
	}
	if r.hist != nil && r.hist.TotalCount() > 0 {
		name := "latency"
		if r.raw != nil {
			name = "corrected"
		}
		add(name, palette[0], r.hist)
		if r.raw != nil && r.raw.TotalCount() > 0 {
			add("uncorrected", palette[3], r.raw)
		}
	}
	c := lineChart("spectrum", "Latency by percentile", "percentile (log scale)", "latency (ms)", 0, depth, ticks, label, lines)
	if len(lines) == 0 {
		c.Empty = "no response: no latency to show"
	}
	return c
}

// sensitiveHeaders are the request headers whose values CommandLine hides.
var sensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}

// CommandLine quotes args for a POSIX shell, for the HTML report's header, with the values of -H
// headers that carry credentials (Authorization, Cookie, …) replaced by "[redacted]", since a report
// is made to be shared.
func CommandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		flag, h := "", ""
		switch {
		case i > 0 && (args[i-1] == "-H" || args[i-1] == "--H"):
			h = a
		case strings.HasPrefix(a, "-H=") || strings.HasPrefix(a, "--H="):
			flag, h, _ = strings.Cut(a, "=")
			flag += "="
		}
		if k, _, ok := strings.Cut(h, ":"); ok && slices.Contains(sensitiveHeaders, strings.ToLower(strings.TrimSpace(k))) {
			a = flag + k + ": [redacted]"
		}
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

// shellQuote returns s as one shell word: as is when it is made of safe characters only, else in
// single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
