package evertask

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// unexportedFields finds the struct fields of t that encoding/json drops
// silently: unexported fields (not embedded), reached through nested structs
// and pointers. A type with its own JSON or text marshaler is trusted to
// round-trip. It runs once per registered type; the dispatch-time check only
// looks at the fields found here, so a type without any costs nothing.
func unexportedFields(t reflect.Type) []fieldPath {
	var out []fieldPath
	var walk func(t reflect.Type, path []int, names []string, depth int)
	walk = func(t reflect.Type, path []int, names []string, depth int) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 8 || marshalsItself(t) {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			p := append(append([]int(nil), path...), i)
			n := append(append([]string(nil), names...), f.Name)
			switch {
			case !f.IsExported() && !f.Anonymous:
				out = append(out, fieldPath{index: p, name: strings.Join(n, ".")})
			case f.Tag.Get("json") == "-":
			default:
				walk(f.Type, p, n, depth+1)
			}
		}
	}
	walk(t, nil, nil, 0)
	return out
}

type fieldPath struct {
	index []int
	name  string
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func marshalsItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || pt.Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || pt.Implements(textMarshaler)
}

// checkUnexported returns an error naming the first unexported field of v
// that holds a value: JSON would drop it, and the handler would see it zero
// after a restart.
func checkUnexported(v any, fields []fieldPath) error {
	if len(fields) == 0 {
		return nil
	}
	rv := reflect.ValueOf(v)
	for _, f := range fields {
		fv, ok := fieldByIndex(rv, f.index)
		if ok && !fv.IsZero() {
			return fmt.Errorf("field %s is unexported, so JSON drops its value", f.name)
		}
	}
	return nil
}

// fieldByIndex is reflect.Value.FieldByIndex without the panic on nil
// pointers along the way.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for _, i := range index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// replacedRune is how encoding/json writes a byte of invalid UTF-8 in a
// string: such a string does not come back as it went in.
var replacedRune = []byte(`\ufffd`)

// plainJSON reports whether a value of t (not a pointer) equals its JSON
// decoded again whenever that JSON replaced no invalid UTF-8: booleans,
// numbers and strings, in arrays and structs whose fields are all exported,
// not embedded, not skipped and named apart even ignoring case, with no
// pointer, slice, map or interface the value could share with the caller,
// and no type with a JSON or text method of its own.
func plainJSON(t reflect.Type) bool {
	return plainJSONAt(t, 0)
}

func plainJSONAt(t reflect.Type, depth int) bool {
	if depth > 8 || marshalsItself(t) {
		return false
	}
	if pt := reflect.PointerTo(t); pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Array:
		return plainJSONAt(t.Elem(), depth+1)
	case reflect.Struct:
		names := map[string]bool{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Anonymous {
				return false
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch name {
			case "-":
				if f.Tag.Get("json") == "-" {
					return false // skipped by encoding/json
				}
			case "":
				name = f.Name
			}
			key := strings.ToLower(name)
			if names[key] {
				return false
			}
			names[key] = true
			if !plainJSONAt(f.Type, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}
