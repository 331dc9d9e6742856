package admin

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Redacted replaces the value of a secret field in Redact's output.
const Redacted = "[redacted]"

// secretWords mark a field or map key as secret when its name contains one of them, whatever the case.
// "key" catches more than keys (hash_key): a false positive hides a harmless value, a false negative
// leaks one. A `redact:"false"` tag lets a field opt out.
var secretWords = []string{"key", "password", "passwd", "secret", "token", "credential", "authorization"}

var (
	durationType      = reflect.TypeFor[time.Duration]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// Redact returns a deep copy of v as a tree of map[string]any, []any and plain values (string, bool,
// int64, uint64, float64, nil) that encodes to JSON the way v reads in YAML, with every secret value
// replaced by Redacted. Nothing in the result aliases v.
//
// Struct fields are keyed by their `yaml` tag name (the lowercased field name without one); fields
// tagged yaml:"-", unexported fields, and zero fields tagged omitempty are left out; ",inline" structs
// and maps are merged into the parent. A field is secret when it is tagged `redact:"true"`, or when its
// yaml or Go name contains key, password, passwd, secret, token, credential or authorization (in any
// case) unless it is tagged `redact:"false"`; the same names mark map entries (string keys) secret. A
// secret's whole value is replaced, whatever its type. time.Duration renders as its String ("5s"),
// values implementing encoding.TextMarshaler as their text, nil pointers and maps as nil, nil slices
// as empty lists; channels and functions are left out. A pointer cycle renders as "[cycle]". Redact(nil) is nil.
func Redact(v any) any {
	if v == nil {
		return nil
	}
	r := redactor{seen: map[uintptr]bool{}}
	out, _ := r.value(reflect.ValueOf(v))
	return out
}

type redactor struct {
	seen map[uintptr]bool // pointers on the current path, to stop at cycles
}

// value copies v; ok is false for values that have no place in the output (funcs, chans).
func (r *redactor) value(v reflect.Value) (out any, ok bool) {
	if !v.IsValid() {
		return nil, true
	}
	t := v.Type()
	if t == durationType {
		return time.Duration(v.Int()).String(), true
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && t.Implements(textMarshalerType) {
		if b, err := v.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
			return string(b), true
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil, true
		}
		p := v.Pointer()
		if r.seen[p] {
			return "[cycle]", true
		}
		r.seen[p] = true
		defer delete(r.seen, p)
		if t.Implements(textMarshalerType) {
			if b, err := v.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
				return string(b), true
			}
		}
		return r.value(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return nil, true
		}
		return r.value(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		r.fields(v, m)
		return m, true
	case reflect.Map:
		if v.IsNil() {
			return nil, true
		}
		m := make(map[string]any, v.Len())
		r.mapEntries(v, m)
		return m, true
	case reflect.Slice, reflect.Array: // a nil slice is an empty list: what the config means by it

		s := make([]any, 0, v.Len())
		for i := range v.Len() {
			if e, ok := r.value(v.Index(i)); ok {
				s = append(s, e)
			}
		}
		return s, true
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint(), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	case reflect.Complex64, reflect.Complex128:
		return fmt.Sprint(v.Complex()), true
	default: // Chan, Func, UnsafePointer
		return nil, false
	}
}

// fields copies the exported fields of struct v into m.
func (r *redactor) fields(v reflect.Value, m map[string]any) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if hasOpt(opts, "omitempty") && fv.IsZero() {
			continue
		}
		if hasOpt(opts, "inline") {
			r.inline(fv, m)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if secretField(f, name) {
			m[name] = Redacted
			continue
		}
		if out, ok := r.value(fv); ok {
			m[name] = out
		}
	}
}

// inline merges an ",inline" struct or map (possibly behind a pointer) into m.
func (r *redactor) inline(v reflect.Value, m map[string]any) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		r.fields(v, m)
	case reflect.Map:
		r.mapEntries(v, m)
	}
}

// mapEntries copies map v's entries into m, keys formatted as text.
func (r *redactor) mapEntries(v reflect.Value, m map[string]any) {
	iter := v.MapRange()
	for iter.Next() {
		k := mapKey(iter.Key())
		if secretName(k) {
			m[k] = Redacted
			continue
		}
		if out, ok := r.value(iter.Value()); ok {
			m[k] = out
		}
	}
}

func mapKey(k reflect.Value) string {
	for k.Kind() == reflect.Interface && !k.IsNil() {
		k = k.Elem()
	}
	if k.Kind() == reflect.String {
		return k.String()
	}
	if k.Type().Implements(textMarshalerType) {
		if b, err := k.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(k.Interface())
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

func secretField(f reflect.StructField, yamlName string) bool {
	switch f.Tag.Get("redact") {
	case "true":
		return true
	case "false":
		return false
	}
	return secretName(yamlName) || secretName(f.Name)
}

func secretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
