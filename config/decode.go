package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config: where (YAML path and line) and what.
type Problem struct {
	// Path is the YAML path, like "routes[1].upstream"; empty for the whole file.
	Path string
	// Line is the 1-based line in the file; 0 when unknown.
	Line int
	// Msg says what is wrong, lowercase.
	Msg string
}

func (p Problem) String() string {
	s := p.Msg
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s += fmt.Sprintf(" (line %d)", p.Line)
	}
	return s
}

// Error lists every problem found in one config file, in file order.
type Error struct {
	// File is the config file's name; empty for in-memory data.
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "config"
	}
	fmt.Fprintf(&b, "%s: %d problem", name, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// decoder turns a yaml.Node tree into Go values strictly: unknown and duplicate keys are problems, and
// every problem is collected rather than stopping at the first. It also remembers the line of every
// path it saw, so that validation can point at lines too.
type decoder struct {
	problems []Problem
	lines    map[string]int
	given    map[string]bool // paths given a value other than null, for defaults of fields whose zero is a setting
}

// lineOf is the line of path, or of its nearest parent the file has (a key left out points at its
// parent); 0 when none is known.
func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			break
		}
		path = path[:cut]
	}
	return 0
}

func (d *decoder) addf(path string, line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// switchable is a setting that a YAML boolean may stand for. A field that is a pointer to a struct
// embedding onOff (so that the pointer implements switchable) takes a mapping as any struct does,
// and also a boolean in its place:
//
//   - `key: true` turns the setting on with its defaults: the same as `key: {}`;
//   - `key: false` turns it off: on a route, that also switches off what the route would take
//     from defaults:;
//   - any other scalar is a problem at the key's path and line ("expected true, false or a
//     mapping").
//
// Both allocate the struct, so that the key counts as given. fillDefaults resolves every switchable
// field with inherit: a route's own when given, else the defaults'; and a switched-off one becomes
// nil. After Load, then, nil means off and the runtime never sees onOff.
type switchable interface {
	switchOff()
	switchedOff() bool
}

// onOff makes a config struct switchable: embed it, tagged yaml:"-".
type onOff struct{ off bool }

func (s *onOff) switchOff()        { s.off = true }
func (s *onOff) switchedOff() bool { return s.off }

// inherit resolves a switchable setting: own when given, else def; nil when that one is switched
// off (or neither is given).
func inherit[T any, P interface {
	*T
	switchable
}](own, def P) P {
	if own == nil {
		own = def
	}
	if own != nil && own.switchedOff() {
		return nil
	}
	return own
}

var (
	switchableType = reflect.TypeFor[switchable]()
	durationType   = reflect.TypeOf(time.Duration(0))
	byteSizeType   = reflect.TypeOf(ByteSize(0))
	targetType     = reflect.TypeOf(Target{})
	textType       = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode fills v (addressable) from n, reporting problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, seen := d.lines[path]; !seen && path != "" {
		d.lines[path] = n.Line
	}
	if isNull(n) {
		return // leave the zero value; defaults fill it
	}
	d.given[path] = true
	if n.Kind == yaml.ScalarNode && v.Kind() == reflect.Pointer && v.Type().Implements(switchableType) {
		d.onOff(n, v, path)
		return
	}
	if v.Addr().Type().Implements(textType) { // the config's little languages (values.go)
		if n.Kind != yaml.ScalarNode {
			d.addf(path, n.Line, "expected a string, got %s", kindName(n))
		} else if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.addf(path, n.Line, "%v", err)
		}
		return
	}
	switch v.Type() {
	case durationType:
		d.duration(n, v, path)
		return
	case byteSizeType:
		d.byteSize(n, v, path)
		return
	case targetType:
		if n.Kind == yaml.ScalarNode { // the short form: just the URL
			v.Field(0).SetString(n.Value)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.addf(path, n.Line, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.addf(path, n.Line, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") || err != nil {
			d.addf(path, n.Line, "expected a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.addf(path, n.Line, "expected a whole number, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	default:
		d.addf(path, n.Line, "cannot decode into %s", v.Type())
	}
}

// onOff decodes a boolean standing for a switchable setting (v, a nil pointer to its struct).
func (d *decoder) onOff(n *yaml.Node, v reflect.Value, path string) {
	on, err := strconv.ParseBool(n.Value)
	if n.Tag != "!!bool" || err != nil {
		d.addf(path, n.Line, "expected true, false or a mapping, got %s", kindName(n))
		return
	}
	v.Set(reflect.New(v.Type().Elem()))
	if !on {
		v.Interface().(switchable).switchOff()
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "0" {
			v.SetInt(0)
			return
		}
		if dur, err := parseDuration(n.Value); err == nil && n.Tag == "!!str" {
			if dur < 0 {
				d.addf(path, n.Line, "duration must not be negative, got %q", n.Value)
				return
			}
			v.SetInt(int64(dur))
			return
		}
	}
	d.addf(path, n.Line, "expected a duration like \"5s\", \"250ms\" or \"30d\", got %s", kindName(n))
}

// parseDuration is time.ParseDuration with whole days too, first and as a whole number: "30d",
// "1d12h". A day is 24 hours.
func parseDuration(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i == len(s) || s[i] != 'd' {
		return time.ParseDuration(s)
	}
	const day = 24 * time.Hour
	days, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || days > int64(math.MaxInt64/day) {
		return 0, fmt.Errorf("duration %q: too many days", s)
	}
	d := time.Duration(days) * day
	if rest := s[i+1:]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || r > math.MaxInt64-d {
			return 0, fmt.Errorf("duration %q: after the days, expected a duration like \"12h\"", s)
		}
		d += r
	}
	return d, nil
}

func (d *decoder) byteSize(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		if b, err := ParseByteSize(n.Value); err == nil {
			v.SetInt(int64(b))
			return
		}
	}
	d.addf(path, n.Line, "expected a size like 65536, \"64KiB\" or \"32MiB\", got %s", kindName(n))
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}}

// ParseByteSize parses a whole number of bytes, optionally with a unit: B, KB, MB, GB (powers of
// 1000) or KiB, MiB, GiB (powers of 1024).
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("parse size %q: not a whole number of bytes with an optional unit", s)
	}
	return ByteSize(n * mult), nil
}

// fieldIndex maps yaml key names to struct field index paths, skipping `yaml:"-"` fields. The keys
// of an embedded struct tagged `yaml:",inline"` are the outer struct's own, so that a route and a
// static mount share the policy keys of Limits.
func fieldIndex(t reflect.Type) map[string][]int {
	m := make(map[string][]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Anonymous && name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, idx := range fieldIndex(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		m[name] = []int{i}
	}
	return m
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.addf(path, n.Line, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := fieldIndex(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			d.addf(p, k.Line, "key given twice")
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			d.addf(p, k.Line, "unknown key%s", suggest(k.Value, fields))
			continue
		}
		d.lines[p] = k.Line
		d.decode(val, v.FieldByIndex(idx), p)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.addf(path, n.Line, "expected a mapping, got %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.addf(p, k.Line, "key given twice")
			continue
		}
		d.lines[p] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, p)
		v.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.addf(path, n.Line, "expected a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		d.decode(item, s.Index(i), p)
	}
	v.Set(s)
}

// suggest names the closest known key when the unknown one looks like a typo of it, else lists the
// known ones.
func suggest[V any](key string, known map[string]V) string {
	if best := closest(key, known); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

// closest is the known name within two edits of name (ties: the first in order), or "".
func closest[V any](name string, known map[string]V) string {
	best, bestDist := "", 3
	for k := range known {
		if dist := editDistance(name, k); dist < bestDist || (dist == bestDist && k < best) {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
