package main

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// parseSfnt returns the tables by tag, checking the directory, alignment and checksums as it goes.
func parseSfnt(t *testing.T, font []byte) map[string][]byte {
	t.Helper()
	be := binary.BigEndian
	if len(font) < 12 || be.Uint32(font) != 0x00010000 {
		t.Fatalf("not a TrueType sfnt (len %d)", len(font))
	}
	n := int(be.Uint16(font[4:]))
	searchRange, entrySelector, rangeShift := be.Uint16(font[6:]), be.Uint16(font[8:]), be.Uint16(font[10:])
	pow := 1
	for pow*2 <= n {
		pow *= 2
	}
	if int(searchRange) != 16*pow || 1<<entrySelector != pow || int(rangeShift) != 16*n-16*pow {
		t.Errorf("numTables %d: searchRange %d, entrySelector %d, rangeShift %d are inconsistent", n, searchRange, entrySelector, rangeShift)
	}
	if len(font) < 12+16*n {
		t.Fatalf("table directory of %d tables overruns %d-byte file", n, len(font))
	}
	tables := make(map[string][]byte)
	var tags []string
	end := 12 + 16*n
	for i := range n {
		rec := font[12+16*i:]
		tag, sum, off, length := string(rec[:4]), be.Uint32(rec[4:]), int(be.Uint32(rec[8:])), int(be.Uint32(rec[12:]))
		if off%4 != 0 || off < end || off+length > len(font) {
			t.Fatalf("table %q at %d+%d: misaligned, overlapping or out of the %d-byte file", tag, off, length, len(font))
		}
		end = off + length
		data := font[off : off+length]
		if tag == "head" { // the checksum is computed with checkSumAdjustment as zero
			data = slices.Clone(data)
			be.PutUint32(data[8:], 0)
		}
		if got := checksum(data); got != sum {
			t.Errorf("table %q: checksum %#x, directory says %#x", tag, got, sum)
		}
		tags = append(tags, tag)
		tables[tag] = font[off : off+length]
	}
	if !slices.IsSorted(tags) {
		t.Errorf("table tags not sorted: %q", tags)
	}
	for _, tag := range []string{"OS/2", "cmap", "glyf", "head", "hhea", "hmtx", "loca", "maxp", "name", "post"} {
		if tables[tag] == nil {
			t.Errorf("required table %q missing (have %q)", tag, tags)
		}
	}
	if got := checksum(font); got != 0xB1B0AFBA {
		t.Errorf("whole-font checksum %#x, want 0xB1B0AFBA (head.checkSumAdjustment wrong)", got)
	}
	if len(font)%4 != 0 {
		t.Errorf("file length %d not padded to 4 bytes", len(font))
	}
	return tables
}

// lookupCmap maps r through the Windows BMP (3,1) format 4 subtable.
func lookupCmap(t *testing.T, cmap []byte, r rune) uint16 {
	t.Helper()
	be := binary.BigEndian
	for i := range int(be.Uint16(cmap[2:])) {
		rec := cmap[4+8*i:]
		if be.Uint16(rec) != 3 || be.Uint16(rec[2:]) != 1 {
			continue
		}
		sub := cmap[be.Uint32(rec[4:]):]
		if f := be.Uint16(sub); f != 4 {
			t.Fatalf("cmap (3,1) subtable is format %d, want 4", f)
		}
		seg := int(be.Uint16(sub[6:]) / 2)
		ends, starts, deltas, rangeOffs := sub[14:], sub[16+2*seg:], sub[16+4*seg:], sub[16+6*seg:]
		if last := be.Uint16(ends[2*(seg-1):]); last != 0xFFFF {
			t.Errorf("last cmap segment ends at %#x, want 0xFFFF", last)
		}
		for s := range seg {
			if c := uint16(r); c <= be.Uint16(ends[2*s:]) && c >= be.Uint16(starts[2*s:]) {
				if be.Uint16(rangeOffs[2*s:]) != 0 {
					t.Fatalf("segment %d uses idRangeOffset; the generator only writes deltas", s)
				}
				return c + be.Uint16(deltas[2*s:])
			}
		}
		return 0
	}
	t.Fatal("cmap has no (3,1) subtable")
	return 0
}

// glyphData returns glyph gid's glyf record through the long-format loca.
func glyphData(t *testing.T, tables map[string][]byte, gid uint16) []byte {
	t.Helper()
	be := binary.BigEndian
	if f := be.Uint16(tables["head"][50:]); f != 1 {
		t.Fatalf("indexToLocFormat %d, want 1 (long)", f)
	}
	numGlyphs := int(be.Uint16(tables["maxp"][4:]))
	loca := tables["loca"]
	if len(loca) != 4*(numGlyphs+1) || int(gid) >= numGlyphs {
		t.Fatalf("loca is %d bytes for %d glyphs; glyph %d requested", len(loca), numGlyphs, gid)
	}
	start, end := be.Uint32(loca[4*int(gid):]), be.Uint32(loca[4*int(gid)+4:])
	if start > end || int(end) > len(tables["glyf"]) {
		t.Fatalf("glyph %d: loca range %d..%d invalid (glyf is %d bytes)", gid, start, end, len(tables["glyf"]))
	}
	return tables["glyf"][start:end]
}

func TestFontTablesAndGlyphA(t *testing.T) {
	font := buildFont()
	tables := parseSfnt(t, font)
	be := binary.BigEndian

	if magic := be.Uint32(tables["head"][12:]); magic != 0x5F0F3CF5 {
		t.Errorf("head magic %#x", magic)
	}
	if !bytes.Contains(tables["name"], []byte{0, 'F', 0, 'r', 0, 'o', 0, 'n', 0, 't', 0, 'g', 0, 'a', 0, 't', 0, 'e', 0, ' ', 0, 'D'}) {
		t.Error(`name table lacks the UTF-16BE family name "Frontgate Demo"`)
	}

	gid := lookupCmap(t, tables["cmap"], 'A')
	if gid == 0 {
		t.Fatal("cmap maps 'A' to .notdef")
	}
	a := glyphData(t, tables, gid)
	if len(a) < 10 {
		t.Fatalf("glyph for 'A' (%d) has no outline: %d bytes", gid, len(a))
	}
	contours := int(int16(be.Uint16(a)))
	xMin, yMin, xMax, yMax := int16(be.Uint16(a[2:])), int16(be.Uint16(a[4:])), int16(be.Uint16(a[6:])), int16(be.Uint16(a[8:]))
	if contours <= 0 || xMin >= xMax || yMin >= yMax {
		t.Fatalf("glyph 'A': %d contours, box (%d,%d)-(%d,%d); want a simple glyph with ink", contours, xMin, yMin, xMax, yMax)
	}
	if yMin != 0 || yMax != capHeight {
		t.Errorf("'A' spans y %d..%d, want baseline to cap height 0..%d", yMin, yMax, capHeight)
	}

	// Decode the points and check they stay inside the stated box.
	points := int(be.Uint16(a[10+2*(contours-1):])) + 1
	p := a[10+2*contours:]
	p = p[2+int(be.Uint16(p)):] // skip instructions
	var flags []byte
	for len(flags) < points {
		f := p[0]
		p = p[1:]
		flags = append(flags, f)
		if f&0x08 != 0 { // repeat
			for range p[0] {
				flags = append(flags, f)
			}
			p = p[1:]
		}
	}
	read := func(short, same byte) []int {
		var out []int
		v := 0
		for _, f := range flags {
			switch {
			case f&short != 0 && f&same != 0:
				v += int(p[0])
				p = p[1:]
			case f&short != 0:
				v -= int(p[0])
				p = p[1:]
			case f&same == 0:
				v += int(int16(be.Uint16(p)))
				p = p[2:]
			}
			out = append(out, v)
		}
		return out
	}
	xs, ys := read(0x02, 0x10), read(0x04, 0x20)
	for i := range points {
		if flags[i]&flagOnCurve == 0 || xs[i] < int(xMin) || xs[i] > int(xMax) || ys[i] < int(yMin) || ys[i] > int(yMax) {
			t.Errorf("'A' point %d (%d,%d) flags %#x: off-curve or outside its box", i, xs[i], ys[i], flags[i])
		}
	}

	if sp := glyphData(t, tables, lookupCmap(t, tables["cmap"], ' ')); len(sp) != 0 {
		t.Errorf("space has %d bytes of outline, want none", len(sp))
	}
	for r := range bitmaps {
		if lookupCmap(t, tables["cmap"], r) == 0 {
			t.Errorf("cmap misses %q", r)
		}
	}
}

func TestFontIsDeterministic(t *testing.T) {
	if !bytes.Equal(buildFont(), buildFont()) {
		t.Fatal("two builds differ")
	}
}

// signedArea is twice the shoelace area: negative for clockwise contours (y up).
func signedArea(c []point) int {
	a := 0
	for i, p := range c {
		q := c[(i+1)%len(c)]
		a += p.x*q.y - q.x*p.y
	}
	return a
}

func TestTraceBitmap(t *testing.T) {
	// A ring: one clockwise outer contour and one counter-clockwise hole, corners only.
	ring := traceBitmap([]string{"#####", "#...#", "#####"})
	if len(ring.contours) != 2 {
		t.Fatalf("ring: %d contours, want 2: %v", len(ring.contours), ring.contours)
	}
	for _, c := range ring.contours {
		if len(c) != 4 {
			t.Errorf("ring contour %v: want 4 corners", c)
		}
	}
	if a0, a1 := signedArea(ring.contours[0]), signedArea(ring.contours[1]); a0 >= 0 || a1 <= 0 || -a0 != 2*5*3*pixel*pixel || a1 != 2*3*pixel*pixel {
		t.Errorf("ring areas %d, %d: want clockwise outer 5×3 pixels and counter-clockwise 3×1 hole", a0, a1)
	}
	// Pixels touching at a corner stay two separate clockwise squares.
	diag := traceBitmap([]string{"#....", ".#..."})
	if len(diag.contours) != 2 {
		t.Fatalf("diagonal: %d contours, want 2: %v", len(diag.contours), diag.contours)
	}
	for _, c := range diag.contours {
		if len(c) != 4 || signedArea(c) != -2*pixel*pixel {
			t.Errorf("diagonal contour %v: want a clockwise one-pixel square", c)
		}
	}
	// Rows 7 and up are descenders, below the baseline.
	if _, yMin, _, _ := traceBitmap(bitmaps['g']).bbox(); yMin != -2*pixel {
		t.Errorf("'g' descends to %d, want %d", yMin, -2*pixel)
	}
}
