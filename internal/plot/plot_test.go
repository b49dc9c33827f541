package plot

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
)

// chart is a grid of two columns: a rising line, a falling one, two
// series of different units on their own scales (one rising, one
// falling), a flat one and one whose scale starts at zero.
func chart() Chart {
	return Chart{Title: "epochs 0-10", XLabel: "epoch", Cols: 2, Width: 640, Height: 600, Panels: []Panel{
		{Title: "rising", Series: []Series{{Name: "a", Color: Blue, Points: []Point{{0, 0}, {5, 50}, {10, 100}}}}},
		{Title: "falling", Series: []Series{{Name: "b", Color: Orange, Points: []Point{{0, 100}, {10, 0}}}}},
		{Title: "units", Separate: true, Series: []Series{
			{Name: "small", Color: Green, Points: []Point{{0, 1}, {10, 2}}},
			{Name: "large", Color: Red, Points: []Point{{0, math.MaxUint64}, {10, math.MaxUint64 - 1}},
				Format: func(v uint64) string { return "big" }},
		}},
		{Title: "flat", Series: []Series{{Name: "c", Color: Blue, Points: []Point{{2, 7}, {8, 7}}}}},
		{Title: "from zero", FromZero: true, Series: []Series{{Name: "d", Color: Green, Points: []Point{{0, 50}, {10, 100}}}}},
	}}
}

// area returns panel i's plot area in chart().
func area(c Chart, i int) image.Rectangle {
	rows := (len(c.Panels) + c.Cols - 1) / c.Cols
	return plotArea(cellRect(c, c.Cols, rows, i), len(c.Panels[i].Series))
}

func TestDrawDimensions(t *testing.T) {
	c := chart()
	var buf bytes.Buffer
	if err := Encode(&buf, c); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, 640, 600) {
		t.Fatalf("bounds %v, want 640x600", b)
	}
	// The plot areas lie inside the image, side by side, without overlap.
	for i := range c.Panels {
		a := area(c, i)
		if !a.In(img.Bounds()) || a.Dx() < 200 || a.Dy() < 100 {
			t.Fatalf("panel %d: area %v", i, a)
		}
		for j := range i {
			if a.Overlaps(area(c, j)) {
				t.Fatalf("panels %d and %d overlap: %v, %v", i, j, a, area(c, j))
			}
		}
	}
}

func TestDrawSeriesPixels(t *testing.T) {
	c := chart()
	img, err := Draw(c)
	if err != nil {
		t.Fatal(err)
	}
	at := func(p image.Point) color.RGBA { return img.RGBAAt(p.X, p.Y) }
	a0, a1, a2, a3, a4 := area(c, 0), area(c, 1), area(c, 2), area(c, 3), area(c, 4)
	mid := func(a image.Rectangle) image.Point { return image.Pt(a.Min.X+a.Dx()/2, a.Min.Y+a.Dy()/2) }
	for _, tc := range []struct {
		name string
		at   image.Point
		want color.RGBA
	}{
		// Rising: bottom left to top right, through the middle.
		{"rising first point", image.Pt(a0.Min.X, a0.Max.Y), Blue},
		{"rising middle point", image.Pt(a0.Min.X+a0.Dx()/2, a0.Max.Y-a0.Dy()/2), Blue},
		{"rising last point", image.Pt(a0.Max.X, a0.Min.Y), Blue},
		{"rising: nothing top left", image.Pt(a0.Min.X+a0.Dx()/8, a0.Min.Y+a0.Dy()/8), white},
		// Falling: top left to bottom right.
		{"falling first point", image.Pt(a1.Min.X, a1.Min.Y), Orange},
		{"falling last point", image.Pt(a1.Max.X, a1.Max.Y), Orange},
		{"falling: nothing bottom left", image.Pt(a1.Min.X+a1.Dx()/8, a1.Max.Y-a1.Dy()/8), white},
		// Separate scales: both series span the whole height.
		{"small first point", image.Pt(a2.Min.X, a2.Max.Y), Green},
		{"small last point", image.Pt(a2.Max.X, a2.Min.Y), Green},
		{"large first point", image.Pt(a2.Min.X, a2.Min.Y), Red},
		{"large last point", image.Pt(a2.Max.X, a2.Max.Y), Red},
		// A flat series sits in the middle.
		{"flat", mid(a3), Blue},
		// From zero: 50 of 100 halfway up.
		{"from zero first point", image.Pt(a4.Min.X, a4.Max.Y-a4.Dy()/2), Green},
		{"from zero last point", image.Pt(a4.Max.X, a4.Min.Y), Green},
		{"from zero: nothing at the bottom", image.Pt(a4.Min.X+2, a4.Max.Y-2), white},
	} {
		if got := at(tc.at); got != tc.want {
			t.Errorf("%s at %v: %v, want %v", tc.name, tc.at, got, tc.want)
		}
	}
	// Each legend's swatch has its series' color.
	for i, want := range []color.RGBA{Green, Red} {
		if got := img.RGBAAt(a2.Min.X+4, a2.Max.Y+axisGap+i*legendRow+3); got != want {
			t.Errorf("legend %d swatch: %v, want %v", i, got, want)
		}
	}
}

func TestDrawDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Encode(&a, chart()); err != nil {
		t.Fatal(err)
	}
	if err := Encode(&b, chart()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same chart gave different PNGs")
	}
}

func TestDrawErrors(t *testing.T) {
	small := chart()
	small.Width, small.Height = 60, 60
	for _, tc := range []struct {
		name string
		c    Chart
		want string
	}{
		{"no panels", Chart{Width: 100, Height: 100}, "no panels"},
		{"no points", Chart{Width: 100, Height: 100, Panels: []Panel{{Title: "x", Series: []Series{{Name: "s"}}}}}, "no points"},
		{"too small", small, "too small"},
	} {
		_, err := Draw(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestPosition(t *testing.T) {
	a := image.Rect(10, 20, 110, 70) // 100 × 50
	for _, tc := range []struct {
		pt                 Point
		xmin, xmax, lo, hi uint64
		x, y               int
	}{
		{Point{0, 0}, 0, 10, 0, 100, 10, 70},
		{Point{10, 100}, 0, 10, 0, 100, 110, 20},
		{Point{5, 50}, 0, 10, 0, 100, 60, 45},
		{Point{3, 9}, 3, 3, 9, 9, 60, 45}, // one value: the middle
		{Point{math.MaxUint64, math.MaxUint64}, 0, math.MaxUint64, 0, math.MaxUint64, 110, 20},
	} {
		if x, y := Position(a, tc.pt, tc.xmin, tc.xmax, tc.lo, tc.hi); x != tc.x || y != tc.y {
			t.Errorf("Position(%v): (%d, %d), want (%d, %d)", tc.pt, x, y, tc.x, tc.y)
		}
	}
}

func TestDrawText(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 20, 10))
	drawText(img, 1, 1, "l", ink, 1) // drawn as L
	for y := range glyphH {
		if img.RGBAAt(1, 1+y) != ink {
			t.Fatalf("L's stem missing at row %d", y)
		}
	}
	if img.RGBAAt(5, 7) != ink || img.RGBAAt(5, 6) == ink {
		t.Fatal("L's foot is not where the glyph puts it")
	}
	if w := textWidth("ab", 2); w != 22 {
		t.Fatalf("textWidth: %d, want 22", w)
	}
}

func TestTickStep(t *testing.T) {
	for _, tc := range []struct{ span, room, want uint64 }{
		{6, 40, 1}, {0, 40, 1}, {60, 40, 2}, {150, 40, 5}, {300, 40, 10}, {700, 40, 20}, {2_000, 40, 50},
		{math.MaxUint64, 40, 5e17}, {math.MaxUint64, 1, 1e19},
	} {
		if got := tickStep(tc.span, tc.room); got != tc.want {
			t.Errorf("tickStep(%d, %d) = %d, want %d", tc.span, tc.room, got, tc.want)
		}
	}
}

// TestOverlapShowsBoth draws two series on the same points: the first,
// drawn wider, still shows at the edge of the second.
func TestOverlapShowsBoth(t *testing.T) {
	pts := []Point{{0, 0}, {10, 0}, {20, 10}}
	c := Chart{Width: 300, Height: 200, Panels: []Panel{{Title: "same", Series: []Series{
		{Name: "first", Color: Blue, Points: pts}, {Name: "second", Color: Orange, Points: pts}}}}}
	img, err := Draw(c)
	if err != nil {
		t.Fatal(err)
	}
	a := area(Chart{Cols: 1, Width: 300, Height: 200, Panels: c.Panels}, 0)
	// The flat stretch from x 0 to 10 runs along the bottom edge; a quarter
	// of the way along it, the second series' pixel and the first's below
	// it.
	x, y := a.Min.X+a.Dx()/8, a.Max.Y
	if got := img.RGBAAt(x, y); got != Orange {
		t.Errorf("on the line: %v, want the second series", got)
	}
	if got := img.RGBAAt(x, y+1); got != Blue {
		t.Errorf("below the line: %v, want the first series", got)
	}
}
