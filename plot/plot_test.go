package plot

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashike/hashike/sim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// small is two policies over an hour: one keeps up, the other lags and never starts a job.
func small() []*sim.Result {
	a := &sim.Result{Metrics: sim.Metrics{Policy: "reactive", Workload: "synthetic:cron", Seed: 7, Latency: "slow"}}
	b := &sim.Result{Metrics: sim.Metrics{Policy: `oracle <"&'>`, Workload: "synthetic:cron", Seed: 7, Latency: "slow"}}
	for i := range 61 {
		t := float64(i * 60)
		demand := 2048 + 1024*(i%20)
		a.Series = append(a.Series, sim.Sample{T: t, RegisteredCPU: 4096 + 1024*(i%20), LaunchingCPU: 8192 * (i % 3), ReservedCPU: demand, DemandCPU: demand})
		b.Series = append(b.Series, sim.Sample{T: t, RegisteredCPU: 8192, ReservedCPU: min(demand, 8192), DemandCPU: demand})
	}
	for i, w := range []float64{0.5, 3, 40, 40, 700} {
		a.Records = append(a.Records, sim.JobRecord{ID: strconv.Itoa(i), Submit: 100, Start: 100 + w})
		b.Records = append(b.Records, sim.JobRecord{ID: strconv.Itoa(i), Submit: 100, Start: 100 + 2*w})
	}
	b.Records[4].Start, b.Records[4].Failed = -1, "horizon"
	return []*sim.Result{a, b}
}

// parse decodes every token of doc and returns the points of its polylines.
func parse(t *testing.T, doc []byte) [][]pt {
	t.Helper()
	for _, bad := range []string{"NaN", "Inf"} {
		if bytes.Contains(doc, []byte(bad)) {
			t.Errorf("%s in the output", bad)
		}
	}
	var lines [][]pt
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return lines
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, doc)
		}
		el, ok := tok.(xml.StartElement)
		if !ok || el.Name.Local != "polyline" {
			continue
		}
		var pts []pt
		for _, a := range el.Attr {
			if a.Name.Local != "points" {
				continue
			}
			for _, f := range strings.Fields(a.Value) {
				var p pt
				if _, err := fmt.Sscanf(f, "%f,%f", &p.x, &p.y); err != nil {
					t.Fatalf("point %q: %v", f, err)
				}
				pts = append(pts, p)
			}
		}
		lines = append(lines, pts)
	}
}

func TestPlots(t *testing.T) {
	empty := &sim.Result{Metrics: sim.Metrics{Policy: "empty"}}
	single := &sim.Result{Metrics: sim.Metrics{Policy: "single"}, Series: []sim.Sample{{T: 0, RegisteredCPU: 1024}}, Records: []sim.JobRecord{{Submit: 5, Start: 5}}}
	zeros := &sim.Result{Metrics: sim.Metrics{Policy: "zeros"}, Series: make([]sim.Sample, 3), Records: make([]sim.JobRecord, 3)}
	unstarted := &sim.Result{Metrics: sim.Metrics{Policy: "unstarted"}, Records: []sim.JobRecord{{Start: -1, Failed: "horizon"}}}
	tests := []struct {
		name               string
		results            []*sim.Result
		capacity, cdfLines int
	}{
		{"none", nil, 0, 0},
		{"small", small(), 8, 2},
		{"no series or records", []*sim.Result{empty}, 0, 0},
		{"single sample", []*sim.Result{single}, 4, 1},
		{"all zeros", []*sim.Result{zeros}, 4, 1},
		{"no job started", []*sim.Result{unstarted}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				name  string
				plot  func([]*sim.Result) []byte
				lines int
			}{{"capacity", Capacity, tt.capacity}, {"cdf", WaitCDF, tt.cdfLines}} {
				doc := c.plot(tt.results)
				if got := len(parse(t, doc)); got != c.lines {
					t.Errorf("%s: %d polylines, want %d", c.name, got, c.lines)
				}
				for _, r := range tt.results {
					if !bytes.Contains(doc, []byte(esc(r.Policy))) {
						t.Errorf("%s: no %q", c.name, r.Policy)
					}
				}
				if !bytes.Equal(doc, c.plot(tt.results)) {
					t.Errorf("%s: two renderings differ", c.name)
				}
			}
		})
	}
}

// TestCDFEnd: 3 of 4 jobs started, so the curve ends at 0.75 of the axis, at the right edge;
// the wait under 1 s starts at the left edge.
func TestCDFEnd(t *testing.T) {
	r := &sim.Result{Records: []sim.JobRecord{{Submit: 10, Start: 10.2}, {Submit: 0, Start: 30}, {Start: -1}, {Submit: 0, Start: 300}}}
	lines := parse(t, WaitCDF([]*sim.Result{r}))
	if len(lines) != 1 {
		t.Fatalf("%d polylines, want 1", len(lines))
	}
	pts := lines[0]
	first, last := pts[0], pts[len(pts)-1]
	if first.x != left {
		t.Errorf("first point at x %.1f, want the left edge %d", first.x, left)
	}
	if want := first.y - 0.75*2*plotH; last.y != want {
		t.Errorf("last point at y %.1f, want %.1f (0.75 of the axis above %.1f)", last.y, want, first.y)
	}
	if last.x != left+plotW {
		t.Errorf("last point at x %.1f, want the right edge %d", last.x, left+plotW)
	}
}

// TestDownsample: long inputs stay within the point budgets and keep a one-sample spike.
func TestDownsample(t *testing.T) {
	r := &sim.Result{Metrics: sim.Metrics{Policy: "long"}}
	for i := range 20000 {
		s := sim.Sample{T: float64(i * 60), RegisteredCPU: 4096, ReservedCPU: 2048, DemandCPU: 2048}
		if i == 12345 {
			s.DemandCPU = 100 * 1024
		}
		r.Series = append(r.Series, s)
	}
	for i := range 500000 {
		r.Records = append(r.Records, sim.JobRecord{Submit: 0, Start: float64(i % 50000)})
	}
	lines := parse(t, Capacity([]*sim.Result{r}))
	for _, l := range lines {
		if len(l) > maxSeriesPoints {
			t.Errorf("series line of %d points, want at most %d", len(l), maxSeriesPoints)
		}
	}
	demand := lines[3] // registered, launching, reserved, demand
	top := demand[0].y
	for _, p := range demand {
		top = min(top, p.y)
	}
	if demand[0].y-top < 0.9*plotH { // 2 vCPU then 100 vCPU on a 0-100 scale
		t.Errorf("demand spike lost: highest point at y %.1f, first at %.1f", top, demand[0].y)
	}
	cdf := parse(t, WaitCDF([]*sim.Result{r}))
	if n := len(cdf[0]); n > maxCDFPoints {
		t.Errorf("CDF of %d points, want at most %d", n, maxCDFPoints)
	}
}

func TestLinear(t *testing.T) {
	for _, tt := range []struct {
		hi   float64
		n    int
		want string
	}{
		{0, 4, "0.0 0.2 0.4 0.6 0.8 1.0"}, // nothing shows as 0 to 1
		{1, 5, "0.0 0.2 0.4 0.6 0.8 1.0"},
		{7.3, 4, "0 2 4 6 8"},
		{830, 4, "0 200 400 600 800 1000"},
		{0.03, 3, "0.00 0.01 0.02 0.03"},
	} {
		ts, top := linear(tt.hi, tt.n)
		var labels []string
		for _, x := range ts {
			labels = append(labels, x.label)
		}
		if got := strings.Join(labels, " "); got != tt.want || top != ts[len(ts)-1].v {
			t.Errorf("linear(%v, %d) = %q top %v, want %q", tt.hi, tt.n, got, top, tt.want)
		}
	}
}

func TestGolden(t *testing.T) {
	for name, doc := range map[string][]byte{"capacity.svg": Capacity(small()), "cdf.svg": WaitCDF(small())} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, doc, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(doc, want) {
			t.Errorf("%s differs from the golden file; rerun with -update if the change is intended", path)
		}
	}
}

// TestCapacityShowsLaunching: the capacity chart has a launching series (billed capacity not
// yet usable), drawn where the samples put it, and both charts' titles name the workload,
// seed and latency preset.
func TestCapacityShowsLaunching(t *testing.T) {
	rs := small()
	doc := Capacity(rs)
	if !bytes.Contains(doc, []byte("launching vCPU (billed, not yet usable)")) {
		t.Error("no launching series in the legend")
	}
	// The first panel's second line is the launching one: 0, 8 and 16 vCPU in turn, at the
	// scale the panel's registered line (4-23 vCPU) shares.
	lines := parse(t, doc)
	reg, launching := lines[0], lines[1]
	y := func(l []pt, i int) float64 { return l[i].y }
	if !(y(launching, 0) > y(launching, 1) && y(launching, 1) > y(launching, 2) && y(launching, 3) == y(launching, 0)) {
		t.Errorf("launching line %v does not follow 0, 8, 16, 0 vCPU", launching[:4])
	}
	if y(launching, 1) != y(reg, 4) { // 8 vCPU launching at 1 min; 8 vCPU registered at 4 min
		t.Errorf("launching 8 vCPU at y %.1f, registered 8 vCPU at y %.1f", y(launching, 1), y(reg, 4))
	}
	for name, d := range map[string][]byte{"capacity": doc, "cdf": WaitCDF(rs)} {
		if want := "workload synthetic:cron, seed 7, launch latency slow"; !bytes.Contains(d, []byte(want)) {
			t.Errorf("%s: the title does not say %q", name, want)
		}
	}
}
