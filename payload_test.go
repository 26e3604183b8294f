package evertask

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

type (
	plainInner struct {
		A [2]int16
		B float32
	}
	plainTask struct {
		N     int    `json:"n"`
		S     string `json:"s,omitempty"`
		Q     uint64 `json:",string"`
		Inner plainInner
	}
	withSlice     struct{ S []int }
	withMap       struct{ M map[string]int }
	withPointer   struct{ P *int }
	withInterface struct{ V any }
	withTime      struct{ T time.Time }
	withSkipped   struct {
		A int
		B int `json:"-"`
	}
	withDash struct {
		//lint:ignore SA5008 the test needs a field named "-", which is what this tag means
		A int `json:"-,"` // named "-", not skipped
	}
	withCaseTwins struct {
		AB int
		Ab int
	}
	withEmbedded   struct{ plainInner }
	withUnexported struct {
		A int
		//lint:ignore U1000 the unexported field is the point: JSON cannot carry it
		b int
	}
	withUnmarshaler struct{ U customUnmarshal }
	customUnmarshal int
)

func (plainTask) Kind() string { return "test.plain" }

func (*customUnmarshal) UnmarshalJSON([]byte) error { return nil }

func TestPlainJSON(t *testing.T) {
	cases := []struct {
		v    any
		want bool
	}{
		{plainTask{}, true},
		{plainInner{}, true},
		{withDash{}, true},
		{[3]string{}, true},
		{&plainTask{}, false},
		{withSlice{}, false},
		{withMap{}, false},
		{withPointer{}, false},
		{withInterface{}, false},
		{withTime{}, false},
		{withSkipped{}, false},
		{withCaseTwins{}, false},
		{withEmbedded{}, false},
		{withUnexported{}, false},
		{withUnmarshaler{}, false},
	}
	for _, c := range cases {
		if got := plainJSON(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("plainJSON(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}

// TestEncodePayloadAsIs checks that the value handed to the handler without
// a decode is the value a decode gives, that the decode is skipped only
// after the first payloadChecks dispatches, and that a string JSON cannot
// carry still goes through the decode.
func TestEncodePayloadAsIs(t *testing.T) {
	decodes := 0
	k := &kind{name: "test.plain", decode: func(b []byte) (any, error) {
		decodes++
		var v plainTask
		err := json.Unmarshal(b, &v)
		return v, err
	}, asIs: func(task Task) bool { _, ok := task.(plainTask); return ok }}
	for i := range payloadChecks + 4 {
		in := plainTask{N: i, S: "héllo <&> \u2028", Q: 1 << 63, Inner: plainInner{A: [2]int16{-1, 7}, B: 0.1}}
		_, v, err := encodePayload(k, in)
		if err != nil {
			t.Fatal(err)
		}
		if v != in {
			t.Fatalf("dispatch %d: handler would get %+v, want %+v", i, v, in)
		}
	}
	if decodes != payloadChecks {
		t.Fatalf("%d decodes for %d dispatches, want %d (the checked ones only)", decodes, payloadChecks+4, payloadChecks)
	}
	bad := plainTask{S: "a\xffb"}
	_, v, err := encodePayload(k, bad)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(plainTask).S; got != "a\ufffdb" {
		t.Fatalf("invalid UTF-8 reached the handler as %q, want it as a restart gives it, %q", got, "a\ufffdb")
	}
	if decodes != payloadChecks+1 {
		t.Fatalf("a string with invalid UTF-8 was not decoded (%d decodes)", decodes)
	}
}
