// Package plot renders the charts of `hashike sim` as standalone SVG documents with the
// standard library only: capacity against demand over time, one panel per policy, and the
// wait-time CDF of all policies in one chart.
//
// The output depends on the results alone (fixed size, palette and number precision), so the
// same results give the same bytes and a chart can be kept as a golden file.
package plot

import (
	"encoding/xml"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/hashike/hashike/sim"
)

const (
	width  = 900
	left   = 64 // room for the y tick labels and title
	right  = 20
	plotW  = width - left - right
	plotH  = 170
	header = 30 // the chart's title line

	// A line is drawn with at most maxSeriesPoints points and a CDF with at most maxCDFPoints:
	// more than about one per pixel only makes the file bigger.
	maxSeriesPoints = 1500
	maxCDFPoints    = 1000
)

// palette colours the policies of WaitCDF, in the order given (then again from the start).
var palette = [...]string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// Capacity plots registered, launching (billed, not yet usable), reserved and demanded vCPU
// over time, one panel per result in the order given. The panels share their scales so that
// policies compare at a glance. The title names the workload, seed and latency preset.
func Capacity(results []*sim.Result) []byte {
	const panelH = 24 + plotH + 40 // policy name, plot, x tick labels and title
	var hours, vcpu float64
	for _, r := range results {
		for _, s := range r.Series {
			hours = max(hours, s.T/3600)
			vcpu = max(vcpu, float64(max(s.RegisteredCPU, s.LaunchingCPU, s.ReservedCPU, s.DemandCPU))/1024)
		}
	}
	xt, xmax := linear(hours, 8)
	yt, ymax := linear(vcpu, 4)
	lines := [...]struct {
		entry
		cpu func(sim.Sample) int
	}{
		{entry{"registered vCPU (capacity)", "#1f77b4"}, func(s sim.Sample) int { return s.RegisteredCPU }},
		{entry{"launching vCPU (billed, not yet usable)", "#ff7f0e"}, func(s sim.Sample) int { return s.LaunchingCPU }},
		{entry{"reserved vCPU (in use)", "#2ca02c"}, func(s sim.Sample) int { return s.ReservedCPU }},
		{entry{"demand vCPU (reserved + pending)", "#d62728"}, func(s sim.Sample) int { return s.DemandCPU }},
	}
	entries := make([]entry, len(lines))
	for i, l := range lines {
		entries[i] = l.entry
	}
	var b strings.Builder
	top := header + legend(&b, header, entries) + 6
	for i, r := range results {
		f := frame{x: left, y: float64(top+i*panelH) + 24, w: plotW, h: plotH, xmax: xmax, ymax: ymax}
		text(&b, left, f.y-8, "start", "bold", r.Policy)
		axes(&b, f, xt, yt, "hours from start", "vCPU")
		for _, l := range lines {
			pts := make([]pt, len(r.Series))
			for j, s := range r.Series {
				pts[j] = pt{s.T / 3600, float64(l.cpu(s)) / 1024}
			}
			polyline(&b, f, decimate(pts, maxSeriesPoints), l.color)
		}
	}
	return document(title("capacity vs demand", results), top+len(results)*panelH+10, b.String())
}

// WaitCDF plots, for each result, the fraction of its jobs that started within a wait (from
// submit to first start), the wait on a log scale from 1 s (shorter waits count as 1 s). Jobs
// that never started count in the total but not in the curve, so it ends below 1.
func WaitCDF(results []*sim.Result) []byte {
	waits := make([][]float64, len(results)) // log10 of the waits, sorted
	decades := 1.0
	entries := make([]entry, len(results))
	for i, r := range results {
		for _, j := range r.Records {
			if j.Start >= 0 {
				w := j.Start - j.Submit
				if !(w > 1) { // NaN too
					w = 1
				}
				waits[i] = append(waits[i], math.Log10(w))
			}
		}
		sort.Float64s(waits[i])
		if n := len(waits[i]); n > 0 {
			decades = max(decades, math.Ceil(waits[i][n-1]-1e-9))
		}
		entries[i] = entry{r.Policy, palette[i%len(palette)]}
	}
	var b strings.Builder
	top := header + legend(&b, header, entries) + 6
	f := frame{x: left, y: float64(top), w: plotW, h: plotH * 2, xmax: decades, ymax: 1}
	xt := make([]tick, int(decades)+1)
	for i := range xt {
		xt[i] = tick{float64(i), strconv.FormatFloat(math.Pow(10, float64(i)), 'f', 0, 64)}
	}
	yt, _ := linear(1, 5)
	axes(&b, f, xt, yt, "wait (s, log scale)", "fraction of jobs")
	for i, r := range results {
		polyline(&b, f, steps(waits[i], len(r.Records), decades), entries[i].color)
	}
	return document(title("wait-time CDF", results), top+int(f.h)+50, b.String())
}

// title is a chart's title: what it shows, then the run's workload, seed and latency preset
// (those of the first result: `hashike sim` runs every policy on the same ones).
func title(what string, results []*sim.Result) string {
	if len(results) == 0 {
		return what
	}
	m := results[0].Metrics
	lat := m.Latency
	if lat == "" {
		lat = "unknown"
	}
	return fmt.Sprintf("%s: workload %s, seed %d, launch latency %s", what, m.Workload, m.Seed, lat)
}

// steps is the step line of a CDF: ws are the sorted (log) waits of total jobs. Waits that fall
// in one of maxCDFPoints/2 equal slices of [0, xmax] rise together at the slice's last one.
func steps(ws []float64, total int, xmax float64) []pt {
	const slices = (maxCDFPoints - 1) / 2
	slice := func(x float64) int { return int(x / xmax * slices) }
	var pts []pt
	y := 0.0
	for i := 0; i < len(ws); i++ {
		for i+1 < len(ws) && slice(ws[i+1]) == slice(ws[i]) {
			i++
		}
		pts = append(pts, pt{ws[i], y})
		y = float64(i+1) / float64(total)
		pts = append(pts, pt{ws[i], y})
	}
	if len(pts) > 0 {
		pts = append(pts, pt{xmax, y})
	}
	return pts
}

// decimate keeps each of n/2 runs of consecutive points' lowest and highest, in order, so that
// spikes and dips stay visible.
func decimate(pts []pt, n int) []pt {
	if len(pts) <= n {
		return pts
	}
	runs := n / 2
	out := make([]pt, 0, n)
	for i := range runs {
		run := pts[i*len(pts)/runs : (i+1)*len(pts)/runs]
		lo, hi := 0, 0
		for j, p := range run {
			if p.y < run[lo].y {
				lo = j
			}
			if p.y > run[hi].y {
				hi = j
			}
		}
		out = append(out, run[min(lo, hi)])
		if lo != hi {
			out = append(out, run[max(lo, hi)])
		}
	}
	return out
}

type pt struct{ x, y float64 }

type tick struct {
	v     float64
	label string
}

type entry struct{ label, color string }

// frame places a plot: its box in pixels and the data ranges [0, xmax] and [0, ymax] it shows.
type frame struct{ x, y, w, h, xmax, ymax float64 }

func (f frame) px(x float64) float64 { return f.x + min(max(x, 0), f.xmax)/f.xmax*f.w }
func (f frame) py(y float64) float64 { return f.y + f.h - min(max(y, 0), f.ymax)/f.ymax*f.h }

// linear returns round ticks (steps of 1, 2 or 5 times a power of ten, the one nearest to
// hi/n) from 0 to at least hi, and the last tick; hi <= 0 shows as 1.
func linear(hi float64, n int) ([]tick, float64) {
	if !(hi > 0) || math.IsInf(hi, 1) {
		hi = 1
	}
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range [...]struct{ step, below float64 }{{1, 1.5}, {2, 3}, {5, 7}} {
		if raw < m.below*mag {
			step = m.step * mag
			break
		}
	}
	k := int(math.Ceil(hi/step - 1e-9))
	prec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	ts := make([]tick, k+1)
	for i := range ts {
		v := float64(i) * step
		ts[i] = tick{v, strconv.FormatFloat(v, 'f', prec, 64)}
	}
	return ts, float64(k) * step
}

// axes draws f's grid, tick labels, box and axis titles.
func axes(b *strings.Builder, f frame, xt, yt []tick, xtitle, ytitle string) {
	for _, t := range yt {
		y := f.py(t.v)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", f.x, y, f.x+f.w, y)
		text(b, f.x-6, y+4, "end", "", t.label)
	}
	for _, t := range xt {
		x := f.px(t.v)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, f.y, x, f.y+f.h)
		text(b, x, f.y+f.h+16, "middle", "", t.label)
	}
	fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", f.x, f.y, f.w, f.h)
	text(b, f.x+f.w/2, f.y+f.h+32, "middle", "", xtitle)
	fmt.Fprintf(b, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", f.x-46, f.y+f.h/2, esc(ytitle))
}

// polyline draws pts in f; no points draw nothing.
func polyline(b *strings.Builder, f frame, pts []pt, color string) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"", color)
	for i, p := range pts {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "%.1f,%.1f", f.px(p.x), f.py(p.y))
	}
	b.WriteString("\"/>\n")
}

// legend draws the entries in rows from y, wrapping at the chart's width, and returns the
// height it took.
func legend(b *strings.Builder, y int, entries []entry) int {
	const rowH = 18
	x, rows := left, 0
	for i, e := range entries {
		w := 34 + 7*len([]rune(e.label)) // about 7 px a character at 12 px
		if i > 0 && x+w > width-right {
			x, rows = left, rows+1
		}
		ly := y + rows*rowH + 9
		fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n", x, ly, x+20, ly, e.color)
		text(b, float64(x+26), float64(ly+4), "start", "", e.label)
		x += w + 12
	}
	if len(entries) == 0 {
		return 0
	}
	return (rows + 1) * rowH
}

func text(b *strings.Builder, x, y float64, anchor, weight, s string) {
	if weight != "" {
		weight = " font-weight=\"" + weight + "\""
	}
	fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>%s</text>\n", x, y, anchor, weight, esc(s))
}

// esc escapes s for XML text, replacing characters XML does not allow.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

func document(title string, height int, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height, width, height)
	fmt.Fprintf(&b, "<title>%s</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", esc(title))
	text(&b, left, 20, "start", "bold", title)
	b.WriteString(body)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
