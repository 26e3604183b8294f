package schedule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// MarshalText encodes c as "15:04:05".
func (c Clock) MarshalText() ([]byte, error) {
	if !c.valid() {
		return nil, invalid("time %02d:%02d:%02d is out of range", c.Hour, c.Minute, c.Second)
	}
	return fmt.Appendf(nil, "%02d:%02d:%02d", c.Hour, c.Minute, c.Second), nil
}

// UnmarshalText decodes "15:04:05" or "15:04".
func (c *Clock) UnmarshalText(b []byte) error {
	var h, m, s int
	ok := false
	switch len(b) {
	case 8:
		ok = b[2] == ':' && b[5] == ':' && digits(b[0:2], &h) && digits(b[3:5], &m) && digits(b[6:8], &s)
	case 5:
		ok = b[2] == ':' && digits(b[0:2], &h) && digits(b[3:5], &m)
	}
	v := Clock{Hour: h, Minute: m, Second: s}
	if !ok || !v.valid() {
		return fmt.Errorf("time %q is not HH:MM:SS", b)
	}
	*c = v
	return nil
}

func digits(b []byte, out *int) bool {
	if len(b) != 2 || b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return false
	}
	*out = int(b[0]-'0')*10 + int(b[1]-'0')
	return true
}

// Encode validates s and returns its JSON encoding, what a store keeps.
func (s Schedule) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode schedule: %w", err)
	}
	return b, nil
}

// Decode reads a schedule encoded by Encode (or written by hand): unknown
// fields and trailing data are errors, lists are sorted and deduplicated,
// and the result is validated. A corrupt stored schedule is an error wrapping
// ErrInvalid, never a panic.
func Decode(data []byte) (Schedule, error) {
	var s Schedule
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Schedule{}, invalid("decode: %v", err)
	}
	if dec.More() {
		return Schedule{}, invalid("decode: trailing data")
	}
	if len(s.Times) > maxTimes {
		return Schedule{}, invalid("%d times is more than %d", len(s.Times), maxTimes)
	}
	for _, c := range s.Times {
		if !c.valid() {
			return Schedule{}, invalid("time %02d:%02d:%02d is out of range", c.Hour, c.Minute, c.Second)
		}
	}
	s.Times = normalizeClocks(s.Times)
	s.Weekdays = normalize(s.Weekdays)
	s.Days = normalize(s.Days)
	s.Months = normalize(s.Months)
	s.NthWeekdays = normalizeNth(slices.Clone(s.NthWeekdays))
	if !s.Start.At.IsZero() {
		s.Start.At = normTime(s.Start.At)
	}
	if !s.RunUntil.IsZero() {
		s.RunUntil = normTime(s.RunUntil)
	}
	if err := s.Validate(); err != nil {
		return Schedule{}, err
	}
	return s, nil
}
