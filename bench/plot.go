package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"sort"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The plot is laid out once as a list of shapes and then rendered as SVG or
// PNG, so both files show the same picture: bars of tokens/s per row, and a
// CDF of inter-token latency for the rows that have latencies.

type shapeKind int

const (
	rectShape shapeKind = iota
	lineShape
	textShape
)

type shape struct {
	kind       shapeKind
	x, y, w, h float64   // rect; line from (x,y) to (x+w,y+h)
	pts        []float64 // polyline x0,y0,x1,y1,... (lineShape when set)
	text       string
	alignRight bool
	col        color.RGBA
}

var palette = []color.RGBA{
	{0x2b, 0x7b, 0xb9, 0xff}, {0xe0, 0x7b, 0x39, 0xff}, {0x5a, 0x9e, 0x4b, 0xff},
	{0x9b, 0x59, 0xb6, 0xff}, {0xc0, 0x39, 0x2b, 0xff}, {0x7f, 0x8c, 0x8d, 0xff},
}

var black = color.RGBA{0, 0, 0, 0xff}

func layoutPlot(res *Results) (int, int, []shape) {
	const barH, gap, left, width = 20, 6, 340, 400
	var sh []shape
	max := 1e-9
	for _, r := range res.Rows {
		max = math.Max(max, r.TokensPerSec.Mean+r.TokensPerSec.SD)
	}
	sh = append(sh, shape{kind: textShape, x: 10, y: 20, text: "tokens per second (mean, bar = sd)", col: black})
	y := 36.0
	for i, r := range res.Rows {
		c := palette[i%len(palette)]
		bw := r.TokensPerSec.Mean / max * width
		sh = append(sh, shape{kind: textShape, x: left - 8, y: y + 14, text: r.Runtime + " " + shortName(r.Model) + " " + r.Test, alignRight: true, col: black})
		sh = append(sh, shape{kind: rectShape, x: left, y: y, w: bw, h: barH, col: c})
		sd := r.TokensPerSec.SD / max * width
		if sd > 0 {
			sh = append(sh, shape{kind: lineShape, x: left + bw - sd, y: y + barH/2, w: 2 * sd, col: black})
		}
		sh = append(sh, shape{kind: textShape, x: left + bw + sd + 6, y: y + 14, text: fmt.Sprintf("%.1f", r.TokensPerSec.Mean), col: black})
		y += barH + gap
	}
	// Latency CDF.
	var lat []int
	hi := 0.0
	for i, r := range res.Rows {
		if len(r.LatencyMs) > 0 {
			lat = append(lat, i)
			s := append([]float64(nil), r.LatencyMs...)
			sort.Float64s(s)
			hi = math.Max(hi, quantile(s, 0.99))
		}
	}
	if len(lat) > 0 && hi > 0 {
		const ch, cw = 180.0, 400.0
		top := y + 30
		sh = append(sh, shape{kind: textShape, x: 10, y: top - 8, text: "inter-token latency CDF (ms, up to the largest p99)", col: black})
		x0 := float64(left)
		sh = append(sh, shape{kind: lineShape, x: x0, y: top + ch, w: cw, col: black}, shape{kind: lineShape, x: x0, y: top, h: ch, col: black})
		for _, f := range []float64{0, 0.5, 1} {
			sh = append(sh, shape{kind: textShape, x: x0 - 6, y: top + ch - f*ch + 4, text: fmt.Sprintf("%.1f", f), alignRight: true, col: black})
			sh = append(sh, shape{kind: textShape, x: x0 + f*cw - 10, y: top + ch + 16, text: fmt.Sprintf("%.1f", f*hi), col: black})
		}
		for _, i := range lat {
			s := append([]float64(nil), res.Rows[i].LatencyMs...)
			sort.Float64s(s)
			var pts []float64
			step := max1(len(s) / 200)
			for k := 0; k < len(s); k += step {
				if s[k] > hi {
					break
				}
				pts = append(pts, x0+s[k]/hi*cw, top+ch-float64(k+1)/float64(len(s))*ch)
			}
			if len(pts) >= 4 {
				sh = append(sh, shape{kind: lineShape, pts: pts, col: palette[i%len(palette)]})
			}
		}
		y = top + ch + 30
	}
	return left + width + 120, int(y + 10), sh
}

// shortName keeps a label readable: the file name of a path, at most 36
// characters.
func shortName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	if len(s) > 36 {
		s = "…" + s[len(s)-35:]
	}
	return s
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func hexColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// SVG draws the plot as SVG.
func SVG(w io.Writer, res *Results) error {
	width, height, shapes := layoutPlot(res)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for _, s := range shapes {
		switch s.kind {
		case rectShape:
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", s.x, s.y, s.w, s.h, hexColor(s.col))
		case lineShape:
			if s.pts != nil {
				var p []string
				for k := 0; k+1 < len(s.pts); k += 2 {
					p = append(p, fmt.Sprintf("%.1f,%.1f", s.pts[k], s.pts[k+1]))
				}
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", strings.Join(p, " "), hexColor(s.col))
			} else {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", s.x, s.y, s.x+s.w, s.y+s.h, hexColor(s.col))
			}
		case textShape:
			anchor := ""
			if s.alignRight {
				anchor = ` text-anchor="end"`
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f"%s>%s</text>`+"\n", s.x, s.y, anchor, xmlEscape(s.text))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// PNG draws the plot as a PNG image (text in a 7×13 bitmap font).
func PNG(w io.Writer, res *Results) error {
	width, height, shapes := layoutPlot(res)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	face := basicfont.Face7x13
	for _, s := range shapes {
		switch s.kind {
		case rectShape:
			for y := int(s.y); y < int(s.y+s.h); y++ {
				for x := int(s.x); x < int(s.x+s.w); x++ {
					img.SetRGBA(x, y, s.col)
				}
			}
		case lineShape:
			if s.pts != nil {
				for k := 0; k+3 < len(s.pts); k += 2 {
					drawLine(img, s.pts[k], s.pts[k+1], s.pts[k+2], s.pts[k+3], s.col)
				}
			} else {
				drawLine(img, s.x, s.y, s.x+s.w, s.y+s.h, s.col)
			}
		case textShape:
			d := &font.Drawer{Dst: img, Src: image.NewUniform(s.col), Face: face}
			x := s.x
			if s.alignRight {
				x -= float64(d.MeasureString(s.text).Round())
			}
			d.Dot = fixed.P(int(x), int(s.y))
			d.DrawString(s.text)
		}
	}
	return png.Encode(w, img)
}

func drawLine(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA) {
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		img.SetRGBA(int(math.Round(x0+t*(x1-x0))), int(math.Round(y0+t*(y1-y0))), c)
	}
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
