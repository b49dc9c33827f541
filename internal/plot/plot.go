// Package plot draws small line charts of integer series into a PNG image
// with the standard library alone: a grid of panels over one x axis, each
// panel with a title, its series as lines with a dot at each point, and a
// legend giving each series' range in the series' own format, drawn in a
// built-in 5×7 pixel font. Within a panel the series share one y scale, or
// each takes its own when their units differ (Panel.Separate). The same
// chart always gives the same bytes.
package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"math/bits"
	"strconv"
)

// Point is one value of a series at x (an epoch, say).
type Point struct {
	X, Y uint64
}

// Series is a line in a panel. Points are drawn in order, joined by lines;
// a series may leave out the x values where it has none.
type Series struct {
	Name   string
	Color  color.RGBA
	Points []Point
	// Format writes a value in the legend; nil writes the integer.
	Format func(uint64) string
}

// Panel is one chart of the grid.
type Panel struct {
	Title  string
	Series []Series
	// Separate gives each series its own y range (for series of
	// different units); otherwise they share the panel's.
	Separate bool
	// FromZero starts the y ranges at zero rather than at the smallest
	// value (for amounts, where the distance from zero matters).
	FromZero bool
}

// Chart is a grid of panels, Cols wide, over one x range, the union of the
// points' x values.
type Chart struct {
	Title  string
	XLabel string
	Panels []Panel
	Cols   int
	// Width and Height are the image's size in pixels.
	Width, Height int
}

// Colors a chart may use for its series.
var (
	Blue   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	Orange = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	Green  = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	Red    = color.RGBA{0xd6, 0x27, 0x28, 0xff}
)

var (
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	ink   = color.RGBA{0x20, 0x20, 0x20, 0xff}
	grid  = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// Layout, in pixels.
const (
	margin    = 10 // around the chart and between panels
	titleH    = 24 // the chart's title
	panelHead = 14 // a panel's title
	axisGap   = 12 // below a plot area: the x labels
	legendRow = 10 // per series, below the x labels
	dot       = 1  // a point's dot reaches dot pixels around it
)

// Encode draws c and writes it as PNG.
func Encode(w io.Writer, c Chart) error {
	img, err := Draw(c)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// Draw draws c. A chart without panels or without any point, or a size
// too small for its grid, is an error.
func Draw(c Chart) (*image.RGBA, error) {
	if len(c.Panels) == 0 {
		return nil, errors.New("plot: no panels")
	}
	cols := max(c.Cols, 1)
	rows := (len(c.Panels) + cols - 1) / cols
	xmin, xmax, ok := xRange(c.Panels)
	if !ok {
		return nil, errors.New("plot: no points")
	}
	img := image.NewRGBA(image.Rect(0, 0, c.Width, c.Height))
	draw.Draw(img, img.Rect, image.NewUniform(white), image.Point{}, draw.Src)
	drawText(img, margin, margin, c.Title, ink, 2)
	for i, p := range c.Panels {
		cell := cellRect(c, cols, rows, i)
		area := plotArea(cell, len(p.Series))
		if area.Dx() < 20 || area.Dy() < 20 {
			return nil, fmt.Errorf("plot: %dx%d is too small for %d panels", c.Width, c.Height, len(c.Panels))
		}
		drawPanel(img, cell, area, p, xmin, xmax, c.XLabel)
	}
	return img, nil
}

// xRange returns the smallest and largest x of all points.
func xRange(ps []Panel) (lo, hi uint64, ok bool) {
	for _, p := range ps {
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if !ok || pt.X < lo {
					lo = pt.X
				}
				if !ok || pt.X > hi {
					hi = pt.X
				}
				ok = true
			}
		}
	}
	return lo, hi, ok
}

// cellRect is the rectangle of panel i in a grid of cols × rows below the
// chart's title.
func cellRect(c Chart, cols, rows, i int) image.Rectangle {
	w := (c.Width - margin) / cols
	h := (c.Height - titleH - margin) / rows
	x0 := margin + (i%cols)*w
	y0 := titleH + margin + (i/cols)*h
	return image.Rect(x0, y0, x0+w-margin, y0+h-margin)
}

// plotArea is where a panel of cell with n series draws its lines: below
// its title, above its x labels and legend.
func plotArea(cell image.Rectangle, n int) image.Rectangle {
	return image.Rect(cell.Min.X+4, cell.Min.Y+panelHead, cell.Max.X-4, cell.Max.Y-axisGap-n*legendRow)
}

func drawPanel(img *image.RGBA, cell, area image.Rectangle, p Panel, xmin, xmax uint64, xlabel string) {
	drawText(img, cell.Min.X+4, cell.Min.Y+2, p.Title, ink, 1)
	// Grid: quarters of the plot area, then its frame.
	for k := 1; k < 4; k++ {
		y := area.Min.Y + k*area.Dy()/4
		hline(img, area.Min.X, area.Max.X, y, grid)
	}
	hline(img, area.Min.X, area.Max.X, area.Min.Y, ink)
	hline(img, area.Min.X, area.Max.X, area.Max.Y, ink)
	vline(img, area.Min.X, area.Min.Y, area.Max.Y, ink)
	vline(img, area.Max.X, area.Min.Y, area.Max.Y, ink)
	if xlabel != "" {
		drawText(img, area.Max.X-textWidth(xlabel, 1), area.Min.Y-panelHead+2, xlabel, ink, 1)
	}

	drawXTicks(img, area, xmin, xmax)
	lo, hi := yRange(p.Series)
	for i, s := range p.Series {
		if p.Separate {
			lo, hi = yRange(p.Series[i : i+1])
		}
		if p.FromZero {
			lo = 0
		}
		for j, pt := range s.Points {
			x, y := Position(area, pt, xmin, xmax, lo, hi)
			if j > 0 {
				px, py := Position(area, s.Points[j-1], xmin, xmax, lo, hi)
				line(img, px, py, x, y, s.Color, max(3-i, 1))
			}
			for dy := -dot; dy <= dot; dy++ {
				for dx := -dot; dx <= dot; dx++ {
					setPixel(img, x+dx, y+dy, s.Color)
				}
			}
		}
		// Legend: a swatch, the name and the series' range.
		ly := area.Max.Y + axisGap + i*legendRow
		slo, shi := yRange(p.Series[i : i+1])
		for dy := 1; dy < 6; dy++ {
			hline(img, area.Min.X, area.Min.X+8, ly+dy, s.Color)
		}
		text := fmt.Sprintf("%s %s .. %s", s.Name, format(s, slo), format(s, shi))
		if len(s.Points) == 0 {
			text = s.Name + " (none)"
		}
		drawText(img, area.Min.X+12, ly, text, ink, 1)
	}
}

// drawXTicks marks x values below the plot area and labels them: every
// value, or every 2nd, 5th, 10th, 20th… so that the labels do not touch.
func drawXTicks(img *image.RGBA, area image.Rectangle, xmin, xmax uint64) {
	room := uint64(area.Dx() / (textWidth(strconv.FormatUint(xmax, 10), 1) + 6)) // labels that fit
	step := tickStep(xmax-xmin, room)
	for x := xmin - xmin%step; x <= xmax; x += step {
		if x < xmin {
			continue
		}
		px, _ := Position(area, Point{X: x}, xmin, xmax, 0, 0)
		vline(img, px, area.Max.Y, area.Max.Y+2, ink)
		label := strconv.FormatUint(x, 10)
		lx := min(max(px-textWidth(label, 1)/2, area.Min.X), area.Max.X-textWidth(label, 1))
		drawText(img, lx, area.Max.Y+4, label, ink, 1)
		if x > math.MaxUint64-step {
			return
		}
	}
}

// tickStep is the smallest of 1, 2, 5, 10, 20, 50… that puts at most
// room steps in span.
func tickStep(span, room uint64) uint64 {
	for p := uint64(1); p <= 1e18; p *= 10 {
		for _, k := range []uint64{1, 2, 5} {
			if span/(k*p) <= room {
				return k * p
			}
		}
	}
	return 1e19
}

func format(s Series, v uint64) string {
	if s.Format != nil {
		return s.Format(v)
	}
	return strconv.FormatUint(v, 10)
}

// yRange returns the smallest and largest y of the series' points (0, 0
// without points).
func yRange(ss []Series) (lo, hi uint64) {
	first := true
	for _, s := range ss {
		for _, p := range s.Points {
			if first || p.Y < lo {
				lo = p.Y
			}
			if first || p.Y > hi {
				hi = p.Y
			}
			first = false
		}
	}
	return lo, hi
}

// Position is the pixel of pt in area for the ranges x in [xmin, xmax] and
// y in [ylo, yhi]: x from left to right, y from bottom to top. A range of
// one value puts it in the middle.
func Position(area image.Rectangle, pt Point, xmin, xmax, ylo, yhi uint64) (x, y int) {
	w, h := uint64(area.Dx()), uint64(area.Dy())
	x = area.Min.X + int(w/2)
	if xmax > xmin {
		x = area.Min.X + int(scale(pt.X-xmin, w, xmax-xmin))
	}
	y = area.Min.Y + int(h/2)
	if yhi > ylo {
		y = area.Max.Y - int(scale(pt.Y-ylo, h, yhi-ylo))
	}
	return x, y
}

// scale returns floor(v × n / d) for v ≤ d, exactly.
func scale(v, n, d uint64) uint64 {
	hi, lo := bits.Mul64(v, n)
	q, _ := bits.Div64(hi, lo, d) // v × n / d ≤ n: no overflow
	return q
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		setPixel(img, x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		setPixel(img, x, y, c)
	}
}

// line draws a line from (x0, y0) to (x1, y1), width pixels thick
// (Bresenham, widened across y). A panel's first series is drawn widest,
// so that a later one on the same pixels leaves it showing at its edge.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, width int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		for w := range width {
			setPixel(img, x0, y0+w-width/2, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
