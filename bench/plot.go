package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots are drawn with gonum.org/v1/plot: pure Go (the module builds
// without cgo), PNG output without external tools, log axes and custom
// plotters for what it lacks (bars on a log axis, a percentile axis).

// peerColors pairs each durable peer with a lighter shade for its
// non-durable twin, so the two modes of one store read as one family.
var peerColors = map[string]color.Color{
	"daxkv":         color.RGBA{24, 90, 169, 255},
	"daxkv-nosync":  color.RGBA{120, 170, 230, 255},
	"pebble-sync":   color.RGBA{214, 95, 0, 255},
	"pebble-nosync": color.RGBA{250, 180, 110, 255},
	"bbolt":         color.RGBA{0, 140, 72, 255},
	"badger-sync":   color.RGBA{102, 44, 145, 255},
	"badger-nosync": color.RGBA{190, 150, 220, 255},
	"map":           color.RGBA{128, 128, 128, 255},
	"raw":           color.RGBA{200, 30, 40, 255},
}

func peerColor(name string) color.Color {
	if c, ok := peerColors[name]; ok {
		return c
	}
	return color.Black
}

// writePlots draws the throughput bars, a latency CDF per workload and the
// recovery curve into dir, and returns section -> file name.
func (rep *Report) writePlots(dir string) (map[string]string, error) {
	files := map[string]string{}
	save := func(p *plot.Plot, w, h vg.Length, key string) error {
		name := key + ".png"
		if err := p.Save(w, h, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		files[key] = name
		return nil
	}
	for _, sec := range []struct {
		key, title string
		ycsb       bool
	}{{"throughput-pmemkv", "pmemkv-bench workloads", false}, {"throughput-ycsb", "YCSB workloads", true}} {
		if p := rep.throughputPlot(sec.title, sec.ycsb); p != nil {
			if err := save(p, 18*vg.Centimeter, 9*vg.Centimeter, sec.key); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range WorkloadNames() {
		if p := rep.latencyPlot(name); p != nil {
			if err := save(p, 14*vg.Centimeter, 8*vg.Centimeter, "latency-"+name); err != nil {
				return nil, err
			}
		}
	}
	if p := rep.snapshotPlot(); p != nil {
		if err := save(p, 12*vg.Centimeter, 7*vg.Centimeter, "snapshot"); err != nil {
			return nil, err
		}
	}
	if p := rep.recoveryPlot(); p != nil {
		if err := save(p, 12*vg.Centimeter, 7*vg.Centimeter, "recovery"); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// throughputPlot draws grouped bars: one group per workload, one bar per
// peer, on a log axis because the map and the syncing peers are orders of
// magnitude apart.
func (rep *Report) throughputPlot(title string, ycsb bool) *plot.Plot {
	var names []string
	for _, n := range WorkloadNames() {
		w := workloadByName(n)
		if w.group != groupDaxkv && (w.group == groupYCSB) == ycsb && rep.hasWorkload(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "Throughput, " + title + " (median of runs)"
	p.Y.Label.Text = "ops/s"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = siLogTicks{}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.Padding = vg.Points(1)
	p.Legend.TextStyle.Font.Size = vg.Points(7)

	lo, hi := math.Inf(1), 0.0
	var bars []*logBars
	for _, peer := range rep.Peers {
		b := &logBars{color: peerColor(peer.Name), vals: make([]float64, len(names))}
		any := false
		for i, n := range names {
			if r := rep.result(n, peer.Name); r != nil && r.Skipped == "" && r.OpsPerSec > 0 {
				b.vals[i] = r.OpsPerSec
				lo, hi = min(lo, r.OpsPerSec), max(hi, r.OpsPerSec)
				any = true
			}
		}
		if any {
			bars = append(bars, b)
			p.Legend.Add(peer.Name, b)
		}
	}
	if len(bars) == 0 {
		return nil
	}
	floor := math.Pow(10, math.Floor(math.Log10(lo)))
	groupW := vg.Centimeter * 14 / vg.Length(len(names))
	barW := groupW * 0.85 / vg.Length(len(bars))
	for i, b := range bars {
		b.floor, b.width = floor, barW
		b.offset = (vg.Length(i) - vg.Length(len(bars)-1)/2) * barW
		p.Add(b)
	}
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	p.Y.Min, p.Y.Max = floor, hi*40 // headroom for the legend
	p.X.Tick.Label.Font.Size = vg.Points(8)
	// The legend sits in a column right of the bars.
	p.Legend.XOffs = vg.Points(-2)
	return p
}

// logBars is a bar series drawn from floor up, which plotter.BarChart
// cannot do on a log axis (its bars start at zero).
type logBars struct {
	vals   []float64
	floor  float64
	offset vg.Length
	width  vg.Length
	color  color.Color
}

func (b *logBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for i, v := range b.vals {
		if v <= 0 {
			continue
		}
		x := trX(float64(i)) + b.offset
		y0, y1 := trY(b.floor), trY(v)
		pts := []vg.Point{{X: x - b.width/2, Y: y0}, {X: x - b.width/2, Y: y1}, {X: x + b.width/2, Y: y1}, {X: x + b.width/2, Y: y0}}
		c.FillPolygon(b.color, c.ClipPolygonY(pts))
	}
}

func (b *logBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = b.floor, b.floor
	for _, v := range b.vals {
		ymax = max(ymax, v)
	}
	return 0, float64(len(b.vals) - 1), ymin, ymax
}

func (b *logBars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.color, c.ClipPolygonY(pts))
}

// maxNines is the highest percentile a CDF shows (99.99%).
const maxNines = 0.9999

// latencyPlot draws one CDF per peer: latency on a log axis, cumulative
// fraction on a "nines" axis so the tail is as visible as the median.
func (rep *Report) latencyPlot(workload string) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Latency CDF, " + workload + " (median run; dashed: not durable)"
	p.X.Label.Text = "latency (µs)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = siLogTicks{}
	p.Y.Label.Text = "fraction of operations ≤ x"
	p.Y.Scale = ninesScale{}
	p.Y.Tick.Marker = ninesTicks{}
	p.Y.Min, p.Y.Max = 0, maxNines
	// Bottom right: the curves rise from the left and the slow peers' tails
	// end at the top right.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	lines := 0
	for _, peer := range rep.Peers {
		r := rep.result(workload, peer.Name)
		if r == nil || r.hist == nil || r.hist.TotalCount() == 0 {
			continue
		}
		var xys plotter.XYs
		for _, br := range r.hist.CumulativeDistributionWithTicks(5) {
			q := min(br.Quantile/100, maxNines)
			xys = append(xys, plotter.XY{X: max(float64(br.ValueAt)/1e3, 1e-3), Y: q})
			if q >= maxNines {
				break
			}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			continue
		}
		l.Color = peerColor(peer.Name)
		l.Width = vg.Points(1.2)
		if !peer.Durable {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(peer.Name, l)
		lines++
	}
	if lines == 0 {
		return nil
	}
	p.Add(plotter.NewGrid())
	return p
}

// ninesScale maps a cumulative fraction q to -log10(1-q): 0.9 and 0.99
// are one step apart, like 0.99 and 0.999.
type ninesScale struct{}

func nines(q float64) float64 { return -math.Log10(1 - min(q, maxNines)) }

func (ninesScale) Normalize(lo, hi, x float64) float64 {
	return (nines(x) - nines(lo)) / (nines(hi) - nines(lo))
}

type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, t := range []struct {
		q     float64
		label string
	}{{0, "0"}, {0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}} {
		if t.q >= lo && t.q <= hi {
			ts = append(ts, plot.Tick{Value: t.q, Label: t.label})
		}
	}
	return ts
}

// recoveryPlot draws store.Open time against the WAL fill at the kill.
func (rep *Report) recoveryPlot() *plot.Plot {
	var xys plotter.XYs
	for _, pt := range rep.Recovery {
		xys = append(xys, plotter.XY{X: float64(pt.WALBytes) / (1 << 20), Y: float64(pt.Open) / 1e6})
	}
	if len(xys) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "daxkv recovery after kill -9"
	p.X.Label.Text = "WAL fill at the kill (MiB; 0 = clean close)"
	p.Y.Label.Text = "store.Open (ms)"
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil
	}
	l.Color, pts.Color = peerColor("daxkv"), peerColor("daxkv")
	p.Add(l, pts, plotter.NewGrid())
	p.Y.Min = 0
	p.X.Min = 0
	return p
}

// snapshotPlot draws the p50 latency of ref creation and diff against the
// store size, both axes logarithmic: flat lines are the goal.
func (rep *Report) snapshotPlot() *plot.Plot {
	if len(rep.Snapshots) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "daxkv snapshots: p50 latency against store size"
	p.X.Label.Text = "keys in the store"
	p.Y.Label.Text = "latency (µs)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = siLogTicks{}, siLogTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	for i, s := range []struct {
		name string
		get  func(SnapshotPoint) Latency
	}{
		{"CreateSnapshot, idle", func(p SnapshotPoint) Latency { return p.SnapshotIdle }},
		{fmt.Sprintf("CreateSnapshot after %d writes", snapWrites), func(p SnapshotPoint) Latency { return p.Snapshot }},
		{fmt.Sprintf("CreateBranch after %d writes", snapWrites), func(p SnapshotPoint) Latency { return p.Branch }},
		{fmt.Sprintf("Diff (%d changes)", diffChanges), func(p SnapshotPoint) Latency { return p.Diff }},
	} {
		var xys plotter.XYs
		for _, pt := range rep.Snapshots {
			xys = append(xys, plotter.XY{X: float64(pt.Keys), Y: max(float64(s.get(pt).P50)/1e3, 1e-3)})
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil
		}
		c := []color.Color{peerColor("daxkv-nosync"), peerColor("daxkv"), peerColor("pebble-sync"), peerColor("bbolt")}[i]
		l.Color, pts.Color = c, c
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Add(plotter.NewGrid())
	return p
}

// siLogTicks labels powers of ten as 1, 10, 100, 1k, 10k, ... 1M, 1G.
type siLogTicks struct{}

func (siLogTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		ts = append(ts, plot.Tick{Value: v, Label: siLabel(v)})
		for m := 2.0; m < 10; m++ {
			ts = append(ts, plot.Tick{Value: m * v})
		}
	}
	return ts
}

func siLabel(v float64) string {
	for _, u := range []struct {
		f float64
		s string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.f {
			return strconv.FormatFloat(v/u.f, 'g', -1, 64) + u.s
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
