// Command fontgen writes "Frontgate Demo", the blocky TrueType font of the embedded demo site. Every
// glyph is a 5×7 pixel bitmap (glyphs.go) traced into straight-line contours (outline.go); this file
// lays out the sfnt tables. The output is a pure function of the source: the same bytes every run.
//
//	go run ./static/internal/fontgen -o static/site/font/frontgate.ttf
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"time"
	"unicode/utf16"
)

const (
	familyName = "Frontgate Demo"
	styleName  = "Regular"
	unitsPerEm = 1000
	ascender   = 800  // line box above the baseline; glyphs reach 700
	descender  = -200 // line box below; descenders reach -200
	xHeight    = 500
	capHeight  = 700
)

func main() {
	out := flag.String("o", "frontgate.ttf", "write the font to this `file`")
	flag.Parse()
	if err := os.WriteFile(*out, buildFont(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fontgen:", err)
		os.Exit(1)
	}
}

// buildFont returns the complete TrueType file.
func buildFont() []byte {
	// Glyph 0 is .notdef; the rest follow in code-point order.
	runes := make([]rune, 0, len(bitmaps))
	for r := range bitmaps {
		runes = append(runes, r)
	}
	slices.Sort(runes)
	glyphs := []glyph{traceBitmap(notdefBitmap)}
	cmap := make(map[rune]uint16, len(runes))
	for _, r := range runes {
		cmap[r] = uint16(len(glyphs))
		glyphs = append(glyphs, traceBitmap(bitmaps[r]))
	}

	glyf, loca := glyfLoca(glyphs)
	tables := map[string][]byte{
		"OS/2": os2Table(runes),
		"cmap": cmapTable(runes, cmap),
		"glyf": glyf,
		"head": headTable(glyphs),
		"hhea": hheaTable(glyphs),
		"hmtx": hmtxTable(glyphs),
		"loca": loca,
		"maxp": maxpTable(glyphs),
		"name": nameTable(),
		"post": postTable(),
	}
	return assemble(tables)
}

// assemble writes the table directory and the tables, sorted by tag and 4-byte aligned, then stores
// head.checkSumAdjustment so that the whole file sums to 0xB1B0AFBA.
func assemble(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for tag := range tables {
		tags = append(tags, tag)
	}
	slices.Sort(tags) // byte order: "OS/2" sorts before the lower-case tags

	n := len(tags)
	pow := 1 << (bits.Len(uint(n)) - 1) // largest power of two <= n
	var buf bytes.Buffer
	write(&buf, struct {
		SfntVersion                                       uint32
		NumTables, SearchRange, EntrySelector, RangeShift uint16
	}{0x00010000, uint16(n), uint16(16 * pow), uint16(bits.Len(uint(pow)) - 1), uint16(16 * (n - pow))})

	offset := 12 + 16*n
	headOffset := 0
	for _, tag := range tags {
		data := tables[tag]
		buf.WriteString(tag)
		write(&buf, []uint32{checksum(data), uint32(offset), uint32(len(data))})
		if tag == "head" {
			headOffset = offset
		}
		offset += pad4(len(data))
	}
	for _, tag := range tags {
		data := tables[tag]
		buf.Write(data)
		buf.Write(make([]byte, pad4(len(data))-len(data)))
	}
	font := buf.Bytes()
	binary.BigEndian.PutUint32(font[headOffset+8:], 0xB1B0AFBA-checksum(font))
	return font
}

// checksum is the sfnt checksum: the sum of the data as big-endian uint32s, zero-padded.
func checksum(data []byte) uint32 {
	var sum uint32
	for i := 0; i < len(data); i += 4 {
		var word [4]byte
		copy(word[:], data[i:])
		sum += binary.BigEndian.Uint32(word[:])
	}
	return sum
}

func pad4(n int) int { return (n + 3) &^ 3 }

// write appends v big-endian; v holds only fixed-size fields, so it cannot fail.
func write(buf *bytes.Buffer, v any) {
	if err := binary.Write(buf, binary.BigEndian, v); err != nil {
		panic(err)
	}
}

func encode(v any) []byte {
	var buf bytes.Buffer
	write(&buf, v)
	return buf.Bytes()
}

// glyfLoca returns the glyph data and the long-format (uint32) offsets into it.
func glyfLoca(glyphs []glyph) (glyf, loca []byte) {
	loca = binary.BigEndian.AppendUint32(nil, 0)
	for _, g := range glyphs {
		glyf = append(glyf, encodeGlyph(g)...)
		loca = binary.BigEndian.AppendUint32(loca, uint32(len(glyf)))
	}
	return glyf, loca
}

// fontBBox is the union of all glyph boxes.
func fontBBox(glyphs []glyph) (xMin, yMin, xMax, yMax int) {
	var all glyph
	for _, g := range glyphs {
		all.contours = append(all.contours, g.contours...)
	}
	return all.bbox()
}

func headTable(glyphs []glyph) []byte {
	// A fixed timestamp keeps the output reproducible. LONGDATETIME counts seconds since 1904.
	stamp := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	xMin, yMin, xMax, yMax := fontBBox(glyphs)
	return encode(struct {
		Version, FontRevision, CheckSumAdjustment, MagicNumber uint32
		Flags, UnitsPerEm                                      uint16
		Created, Modified                                      int64
		XMin, YMin, XMax, YMax                                 int16
		MacStyle, LowestRecPPEM                                uint16
		FontDirectionHint, IndexToLocFormat, GlyphDataFormat   int16
	}{
		Version:      0x00010000,
		FontRevision: 0x00010000,
		MagicNumber:  0x5F0F3CF5,
		Flags:        1<<0 | 1<<3, // baseline at y=0, integer ppem
		UnitsPerEm:   unitsPerEm,
		Created:      stamp, Modified: stamp,
		XMin: int16(xMin), YMin: int16(yMin), XMax: int16(xMax), YMax: int16(yMax),
		LowestRecPPEM:     7,
		FontDirectionHint: 2,
		IndexToLocFormat:  1, // long loca
	})
}

func hheaTable(glyphs []glyph) []byte {
	maxAdvance, minLSB, minRSB, maxExtent := 0, 1<<15, 1<<15, 0
	for _, g := range glyphs {
		maxAdvance = max(maxAdvance, g.advance)
		if len(g.contours) == 0 {
			continue
		}
		xMin, _, xMax, _ := g.bbox()
		minLSB, minRSB, maxExtent = min(minLSB, xMin), min(minRSB, g.advance-xMax), max(maxExtent, xMax)
	}
	return encode(struct {
		Version                                   uint32
		Ascender, Descender, LineGap              int16
		AdvanceWidthMax                           uint16
		MinLeftSideBearing, MinRightSideBearing   int16
		XMaxExtent, CaretSlopeRise, CaretSlopeRun int16
		CaretOffset                               int16
		Reserved                                  [4]int16
		MetricDataFormat                          int16
		NumberOfHMetrics                          uint16
	}{
		Version:            0x00010000,
		Ascender:           ascender,
		Descender:          descender,
		AdvanceWidthMax:    uint16(maxAdvance),
		MinLeftSideBearing: int16(minLSB), MinRightSideBearing: int16(minRSB), XMaxExtent: int16(maxExtent),
		CaretSlopeRise:   1,
		NumberOfHMetrics: uint16(len(glyphs)),
	})
}

// hmtxTable gives every glyph its advance and left side bearing (its xMin).
func hmtxTable(glyphs []glyph) []byte {
	var b []byte
	for _, g := range glyphs {
		xMin, _, _, _ := g.bbox()
		b = binary.BigEndian.AppendUint16(b, uint16(g.advance))
		b = binary.BigEndian.AppendUint16(b, uint16(int16(xMin)))
	}
	return b
}

func maxpTable(glyphs []glyph) []byte {
	maxPoints, maxContours := 0, 0
	for _, g := range glyphs {
		maxPoints, maxContours = max(maxPoints, g.numPoints()), max(maxContours, len(g.contours))
	}
	var t struct {
		Version                                  uint32
		NumGlyphs, MaxPoints, MaxContours        uint16
		MaxCompositePoints, MaxCompositeContours uint16
		MaxZones, MaxTwilightPoints, MaxStorage  uint16
		MaxFunctionDefs, MaxInstructionDefs      uint16
		MaxStackElements, MaxSizeOfInstructions  uint16
		MaxComponentElements, MaxComponentDepth  uint16
	}
	t.Version = 0x00010000
	t.NumGlyphs, t.MaxPoints, t.MaxContours = uint16(len(glyphs)), uint16(maxPoints), uint16(maxContours)
	t.MaxZones = 2 // no instructions, but 2 is the conventional value
	return encode(t)
}

// cmapTable maps Unicode (Windows platform, BMP encoding) with one format 4 subtable.
func cmapTable(runes []rune, gids map[rune]uint16) []byte {
	// Segments are runs of consecutive code points with consecutive glyph ids: each needs only a delta.
	type segment struct{ start, end, gid uint16 }
	var segs []segment
	for _, r := range runes {
		c, g := uint16(r), gids[r]
		if n := len(segs); n > 0 && segs[n-1].end+1 == c && segs[n-1].gid+(c-segs[n-1].start) == g {
			segs[n-1].end = c
			continue
		}
		segs = append(segs, segment{c, c, g})
	}
	segs = append(segs, segment{0xFFFF, 0xFFFF, 0}) // required final segment, maps to .notdef

	n := len(segs)
	pow := 1 << (bits.Len(uint(n)) - 1)
	// format, length, language, segCountX2, searchRange, entrySelector, rangeShift
	sub := []uint16{4, uint16(16 + 8*n), 0, uint16(2 * n), uint16(2 * pow), uint16(bits.Len(uint(pow)) - 1), uint16(2 * (n - pow))}
	for _, s := range segs {
		sub = append(sub, s.end)
	}
	sub = append(sub, 0) // reservedPad
	for _, s := range segs {
		sub = append(sub, s.start)
	}
	for _, s := range segs {
		sub = append(sub, s.gid-s.start) // idDelta, modulo 65536
	}
	for range segs {
		sub = append(sub, 0) // idRangeOffset: deltas only
	}
	// Header: version 0, one encoding record (platform 3 Windows, encoding 1 Unicode BMP) at offset 12.
	header := encode(struct {
		Version, NumTables, PlatformID, EncodingID uint16
		Offset                                     uint32
	}{0, 1, 3, 1, 12})
	return append(header, encode(sub)...)
}

// nameTable holds the names, Windows platform only (UTF-16BE, US English), sorted by name id.
func nameTable() []byte {
	names := []string{
		0: "Generated by frontgate's fontgen; free to use with frontgate.",
		1: familyName,
		2: styleName,
		3: "frontgate: " + familyName + " " + styleName + ": 1.000",
		4: familyName + " " + styleName,
		5: "Version 1.000",
		6: "FrontgateDemo-" + styleName,
	}
	var records, storage []byte
	for id, s := range names {
		str := encode(utf16.Encode([]rune(s)))
		records = append(records, encode([]uint16{3, 1, 0x0409, uint16(id), uint16(len(str)), uint16(len(storage))})...)
		storage = append(storage, str...)
	}
	header := encode([]uint16{0, uint16(len(names)), uint16(6 + len(records))})
	return append(append(header, records...), storage...)
}

// os2Table is OS/2 version 4. The font is monospaced: every glyph advances by the same width.
func os2Table(runes []rune) []byte {
	return encode(struct {
		Version, XAvgCharWidth, UsWeightClass, UsWidthClass, FsType                    uint16
		YSubscriptXSize, YSubscriptYSize, YSubscriptXOffset, YSubscriptYOffset         int16
		YSuperscriptXSize, YSuperscriptYSize, YSuperscriptXOffset, YSuperscriptYOffset int16
		YStrikeoutSize, YStrikeoutPosition, SFamilyClass                               int16
		Panose                                                                         [10]byte
		UlUnicodeRange                                                                 [4]uint32
		AchVendID                                                                      [4]byte
		FsSelection, UsFirstCharIndex, UsLastCharIndex                                 uint16
		STypoAscender, STypoDescender, STypoLineGap                                    int16
		UsWinAscent, UsWinDescent                                                      uint16
		UlCodePageRange                                                                [2]uint32
		SxHeight, SCapHeight                                                           int16
		UsDefaultChar, UsBreakChar, UsMaxContext                                       uint16
	}{
		Version:         4,
		XAvgCharWidth:   advance,
		UsWeightClass:   400,
		UsWidthClass:    5,
		YSubscriptXSize: 600, YSubscriptYSize: 600, YSubscriptYOffset: 100,
		YSuperscriptXSize: 600, YSuperscriptYSize: 600, YSuperscriptYOffset: 400,
		YStrikeoutSize: pixel, YStrikeoutPosition: 4 * pixel,
		UlUnicodeRange:   [4]uint32{1}, // bit 0: Basic Latin
		AchVendID:        [4]byte{'N', 'O', 'N', 'E'},
		FsSelection:      1<<6 | 1<<7, // REGULAR, USE_TYPO_METRICS
		UsFirstCharIndex: uint16(runes[0]),
		UsLastCharIndex:  uint16(runes[len(runes)-1]),
		STypoAscender:    ascender,
		STypoDescender:   descender,
		UsWinAscent:      ascender,
		UsWinDescent:     -descender,
		UlCodePageRange:  [2]uint32{1}, // bit 0: Latin 1
		SxHeight:         xHeight,
		SCapHeight:       capHeight,
		UsBreakChar:      ' ',
		UsMaxContext:     1,
	})
}

// postTable is version 3: no glyph names.
func postTable() []byte {
	return encode(struct {
		Version, ItalicAngle                                 uint32
		UnderlinePosition, UnderlineThickness                int16
		IsFixedPitch                                         uint32
		MinMemType42, MaxMemType42, MinMemType1, MaxMemType1 uint32
	}{Version: 0x00030000, UnderlinePosition: -pixel, UnderlineThickness: pixel / 2, IsFixedPitch: 1})
}
