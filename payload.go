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
