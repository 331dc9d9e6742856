package loadgen

import (
	_ "embed"
	"fmt"
	"html/template"
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

// The HTML report is one self-contained page: html/template fills in the figures, escaping everything
// that came from the user (URLs, route names, the command line), and the charts are inline SVG drawn
// here, so the page needs no script nor network to show. A tiny script only records the page's layout
// in data-* attributes for the tests (scroll width, the charts' positions). The report's JSON form
// (JSONReport, the same as -o json) is embedded as <script type="application/json" id="report-data">.

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

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
	if err := htmlTemplate.Execute(w, r.htmlPage(command)); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
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
