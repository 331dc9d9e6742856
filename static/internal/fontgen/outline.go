package main

import (
	"encoding/binary"
	"fmt"
)

// Grid geometry in font units (unitsPerEm is 1000).
const (
	pixel       = 100       // side of one grid pixel
	gridCols    = 5         // pixels per row
	aboveRows   = 7         // rows above the baseline; further rows are descenders
	sideBearing = pixel / 2 // paper on each side of the grid
	advance     = gridCols*pixel + 2*sideBearing
)

// point is a position in font units, y up, baseline at y=0.
type point struct{ x, y int }

// glyph is one outline glyph: closed contours of on-curve points, and its advance width.
type glyph struct {
	contours [][]point
	advance  int
}

// bbox returns the glyph's bounding box; all zero for a glyph without ink.
func (g glyph) bbox() (xMin, yMin, xMax, yMax int) {
	first := true
	for _, c := range g.contours {
		for _, p := range c {
			if first {
				xMin, yMin, xMax, yMax = p.x, p.y, p.x, p.y
				first = false
			}
			xMin, yMin = min(xMin, p.x), min(yMin, p.y)
			xMax, yMax = max(xMax, p.x), max(yMax, p.y)
		}
	}
	return
}

// numPoints counts the glyph's points over all contours.
func (g glyph) numPoints() int {
	n := 0
	for _, c := range g.contours {
		n += len(c)
	}
	return n
}

// traceBitmap turns a bitmap (see glyphs.go) into the outline of its ink: straight-line contours that
// run clockwise around ink and counter-clockwise around holes, as TrueType expects. It works on
// boundary edges, the pixel sides that separate ink from paper, so neighbouring pixels merge into one
// shape with no overlapping contours.
func traceBitmap(rows []string) glyph {
	ink := func(col, row int) bool {
		return row >= 0 && row < len(rows) && col >= 0 && col < len(rows[row]) && rows[row][col] == '#'
	}
	type edge struct{ from, to point }
	var edges []edge
	for row, line := range rows {
		if len(line) != gridCols {
			panic(fmt.Sprintf("fontgen: bitmap row %q is not %d pixels wide", line, gridCols))
		}
		for col := range gridCols {
			if !ink(col, row) {
				continue
			}
			// Corners in grid units, y up: row 0's top edge is at aboveRows.
			x0, x1 := col, col+1
			y0, y1 := aboveRows-1-row, aboveRows-row
			// Clockwise around the pixel: up the left side, right along the top, down, back left.
			if !ink(col-1, row) {
				edges = append(edges, edge{point{x0, y0}, point{x0, y1}})
			}
			if !ink(col, row-1) {
				edges = append(edges, edge{point{x0, y1}, point{x1, y1}})
			}
			if !ink(col+1, row) {
				edges = append(edges, edge{point{x1, y1}, point{x1, y0}})
			}
			if !ink(col, row+1) {
				edges = append(edges, edge{point{x1, y0}, point{x0, y0}})
			}
		}
	}

	// Each corner has as many edges leaving as arriving, so following edges always closes a loop.
	// Where two pixels touch only at a corner, two edges leave it; taking the right turn keeps the
	// ink on the right and each contour simple.
	leaving := make(map[point][]int)
	for i, e := range edges {
		leaving[e.from] = append(leaving[e.from], i)
	}
	used := make([]bool, len(edges))
	var g glyph
	g.advance = advance
	for start := range edges { // slice order: deterministic output
		if used[start] {
			continue
		}
		var grid []point
		for cur := start; !used[cur]; {
			used[cur] = true
			e := edges[cur]
			grid = append(grid, e.from)
			next := leaving[e.to]
			cur = next[0]
			if len(next) == 2 {
				dx, dy := e.to.x-e.from.x, e.to.y-e.from.y
				right := point{e.to.x + dy, e.to.y - dx}
				if edges[next[1]].to == right {
					cur = next[1]
				}
			}
		}
		// Keep only the corners, dropping points in the middle of straight runs, and scale to font units.
		var contour []point
		for i, p := range grid {
			prev, next := grid[(i+len(grid)-1)%len(grid)], grid[(i+1)%len(grid)]
			if (prev.x == p.x && p.x == next.x) || (prev.y == p.y && p.y == next.y) {
				continue
			}
			contour = append(contour, point{sideBearing + p.x*pixel, p.y * pixel})
		}
		g.contours = append(g.contours, contour)
	}
	return g
}

// Simple-glyph point flags.
const (
	flagOnCurve = 0x01
	flagXShort  = 0x02 // x delta is one byte; flagXSame then gives its sign (set = positive)
	flagYShort  = 0x04
	flagXSame   = 0x10 // without flagXShort: x delta is zero and takes no bytes
	flagYSame   = 0x20
)

// encodeGlyph returns the glyph's 'glyf' record, or nil for a glyph without ink (an empty loca entry).
// All points are on-curve; coordinates are stored as deltas, one byte when they fit.
func encodeGlyph(g glyph) []byte {
	if len(g.contours) == 0 {
		return nil
	}
	xMin, yMin, xMax, yMax := g.bbox()
	b := binary.BigEndian.AppendUint16(nil, uint16(len(g.contours)))
	for _, v := range []int{xMin, yMin, xMax, yMax} {
		b = binary.BigEndian.AppendUint16(b, uint16(int16(v)))
	}
	end := -1
	for _, c := range g.contours {
		end += len(c)
		b = binary.BigEndian.AppendUint16(b, uint16(end))
	}
	b = binary.BigEndian.AppendUint16(b, 0) // no instructions

	var flags, xs, ys []byte
	coord := func(delta int, short, same byte, out []byte) (byte, []byte) {
		switch {
		case delta == 0:
			return same, out
		case delta > 0 && delta < 256:
			return short | same, append(out, byte(delta))
		case delta < 0 && delta > -256:
			return short, append(out, byte(-delta))
		default:
			return 0, binary.BigEndian.AppendUint16(out, uint16(int16(delta)))
		}
	}
	var last point
	for _, c := range g.contours {
		for _, p := range c {
			var fx, fy byte
			fx, xs = coord(p.x-last.x, flagXShort, flagXSame, xs)
			fy, ys = coord(p.y-last.y, flagYShort, flagYSame, ys)
			flags = append(flags, flagOnCurve|fx|fy)
			last = p
		}
	}
	b = append(append(append(b, flags...), xs...), ys...)
	for len(b)%4 != 0 { // keep every glyph 4-byte aligned
		b = append(b, 0)
	}
	return b
}
